"""Small helpers for driving the app in Playwright."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))  # Debian's
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


PAGE_HEADING = "[data-testid='stMainBlockContainer'] h1"  # every page starts with its title
# Script not running: the app's own run state (its status widget shows only after 500 ms)
IDLE = """() => !document.querySelector("[data-testid='stStatusWidget']")
  && document.querySelector("[data-testid='stApp']")?.dataset.testScriptState === "notRunning"
"""
CANVAS = "[data-testid='stBidiComponentIsolated'] canvas.upper-canvas"  # the Draw page's
EXCEPTION = "[data-testid='stException']"  # a traceback Streamlit shows on a page


PAGE_TITLES = {"Start here", "1 · Design", "2 · Train", "Runs", "Class data",
               "3 · Draw & test", "4 · Explain a step", "Teacher's board"}


def sidebar_while_loading(page, timeout_s: float = 90.0) -> list[tuple[float, set[str]]]:
    """The page link labels the sidebar shows, polled 10 times a second from now until the
    page's title appears (what a student sees while a fresh server loads torch), with the
    seconds since the first poll. A link's text starts with its icon's ligature name; the
    label is its last line."""
    polls: list[tuple[float, set[str]]] = []
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        labels = page.evaluate("""() => [...document.querySelectorAll(
            "[data-testid='stSidebarNav'] a")].map(a => a.innerText.trim().split("\\n").pop())""")
        polls.append((time.monotonic() - start, set(labels)))
        if page.locator(PAGE_HEADING).count():
            return polls
        page.wait_for_timeout(100)
    raise AssertionError(f"no page title after {timeout_s:.0f} s; the sidebar showed {polls}")


def launch_chromium(playwright):
    """Debian's Chromium, headless, with the arguments every test and benchmark uses (with
    Playwright's async API, await the result)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def open_page(page, app_url: str, path: str = "") -> None:
    """Open a page of the app and wait until its title is shown and the script is idle."""
    page.goto(f"{app_url}/{path}")
    page.wait_for_selector(PAGE_HEADING, timeout=90_000)
    wait_idle(page)


def wait_idle(page, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit is not running the script. Not while a training's live view runs
    on the page: its fragment reruns back to back, so wait for what the test needs there."""
    page.wait_for_timeout(400)
    page.wait_for_function(IDLE, timeout=timeout_ms)


def screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


LIVE_CHART_FRAME = "iframe[title='ui.live_chart.chart']"
CHART_KEY = "live_curves"  # the Train page's key for it


def live_chart_points(page) -> int:
    """How many per-step points the Train page's live chart (in its component iframe) shows."""
    frame = page.frame_locator(LIVE_CHART_FRAME)
    plot = frame.locator(".js-plotly-plot")
    if plot.count() == 0:
        return 0
    return plot.evaluate("p => p.data && p.data[0] ? p.data[0].x.length : 0")


def live_chart_updates(page, seconds: float) -> dict:
    """Over ``seconds``: when the live chart drew an update (``times``, ms on the page's
    clock), how many updates that was, and how many of them Plotly drew (``plotly``: a new
    epoch's markers, say; the rest only moved lines, which the component draws itself)."""
    plot = page.frame_locator(LIVE_CHART_FRAME).locator(".js-plotly-plot")
    drawn = plot.evaluate("""(plot, ms) => new Promise(resolve => {
        const drawn = {times: [], plotly: 0};
        plot.addEventListener("live-chart-update", event => {
          drawn.times.push(performance.now());
          if (event.detail && event.detail.throughPlotly) drawn.plotly++;
        });
        setTimeout(() => resolve(drawn), ms);
      })""", seconds * 1000)
    return {**drawn, "updates": len(drawn["times"])}


def live_progress(page):
    """The Train page's progress bar with its text, drawn inside the live chart's iframe."""
    return page.frame_locator(LIVE_CHART_FRAME).locator("#progress")


def wait_until(read: Callable[[], T], ok: Callable[[T], bool], timeout_s: float = 30.0) -> T:
    """Poll ``read()`` until ``ok`` holds for its value; fail with the last value seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout_s:.0f} s")
        time.sleep(0.25)


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label``."""
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def set_number(page, label: str, value: int) -> None:
    field = page.get_by_label(label, exact=True).first
    field.fill(str(value))
    field.press("Enter")
    wait_idle(page)



def draw(page, points: list[tuple[float, float]]) -> None:
    canvas = page.locator(CANVAS).first
    box = canvas.bounding_box()
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x, y0 + y, steps=4)
    page.mouse.up()
    page.wait_for_timeout(800)
    wait_idle(page)



