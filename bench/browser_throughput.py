"""Do the live charts eat the training? Train the seed ConvNet for one epoch from the Train
page in headless Chromium, charts live, and compare the images/s the page reports with a
plain PyTorch loop on the same digits measured in the same run.

Everything runs on this machine: the app server, Chromium rendering the charts twice a
second, and the training share the same CPU cores (on a real classroom server the browser
is on the student's computer). This machine's speed drifts by 10-30 % from minute to minute,
so after a warm-up round it trains five times, measures the plain loop before and after each,
and ends with the median of the five ratios: ``browser_vs_plain=R4`` (target >= 0.85).

Run: python bench/browser_throughput.py   (needs /usr/bin/chromium; ROUNDS=3 for a shorter run)
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "harness"))

from app_server import serve_app  # noqa: E402
from browser_helpers import (  # noqa: E402
    launch_chromium,
    live_chart_updates,
    live_progress,
    open_page,
    wait_idle,
)
from common import plain_loop  # noqa: E402

from cnn_core.design.presets import PYTORCH_TUTORIAL  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", 5))


def open_train_page(page, url: str) -> None:
    """Load the seed ConvNet on the Design page, then go to Train (same session) for 1 epoch."""
    page.set_default_timeout(60_000)
    open_page(page, url, "architecture")
    page.get_by_role("combobox", name="Start from").click()
    page.get_by_role("option", name="Seed tutorial: PyTorch ConvNet", exact=True).click()
    wait_idle(page)
    page.get_by_role("button", name="Load", exact=True).click()
    wait_idle(page)
    page.get_by_role("link", name="2 · Train").click()
    page.get_by_role("button", name="Train").wait_for()
    wait_idle(page)
    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill("1")
    epochs.press("Enter")
    wait_idle(page)


def train_once(page) -> tuple[float, list[float]]:
    """Press Train, watch the chart for 10 s once it shows progress, and return the images/s
    the page reports when the epoch is done, and the seconds between the chart's updates."""
    metric = page.locator("[data-testid='stMetric']").filter(has_text="Images per second")
    page.get_by_role("button", name="Train").click()
    # The chart's frame is mounted anew as the training starts: measure the one that follows.
    live_progress(page).filter(has_text="images/s").wait_for(timeout=120_000)
    times = live_chart_updates(page, seconds=10)["times"]
    gaps = [(b - a) / 1000 for a, b in itertools.pairwise(times)]
    metric.wait_for(timeout=600_000)
    wait_idle(page)
    value = metric.locator("[data-testid='stMetricValue']").inner_text()
    return float(value.replace(",", "")), gaps


def main() -> None:
    from playwright.sync_api import sync_playwright

    plain_loop(PYTORCH_TUTORIAL, 640)  # warm-up

    def plain() -> float:
        rate = plain_loop(PYTORCH_TUTORIAL, 8000)
        print(f"  plain loop: {rate:,.0f} images/s")
        return rate

    ratios = []
    with (tempfile.TemporaryDirectory() as tmp, sync_playwright() as p,
          serve_app(Path(tmp) / "streamlit.log") as url):
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            open_train_page(page, url)
            # Both sides warm up first, as the plain loop did above: the server's first
            # training pays one-time costs (oneDNN picks its kernels, the page its first
            # draw) that are not the live charts' doing. Shown, not counted.
            warm_up, _ = train_once(page)
            print(f"warm-up round (not counted): the Train page reported {warm_up:,.0f} "
                  "images/s")
            before = plain()
            for n in range(1, ROUNDS + 1):
                in_browser, gaps = train_once(page)
                after = plain()
                ratio = in_browser / ((before + after) / 2)
                ratios.append(ratio)
                print(f"round {n}: the Train page reported {in_browser:,.0f} images/s, charts "
                      f"updating {len(gaps) / sum(gaps):.1f} times a second (median gap "
                      f"{statistics.median(gaps):.2f} s, longest {max(gaps):.2f} s); ratio to "
                      f"the plain loops either side {ratio:.2f}")
                before = after
        finally:
            browser.close()
    print(f"browser_vs_plain={statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
