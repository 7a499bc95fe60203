"""A class on one server: six students at once in real headless Chromium.

Starts the app (offline, its default training slots), then drives six browser sessions for
``--seconds`` once all are set up (each has done each thing once, timed apart: a tab's first
visit to a page loads and compiles that page's code, once a day for a student). Two train
the seed tutorial's PyTorch ConvNet again and again (one trains while the other waits in the
queue, on 2 cores); four go round the other pages: draw a digit on the Draw page and wait
for the verdict, open the Design page, step the Explain page, pausing after each as a student
looks at what it showed: ``--think`` seconds on average (2 s by default, a hurried student: a
stress test of the server; real ones read the maps and the sums for longer), each pause
``--think`` times 1 ± ``--jitter`` (0.5) at random, seeded, so that students act out of step
as a class does (``--jitter 0``: all four at the same instant, round after round).
Pages are switched with the sidebar's links, as a student does (a reload would start a new
session). Measured while the trainings run: the time from releasing the mouse to the verdict
(``draw``), from clicking a page link to that page's title with its script run over
(``page``), the server's peak resident memory, and exceptions (on any page, or in the
server's log). Both times are taken inside the page, on its clock: from the input event's
time stamp to the end of the frame that shows the result (see ``MARK_NEXT``).
It also prints the CPU the server and the six Chromium instances took: in a real class the
browsers run on the students' computers, here they share the server's cores.

Ends with ``draw_p95_ms=… page_p95_ms=… rss_peak_mb=… exceptions=…``. Targets on 2 cores:
draw p95 under 1,500 ms, page switch p95 under 2,000 ms, peak RSS under 1.6 GB, 0 exceptions.

Run: python bench/classroom.py [--seconds 180] [--think 2] [--jitter 0.5]
(needs /usr/bin/chromium)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "harness"))

from app_server import serve_app, server_rss_bytes  # noqa: E402
from browser_helpers import CANVAS, EXCEPTION, IDLE, PAGE_HEADING, launch_chromium  # noqa: E402
from playwright.async_api import Error as PlaywrightError  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
THINK_S = 2.0  # a student looks at what each action gave before the next one
JITTER = 0.5  # each pause is THINK_S times 1 ± this, at random: students act out of step
PAGE_LINKS = {"draw": "Draw", "architecture": "Design", "explain": "Explain", "train": "Train"}
PAGE_TITLES = {"draw": "Draw a digit", "architecture": "Design a CNN",
               "explain": "A convolution, one step at a time", "train": "Train"}
# Both ends of a timing are read in the page, on its clock (performance.now()): the student's
# action as the event's own time stamp, taken when the input arrived, however long it then
# waited for a busy page; the result from a check run at every animation frame. That check
# runs before its frame is drawn, so the time is read in a task after the frame: style,
# layout and paint are counted. Playwright's own waits look again ever more slowly (after
# 20, 50, 100 and 100 ms, then every 500 ms), which rounded the times up by up to half a
# second, and the harness's Python and Node processes add their own delays on busy cores.
MARK_NEXT = """type => {
  window.__actionAt = null; window.__shownAt = null; window.__shownSeen = false;
  document.addEventListener(type, event => { window.__actionAt = event.timeStamp; },
                            {capture: true, once: true}); }"""
# The result is shown: the element is there and not stale, and, for a page, its script run
# is over (Streamlit shows its running indicator only after 500 ms, so that cannot tell).
SHOWN_AT = """([selector, text, runOver]) => {
  if (window.__shownAt !== null) return window.__shownAt;
  const app = document.querySelector("[data-testid='stApp']");
  const done = !runOver || (app && app.dataset.testScriptState === "notRunning");
  const shown = [...document.querySelectorAll(selector)].some(el =>
    el.textContent.includes(text) && !el.closest("[data-stale='true']"));
  if (done && shown && window.__actionAt !== null && !window.__shownSeen) {
    window.__shownSeen = true;
    setTimeout(() => { window.__shownAt = performance.now(); });  // after this frame's paint
  }
  return null; }"""


class Start:
    """The measured time starts once every student is set up (pages loaded, the quick model
    trained): a fresh server's first minutes are not the class's working speed."""

    def __init__(self, students: int, seconds: float, think_s: float = THINK_S,
                 jitter: float = JITTER) -> None:
        self.ready = asyncio.Barrier(students)
        self.seconds = seconds
        self.think_s = think_s
        self.jitter = jitter
        self.until = math.inf
        self.cpu_at_start: dict[str, float] = {}

    async def together(self) -> None:
        await self.ready.wait()
        if self.until == math.inf:
            self.until = time.monotonic() + self.seconds
            self.cpu_at_start = cpu_seconds()


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by the app server and by Chromium (every process of each)."""
    used = {"server": 0.0, "browsers": 0.0}
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
        if b"streamlit" in cmdline and b"app.py" in cmdline:
            used["server"] += seconds
        elif b"chrom" in cmdline.split(b"\0")[0]:
            used["browsers"] += seconds
    return used


