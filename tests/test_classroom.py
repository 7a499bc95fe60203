"""A whole class on one real server, in real Chromium: memory over a long day, and a training
that outlives a tab gone for a minute."""

from __future__ import annotations

import contextlib
import time
from collections import deque
from urllib.parse import urlencode

import pytest
from app_server import serve_app, server_rss_bytes
from browser_helpers import open_page, wait_idle
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from cnn_core.design.presets import LENET5, PYTORCH_TUTORIAL
from cnn_core.design.url_state import DESIGN_PARAM, design_param
from cnn_core.training.memory import SWEEP_DELAY_S, SWEEP_GAP_S

pytestmark = [pytest.mark.browser, pytest.mark.slow]
MB = 1024 * 1024
IN_QUEUE = 2  # students who have pressed Train while another's training runs


def student_presses_train(context, url: str, design: str, epochs: int):
    """A student opens the Train page with a design link, sets it up and presses Train."""
    page = context.new_page()
    page.set_default_timeout(60_000)
    open_page(page, url, f"train?{urlencode({DESIGN_PARAM: design})}")
    epochs_field = page.get_by_label("Epochs", exact=True).first
    epochs_field.fill(str(epochs))
    epochs_field.press("Enter")
    page.get_by_role("combobox", name="Batch size").click()  # fewer, larger steps: the
    page.get_by_role("option", name="512", exact=True).click()  # quickest epoch on a CPU
    wait_idle(page)
    page.get_by_role("button", name="Train", exact=True).click()
    return page


def student_sees_the_result_and_leaves(page) -> None:
    page.locator("[data-testid='stMetric']").filter(has_text="Test accuracy").wait_for(
        timeout=300_000)
    page.close()  # its session's connection closes with it


def test_memory_comes_back_after_thirty_students_trained_and_left(browser, tmp_path):
    """Each student's session (model, snapshots, optimizer state) is let go when the tab is
    gone: after 30 have trained LeNet-5 and left, the server is within 150 MB of where it was
    after the first. Streamlit keeps a closed tab's session for a reconnect, 2 s here. While
    one student's training runs, the next ones open the page and press Train (queued)."""
    lenet = design_param(LENET5)
    env = {"STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": "2",
           "CNN_EXPLAINER_RUNS": str(tmp_path / "runs")}
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    with serve_app(tmp_path / "streamlit.log", env=env) as url:
        student_sees_the_result_and_leaves(student_presses_train(context, url, lenet, 1))
        time.sleep(3)
        after_first = server_rss_bytes(url)
        pressed: deque = deque()
        for _ in range(29):
            pressed.append(student_presses_train(context, url, lenet, 1))
            if len(pressed) > IN_QUEUE:
                student_sees_the_result_and_leaves(pressed.popleft())
        while pressed:
            student_sees_the_result_and_leaves(pressed.popleft())
        time.sleep(SWEEP_GAP_S + SWEEP_DELAY_S + 1)  # the sweep after the last tab has run
        after_thirty = server_rss_bytes(url)
    context.close()
    print(f"server RSS after 1 student {after_first / MB:.0f} MB, after 30 "
          f"{after_thirty / MB:.0f} MB")
    assert after_thirty - after_first < 150 * MB


def test_a_training_outlives_its_tab_gone_for_a_minute(browser, tmp_path):
    """The training follows its session's connection: a tab closed (or cut off) for 60 s does
    not stop it (a page timer's heartbeat did, after 30 s), and the link the tab had
    re-attaches to it, still running."""
    env = {"CNN_EXPLAINER_RUNS": str(tmp_path / "runs")}
    with serve_app(tmp_path / "streamlit.log", env=env) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)
        # ~2 min on 2 quiet cores (50 epochs of the small net took 70 s: over before the tab
        # came back), within the 5 min limit
        design = design_param(PYTORCH_TUTORIAL)
        open_page(page, url, f"train?{urlencode({DESIGN_PARAM: design})}")
        epochs_field = page.get_by_label("Epochs", exact=True).first
        epochs_field.fill("15")
        epochs_field.press("Enter")
        page.get_by_role("button", name="Train", exact=True).click()
        # enabled: while the page reruns, the row as it was (Pause disabled) can still show
        page.get_by_role("button", name="Pause", disabled=False).first.wait_for()
        page.wait_for_function("() => new URLSearchParams(location.search).has('job')")
        link = page.url  # the tab's own URL: its design and its training's token
        kept = context.storage_state()  # the browser keeps its cookies when a tab closes
        context.close()  # the connection is gone
        time.sleep(60)
        context = browser.new_context(viewport={"width": 1280, "height": 900},
                                      storage_state=kept)
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(link)
        # .first: mid-redraw the page can hold the old Stop and the new one
        page.get_by_role("button", name="Stop").first.wait_for()
        # enabled once the page has re-attached (its first frame can show the row as it was)
        stop = page.get_by_role("button", name="Stop", disabled=False).first
        with contextlib.suppress(PlaywrightTimeout):
            stop.wait_for(timeout=30_000)
        assert stop.count() == 1, "the training did not survive a minute without its tab"
        assert page.get_by_text("the browser tab that started it is gone").count() == 0
        stop.click()
        page.get_by_text("stopped by the user").first.wait_for()
        context.close()
