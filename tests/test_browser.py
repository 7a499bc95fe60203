"""End to end in real headless Chromium against ``streamlit run app.py`` on 127.0.0.1.

Each test saves screenshots under its tmp dir (printed), so a person can look at them.
"""

from __future__ import annotations

import base64
import math
import re
import time

import pytest
from browser_helpers import (
    CHART_KEY,
    EXCEPTION,
    PAGE_TITLES,
    choose,
    draw,
    live_chart_points,
    live_chart_updates,
    live_progress,
    open_page,
    screenshot,
    set_number,
    sidebar_while_loading,
    wait_idle,
    wait_until,
)
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_direct_link_gets_the_full_frame(fresh_app_url, page_for, tmp_path):
    """A page URL opened first on a fresh server: the sidebar lists the app's pages while
    torch loads, not Streamlit's list of file names (at most a flicker as the page reruns
    through app.py; that list used to stay for the whole import, about 9 s), then the frame.
    How long file names show: bench/first_paint.py prints file_names_s."""
    page = page_for(fresh_app_url)
    page.goto(f"{fresh_app_url}/train")
    polls = sidebar_while_loading(page)
    shown = [labels == PAGE_TITLES for _, labels in polls]
    assert any(shown[:-1]), f"the app's pages came only with the page: {polls}"
    first = shown.index(True)
    assert all(labels <= PAGE_TITLES for _, labels in polls[first:]), \
        f"file names came back after the app's pages: {polls}"
    assert polls[-1][1] == PAGE_TITLES
    raw = [(t, labels) for t, labels in polls if labels - PAGE_TITLES]
    wait_idle(page)
    page.wait_for_selector("text=Design:", timeout=30_000)
    assert page.get_by_role("link", name="1 · Design").count() == 1
    print(f"polls showing file names: {len(raw)} of {len(polls)}")
    print(screenshot(page, tmp_path, "direct-link"))


def test_presets_and_editing_a_layer(page, app_url, tmp_path):
    open_page(page, app_url, "architecture")
    expected = {"LeNet-5": "61,706", "Seed tutorial: PyTorch ConvNet": "3,199,106",
                "Seed tutorial: Keras net": "203,434", "Small fast net": "20,490"}
    for preset, params in expected.items():
        choose(page, "Start from", preset)
        page.get_by_role("button", name="Load", exact=True).click()
        wait_idle(page)
        page.locator("[data-testid='stMetricValue']").filter(has_text=params).first.wait_for()
        print(screenshot(page, tmp_path, f"preset-{preset[:12].replace(' ', '_')}"))
    new_shape = page.locator("[data-testid='stTable'] td").filter(has_text="16x26x26")
    assert new_shape.count() == 0
    set_number(page, "kernel_size", 5)
    new_shape.first.wait_for()
    page.get_by_text("floor((28 - 5 + 2*1) / 1) + 1 = 26").first.wait_for()
    print(screenshot(page, tmp_path, "edited"))
    set_number(page, "kernel_size", 31)
    page.get_by_text("the kernel (31) is larger than the padded input").first.wait_for()
    assert page.locator(EXCEPTION).count() == 0


def stale_transitions(page, selector: str, count: int, seconds: float) -> list[str]:
    """The CSS transition each time Streamlit marks the element stale (a fragment run can),
    until ``count`` marks are seen or ``seconds`` have passed."""
    return page.locator(selector).evaluate("""(element, [count, ms]) => new Promise(resolve => {
        const seen = [];
        new MutationObserver(() => {
          if (element.dataset.stale === "true") {
            seen.push(getComputedStyle(element).transitionDuration);
            if (seen.length >= count) resolve(seen);
          }
        }).observe(element, {attributes: true, attributeFilter: ["data-stale"]});
        setTimeout(() => resolve(seen), ms);
      })""", [count, seconds * 1000])


def test_training_the_small_preset(page, app_url, tmp_path):
    open_page(page, app_url, "train")
    # Long enough (about 50 s on 2 cores) that the training's end, a whole-page rerun, never
    # falls in a window below.
    set_number(page, "Epochs", 15)
    choose(page, "Batch size", "64")  # the preset's recipe says 32: twice the steps and time
    page.get_by_role("button", name="Train", exact=True).click()
    # The page reflows as training starts: a pointer left where Train was can end up over the
    # chart, where updates go through Plotly on purpose (hover stays live). Park it outside.
    page.mouse.move(1, 1)
    progress = live_progress(page)
    progress.filter(has_text="images/s").wait_for(timeout=60_000)
    first = progress.inner_text()
    wait_until(progress.inner_text, lambda text: "images/s" in text and text != first)
    bar = progress.get_by_role("progressbar")
    wait_until(lambda: int(bar.get_attribute("aria-valuenow")), lambda percent: 0 < percent < 100)
    points = wait_until(lambda: live_chart_points(page), lambda n: n > 0)
    drawn = live_chart_updates(page, seconds=4)
    later = wait_until(lambda: live_chart_points(page), lambda n: n > points)
    assert later > points > 0, "the live chart did not grow"
    assert drawn["updates"] >= 4, drawn  # at least twice a second
    # Most updates only move the lines, which the chart draws itself (test_live_chart.py).
    assert drawn["plotly"] <= drawn["updates"] // 2, drawn
    # A fragment run starts every few seconds (STREAM_FOR_S); measured, about one in two
    # marks the chart stale before redrawing it.
    fades = stale_transitions(page, f".st-key-{CHART_KEY}", count=2, seconds=30)
    assert fades and set(fades) == {"0s"}, \
        f"the live chart starts Streamlit's stale fade on every update: {fades}"
    print(screenshot(page, tmp_path, "training-live"))
    accuracy = page.locator("[data-testid='stMetric']").filter(has_text="Test accuracy")
    accuracy.wait_for(timeout=400_000)
    value = float(re.search(r"([\d.]+)%", accuracy.inner_text()).group(1))
    assert value > 95, value
    page.get_by_text("Digits it got wrong").scroll_into_view_if_needed()
    print(screenshot(page, tmp_path, "training-done"))