class Tally:
    """What every student's loop records, shared by all (one event loop: no lock needed)."""

    def __init__(self) -> None:
        self.draw_ms: list[float] = []
        self.page_ms: list[float] = []
        self.page_ms_by_slug: dict[str, list[float]] = {}
        self.exceptions = 0
        self.trainings_done = 0
        self.cores: dict[str, float] = {}
        self.strokes_lost = 0  # strokes the canvas did not take (drawn again)
        self.errors: list[str] = []
        self.first_ms: dict[str, list[float]] = {}  # each student's first time, not counted


async def wait_idle(page) -> None:
    await page.wait_for_timeout(300)
    await page.wait_for_function(IDLE, timeout=120_000)


async def shown_ms(page, selector: str, text: str, timeout_ms: float, *,
                   run_over: bool) -> float:
    """Milliseconds from the action marked with ``MARK_NEXT`` to the end of the first frame
    that shows ``selector`` with ``text`` (and with the script run over, if ``run_over``)."""
    shown = await page.wait_for_function(SHOWN_AT, arg=[selector, text, run_over],
                                         polling="raf", timeout=timeout_ms)
    return await shown.json_value() - await page.evaluate("window.__actionAt")


async def switch_to(page, slug: str, tally: Tally, *, timed: bool = True) -> None:
    """Click the sidebar's link to a page; time it until its title shows and its script run
    is over (untimed: recorded as a first visit instead)."""
    link = page.locator("[data-testid='stSidebarNav'] a").filter(has_text=PAGE_LINKS[slug])
    await page.evaluate(MARK_NEXT, "click")
    await link.first.click()
    took = await shown_ms(page, PAGE_HEADING, PAGE_TITLES[slug], 120_000, run_over=True)
    if timed:
        tally.page_ms.append(took)
        tally.page_ms_by_slug.setdefault(slug, []).append(took)
    else:
        tally.first_ms.setdefault(slug, []).append(took)
    await wait_idle(page)
    tally.exceptions += await page.locator(EXCEPTION).count()


async def draw_a_digit(page, tally: Tally, round_: int, *, timed: bool = True) -> None:
    """Draw a one or a zero on a fresh canvas and time the verdict (a round whose canvas was
    not empty is drawn but not timed: its verdict was there before). A stroke the canvas did
    not take (drawn as its frame was mounted again) is counted and drawn again, as a student
    would on seeing the canvas still empty."""
    if round_ % 2:
        points = [(140, 50 + i * 9) for i in range(21)]
    else:
        points = [(140 + 55 * math.sin(2 * math.pi * t / 40),
                   140 - 85 * math.cos(2 * math.pi * t / 40)) for t in range(42)]
    verdict = page.locator("h2").filter(has_text="It is a")
    still_empty = page.get_by_text("Draw a digit on the canvas.")
    fresh = await verdict.count() == 0
    for attempt in range(3):
        canvas = page.locator(CANVAS).first
        await canvas.wait_for(timeout=60_000)
        box = await canvas.bounding_box()
        await page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
        await page.mouse.down()
        for x, y in points[1:]:
            await page.mouse.move(box["x"] + x, box["y"] + y, steps=2)
        await page.evaluate(MARK_NEXT, "pointerup")
        await page.mouse.up()
        try:
            took = await shown_ms(page, "h2", "It is a", 20_000, run_over=False)
            break
        except PlaywrightError:
            if attempt == 2 or not await still_empty.count():
                raise  # taken, but no verdict: that is the app's slowness, not the harness's
            tally.strokes_lost += 1
    if fresh and timed:
        tally.draw_ms.append(took)
    elif fresh:
        tally.first_ms.setdefault("drawing", []).append(took)
    await wait_idle(page)


