"""Predict first on each page, in AppTest: the answer waits for the student's guess, a wrong
one is told why, and every answer reaches the teacher's board."""

from __future__ import annotations

import pytest
from helpers import by_label, canvas_state, on_page
from streamlit.testing.v1 import AppTest

from cnn_core.teaching import shape_answers as sa

KEY = "owl-7"


@pytest.fixture
def board_store(tmp_path, monkeypatch):
    """A fresh predictions store and teacher key for this test (the app keeps one each)."""
    from ui.ownership import teacher_keys
    from ui.predict import prediction_store

    monkeypatch.setenv("CNN_EXPLAINER_RUNS", str(tmp_path))
    monkeypatch.setenv("CNN_EXPLAINER_TEACHER_KEY", KEY)
    prediction_store.clear()
    teacher_keys.clear()
    yield tmp_path
    monkeypatch.undo()
    prediction_store.clear()
    teacher_keys.clear()


def predicting(page: str) -> AppTest:
    at = on_page(page)
    next(t for t in at.toggle if t.label == "Predict first").set_value(True).run()
    return at


def board(at: AppTest):
    from ui.predict import prediction_store

    return prediction_store()[0].open_board(__import__("ui.app_state").app_state.teacher_key(),
                                            KEY).questions()


def output(at: AppTest, index: int) -> str:
    return at.table[0].value.iloc[index]["output"]


# ---- Design -----------------------------------------------------------------------------------
def answer_shape(at: AppTest, text: str) -> None:
    at.text_input(key="predict_design_answer").set_value(text)
    at.button(key="FormSubmitter:predict_design_form-Check").click().run()


def test_design_hides_the_changed_layers_shape_until_it_is_answered(board_store):
    at = predicting("pages/architecture.py")
    assert output(at, 1) == "16x28x28" and not at.text_input  # nothing changed: nothing asked
    by_label(at.number_input, "kernel_size").set_value(5).run()
    assert output(at, 1) == "—" and output(at, 8) == "—"  # it and every later shape wait
    assert output(at, 0) == "1x28x28"  # what the layer gets stays in view
    answer_shape(at, "sixteen")
    assert "Not an answer" in at.warning[0].value and output(at, 1) == "—"
    answer_shape(at, "16x24x24")  # padding 1 forgotten: 28 - 5 + 1
    wrong = at.error[0].value
    assert "you used no padding" in wrong and "floor((28 - 5 + 2*1) / 1) + 1 = 26" in wrong
    assert output(at, 1) == "16x26x26"  # answered: the table shows it
    by_label(at.number_input, "stride").set_value(2).run()
    answer_shape(at, "16 × 13 × 13")
    assert at.success[0].value == "Right: 16x13x13."
    [stride, kernel] = board(at)
    assert (stride.answered, stride.right, kernel.answered, kernel.right) == (1, 1, 1, 0)
    assert kernel.wrong_by_cause[0].cause == sa.FORGOT_PADDING


def test_design_asks_nothing_with_the_switch_off():
    at = on_page("pages/architecture.py")
    by_label(at.number_input, "kernel_size").set_value(5).run()
    assert output(at, 1) == "16x26x26"
    assert "predict_design_answer" not in [t.key for t in at.text_input]


# ---- Explain ----------------------------------------------------------------------------------
def window_value(at: AppTest, row: int, col: int) -> float:
    """The cell's value as the page computes it, from the page's own digit and kernel."""
    import numpy as np

    from cnn_core.explain.stepping import Geometry, conv_step
    from ui.app_state import bundled_digits

    digits = bundled_digits()
    image = np.concatenate([digits.train_images.numpy(), digits.val_images.numpy()])[0] / 255.0
    kernel = at.session_state["kernel_good"]
    return conv_step(image, kernel, Geometry(kernel.shape[0], 1, 1, 1), row, col).value


def check_window(at: AppTest, typed: str) -> None:
    next(t for t in at.text_input if t.label == "…or type it").set_value(typed)
    next(b for b in at.button if b.label == "Check").click().run()


def test_explain_asks_for_the_windows_value_before_the_multiply_adds(board_store):
    at = predicting("pages/explain.py")
    assert not [m for m in at.markdown if m.value.startswith("Output cell")]
    assert not at.code  # the multiply-adds wait
    [pick] = [r for r in at.radio if r.label == "Pick one"]
    assert len(pick.options) == 3
    check_window(at, f"{window_value(at, 14, 14) + 5:.2f}")
    assert "Not quite" in at.error[0].value
    assert any(m.value.startswith("Output cell") for m in at.markdown) and at.code
    at.slider(key="conv_step").set_value(5 * 28 + 3).run()  # the next window: asked again
    assert not at.code
    check_window(at, f"{window_value(at, 5, 3):.3f}")
    assert at.success[0].value.startswith("You said") and "Right" in at.success[0].value
    assert at.code
    [question] = board(at)
    assert (question.answered, question.right) == (2, 1)


# ---- Draw -------------------------------------------------------------------------------------
def with_a_model(at: AppTest) -> None:
    """A net of the small design, untrained and seeded: what it says is fixed, and that is
    all a guess is checked against."""
    import torch

    from cnn_core.design.build import build_model
    from cnn_core.design.presets import SMALL_FAST
    from ui.app_state import TrainedModel

    torch.manual_seed(0)
    at.session_state["trained_model"] = TrainedModel(build_model(SMALL_FAST).eval(), "test net",
                                                     SMALL_FAST, None, "a test")