def test_drawing_a_one_and_a_zero(page, app_url, tmp_path):
    open_page(page, app_url, "draw")
    quick = page.get_by_role("button", name="Train a quick model")
    if quick.count():
        quick.click()
    page.get_by_text("Answering:").first.wait_for(timeout=120_000)
    wait_idle(page)
    draw(page, [(140, 50 + i * 9) for i in range(21)])
    verdict = page.locator("h2").filter(has_text="It is a")
    verdict.wait_for(timeout=30_000)
    print(screenshot(page, tmp_path, "drew-1"))
    assert "It is a 1" in verdict.inner_text()
    open_page(page, app_url, "draw")  # a fresh canvas
    page.get_by_text("Answering:").first.wait_for(timeout=30_000)
    loop = [(140 + 55 * math.sin(2 * math.pi * t / 40), 140 - 85 * math.cos(2 * math.pi * t / 40))
            for t in range(42)]
    draw(page, loop)
    verdict = page.locator("h2").filter(has_text="It is a")
    verdict.wait_for(timeout=30_000)
    page.get_by_text("Inside the network").scroll_into_view_if_needed()
    print(screenshot(page, tmp_path, "drew-0"))
    assert "It is a 0" in verdict.inner_text()


def window_outlines(page) -> list[tuple[float, float]]:
    """Where the yellow window's cells are on the input grid (the first image on the page,
    an SVG data URI): their outlines' (x, y)."""
    src = page.locator("[data-testid='stImage'] img").first.get_attribute("src")
    svg = base64.b64decode(src.split(",", 1)[1]).decode()
    return [(float(x), float(y)) for x, y in
            re.findall(r'class="window" x="([-\d.]+)" y="([-\d.]+)"', svg)]


def cell_index(text: str) -> int:
    """The place, row by row on the 28-wide map, of the cell a text "(row r, column c)" names."""
    row, col = re.search(r"row (\d+), column (\d+)", text).groups()
    return int(row) * 28 + int(col)


def test_explain_slider_moves_the_window_and_play_steps_on(page, app_url, tmp_path):
    open_page(page, app_url, "explain")
    cell = page.locator("p").filter(has_text="Output cell").first
    cell.wait_for()
    thumb = page.locator("[data-testid='stSlider'] input[type='range']").first
    # The step starts at the centre of the 28×28 map (row 14, column 14). Pressing before the
    # page has settled there lost presses: a CI run read 105 first, then the slider jumped.
    start = 14 * 28 + 14
    expect(thumb).to_have_value(str(start))
    wait_idle(page)
    before_text, before_window = cell.inner_text(), window_outlines(page)
    assert "(row 14, column 14)" in before_text
    thumb.focus()
    for pressed in range(1, 31):
        thumb.press("ArrowRight")
        # As a student's key repeat does: the next press after the thumb has moved. Pressed
        # faster, a busy tab's slider can read its value before it redraws and lose a press.
        expect(thumb).to_have_value(str(start + pressed))
    wait_idle(page)
    # The slider may report intermediate values first (one rerun each): wait for the last.
    # From the centre (row 14, column 14 of 28), 30 cells on is row 15, column 16.
    after_text = wait_until(cell.inner_text, lambda text: "(row 15, column 16)" in text)
    after_window = window_outlines(page)
    assert after_text != before_text
    assert len(before_window) == len(after_window) == 9  # the 3×3 kernel's cells
    # 30 cells on is one row down and two columns right, on the padded input too.
    assert sorted(after_window) == sorted((x + 2, y + 1) for x, y in before_window)

    page.get_by_text("▶ Play").first.click()  # the conv step's, the first of two
    wait_until(lambda: cell_index(cell.inner_text()), lambda i: i >= 15 * 28 + 19)  # 3 on
    page.get_by_text("▶ Play").first.click()
    wait_idle(page)
    stopped = cell.inner_text()
    time.sleep(2)  # over three play periods
    assert cell.inner_text() == stopped
    assert int(thumb.input_value()) == cell_index(stopped)  # the slider stays there
    print(screenshot(page, tmp_path, "explain"))
