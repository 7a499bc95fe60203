"""In real Chromium: draw a digit, see why the network answered, ask why not another digit."""

from __future__ import annotations

import io
from urllib.parse import urljoin

import numpy as np
import pytest
from browser_helpers import draw, open_page, screenshot, set_number, wait_idle, wait_until
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HEATMAP = ".st-key-draw_why_heatmap img"


def heatmap_values(page) -> np.ndarray | None:
    """The overlay's pixels as the browser got them, (280, 280, 3) (None before it is shown)."""
    picture = page.locator(HEATMAP)
    if not picture.count() or not picture.first.get_attribute("src"):
        return None
    response = page.request.get(urljoin(page.url, picture.first.get_attribute("src")))
    if not response.ok:
        return None  # replaced meanwhile: read again
    return np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"))


def coloured(pixels: np.ndarray) -> int:
    """Pixels that are not grey: where the overlay shows the heatmap's colours."""
    channels = pixels.astype(int)
    return int(((channels.max(axis=-1) - channels.min(axis=-1)) > 30).sum())


def test_why_this_answer_and_why_not(page, app_url, tmp_path):
    # A one-epoch training of the small design: a third of the quick model's work, so it
    # also finishes on a busy machine.
    open_page(page, app_url, "train")
    set_number(page, "Epochs", 1)
    page.get_by_role("button", name="Train", exact=True).click()
    page.locator("[data-testid='stMetric']").filter(has_text="Test accuracy").wait_for(
        timeout=400_000)
    page.get_by_role("link", name="3 · Draw & test").click()  # the same session
    page.get_by_text("Answering:").first.wait_for(timeout=60_000)
    wait_idle(page)
    draw(page, [(140, 50 + i * 9) for i in range(21)])  # a one
    page.locator("h2").filter(has_text="It is a 1").wait_for(timeout=30_000)
    page.get_by_text("Why this answer?").scroll_into_view_if_needed()
    first = wait_until(lambda: heatmap_values(page), lambda z: z is not None)
    assert first.shape == (280, 280, 3) and coloured(first) > 0
    print(screenshot(page, tmp_path, "why-1"))
    picker = page.get_by_role("combobox", name="Explain the score of")
    picker.click()
    picker.press_sequentially("7:")  # the list shows a few options at a time: filter it
    page.get_by_role("option", name="7: why not a 7?", exact=True).click()
    wait_idle(page)
    later = wait_until(lambda: heatmap_values(page),
                       lambda z: z is not None and not np.array_equal(z, first))
    assert later.shape == (280, 280, 3) and coloured(later) > 0
    page.get_by_text("Why this answer?").scroll_into_view_if_needed()
    print(screenshot(page, tmp_path, "why-not-7"))
