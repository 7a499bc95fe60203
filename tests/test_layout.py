"""Every page reads whole on a projector (1280x720) and a phone (390x844, touch), and a finger
stroke on the canvas draws without scrolling the page. Screenshots go to the test's tmp dir
(printed), one per page and size, for a person to look at."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest
from browser_helpers import (
    CANVAS,
    CUT_TEXTS,
    SIZES,
    open_page,
    page_in,
    scroll_through,
    shot,
    wait_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGES = ["", "architecture", "train", "runs", "class_data", "draw", "explain", "board"]


@pytest.fixture(scope="module")
def runs_on_the_server(app_url):
    """Runs in the server's store (the folder conftest names), so that the Runs page shows its
    table, a run and the scatter whichever tests ran before."""
    from helpers import record

    from cnn_core.runs.store import RunStore

    store = RunStore(os.environ["CNN_EXPLAINER_RUNS"])
    for accuracy, params in ((0.91, 20_490), (0.97, 61_706), (0.96, 3_199_106)):
        record(store, accuracy=accuracy, params=params)


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_reads_whole(browser, app_url, runs_on_the_server, tmp_path, size):
    """No button or heading text is cut; and, for offline classrooms, no page fetches anything
    from another host (a :material/…: favicon made Streamlit fetch it from fonts.gstatic.com)."""
    context, page = page_in(browser, size)
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    try:
        found = {}
        for path in PAGES:
            open_page(page, app_url, path)
            if path == "explain":  # what the issue saw cut: the plots and the kernel grid
                page.get_by_text("Output position").first.wait_for()
            scroll_through(page)
            shot(page, tmp_path, f"{size}-{path or 'home'}")
            cut = page.evaluate(CUT_TEXTS, size == "projector")
            if cut:
                found[path or "home"] = cut
        for where, texts in found.items():
            print(where, *texts, sep="\n  ")
        assert not found, found
        assert hosts == {urlsplit(app_url).netloc}, hosts
    finally:
        context.close()


SCROLL_POSITIONS = """() => [window.scrollY,
  ...[...document.querySelectorAll("[data-testid='stMain'], [data-testid='stAppViewContainer']")]
    .map(e => e.scrollTop)]"""


def test_a_finger_stroke_draws_and_does_not_scroll(browser, app_url, tmp_path):
    context, page = page_in(browser, "phone")
    try:
        open_page(page, app_url, "draw")
        canvas = page.locator(CANVAS)
        canvas.first.scroll_into_view_if_needed()
        wait_idle(page)
        before = page.evaluate(SCROLL_POSITIONS)
        box = canvas.first.bounding_box()
        cdp = context.new_cdp_session(page)
        x = box["x"] + box["width"] / 2
        points = [(x, box["y"] + box["height"] * (0.15 + 0.7 * i / 20)) for i in range(21)]

        def touch(kind: str, at: tuple[float, float] | None) -> None:
            touches = [] if at is None else [{"x": at[0], "y": at[1], "id": 1}]
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": touches})

        def stroke(path: list[tuple[float, float]]) -> None:
            touch("touchStart", path[0])
            for point in path[1:]:
                touch("touchMove", point)
                page.wait_for_timeout(15)
            touch("touchEnd", None)
            page.wait_for_timeout(500)

        stroke(points)
        after = page.evaluate(SCROLL_POSITIONS)
        shot(page, tmp_path, "phone-stroke")
        assert after == before, f"the page scrolled: {before} -> {after}"
        # the stroke reached the app: the drawing is prepared (the hint to draw is gone)
        page.get_by_text("Draw a digit on the canvas.").wait_for(state="detached",
                                                                 timeout=30_000)
        wait_idle(page)
        shot(page, tmp_path, "phone-drawn")
        # the same stroke beside the canvas scrolls the page: the check above can fail
        beside = [(box["x"] + box["width"] + 15, y) for _, y in reversed(points)]
        stroke(beside if beside[0][0] < 385 else [(5, y) for _, y in reversed(points)])
        assert page.evaluate(SCROLL_POSITIONS) != after, "a swipe beside the canvas scrolls"
    finally:
        context.close()