async def ready_to_answer(page, timeout_s: float = 300) -> None:
    """Until the Draw page answers with a model: press "Train a quick model" whenever it shows.
    Looked at again every second, since a page that looked idle may still be rerunning (the
    canvas's first value), and one drawn before another student started the quick model
    shows the button until it is pressed."""
    answering = page.get_by_text("Answering:").first
    quick = page.get_by_role("button", name="Train a quick model")
    deadline = time.monotonic() + timeout_s
    while not await answering.count():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the Draw page had no model after {timeout_s:.0f} s")
        if await quick.count():
            # gone again (the page reran meanwhile), or not enabled yet: look again
            with contextlib.suppress(PlaywrightError):
                await quick.first.click(timeout=2000)
        await page.wait_for_timeout(1000)


async def student_trains(context, url: str, tally: Tally, start: Start) -> None:
    try:
        page = await context.new_page()
        await page.goto(f"{url}/architecture")
        await page.locator(PAGE_HEADING).first.wait_for(timeout=120_000)
        await wait_idle(page)
        await page.get_by_role("combobox", name="Start from").click()
        await page.get_by_role("option", name="Seed tutorial: PyTorch ConvNet",
                               exact=True).click()
        await wait_idle(page)
        await page.get_by_role("button", name="Load", exact=True).click()
        await wait_idle(page)
        await switch_to(page, "train", tally, timed=False)
    except BaseException:
        await start.ready.abort()  # the others must not wait for this student for ever
        raise
    await start.together()
    accuracy = page.locator("[data-testid='stMetric']").filter(has_text="Test accuracy")
    while time.monotonic() < start.until:
        await page.get_by_role("button", name="Train").click()
        await accuracy.first.wait_for(state="detached")  # the last result goes as this starts
        while time.monotonic() < start.until and not await accuracy.count():
            await page.wait_for_timeout(1000)
        if await accuracy.count():
            tally.trainings_done += 1
        tally.exceptions += await page.locator(EXCEPTION).count()


async def student_explores(context, url: str, tally: Tally, start: Start, who: int) -> None:
    try:
        page = await context.new_page()
        await page.goto(f"{url}/draw")
        await page.locator(PAGE_HEADING).first.wait_for(timeout=120_000)
        await wait_idle(page)
        await ready_to_answer(page)
        # each thing's first time, apart: warm-up
        await explore_once(page, tally, who, Think(start.think_s, start.jitter, seed=-who),
                           timed=False)
    except BaseException:
        await start.ready.abort()
        raise
    await start.together()
    think = Think(start.think_s, start.jitter, seed=who)
    # not all at once (with no jitter, all four start together, as in lock-step)
    await page.wait_for_timeout(think.random.uniform(0, start.jitter * 2 * start.think_s) * 1000)
    round_ = who
    while time.monotonic() < start.until:
        round_ += 1
        await explore_once(page, tally, round_, think)


class Think:
    """A student's pauses: ``mean_s`` on average, each ``mean_s`` times 1 ± ``jitter`` at
    random (seeded: a run can be repeated; ``jitter`` 0: every pause the same)."""

    def __init__(self, mean_s: float, jitter: float, seed: int) -> None:
        self.mean_s, self.jitter = mean_s, jitter
        self.random = random.Random(seed)

    async def pause(self, page) -> None:
        spread = self.random.uniform(-self.jitter, self.jitter)
        await page.wait_for_timeout(self.mean_s * (1 + spread) * 1000)


async def explore_once(page, tally: Tally, round_: int, think: Think, *,
                       timed: bool = True) -> None:
    """Draw a digit, look at the Design page, step the Explain page, back to the Draw page."""
    await draw_a_digit(page, tally, round_, timed=timed)
    await think.pause(page)
    await switch_to(page, "architecture", tally, timed=timed)
    await think.pause(page)
    await switch_to(page, "explain", tally, timed=timed)
    thumb = page.locator("[data-testid='stSlider'] input[type='range']").first
    await thumb.focus()
    for _ in range(3):
        await thumb.press("ArrowRight")
    await wait_idle(page)
    await think.pause(page)
    await switch_to(page, "draw", tally, timed=timed)


