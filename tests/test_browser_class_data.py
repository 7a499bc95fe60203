"""The class set in real Chromium: three digits drawn, labelled and added, seen on the Class
data page, and a quick model trained on MNIST and tested on them."""

from __future__ import annotations

import math

import pytest
from browser_helpers import choose, draw, open_page, screenshot, set_number, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ONE = [(140, 50 + i * 9) for i in range(21)]
ZERO = [(140 + 55 * math.sin(2 * math.pi * t / 40), 140 - 85 * math.cos(2 * math.pi * t / 40))
        for t in range(42)]
SEVEN = [(70 + i * 7, 60) for i in range(21)] + [(210 - i * 4, 60 + i * 9) for i in range(1, 21)]


def test_draw_add_see_and_test_on_three_digits(page, app_url, tmp_path):
    for n, (digit, stroke) in enumerate((("1", ONE), ("0", ZERO), ("7", SEVEN)), 1):
        open_page(page, app_url, "draw")  # a fresh canvas
        draw(page, stroke)
        page.get_by_text("4 · centre in 28×28").wait_for(timeout=30_000)
        choose(page, "This is a", digit)
        page.get_by_role("button", name="Add to the class set").click()
        wait_idle(page)
        added = page.get_by_text(f"as a {digit}: the class set now has")
        added.wait_for(timeout=30_000)
        if n == 3:
            print(screenshot(page, tmp_path, "draw-added"))

    page.get_by_role("link", name="Class data").click()
    wait_idle(page)
    page.get_by_text("3 drawings.").wait_for(timeout=30_000)
    for digit in "017":
        assert page.get_by_role("tab", name=f"{digit} (1)").count() == 1
    print(screenshot(page, tmp_path, "class-data"))

    page.get_by_role("link", name="2 · Train").click()
    wait_idle(page)
    choose(page, "Test on", "the class's drawings")
    set_number(page, "Epochs", 1)
    choose(page, "Batch size", "512")  # fewer, larger steps: the quickest epoch on a CPU
    page.get_by_role("button", name="Train", exact=True).click()
    results = page.get_by_text("Results on the class's 3 drawings")
    results.wait_for(timeout=300_000)
    results.scroll_into_view_if_needed()
    accuracy = page.locator("[data-testid='stMetric']").filter(has_text="Test accuracy")
    assert accuracy.inner_text().strip().endswith("%")
    print(screenshot(page, tmp_path, "train-on-class"))
