"""In real Chromium: draw a digit, see why the network answered, ask why not another digit."""

from __future__ import annotations

import pytest
from browser_helpers import open_page, screenshot, wait_idle, wait_until
from test_browser import draw, set_number

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HEATMAP = ".st-key-draw_why_heatmap .js-plotly-plot"


def heatmap_values(page) -> list[float] | None:
    """The overlay's values, as plotly holds them in the page (None before it is drawn)."""
    return page.evaluate("""(selector) => {
        const plot = document.querySelector(selector);
        // _fullData: plotly's decoded copy (data holds the figure's base64 typed arrays)
        if (!plot || !plot._fullData || plot._fullData.length < 2) return null;
        return Array.from(plot._fullData[1].z, row => Array.from(row)).flat();
    }""", HEATMAP)


def test_why_this_answer_and_why_not(page, app_url, tmp_path):
    # A one-epoch training of the small design: a third of the quick model's work, so it
    # also finishes on a busy machine.
    open_page(page, app_url, "train")
    set_number(page, "Epochs", 1)
    page.get_by_role("button", name="Train").click()
    page.locator("[data-testid='stMetric']").filter(has_text="Test accuracy").wait_for(
        timeout=400_000)
    page.get_by_role("link", name="3 · Draw & test").click()  # the same session
    page.get_by_text("Answering:").first.wait_for(timeout=60_000)
    wait_idle(page)
    draw(page, [(140, 50 + i * 9) for i in range(21)])  # a one
    page.locator("h2").filter(has_text="It is a 1").wait_for(timeout=30_000)
    page.get_by_text("Why this answer?").scroll_into_view_if_needed()
    first = wait_until(lambda: heatmap_values(page), lambda z: bool(z))
    assert len(first) == 28 * 28 and max(abs(v) for v in first) > 0
    print(screenshot(page, tmp_path, "why-1"))
    picker = page.get_by_role("combobox", name="Explain the score of")
    picker.click()
    picker.press_sequentially("7:")  # the list shows a few options at a time: filter it
    page.get_by_role("option", name="7: why not a 7?", exact=True).click()
    wait_idle(page)
    later = wait_until(lambda: heatmap_values(page), lambda z: bool(z) and z != first)
    assert len(later) == 28 * 28
    page.get_by_text("Why this answer?").scroll_into_view_if_needed()
    print(screenshot(page, tmp_path, "why-not-7"))
