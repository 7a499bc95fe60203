"""Shared fixtures: real MNIST digits, and a real app in real headless Chromium."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_server import serve_app
from browser_helpers import CHROMIUM, launch_chromium

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("CNN_EXPLAINER_OFFLINE", "1")  # tests never reach for the internet
# runs the tests record (every training does) go to a temporary folder, not the project's
os.environ.setdefault("CNN_EXPLAINER_RUNS", tempfile.mkdtemp(prefix="cnn-explainer-runs-"))


@pytest.fixture(scope="session")
def bundled():
    from cnn_core.data import load_bundled

    return load_bundled()


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One app server for the browser tests."""
    with serve_app(tmp_path_factory.mktemp("server") / "streamlit.log") as url:
        yield url


@pytest.fixture
def fresh_app_url(tmp_path: Path) -> Iterator[str]:
    """A server no session has visited yet (for what only happens on a fresh start)."""
    with serve_app(tmp_path / "streamlit.log") as url:
        yield url


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
        browser = launch_chromium(p)
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
