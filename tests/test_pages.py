"""Every page through Streamlit's AppTest: real widgets, real models, no exceptions."""

import json
import threading
import time

import pytest
from helpers import by_label, canvas_state, live_chart_args, on_page, open_design_panels, wait_data
from streamlit.testing.v1 import AppTest

from cnn_core.data.preprocess import digit_to_canvas
from cnn_core.design.presets import LENET5, SMALL_FAST
from cnn_core.explain.activations import predict_with_maps
from cnn_core.training.devices import available_devices
from cnn_core.training.settings import recipe
from cnn_core.training.trainer import TrainConfig


def table(at: AppTest):
    return at.table[0].value.rename(columns={"\\#": "#"})  # escaped for Markdown


def row(at: AppTest, index: int) -> dict:
    df = table(at)
    return df[df["#"] == index].iloc[0].to_dict()


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


# ---- Design ---------------------------------------------------------------------------------
def test_changing_a_kernel_size_changes_the_table():
    at = on_page("pages/architecture.py")
    assert row(at, 1)["output"] == "16x28x28"
    kernel_input(at).set_value(5).run()
    assert not at.exception
    assert row(at, 1)["output"] == "16x26x26"
    assert row(at, 1)["params"] == 16 * 25 + 16
    assert any("floor((28 - 5 + 2*1) / 1) + 1 = 26" in m.value for m in at.markdown)
    assert "(edited)" in at.session_state["design_name"]


def kernel_input(at: AppTest):
    return next(n for n in at.number_input if n.label == "kernel_size")


def test_an_impossible_layer_shows_its_error_and_no_exception():
    at = on_page("pages/architecture.py")
    kernel_input(at).set_value(31).run()
    assert not at.exception
    assert any(e.startswith("layer 1 (conv2d): the kernel (31) is larger than the padded "
                            "input") for e in errors(at))
    assert row(at, 1)["status"].startswith("✗")
    assert row(at, 8)["output"] == "—"  # nothing after it can be computed
    kernel_input(at).set_value(0).run()
    assert any("kernel_size must be between 1 and 32 (got 0)" in e for e in errors(at))
    kernel_input(at).set_value(3).run()
    assert not errors(at) and row(at, 8)["output"] == "10"


def test_switching_presets():
    at = on_page("pages/architecture.py")
    at.selectbox(key="preset_choice").set_value("LeNet-5").run()
    at.button[0].click().run()  # Load
    assert not at.exception
    assert len(table(at)) == 13 and row(at, 4)["output"] == "16x10x10"
    assert at.metric[1].value == "61,706"
    at.selectbox(key="preset_choice").set_value("Seed tutorial: PyTorch ConvNet").run()
    next(b for b in at.button if b.label == "Load").click().run()
    assert row(at, 9)["settings"] == "3136→1000" and at.metric[1].value == "3,199,106"


def test_import_export_round_trip_and_bad_imports_change_nothing():
    at = open_design_panels(on_page("pages/architecture.py"))
    at.text_area(key="import_text").set_value(LENET5.to_json_text()).run()
    next(b for b in at.button if b.label == "Import").click().run()
    exported = next(c.value for c in at.code if c.language == "json")
    assert json.loads(exported) == LENET5.to_json()
    assert at.session_state["design_name"] == "Imported design"
    for bad, words in [("{nope", "not valid JSON"),
                       (json.dumps({"layers": [{"type": "relu"}] * 500}),
                        "500 layers; the limit is 100")]:
        at.text_area(key="import_text").set_value(bad).run()
        next(b for b in at.button if b.label == "Import").click().run()
        assert any(words in e for e in errors(at)), errors(at)
        assert json.loads(next(c.value for c in at.code if c.language == "json")) == \
            LENET5.to_json()


def test_generated_code_is_shown_for_a_valid_design():
    at = open_design_panels(on_page("pages/architecture.py"))
    python = [c.value for c in at.code if c.language == "python"]
    assert any("nn.Conv2d(1, 16, kernel_size=3" in c for c in python)
    assert any("layers.Conv2D(16, kernel_size=3" in c for c in python)


def test_the_design_pages_expanders_draw_only_while_open_and_keep_a_draft():
    at = on_page("pages/architecture.py")
    assert [e.label for e in at.expander] == [
        "Copy a link to this design", "Import / export the design as JSON",
        "Code: the same network in PyTorch and Keras"]
    assert not at.code and not at.text_area  # closed: nothing drawn, nothing generated
    open_design_panels(at)
    assert {c.language for c in at.code} == {"plaintext", "json", "python"}  # link, design, net
    at.text_area(key="import_text").set_value('{"layers": [').run()  # half typed
    at.session_state["design_json_open"] = False
    at.run()
    assert not at.text_area
    at.session_state["design_json_open"] = True
    at.run()
    assert at.text_area(key="import_text").value == '{"layers": ['


