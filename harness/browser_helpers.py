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
    clock), how many updates that was, and how many of them Plotly drew (``plotly``; the rest
    only moved lines, which the component draws itself)."""
    plot = page.frame_locator(LIVE_CHART_FRAME).locator(".js-plotly-plot")
    drawn = plot.evaluate("""(plot, ms) => new Promise(resolve => {
        const drawn = {times: [], plotly: 0};
        plot.addEventListener("live-chart-update", () => drawn.times.push(performance.now()));
        plot.on("plotly_animated", () => drawn.plotly++);
        plot.on("plotly_afterplot", () => drawn.plotly++);
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