def url_param(page, name: str) -> str | None:
    """A query parameter of the address bar (``page.url`` lags behind Streamlit's
    ``history.replaceState``; ``location`` does not)."""
    match = re.search(rf"[?&]{name}=([^&]+)", page.evaluate("() => location.search"))
    return match.group(1) if match else None


# ---- reading whole on a projector and a phone (test_layout.py, test_browser_lessons.py) ----
SIZES = {
    "projector": {"viewport": {"width": 1280, "height": 720}},
    "phone": {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True,
              "device_scale_factor": 2},
}

# Each text a student must read whole: buttons, headings, metrics, tabs, labels, the values in
# input boxes, Plotly titles (SVG: compared with their plot's width), and the tables' columns
# (data grids and static tables): every table's on a projector; on a phone only the kernel
# editor's (a wide table scrolls sideways there, as tables do on phones, but a kernel must
# show whole).
CUT_TEXTS = """(allGrids) => {
  const cut = [];
  const context = document.createElement("canvas").getContext("2d");
  const textWidth = (text, style) => {
    context.font = style.font;
    return context.measureText(text).width;
  };
  const boxes = document.querySelectorAll(
    "button, h1, h2, h3, [data-testid='stMetricLabel'], [data-testid='stMetricValue'], " +
    "[data-testid='stWidgetLabel'], [role='tab'], [data-testid='stPageLink'], label, input");
  for (const box of boxes) {
    if (!box.offsetParent) continue;  // not shown
    for (const el of [box, ...box.querySelectorAll("*")]) {
      const style = getComputedStyle(el);
      const text = (el.tagName === "INPUT" ? el.value : el.innerText || "").trim();
      if (!text || el.clientWidth === 0 || style.overflowX === "visible") continue;
      // an input clips its value at its padding: measure the value itself
      const needed = el.tagName === "INPUT" ? Math.ceil(textWidth(text, style) +
          parseFloat(style.paddingLeft) + parseFloat(style.paddingRight)) : el.scrollWidth - 1;
      if (needed > el.clientWidth) {
        cut.push(`${box.tagName.toLowerCase()} "${text.slice(0, 40)}": ${needed}px ` +
                 `of text in ${el.clientWidth}px`);
        break;
      }
    }
  }
  for (const plot of document.querySelectorAll(".js-plotly-plot")) {
    const width = plot.getBoundingClientRect().width;
    for (const title of plot.querySelectorAll(".gtitle")) {
      const b = title.getBBox();
      if (b.x < -1 || b.x + b.width > width + 1)
        cut.push(`plot title "${title.textContent.slice(0, 40)}": ${Math.round(b.width)}px ` +
                 `in a ${Math.round(width)}px plot`);
    }
  }
  const grids = allGrids
    ? "[data-testid='stDataFrame'] .dvn-scroller, [data-testid='stTable'] > div"
    : ".st-key-kernel_table .dvn-scroller";
  for (const grid of document.querySelectorAll(grids)) {
    if (grid.scrollWidth > grid.clientWidth + 1)
      cut.push(`grid: ${grid.scrollWidth}px of columns in ${grid.clientWidth}px`);
  }
  return cut;
}"""


def page_in(browser, size: str):
    context = browser.new_context(**SIZES[size])
    page = context.new_page()
    page.set_default_timeout(60_000)
    return context, page


def shot(page, tmp_path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(path)


DRAWN = """() => !document.querySelector("[data-testid='stSkeleton']")
  && [...document.images].every(image => image.complete && image.naturalWidth > 0)
  && [...document.querySelectorAll(".js-plotly-plot")]
       .every(plot => plot.querySelector(".main-svg"))"""


def scroll_through(page) -> None:
    """Scroll Streamlit's content to the end and back, so lazy elements all draw, and wait
    until they have: no skeleton left, every image loaded, every plotly chart drawn."""
    page.evaluate("""() => { const m = document.querySelector("[data-testid='stMain']");
                             if (m) m.scrollTop = m.scrollHeight; window.scrollTo(0, 1e6); }""")
    page.wait_for_function(DRAWN)
    page.evaluate("""() => { const m = document.querySelector("[data-testid='stMain']");
                             if (m) m.scrollTop = 0; window.scrollTo(0, 0); }""")
    page.wait_for_function(DRAWN)