def test_a_design_keras_refuses_gets_a_note_instead_of_keras_code():
    at = open_design_panels(on_page("pages/architecture.py"))
    at.text_area(key="import_text").set_value(json.dumps({"layers": [
        {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2, "dilation": 2},
        {"type": "flatten"}, {"type": "linear", "out_features": 10}]})).run()
    next(b for b in at.button if b.label == "Import").click().run()
    python = [c.value for c in at.code if c.language == "python"]
    assert any("nn.Conv2d(1, 4, kernel_size=3, stride=2, padding=0, dilation=2)" in c
               for c in python)
    assert not any("layers.Conv2D" in c for c in python)
    assert any(w.value.startswith("Keras cannot build this design") and "layer 1 (conv2d)" in
               w.value for w in at.warning)


def test_linear_on_a_volume_offers_to_insert_flatten():
    at = open_design_panels(on_page("pages/architecture.py"))
    at.text_area(key="import_text").set_value(json.dumps({"layers": [
        {"type": "conv2d", "out_channels": 4, "kernel_size": 3},
        {"type": "linear", "out_features": 10}]})).run()
    next(b for b in at.button if b.label == "Import").click().run()
    at.selectbox(key="selected_uid").set_value(
        next(u for u in at.session_state["design_layers"] if u["type"] == "linear")["uid"]).run()
    fix = next(b for b in at.button if b.label == "Insert a flatten layer before it")
    fix.click().run()
    assert [r for r in table(at)["layer"]] == ["input", "conv2d", "flatten", "linear"]
    assert not errors(at)


def test_an_empty_design_cannot_be_trained():
    at = on_page("pages/architecture.py")
    at.selectbox(key="preset_choice").set_value("Blank (start from the input)").run()
    next(b for b in at.button if b.label == "Load").click().run()
    assert not at.exception and len(table(at)) == 1
    at.switch_page("pages/train.py")
    at.run()
    wait_data(at)
    train = next(b for b in at.button if "Train" in b.label)
    assert train.disabled
    assert any("must output 10 values" in e for e in errors(at))


# ---- Train ----------------------------------------------------------------------------------


def live_chart_figure(at: AppTest):
    """The live chart's figure, as plotly validates it (raises if it is not a valid figure)."""
    import plotly.graph_objects as go

    return go.Figure(live_chart_args(at)["figure"])


@pytest.mark.slow
def test_train_shows_live_metrics_and_stops(monkeypatch):
    # Not a test of the time limit: on a loaded machine the pace this training measures
    # could make 20 more epochs too long for the default 5 min, and disable Train below.
    monkeypatch.setenv("CNN_EXPLAINER_TRAINING_SECONDS", "3600")
    at = on_page("pages/train.py")
    wait_data(at)
    assert any("Offline: the bundled MNIST test set" in i.value for i in at.info)
    empty = live_chart_figure(at)  # axes and legend are there before any training
    assert [t.name for t in empty.data][:2] == ["train loss, per step", "train loss, smoothed"]
    assert list(empty.data[0].x) == [None]
    by_label(at.number_input, "Epochs").set_value(20).run()
    next(b for b in at.button if b.label == "Train").click().run()
    job = at.session_state["job"]
    for _ in range(100):
        if job.snapshot().step > 20:
            break
        time.sleep(0.1)
    at.run()
    progress = live_chart_args(at)["progress"]
    assert "images/s" in progress["text"] and 0 < progress["value"] < 1
    plotted = live_chart_figure(at).data[0]
    assert len(plotted.x) > 20 and all(0 < loss < 10 for loss in plotted.y)
    assert next(b for b in at.button if b.label == "Train").disabled  # no second training
    # While it trains, its settings are text (changing them would not change the training).
    assert not [n for n in at.number_input if n.label == "Epochs"]
    settings = TrainConfig(**(recipe(SMALL_FAST) | {"epochs": 20})).describe()
    assert any(f"This training: {settings}." in c.value for c in at.caption)
    next(b for b in at.button if b.label == "Stop").click().run()
    job.join(10)
    at.run()
    assert job.snapshot().state == "stopped"
    assert by_label(at.number_input, "Epochs").value == 20  # the widgets are back, as they were
    assert any("stopped by the user" in w.value for w in at.warning)
    assert "Last training: stopped by the user" in [c.value for c in at.sidebar.caption]
    assert not next(b for b in at.button if b.label == "Train").disabled


