"""The Train page's live section: status, progress and curves in one live chart, the first
conv layer as it learns, refreshed from a fragment twice a second while a training is active
and drawn once, still, otherwise."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from cnn_core.explain.learning_view import KernelView, tile
from cnn_core.training.protocol import Snapshot, Training
from ui.app_state import current_job
from ui.curves_figure import curves_figure
from ui.live_chart import live_plotly_chart, stream_to_live_chart
from ui.predict import train as predict_train
from ui.progress import progress_text

CHART_KEY = "live_curves"  # live_…: app.py keeps it from fading as stale on each update
CHART_CONFIG = {"displayModeBar": False}
UPDATE_EVERY_S = 0.5  # the live chart's updates: at least twice a second
STREAM_FOR_S = 5.0  # how long one run of the live panel streams them (see _stream_updates)
WITH_PAGE = "train_live_panel_with_page"  # set while the whole page runs (see _live_panel)


def live_view(planned_epochs: int) -> None:
    """Progress and curves; they refresh twice a second only while a training is active."""
    job = current_job()
    if job is not None and job.snapshot().active:
        st.session_state[WITH_PAGE] = True
        _live_panel(planned_epochs)
    else:
        _still_panel(planned_epochs)


@st.fragment
def _still_panel(planned_epochs: int) -> None:
    # A fragment too, without a timer: drawn from a fragment in both states, the chart is
    # kept when a training starts; otherwise the browser mounts it anew (loading plotly.js
    # again) just as the training begins.
    training_panel(current_job(), planned_epochs, live=False)


@st.fragment(run_every=UPDATE_EVERY_S)
def _live_panel(planned_epochs: int) -> None:
    """The live progress and curves. Run with the whole page, it draws them and returns: the
    page's run must end, for until it does the browser keeps showing what the run before it
    showed (the Train button as it was, say). Rerun on its own timer, it goes on to stream
    updates to the chart for a few seconds (``_stream_updates``)."""
    with_page = st.session_state.pop(WITH_PAGE, False)
    job = current_job()
    if job is not None:
        job.heartbeat()  # on this page the sidebar's indicator stays still
    training_panel(job, planned_epochs, live=True)  # the learning view: once per run, ~5 s
    if job is not None and not with_page:
        _stream_updates(job)


def _stream_updates(job: Training) -> None:
    """Update the chart every ``UPDATE_EVERY_S`` for ``STREAM_FOR_S``, within this run.

    Why not a fragment run per update: each run costs the browser a redraw of Streamlit's
    page for each of its six messages, which on a laptop that also trains takes the
    training's CPU (see ``live_chart``); a streamed update is one small element. The run
    still ends every few seconds, and only the browser's timer starts the next: when the tab
    is gone the heartbeats stop, and the job's orphan timeout frees its slot. Pressing a
    button or leaving the page interrupts the run at its next update, within half a second.
    """
    slot = st.empty()
    for _ in range(round(STREAM_FOR_S / UPDATE_EVERY_S) - 1):
        time.sleep(UPDATE_EVERY_S)
        job.heartbeat()
        snap = job.snapshot()
        follow_state(snap, live=True)
        stream_to_live_chart(slot, **chart_of(snap, job.config.learning_rate), key=CHART_KEY)


def training_panel(job: Training | None, planned_epochs: int, *, live: bool) -> None:
    """Status, then progress and curves in one live chart element. The chart is drawn once
    (empty axes before the first training, when the browser has time to spare) and then only
    updated: it keeps its key and is always drawn from a fragment."""
    if job is None:
        st.info("Press **Train** to start. The charts update live while it trains; you can "
                "switch pages meanwhile.")
        live_plotly_chart(curves_figure((), (), planned_epochs), key=CHART_KEY, config=CHART_CONFIG)
        return
    snap = job.snapshot()
    follow_state(snap, live=live)
    if snap.state == "failed":
        st.error(snap.message)
    elif snap.state == "stopped":
        st.warning(f"Training {snap.message}.")
    live_plotly_chart(**chart_of(snap, job.config.learning_rate), key=CHART_KEY)
    if snap.one_steps:
        last = snap.one_steps[-1]
        st.caption(f":material/redo: One step (step {last.step:,}): the loss on its batch went "
                   f"from {last.loss_before:.4f} to {last.loss_after:.4f}.")
    predict_train.answer(job, snap)  # predict first: the curve's verdict on a guess
    learning_panel(snap, live=live)


def learning_panel(snap: Snapshot, *, live: bool) -> None:
    """The first conv layer as it learns: the newest view while training (redrawn with each
    run of the live panel), and afterwards a scrubber over the epochs."""
    if snap.latest_view is None:
        return
    st.markdown("**Learning, live:** the first conv layer's kernels and what they make of one "
                "held-out digit. They start as noise; watch edge and stroke detectors appear.")
    if live:
        show_view(snap.latest_view)
        return
    views = snap.views
    chosen = len(views) - 1
    if len(views) > 1:
        chosen = st.select_slider("Epoch", options=range(len(views)), value=chosen,
                                  format_func=lambda i: f"{views[i].epoch:g}",
                                  key="learning_view_epoch",
                                  help="0: before training; then the end of each epoch")
    show_view(views[chosen])


def show_view(view: KernelView) -> None:
    scale = max(2, 48 // view.kernels.shape[-1])  # kernels about 48 pixels wide
    c = st.columns(2)
    c[0].image(tile(view.kernels, signed=True, scale=scale), clamp=True,
               caption=f"Kernels at step {view.step:,} (epoch {view.epoch:.2f}): grey is 0, "
                       "white positive, black negative")
    c[1].image(tile(view.maps, scale=max(1, 84 // view.maps.shape[-1])), clamp=True,
               caption="The same digit through each kernel")


def follow_state(snap: Snapshot, *, live: bool) -> None:
    """Remember the job's state as shown; from a live panel, rerun the whole page when it
    changed, since the buttons outside the fragment must change too."""
    seen = st.session_state.get("job_seen_state")
    st.session_state["job_seen_state"] = snap.state
    if live and seen is not None and seen != snap.state:
        st.rerun(scope="app")


def chart_of(snap: Snapshot, planned_rate: float) -> dict[str, Any]:
    """The live chart's figure and progress bar for a job's snapshot; ``planned_rate``: the
    learning rate it was set to (its axis starts tall enough for a one-cycle's peak)."""
    return {"figure": curves_figure(snap.steps, snap.epochs_done, snap.epochs, snap.lr_changes,
                                    planned_rate),
            "config": CHART_CONFIG,
            "progress": snap.fraction, "progress_text": progress_text(snap)}

