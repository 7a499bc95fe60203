"""In real Chromium: click a cell of the Train page's confusion matrix, and pick one from
the keyboard; each shows exactly as many thumbnails as the matrix counts (a page's worth)."""

from __future__ import annotations

import base64
import re
from urllib.parse import unquote, urljoin
from xml.etree import ElementTree

import pytest
from browser_helpers import open_page, screenshot, set_number, wait_idle, wait_until

from cnn_core.explain.confusion import PAGE_SIZE
from ui.confusion_view import CELL_PX, INDEX_PX, ROW_PX

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TABLE = ".st-key-train_cells_table"
GALLERY = ".st-key-train_cells_gallery"
OPENED = re.compile(r"true (\d) → said (\d): ([\d,]+) images?")


def matrix_counts(page) -> list[list[int]]:
    """The counts the confusion matrix picture shows, row by row (its SVG's text)."""
    picture = page.locator("[data-testid='stImage']").filter(
        has_text="Confusion matrix").locator("img").first
    source = picture.get_attribute("src")
    if source.startswith("data:"):  # an inline SVG
        head, body = source.split(",", 1)
        svg = base64.b64decode(body).decode() if head.endswith(";base64") else unquote(body)
    else:
        svg = page.request.get(urljoin(page.url, source)).text()
    texts = [t.text for t in ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
    return [[int(texts[r * 11 + 1 + c].replace(",", "")) for c in range(10)] for r in range(10)]


def opened(page) -> tuple[int, int, int]:
    """The cell the list shows as open: (true, predicted, count)."""
    shown = page.get_by_role("combobox", name="The cell to open").input_value() or \
        page.locator(".st-key-train_cells_cell").inner_text()
    found = OPENED.search(shown)
    assert found, shown
    return int(found[1]), int(found[2]), int(found[3].replace(",", ""))


def thumbnails(page) -> int:
    return page.locator(f"{GALLERY} img").count()


def test_a_click_on_a_cell_and_the_keyboard_open_exactly_its_images(page, app_url, tmp_path):
    open_page(page, app_url, "train")
    set_number(page, "Epochs", 1)
    page.get_by_role("button", name="Train", exact=True).click()
    page.locator("[data-testid='stMetric']").filter(has_text="Test accuracy").wait_for(
        timeout=400_000)
    wait_idle(page)
    counts = matrix_counts(page)
    table = page.locator(TABLE)
    table.scroll_into_view_if_needed()
    box = table.locator("[data-testid='stDataFrame']").bounding_box()
    # The header is a row tall; the cell of true 1, said 1 (hundreds of ones are right).
    true, said = 1, 1
    page.mouse.click(box["x"] + INDEX_PX + said * CELL_PX + CELL_PX / 2,
                     box["y"] + ROW_PX + true * ROW_PX + ROW_PX / 2)
    wait_idle(page)
    cell = wait_until(lambda: thumbnails(page), lambda n: n > 0)
    assert opened(page) == (true, said, counts[true][said])
    assert cell == min(counts[true][said], PAGE_SIZE)
    assert page.locator(GALLERY).get_by_role("button", name="Why?").count() == cell
    print(screenshot(page, tmp_path, "confusion-click"))

    # From the keyboard: the list's first cell, the largest mistake.
    picker = page.get_by_role("combobox", name="The cell to open")
    picker.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Home")
    page.keyboard.press("Enter")
    wait_idle(page)
    true, said, count = opened(page)
    assert true != said and count == counts[true][said]
    assert count == max(counts[t][p] for t in range(10) for p in range(10) if t != p)
    assert wait_until(lambda: thumbnails(page), lambda n: n == min(count, PAGE_SIZE))
    print(screenshot(page, tmp_path, "confusion-keyboard"))