@pytest.mark.slow
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_trains_to_the_end_on_the_chosen_device(device):
    if device not in available_devices():
        pytest.skip(f"no {device} device on this machine")
    at = on_page("pages/train.py")
    wait_data(at)
    by_label(at.number_input, "Epochs").set_value(1).run()
    by_label(at.selectbox, "Device").set_value(device).run()
    next(b for b in at.button if b.label == "Train").click().run()
    job = at.session_state["job"]
    job.join(120)
    at.run()
    name = "CPU" if device == "cpu" else "CUDA: "
    assert live_chart_args(at)["progress"]["text"].startswith(f"Finished on {name}")
    accuracy = by_label(at.metric, "Test accuracy").value
    assert float(accuracy.rstrip("%")) > 90
    trained = [c.value for c in at.caption if c.value.startswith("Trained on")]
    assert trained and trained[0].startswith(f"Trained on {name}")
    assert f"{TrainConfig(**(recipe(SMALL_FAST) | {'epochs': 1})).describe()}." in trained[0]


def test_settings_survive_a_visit_to_another_page():
    at = on_page("pages/train.py")
    wait_data(at)
    by_label(at.number_input, "Epochs").set_value(7).run()
    by_label(at.number_input, "Learning rate").set_value(0.01).run()
    by_label(at.selectbox, "Optimizer").set_value("sgd").run()
    at.switch_page("pages/architecture.py")
    at.run()
    at.switch_page("pages/train.py")
    at.run()
    assert not at.exception
    assert by_label(at.number_input, "Epochs").value == 7
    assert by_label(at.number_input, "Learning rate").value == pytest.approx(0.01)
    assert by_label(at.selectbox, "Optimizer").value == "sgd"


def test_the_widgets_hold_trainconfigs_limits_and_defaults():
    at = on_page("pages/train.py")
    wait_data(at)
    default = TrainConfig(**recipe(SMALL_FAST))  # the session's design and its recipe
    for label, name in (("Epochs", "epochs"), ("Learning rate", "learning_rate"),
                        ("Seed", "seed")):
        widget = by_label(at.number_input, label)
        limit = TrainConfig.LIMITS[name]
        assert (widget.proto.min, widget.proto.max) == pytest.approx(
            (limit.minimum, limit.maximum)), label
        assert widget.value == pytest.approx(getattr(default, name)), label
    batch = by_label(at.selectbox, "Batch size")
    assert batch.value == default.batch_size
    assert max(map(int, batch.options)) <= TrainConfig.LIMITS["batch_size"].maximum
    assert by_label(at.selectbox, "Optimizer").value == default.optimizer


# ---- Draw -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_draw_page_quick_model_and_prediction(bundled):
    at = on_page("pages/draw.py")
    assert any("Draw a digit on the canvas" in i.value for i in at.info)
    from ui.app_state import quick_model

    quick_model.clear()  # this test trains its own, whatever tests ran before it
    at.run()
    next(b for b in at.button if b.label == "Train a quick model").click().run()

    job = quick_model().job
    job.join(120)
    at.run()
    assert any("Answering: **Small fast net" in c.value for c in at.caption)
    digit = bundled.val_images[0]
    at.session_state["digit_canvas"] = canvas_state(digit_to_canvas(digit.numpy()))
    at.run()
    assert not at.exception
    verdict = next(m.value for m in at.markdown if m.value.startswith("## It is a"))
    assert f"**{int(bundled.val_labels[0])}**" in verdict
    assert at.session_state["last_drawing"].shape == (28, 28)
    # Images, not plotly charts: the preparation steps in one row, the probabilities, why,
    # then the kernels and each layer's maps, one grid each.
    images = at.get("image")
    assert images[0].captions == ["1 · grayscale", "2 · crop to ink", "3 · fit 20×20",
                                  "4 · centre in 28×28"]
    assert images[1].captions == ["Probability of each class"]
    assert images[2].captions[0].startswith("Red: pushed towards")
    grids = [image.captions[0] for image in images[3:]]
    maps = predict_with_maps(job.model, at.session_state["last_drawing"])
    assert grids[0].startswith("First conv layer's kernels")
    assert [g.split(":")[0] for g in grids[1:]] == [f"Layer {name}"
                                                     for name, _ in maps.feature_maps]
    assert not at.get("plotly_chart")


def test_students_pressing_train_a_quick_model_at_once_start_one_training():
    from ui.app_state import QuickModel

    quick, together, jobs = QuickModel(), threading.Barrier(6), []

    def press() -> None:
        together.wait()
        jobs.append(quick.start())

    students = [threading.Thread(target=press) for _ in range(6)]
    for student in students:
        student.start()
    for student in students:
        student.join(60)
    for job in {id(job): job for job in jobs}.values():
        job.stop()
        job.join(30)
    assert len(jobs) == 6 and all(job is jobs[0] for job in jobs)


