"""Predict first in real Chromium, page by page: a wrong guess is told why, a right one is
right, and the answers land on the teacher's board, grouped by cause."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_server import serve_app
from browser_helpers import draw, open_page, screenshot, set_number, wait_idle, wait_until
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

KEY = "board-test-key"
SHAPE = "Output shape (channels × height × width)"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """The server's runs folder, holding one run whose net the Draw page answers with: the
    small design, seeded and untrained (a guess is checked against what it says)."""
    import torch

    from cnn_core.design.build import build_model
    from cnn_core.design.presets import SMALL_FAST
    from cnn_core.runs.store import RunStart, RunStore

    root = tmp_path_factory.mktemp("runs")
    torch.manual_seed(0)
    store = RunStore(root)
    run = store.begin(RunStart("seeded net", SMALL_FAST.to_json(), {"epochs": 0}, 0, "bundled",
                               0, 0, 0, "CPU", 0, 0))
    store.finish(run, "finished", "untrained", state_dict=build_model(SMALL_FAST).state_dict())
    store.close()
    return root


@pytest.fixture(scope="module")
def board_url(runs, tmp_path_factory) -> Iterator[str]:
    """A server with a teacher key and its own runs folder (so its own board)."""
    log = tmp_path_factory.mktemp("server") / "streamlit.log"
    with serve_app(log, env={"CNN_EXPLAINER_TEACHER_KEY": KEY,
                             "CNN_EXPLAINER_RUNS": str(runs)}) as url:
        yield url


def predict_first(page, board_url: str, path: str) -> None:
    open_page(page, board_url, f"{path}{'&' if '?' in path else '?'}predict=1")
    expect(page.get_by_role("switch", name="Predict first")).to_be_checked()


def answer_shape(page, text: str) -> None:
    page.get_by_label(SHAPE).fill(text)
    page.get_by_role("button", name="Check").click()
    wait_idle(page)


def test_design_wrong_then_right_and_the_board_groups_padding_and_stride(page_for, board_url,
                                                                         tmp_path):
    first, second = page_for(), page_for()  # two students
    for student, answer in ((first, "16x13x13"), (second, "16x28x28")):
        predict_first(student, board_url, "architecture")
        set_number(student, "stride", 2)  # conv2d 16, k3, s2, p1 on 1x28x28: 14x14
        expect(student.get_by_label(SHAPE)).to_be_visible()
        answer_shape(student, answer)
    said = first.locator("[data-testid='stAlertContentError']").first.inner_text()
    assert "you used no padding" in said and "floor((28 - 3 + 2*0) / 2) + 1 = 13" in said
    said = second.locator("[data-testid='stAlertContentError']").first.inner_text()
    assert "the stride skips" in said and "floor((28 - 3 + 2*1) / 1) + 1 = 28" in said
    print(screenshot(first, tmp_path, "design-wrong"))
    set_number(first, "kernel_size", 5)  # k5, s2, p1: floor(25 / 2) + 1 = 13
    answer_shape(first, "(16, 13, 13)")
    expect(first.get_by_text("Right: 16x13x13.")).to_be_visible()

    teacher = page_for()
    teacher.set_viewport_size({"width": 1280, "height": 720})  # a projector
    open_page(teacher, board_url, "board")
    teacher.get_by_label("Teacher key").fill(KEY)
    teacher.get_by_role("button", name="Show the board").click()
    question = teacher.locator("[class*='st-key-board_question_']").filter(
        has=teacher.get_by_role("heading", name="design: conv2d (16, k3, s2, p1) on 1x28x28"))
    expect(question.get_by_role("heading", name="forgot padding: 1")).to_be_visible()
    expect(question.get_by_role("heading", name="ignored stride: 1")).to_be_visible()
    expect(teacher.get_by_role("heading", name="design: conv2d (16, k5, s2, p1) on 1x28x28")
           ).to_be_visible()
    cut = teacher.evaluate("""() => [...document.querySelectorAll(
        "h3, h4, [data-testid='stMetricValue']")]
        .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)""")
    assert not cut, f"cut on a projector: {cut}"
    print(screenshot(teacher, tmp_path, "board"))


def window_value(row: int, col: int) -> float:
    """The Explain page's first cell as it computes it: its first digit, first 3x3 kernel."""
    import numpy as np

    from cnn_core.data.mnist import load_bundled
    from cnn_core.explain.stepping import Geometry, conv_step, kernel_presets

    digits = load_bundled()
    image = np.concatenate([digits.train_images.numpy(), digits.val_images.numpy()])[0] / 255.0
    kernel = next(iter(kernel_presets(3).values()))
    return conv_step(image, kernel, Geometry(3, 1, 1, 1), row, col).value