def peak_rss_mb(url: str, stop: threading.Event, peak: list[float]) -> None:
    """Sample the server's resident memory twice a second."""
    while not stop.wait(0.5):
        try:
            peak[0] = max(peak[0], server_rss_bytes(url) / 2**20)
        except LookupError:
            return


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else float("nan")


async def drive(url: str, seconds: float, think_s: float, jitter: float, tally: Tally) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await launch_chromium(p)
        contexts = [await browser.new_context(viewport={"width": 1280, "height": 800})
                    for _ in range(6)]
        for context in contexts:
            context.set_default_timeout(60_000)
        start = Start(len(contexts), seconds, think_s, jitter)
        students = [student_trains(contexts[i], url, tally, start) for i in range(2)]
        students += [student_explores(contexts[i], url, tally, start, i) for i in range(2, 6)]
        results = await asyncio.gather(*students, return_exceptions=True)
        if start.cpu_at_start:  # the CPU each side took while measured, in cores
            seconds = time.monotonic() - (start.until - start.seconds)
            tally.cores = {who: (used - start.cpu_at_start[who]) / seconds
                           for who, used in cpu_seconds().items()}
        for who, result in enumerate(results):
            if isinstance(result, BaseException):  # what that student saw, to look at
                shot = Path(tempfile.gettempdir()) / f"classroom-student{who}.png"
                await contexts[who].pages[0].screenshot(path=str(shot), full_page=True)
                tally.errors.append(f"{type(result).__name__}: {result}".splitlines()[0]
                                    + f" (screenshot: {shot})")
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--think", type=float, default=THINK_S,
                        help="seconds a student looks at what an action gave, on average")
    parser.add_argument("--jitter", type=float, default=JITTER,
                        help="each pause is think x (1 ± this), at random (0: lock-step)")
    args = parser.parse_args()
    if not 0 <= args.jitter < 1:
        parser.error("--jitter must be at least 0 and below 1 (a pause is never negative)")
    tally = Tally()
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "streamlit.log"
        with serve_app(log_path) as url:
            stop, peak = threading.Event(), [0.0]
            sampler = threading.Thread(target=peak_rss_mb, args=(url, stop, peak))
            sampler.start()
            try:
                asyncio.run(drive(url, args.seconds, args.think, args.jitter, tally))
            finally:
                stop.set()
                sampler.join()
        tally.exceptions += log_path.read_text().count("Traceback")
    print(f"{len(tally.draw_ms)} drawings ({tally.strokes_lost} strokes the canvas did not "
          f"take, drawn again), {len(tally.page_ms)} page switches, "
          f"{tally.trainings_done} ConvNet trainings finished in {args.seconds:.0f} s "
          f"(students pausing {args.think:g} s ± {args.jitter:.0%} after each action)")
    if tally.draw_ms:
        print(f"  drawings: median {statistics.median(tally.draw_ms):,.0f} ms, p95 "
              f"{p95(tally.draw_ms):,.0f} ms, max {max(tally.draw_ms):,.0f} ms")
    for slug, times in sorted(tally.page_ms_by_slug.items()):
        print(f"  to {slug}: median {statistics.median(times):,.0f} ms, p95 {p95(times):,.0f} ms")
    print("Each student's first time (setup, not counted: the browser loads and compiles that "
          "page's code once):")
    for what, times in sorted(tally.first_ms.items()):
        print(f"  {what}: median {statistics.median(times):,.0f} ms, max {max(times):,.0f} ms")
    if tally.cores:
        print(f"CPU while measured, of {os.cpu_count()} cores: the app server "
              f"{tally.cores['server']:.2f}, the six students' Chromium "
              f"{tally.cores['browsers']:.2f} (in a real class the browsers are elsewhere)")
    for error in tally.errors:
        print(f"a student's loop stopped: {error}")
    print(f"draw_p95_ms={p95(tally.draw_ms):.0f} page_p95_ms={p95(tally.page_ms):.0f} "
          f"rss_peak_mb={peak[0]:.0f} exceptions={tally.exceptions + len(tally.errors)}")


if __name__ == "__main__":
    main()