# ---- Explain --------------------------------------------------------------------------------
def test_explain_page_steps_and_reports_impossible_settings():
    at = on_page("pages/explain.py")
    first = next(m.value for m in at.markdown if m.value.startswith("Output cell"))
    assert "(row 14, column 14)" in first  # starts at the centre
    at.slider(key="conv_step").set_value(5 * 28 + 3).run()
    assert not at.exception
    moved = next(m.value for m in at.markdown if m.value.startswith("Output cell"))
    assert "(row 5, column 3)" in moved and moved != first
    by_label(at.number_input, "dilation").set_value(4).run()
    by_label(at.number_input, "padding (zeros on each side)").set_value(0).run()
    at.selectbox(key="kernel_name").set_value("box blur").run()
    by_label(at.radio, "Kernel size").set_value(5).run()
    assert not at.exception
    info = " ".join(m.value for m in at.markdown)
    assert "O = floor((28 - (4*(5-1)+1) + 2*0) / 1) + 1 = floor(11) + 1 = 12" in info
    assert not at.warning  # the 17-wide dilated kernel fits the 28-wide input
    by_label(at.number_input, "stride").set_value(6).run()  # a 2x2 map, pooled to 1x1
    assert any(m.value.startswith("Pooled cell **(row 0, column 0)**") for m in at.markdown)
    by_label(at.number_input, "pool kernel_size").set_value(4).run()
    assert not at.exception
    info = " ".join(m.value for m in at.markdown)
    assert "O = floor((2 - 4 + 2*0) / 2) + 1: the window (4) is larger than the padded input " \
           "(2), so there is no output" in info
    assert [w.value for w in at.warning] == [
        "The pooling window is larger than the map: no output. Lower kernel_size."]


def test_explain_play_steps_on_from_the_slider_and_stops_where_it_is():
    at = on_page("pages/explain.py")
    at.slider(key="conv_step").set_value(5 * 28 + 3).run()
    at.toggle(key="conv_step.play").set_value(True).run()  # each run while playing: one on
    assert not at.exception
    shown = at.slider(key="conv_step.shown")
    assert shown.value == 5 * 28 + 4 and shown.disabled  # the slider only shows Play's cell
    at.run()
    assert at.slider(key="conv_step.shown").value == 5 * 28 + 5
    at.toggle(key="conv_step.play").set_value(False).run()
    assert at.slider(key="conv_step").value == 5 * 28 + 5  # stopped: the slider stays there
    assert any("(row 5, column 5)" in m.value for m in at.markdown)
    by_label(at.number_input, "stride").set_value(2).run()  # a 14×14 map: 145 is too far
    assert at.slider(key="conv_step").value == 7 * 14 + 7  # its centre


def test_the_teacher_sees_and_stops_any_training_with_the_key(bundled, monkeypatch):
    from cnn_core.design.presets import LENET5
    from cnn_core.training.job import TrainingJob
    from ui.ownership import teacher_keys

    monkeypatch.setenv("CNN_EXPLAINER_TEACHER_KEY", "owl-7")
    teacher_keys.clear()  # read the key set for this test
    # Not the page's default design: the pace this training measures on a loaded machine
    # would otherwise become the page's estimate and could refuse its Train button.
    other = TrainingJob(LENET5, bundled, TrainConfig(epochs=50, batch_size=16),
                        name="a student's net", orphan_timeout_s=float("inf"))
    other.start()
    try:
        at = on_page("pages/train.py")
        wait_data(at)
        assert not [b for b in at.button if b.key and b.key.startswith("teacher_stop")]
        by_label(at.text_input, "Teacher key").set_value("guess")
        by_label(at.button, "Show every training").click().run()
        assert "that is not the teacher key" in errors(at)
        by_label(at.text_input, "Teacher key").set_value("owl-7")
        by_label(at.button, "Show every training").click().run()
        assert not at.exception and not errors(at)
        assert any("a student's net" in m.value for m in at.markdown)
        assert "train_teacher_key" not in at.session_state  # the key typed is not kept
        stops = [b for b in at.button if b.key and b.key.startswith("teacher_stop")]
        for stop in stops:
            stop.click()
        at.run()
        other.join(10)
        assert other.snapshot().state == "stopped"
        assert other.snapshot().message == "stopped by the teacher"
    finally:
        other.stop()
        teacher_keys.clear()