def test_explain_wrong_then_right(page_for, board_url, tmp_path):
    page = page_for()
    predict_first(page, board_url, "explain")
    expect(page.get_by_text("What is it?")).to_be_visible()
    products = page.locator("code").filter(has_text="sum of the 9 products")  # multiply-adds
    expect(products).to_have_count(0)
    page.get_by_label("…or type it").fill(f"{window_value(14, 14) + 3:.2f}")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("[data-testid='stAlertContentError']").first).to_contain_text(
        "Not quite")
    expect(products).to_be_visible()
    print(screenshot(page, tmp_path, "explain-wrong"))
    thumb = page.locator("[data-testid='stSlider'] input[type='range']").first
    thumb.focus()
    thumb.press("ArrowRight")  # the next window: asked again
    page.get_by_label("…or type it").fill(f"{window_value(14, 15):.3f}")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("[data-testid='stAlertContentSuccess']").first).to_contain_text("Right")
    expect(products).to_be_visible()


def test_draw_wrong_then_right(page_for, board_url, tmp_path):
    page = page_for()
    predict_first(page, board_url, "draw?run=1")
    page.get_by_text("Answering:").first.wait_for(timeout=60_000)
    said, verdicts = "0", []
    for attempt in range(8):  # each drawing a little to the right of the last: a new one
        draw(page, [(100 + 8 * attempt, 50 + i * 9) for i in range(21)])
        pills = page.locator(".st-key-predict_digit [data-testid='stButtonGroup'] button")
        expect(pills.first).to_be_visible()
        # A wrong guess until one was seen, then what the net said last time (an untrained
        # net says much the same of similar strokes).
        wrong_seen = any(not right for right, _ in verdicts)
        guess = said if wrong_seen else str((int(said) + 1) % 10)
        pills.filter(has_text=re.compile(f"^{guess}$")).click()
        wait_idle(page)
        alert = page.locator("[data-testid='stAlertContentSuccess'], "
                             "[data-testid='stAlertContentError']").first
        text = alert.inner_text()
        said = re.search(r"the net says (\d)", text).group(1)
        verdicts.append(("Right:" in text, text))
        if not verdicts[-1][0]:
            assert f"Not this time: you expected {guess}, the net says {said}" in text
            print(screenshot(page, tmp_path, "draw-wrong"))
        if wrong_seen and verdicts[-1][0]:
            break
    assert [right for right, _ in verdicts].count(False) >= 1 and verdicts[-1][0], verdicts
    expect(page.get_by_text("Why this answer?")).to_be_visible()


def test_train_up_or_down_is_answered_by_the_curve(page_for, board_url, tmp_path):
    page = page_for()
    predict_first(page, board_url, "train")
    set_number(page, "Epochs", 10)  # steps to spare: the verdict needs 50 after the change
    page.get_by_role("button", name="Train", exact=True).click()
    rate = page.get_by_label("Learning rate from now on")
    rate.wait_for(timeout=120_000)
    page.wait_for_timeout(3000)  # some steps at the first rate
    rate.fill("1")  # far too high for Adam, yet finite: a NaN would end it before a verdict
    rate.press("Enter")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("will the loss go up or down?")).to_be_visible()
    page.get_by_role("button", name="Up").click()
    verdict = page.get_by_text("You said up.")
    verdict.wait_for(timeout=240_000)
    # Adam at a learning rate of 1 throws the weights far: the loss goes up.
    assert "Right: the mean loss went from" in verdict.inner_text()
    print(screenshot(page, tmp_path, "train-verdict"))
    stop = page.get_by_role("button", name="Stop")
    if stop.is_enabled():  # three epochs of the small net may finish before the verdict
        stop.click()
    wait_until(lambda: page.get_by_role("button", name="Train", exact=True).is_enabled(), bool, 60)
