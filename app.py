"""CNN Explainer: the router and the frame every page shares.

Run with ``streamlit run app.py``. Pages live in ``pages/`` and hold only UI; everything else
is in ``cnn_core``.
"""

from __future__ import annotations

import logging
import os

import streamlit as st

from cnn_core.design.formatting import format_shape
from ui import lesson
from ui.app_state import current_job, sweep_when_this_tab_goes
from ui.design_state import current_report, design_name
from ui.page_guard import preload_torch, torch_ready
from ui.streamlit_internals import install_upload_bounds, quiet_animations_css
from ui.url_sync import sync_url

LOG = logging.getLogger("cnn_explainer")
# Keys starting with this mark what a timed fragment redraws (see quiet_live_updates).
LIVE_KEY_PREFIX = "live_"
# Tests set it, so that a bug in a page or the sidebar fails them instead of being excused.
RAISE_PAGE_ERRORS = os.environ.get("CNN_EXPLAINER_RAISE") == "1"

# An emoji icon: Streamlit draws it locally, while a :material/…: favicon is fetched from
# fonts.gstatic.com, which an offline classroom cannot reach.
st.set_page_config(page_title="CNN Explainer", page_icon="🧠", layout="wide")
install_upload_bounds()  # once per server: what a session can park in Streamlit's upload store

PAGES = [
    # url paths are the file names, so a direct link resolves before the router has run.
    st.Page("pages/home.py", title="Start here", icon=":material/home:", default=True),
    st.Page("pages/architecture.py", title="1 · Design", icon=":material/account_tree:"),
    st.Page("pages/train.py", title="2 · Train", icon=":material/monitoring:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
    st.Page("pages/class_data.py", title="Class data", icon=":material/groups:"),
    st.Page("pages/draw.py", title="3 · Draw & test", icon=":material/draw:"),
    st.Page("pages/explain.py", title="4 · Explain a step", icon=":material/zoom_in:"),
    st.Page("pages/board.py", title="Teacher's board", icon=":material/co_present:"),
]


def restore_and_sync_url() -> None:
    """Before the navigation: a lesson link decides what its menu lists."""
    try:
        sync_url()
    except Exception:  # on every page: a bug here must not hide them all
        if RAISE_PAGE_ERRORS:
            raise
        LOG.exception("the URL could not be read or kept")


restore_and_sync_url()
navigation = st.navigation(PAGES, position=lesson.menu_position())
lesson.open_first_step(navigation.url_path)


def training_indicator(on_train_page: bool) -> None:
    """Training progress on every page. While a training is active it reruns every second,
    and that rerun is also the job's heartbeat, so a training whose tab is closed stops on its
    own. Otherwise it stays still: idle sessions cost the server nothing. The Train page has
    its own live view (and heartbeat), so there this stays still too: every rerun is browser
    work taken from a training that may share the machine."""
    job = current_job()
    snap = job.snapshot() if job is not None else None
    if snap is None:
        st.caption("No training yet.")
    elif snap.active:
        if on_train_page:
            st.caption(":material/monitoring: Training: its progress is on this page.")
        else:
            _live_indicator()
    else:
        # "stopped by the user" already names its state; "test accuracy 97.9%" does not
        said = snap.message if snap.state in snap.message else \
            ", ".join(filter(None, (snap.state, snap.message)))
        st.caption(f"Last training: {said}")


@st.fragment(run_every=1.0)
def _live_indicator() -> None:
    job = current_job()
    if job is None:
        return
    job.heartbeat()
    snap = job.snapshot()
    if not snap.active:
        st.rerun(scope="app")  # it ended: redraw the page once, and stop this timer
    with st.container(key=f"{LIVE_KEY_PREFIX}training_indicator"):
        if snap.state == "queued":
            st.progress(0.0, text=f"Training queued: position {snap.queue_position or '…'}")
        else:
            verb = "Paused" if snap.state == "paused" else "Training"
            st.progress(snap.fraction,
                        text=f"{verb}: epoch {min(snap.epoch + 1, snap.epochs)}/"
                             f"{snap.epochs}, {snap.fraction:.0%}")


def training_device() -> str:
    if not torch_ready():  # this frame draws without torch (see page_guard)
        return "shown once PyTorch has loaded"
    from cnn_core.training.devices import device_name, resolve_device

    return device_name(resolve_device("auto"))


def sidebar(on_train_page: bool) -> None:
    report = current_report()
    with st.sidebar:
        lesson.sidebar_note(PAGES)
        st.markdown(f"**Design:** {design_name()}")
        if report.ok:
            st.caption(f"{report.total_params:,} parameters · output "
                       f"{format_shape(report.output_shape)}")
        else:
            st.caption(f":material/error: {len(report.errors)} error(s) in the design")
        st.caption(f"Training device: {training_device()}")
        training_indicator(on_train_page)
        if note := st.session_state.get("url_note"):  # a link that named nothing usable
            st.caption(f":material/link_off: {note}")


def quiet_live_updates() -> None:
    """No animation on what a timed fragment redraws (progress bars' slide, the stale fade
    of ``live_…`` elements): at two updates a second they never stop, and their browser CPU
    is taken from a training on the same machine."""
    st.html(quiet_animations_css(LIVE_KEY_PREFIX))


quiet_live_updates()
sweep_when_this_tab_goes()
try:
    sidebar(on_train_page=navigation.url_path == "train")
except Exception:  # the sidebar is on every page: a bug there must not hide them all
    if RAISE_PAGE_ERRORS:
        raise
    LOG.exception("the sidebar failed")
    st.sidebar.caption(":material/error: The sidebar could not be drawn; the details are in "
                       "the server log.")
try:
    lesson.step_box(navigation.url_path)
    navigation.run()
except Exception:  # a bug must never show a traceback to a student
    if RAISE_PAGE_ERRORS:
        raise
    LOG.exception("page %s failed", navigation.title)
    st.error("Sorry, something went wrong on this page. Your design and any training are "
             "safe: change the last setting back or reload the page. The details are in the "
             "server log.")
preload_torch()  # after the page is drawn: the pages that need torch then find it loaded