def draw_digit(at: AppTest, bundled, index: int) -> None:
    from cnn_core.data.preprocess import digit_to_canvas

    at.session_state["digit_canvas"] = canvas_state(digit_to_canvas(
        bundled.val_images[index].numpy()))
    at.run()


def digit_pills(at: AppTest):
    [pills] = [b for b in at.button_group if b.key.startswith("predict_digit_pick_")]
    return pills


def test_draw_asks_for_the_nets_digit_before_the_verdict(board_store, bundled):
    at = on_page("pages/draw.py")
    with_a_model(at)
    next(t for t in at.toggle if t.label == "Predict first").set_value(True).run()
    draw_digit(at, bundled, 0)
    assert not [m for m in at.markdown if m.value.startswith("## It is a")]
    assert not [s for s in at.subheader if s.value == "Why this answer?"]
    said = at.session_state["last_prediction"].digit
    wrong = (said + 1) % 10
    digit_pills(at).set_value(wrong).run()
    assert at.error[0].value.startswith(f"Not this time: you expected {wrong}, the net says "
                                        f"{said}")
    assert any(m.value.startswith(f"## It is a **{said}**") for m in at.markdown)
    assert [s for s in at.subheader if s.value == "Why this answer?"]
    # The challenge: it starts from this drawing and its heatmap, and a drawing the net
    # reads differently ends it with the count of changed pixels.
    next(b for b in at.button if b.label == "Start the challenge").click().run()
    for index in range(1, 40):
        draw_digit(at, bundled, index)
        if at.session_state["last_prediction"].digit != said:
            break
    flipped = at.session_state["last_prediction"].digit
    assert flipped != said
    assert any(s.value.startswith(f"It changed its mind: {said} → {flipped}. You changed")
               for s in at.success)
    next(b for b in at.button if b.label == "End the challenge").click().run()
    digit_pills(at).set_value(flipped).run()
    assert at.success[0].value == f"Right: the net says {flipped}."
    [question] = board(at)
    assert (question.answered, question.right) == (2, 1)
    assert question.wrong_by_cause[0].cause == f"the net said {said}"


# ---- Train ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_train_asks_up_or_down_before_a_new_learning_rate_and_the_curve_answers(board_store):
    import time

    from helpers import wait_data

    from cnn_core.teaching.step_answers import loss_trend

    at = predicting("pages/train.py")
    wait_data(at)
    by_label(at.number_input, "Epochs").set_value(5).run()
    # a constant rate, so that the question names the rate it trains at
    by_label(at.selectbox, "Learning-rate schedule").set_value("constant").run()
    by_label(at.number_input, "Learning rate").set_value(0.001).run()
    next(b for b in at.button if b.label == "Train").click().run()
    job = at.session_state["job"]
    try:
        while job.snapshot().step < 60:
            time.sleep(0.1)
        at.run()
        rate = next(n for n in at.number_input if n.label == "Learning rate from now on")
        rate.set_value(0.5).run()
        next(b for b in at.button if b.label == "Apply").click().run()
        assert job.learning_rate == 0.001  # not yet: the question comes first
        assert any("will the loss go up or down" in m.value for m in at.markdown)
        next(b for b in at.button if b.label == "Up").click().run()
        assert job.learning_rate == 0.5  # the guess applied it
        assert any("waiting for 50 steps" in i.value for i in at.info)
        change = None
        while change is None or loss_trend(job.snapshot().steps, change) is None:
            time.sleep(0.1)
            changes = job.snapshot().lr_changes
            change = changes[0].step if changes else None
        at.run()
        trend = loss_trend(job.snapshot().steps, change)
        shown = [*at.success, *at.error][0].value
        assert shown.startswith("You said up. " + ("Right" if trend.direction == "up"
                                                   else "Not this time"))
        assert f"from {trend.before:.3f} (50 steps before) to {trend.after:.3f}" in shown
        [question] = board(at)
        assert question.question == ("train: learning rate 0.001 → 0.5: loss up or down over "
                                     "the next 50 steps?")
        assert question.answered == 1
    finally:
        job.stop()
        job.join(30)


# ---- The board --------------------------------------------------------------------------------
def test_the_board_needs_the_key_groups_by_cause_and_clears(board_store):
    from cnn_core.teaching.predictions import Answer
    from ui.predict import prediction_store

    store = prediction_store()[0]
    q = "design: conv2d (16, k5, s2, p2) on 1x28x28"
    store.add(Answer(q, "16x12x12", False, sa.FORGOT_PADDING), "a")
    store.add(Answer(q, "16x28x28", False, sa.IGNORED_STRIDE), "b")
    store.add(Answer(q, "16x14x14", True), "c")
    at = on_page("pages/board.py")
    assert not [m for m in at.markdown if q in m.value]
    by_label(at.text_input, "Teacher key").set_value("guess")
    next(b for b in at.button if b.label == "Show the board").click().run()
    assert at.error[0].value == "that is not the teacher key"
    by_label(at.text_input, "Teacher key").set_value(KEY)
    next(b for b in at.button if b.label == "Show the board").click().run()
    shown = [m.value for m in at.markdown]
    assert f"### {q}" in shown
    assert f"#### {sa.FORGOT_PADDING}: 1\n\n**16x12x12** ×1" in shown
    assert f"#### {sa.IGNORED_STRIDE}: 1\n\n**16x28x28** ×1" in shown
    assert [m.value for m in at.metric] == ["3", "33%"]
    by_label(at.text_input, "Teacher key, to clear").set_value(KEY)
    next(b for b in at.button if b.label == "Clear the board for the next class").click().run()
    assert at.success[0].value.startswith("Cleared 3 answers")
    assert store.count() == 0 and any("No answers yet" in i.value for i in at.info)
