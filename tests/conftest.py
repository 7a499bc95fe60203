"""Shared fixtures: real MNIST digits, a real app in real headless Chromium, and a real local
Ray head.

The Ray head is one for the session (``ray start --head --block`` on a free port of
127.0.0.1, every port on loopback, 2 CPUs, token authentication off), ended afterwards: its
own process group only, never every Ray process of the machine as ``ray stop`` would.
Without Ray installed the tests that ask for it are skipped, except under ``CI=true``, where
they fail."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_server import free_port, page_failures, serve_app
from browser_helpers import CHROMIUM, launch_chromium

ROOT = Path(__file__).resolve().parent.parent
RAY = Path(sys.executable).parent / "ray"
os.environ.setdefault("CNN_EXPLAINER_OFFLINE", "1")  # tests never reach for the internet
# runs the tests record (every training does) go to a temporary folder, not the project's
os.environ.setdefault("CNN_EXPLAINER_RUNS", tempfile.mkdtemp(prefix="cnn-explainer-runs-"))
# each test trains what it asks for: identical requests share one training only where a test
# turns it on (tests/test_sharing.py), or a test's training could be another test's replay
os.environ.setdefault("CNN_EXPLAINER_SHARE", "0")
# Ray reads these once, when first imported, and several test files import it: the test head
# (ray_address below) runs without token auth, on loopback only. Set before any import.
os.environ["RAY_AUTH_MODE"] = "disabled"
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
# app.py re-raises a page's bug instead of its polite error, so every AppTest sees it
os.environ["CNN_EXPLAINER_RAISE"] = "1"
SORRY = "Sorry, something went wrong"


def page_problems(at) -> list[str]:
    """What an AppTest's page shows that means it failed: an exception, or the polite error
    (so a page reached without app.py, or a message copied into a page, is caught too)."""
    problems = [f"{e.message}\n{''.join(e.stack_trace)}" for e in at.exception]
    shown = (*at.error, *at.warning, *at.info, *at.success, *at.markdown, *at.caption,
             *at.text, *at.toast)
    return problems + [e.value for e in shown if SORRY in str(e.value)]


@pytest.fixture(autouse=True)
def strict_app_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every AppTest run (``at.run()``, ``widget.set_value(…).run()``) fails the test when
    its page failed, whether or not the test looks at ``at.exception``."""
    from streamlit.testing.v1.element_tree import ElementTree

    run = ElementTree.run

    def checked_run(self, *, timeout: float | None = None):
        at = run(self, timeout=timeout)
        if problems := page_problems(at):
            pytest.fail("the page failed:\n" + "\n".join(problems), pytrace=False)
        return at

    monkeypatch.setattr(ElementTree, "run", checked_run)


@pytest.fixture(autouse=True)
def fresh_paces() -> None:
    """Each test starts from the arithmetic: paces measured by an earlier test's trainings
    would otherwise change this one's estimates and admissions."""
    from cnn_core.training.calibration import PACES

    PACES.clear()


@pytest.fixture(scope="session")
def bundled():
    from cnn_core.data.mnist import load_bundled

    return load_bundled()


@pytest.fixture
def fresh_class_set(tmp_path, monkeypatch):
    """An empty class set for this test (the app keeps one per server). Only the class set
    moves: the app's run store, cached for the process, stays where CNN_EXPLAINER_RUNS
    (set above) put it."""
    from ui.app_state import class_data

    monkeypatch.setattr("cnn_core.data.class_data.runs_dir", lambda: tmp_path / "runs")
    class_data.clear()
    yield tmp_path / "runs"
    class_data.clear()


@pytest.fixture(scope="session")
def app_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server") / "streamlit.log"


@pytest.fixture(scope="session")
def app_url(app_log: Path) -> Iterator[str]:
    """One app server for the browser tests (``serve_app`` checks its log when it stops)."""
    with serve_app(app_log) as url:
        yield url


@pytest.fixture(autouse=True)
def no_page_failure_in_the_shared_server(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that drove the shared server fails when a page failed there while it ran."""
    if "app_url" not in request.fixturenames:
        yield
        return
    log: Path = request.getfixturevalue("app_log")
    start = log.stat().st_size if log.exists() else 0
    yield
    with open(log, "rb") as f:
        f.seek(start)
        failures = page_failures(f.read().decode(errors="replace"))
    if failures:
        pytest.fail(f"the app logged a page failure ({log}): {failures}", pytrace=False)


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


# ---- a real Ray head -----------------------------------------------------------------------
@pytest.fixture(scope="session")
def ray_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from helpers import wait_for

    # RAY_AUTH_MODE and RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER are set above, before any test
    # imports Ray (it reads them once), for the head, its workers and this driver alike:
    # Ray swaps 127.0.0.1 for the machine's address unless told the cluster is this machine.
    assert os.environ["RAY_AUTH_MODE"] == "disabled"
    if importlib.util.find_spec("ray") is None:
        reason = "Ray is not installed (pip install -r requirements-ray.txt)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Ray tests must run in CI: {reason}")
        pytest.skip(reason)
    port, log = free_port(), tmp_path_factory.mktemp("ray") / "head.log"
    with log.open("w") as out:
        head = subprocess.Popen(
            [str(RAY), "start", "--head", "--block", "--port", str(port), "--node-ip-address",
             "127.0.0.1", "--num-cpus", "2", "--include-dashboard", "false",
             "--disable-usage-stats"], stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)  # its own group: ended below, with all it started
    try:
        wait_for(lambda: head.poll() is not None or "Ray runtime started" in log.read_text(),
                 timeout=300, every=0.5)
        assert head.poll() is None, log.read_text()[-4000:]
        yield f"127.0.0.1:{port}"
    finally:
        import ray

        ray.shutdown()
        head.terminate()  # the head drains and stops what it started (about 2 s here)
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)  # whatever of its group is left, only that


@pytest.fixture(autouse=True)
def stop_ray_trainings_left_running(request, monkeypatch):
    """Stop, after each Ray test, the trainings it started: one that a failed test left
    following its worker after ``ray.shutdown()`` makes Ray end this process, report and all."""
    if "ray_address" not in request.fixturenames:
        yield
        return
    from cnn_core.training.ray_runner import RayTraining

    started, start = [], RayTraining.start
    monkeypatch.setattr(RayTraining, "start", lambda self: started.append(self) or start(self))
    yield
    for training in started:
        training.stop("the test is over")
    for training in started:
        training.join(30)


@pytest.fixture(scope="session")
def ray_runner(ray_address):
    from cnn_core.training.ray_runner import RayRunner

    return RayRunner(ray_address)
