"""Do the live charts eat the training? Train the seed ConvNet for one epoch from the Train
page in headless Chromium, charts live, and compare the images/s the page reports with a
plain PyTorch loop on the same digits measured in the same run.

Everything runs on this machine: the app server, Chromium rendering the charts twice a
second, and the training share the same CPU cores (on a real classroom server the browser
is on the student's computer). Ends with ``browser_vs_plain=R4`` (target >= 0.85).

Run: python bench/browser_throughput.py   (needs /usr/bin/chromium)
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_helpers import open_page, wait_idle  # noqa: E402
from common import plain_loop, training_splits  # noqa: E402

from cnn_core.presets import PYTORCH_TUTORIAL  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def start_server(log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port),
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env={**os.environ, "CNN_EXPLAINER_OFFLINE": "1"},
        stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(log.read_text()[-2000:])


def train_in_browser(url: str) -> tuple[float, float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.set_default_timeout(60_000)
        open_page(page, url, "architecture")
        page.get_by_role("combobox", name="Start from").click()
        page.get_by_role("option", name="Seed tutorial: PyTorch ConvNet", exact=True).click()
        wait_idle(page)
        page.get_by_role("button", name="Load", exact=True).click()
        wait_idle(page)
        page.get_by_role("link", name="2 · Train").click()  # same session, same design
        page.get_by_role("button", name="▶ Train").wait_for()
        wait_idle(page)
        epochs = page.get_by_label("Epochs", exact=True)
        epochs.fill("1")
        epochs.press("Enter")
        wait_idle(page)
        started = time.perf_counter()
        page.get_by_role("button", name="▶ Train").click()
        redraws = page.evaluate("""() => new Promise(resolve => {
            let n = 0; const seen = new Set();
            const timer = setInterval(() => {
              const plot = document.querySelector('.js-plotly-plot');
              if (plot && plot.data && plot.data[0]) seen.add(plot.data[0].x.length);
              if (++n === 40) { clearInterval(timer); resolve(seen.size); }
            }, 250);
          })""")  # distinct chart states over 10 s
        metric = page.locator("[data-testid='stMetric']").filter(has_text="Throughput")
        metric.wait_for(timeout=600_000)
        wall = time.perf_counter() - started
        text = metric.inner_text()
        browser.close()
    images_per_second = float(re.search(r"([\d,]+) images/s", text).group(1).replace(",", ""))
    print(f"browser: the Train page reported {images_per_second:,.0f} images/s "
          f"(epoch plus validation and test took {wall:.0f} s; the chart showed "
          f"{redraws} different states in 10 s)")
    return images_per_second, wall


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp) / "streamlit.log")
        try:
            splits = training_splits(8000)
            plain_loop(PYTORCH_TUTORIAL, splits.__class__(
                splits.train_images[:640], splits.train_labels[:640], *([None] * 4),
                "bundled"))  # warm-up
            plain = plain_loop(PYTORCH_TUTORIAL, splits)
            print(f"plain loop, seed ConvNet, 8,000 digits, batch 64: {plain:,.0f} images/s")
            in_browser, _ = train_in_browser(url)
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"browser_vs_plain={in_browser / plain:.2f}")


if __name__ == "__main__":
    main()
