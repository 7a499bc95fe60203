"""Shared fixtures: real MNIST digits, and a real app in real headless Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
os.environ.setdefault("CNN_EXPLAINER_OFFLINE", "1")  # tests never reach for the internet
# runs the tests record (every training does) go to a temporary folder, not the project's
os.environ.setdefault("CNN_EXPLAINER_RUNS", tempfile.mkdtemp(prefix="cnn-explainer-runs-"))


@pytest.fixture(scope="session")
def bundled():
    from cnn_core.data import load_bundled

    return load_bundled()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One app server for the browser tests."""
    yield from _serve_app(tmp_path_factory.mktemp("server") / "streamlit.log")


@pytest.fixture
def fresh_app_url(tmp_path: Path) -> Iterator[str]:
    """A server no session has visited yet (for what only happens on a fresh start)."""
    yield from _serve_app(tmp_path / "streamlit.log")


def _serve_app(log_path: Path) -> Iterator[str]:
    """``streamlit run app.py`` on a free port of 127.0.0.1, offline; its log goes to a file."""
    port = _free_port()
    env = {**os.environ, "CNN_EXPLAINER_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port),
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright. Missing Chromium skips, except under CI=true."""
    if not CHROMIUM.exists():
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page_for(browser):
    """A function giving a new page in a new browser context (a new Streamlit session)."""
    contexts = []

    def make(_url: str = ""):
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(page_for, app_url):
    return page_for(app_url)
