"""First impression: how long after a fresh server starts does a student see the first page?

Starts ``streamlit run app.py`` (offline), and as soon as its health check answers opens the
Start page in headless Chromium (launched beforehand) and waits for the page's title; then
opens the Design page in a second tab (its table) and the Train page in a third (which waits
for PyTorch, loaded in the background meanwhile). Then, on a second fresh server, the Design
page first; and on a third, a direct link to the Train page, polling the sidebar until the
page's title shows. Ends with ``first_heading_s=X design_heading_s=Y file_names_s=Z`` (targets:
X under 3 s on 2 cores; Z, how long the sidebar lists Streamlit's file names instead of the
app's pages, under 1 s: it used to be the whole torch import, about 9 s).

Run: python bench/first_paint.py   (needs /usr/bin/chromium)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "harness"))

from app_server import serve_app  # noqa: E402
from browser_helpers import (  # noqa: E402
    PAGE_HEADING,
    PAGE_TITLES,
    launch_chromium,
    sidebar_while_loading,
)


def seconds_to(page, url: str, selector: str, start: float) -> float:
    page.goto(url)
    page.wait_for_selector(selector, timeout=90_000)
    return time.monotonic() - start


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = launch_chromium(p)
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        launched = time.monotonic()
        with serve_app(Path(tmp) / "home.log") as url:
            start = time.monotonic()
            home = seconds_to(context.new_page(), url, PAGE_HEADING, start)
            design = seconds_to(context.new_page(), f"{url}/architecture",
                                "[data-testid='stTable']", start)
            train = seconds_to(context.new_page(), f"{url}/train",
                               "button:has-text('Train')", start)
        with serve_app(Path(tmp) / "design.log") as url:  # a fresh server, Design first
            design_start = time.monotonic()
            design_page = context.new_page()
            design_first = seconds_to(design_page, f"{url}/architecture", PAGE_HEADING,
                                      design_start)
            design_page.wait_for_selector("[data-testid='stTable']", timeout=90_000)
            design_table = time.monotonic() - design_start
        with serve_app(Path(tmp) / "train.log") as url:  # a fresh server, a link to Train
            train_page = context.new_page()
            train_page.goto(f"{url}/train")
            raw = [t for t, labels in sidebar_while_loading(train_page) if labels - PAGE_TITLES]
            file_names = raw[-1] - raw[0] if raw else 0.0
        browser.close()
    print(f"server start to health check: {start - launched:.1f} s; after that: Start page "
          f"title {home:.2f} s, then in a second tab the Design page's table {design:.2f} s "
          f"and in a third the Train page's button {train:.2f} s (it waits for PyTorch); on "
          f"another fresh server, the Design page first: its title {design_first:.2f} s, its "
          f"table {design_table:.2f} s; on a third, a link to Train: Streamlit's file names in "
          f"the sidebar for {file_names:.2f} s ({len(raw)} polls of 0.1 s)")
    print(f"first_heading_s={home:.2f} design_heading_s={design_first:.2f} "
          f"file_names_s={file_names:.2f}")


if __name__ == "__main__":
    main()
