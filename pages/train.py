"""Train: the current design on MNIST (or another 28x28 dataset, or the class's own
drawings), with live charts, then test results."""

from __future__ import annotations

from ui.page_guard import need_torch, require_frame

require_frame()  # first, before the imports below load torch (see page_guard)
need_torch()

import math
import time
from collections.abc import Sequence
from typing import Any

import streamlit as st

from cnn_core.data import augment
from cnn_core.data.class_data import ClassDataError
from cnn_core.data.dataset_store import MnistStore, offered
from cnn_core.data.datasets import DATASETS, output_refusal
from cnn_core.data.mixing import TEST_CHOICES, TRAIN_CHOICES, mix
from cnn_core.data.mnist import MnistSplits
from cnn_core.design.report import NetworkReport
from cnn_core.explain.learning_view import KernelView, enlarge, tile
from cnn_core.explain.svg import bar_svg, confusion_svg
from cnn_core.storage.places import data_dir
from cnn_core.training.admission import TrainingRequest, Way, admit
from cnn_core.training.budget import (
    Limits,
    expected_seconds,
    format_bytes,
    format_seconds,
    is_calibrated,
    training_memory,
)
from cnn_core.training.evaluate import MAX_MISCLASSIFIED
from cnn_core.training.job import LrChange, Snapshot, active_jobs
from cnn_core.training.metrics import EpochPoint, StepPoint
from cnn_core.training.runner import RunnerError, Training
from cnn_core.training.trainer import TrainConfig, describe_speedups
from ui import predict
from ui.app_state import (
    class_data,
    current_job,
    dataset_store,
    digit_image_bytes,
    disconnect_grace_s,
    recorder,
    teacher_key,
    this_session_connected,
    training_runner,
)
from ui.attribution_view import why_panel
from ui.confusion_view import open_confusion
from ui.design_state import current_report, current_spec, design_name
from ui.lesson import shows
from ui.live_chart import live_plotly_chart, stream_to_live_chart
from ui.ownership import owns_training
from ui.predict import train as predict_train
from ui.progress import progress_text
from ui.sharing_view import shared, sharing_row, train_anyway
from ui.training_form import setting_range, settings_form

GALLERY = 24  # mistakes shown (of the evaluation's first MAX_MISCLASSIFIED)
GRID = "rgba(128, 128, 128, 0.2)"
CHART_KEY = "live_curves"  # live_…: app.py keeps it from fading as stale on each update
CHART_CONFIG = {"displayModeBar": False}
UPDATE_EVERY_S = 0.5  # the live chart's updates: at least twice a second
STREAM_FOR_S = 5.0  # how long one run of the live panel streams them (see _stream_updates)
WITH_PAGE = "train_live_panel_with_page"  # set while the whole page runs (see _live_panel)


@st.fragment(run_every=0.5)
def data_progress(store: MnistStore) -> None:
    status = store.status()
    if status.state in ("ready", "unavailable"):
        st.rerun(scope="app")
    st.progress(status.fraction, text=status.message)


def data_notice(store: MnistStore, splits: MnistSplits) -> None:
    if splits.source == "full":
        st.caption(f":material/dataset: {splits.description}.")
        return
    reason = f" ({store.offline_reason})" if store.offline_reason else ""
    cols = st.columns([3, 1])  # [4, 1] cut the button's label on a projector
    cols[0].info(f"{splits.description}{reason}.", icon=":material/cloud_off:")
    if cols[1].button("Try the download again", width="stretch"):
        store.retry()
        st.rerun()


def budget_caption(report: NetworkReport, config: TrainConfig, images: int) -> None:
    """What this training is estimated to use, against what one training may use here."""
    limits = Limits.from_env()
    memory = training_memory(report, config.batch_size, config.optimizer).total
    seconds = expected_seconds(report, images, config.epochs, limits, config.batch_size)
    measured = ", measured here" if is_calibrated(report) else ""
    st.caption(f":material/speed: Estimated: {format_bytes(memory)} of memory (limit "
               f"{format_bytes(limits.memory_bytes)}), about {format_seconds(seconds)}"
               f"{measured} (limit {format_seconds(limits.seconds)}).")


def augmentation_preview(splits: MnistSplits, seed: int) -> None:
    """The one-line note and what the network will see: eight training digits as they are
    (top row) and three random redrawings of them."""
    st.caption(augment.NOTE)
    grid = augment.preview_grid(splits.train_images[:8], seed=seed)
    st.image(enlarge(grid, 3), clamp=True,
             caption="Top row: as stored. Below: three batches' worth of redrawing.")


def data_choice() -> tuple[str, str, str]:
    """The dataset, and whether to train and test on the class's drawings (MNIST only)."""
    keys, why_not = offered()
    if not shows("data"):  # a lesson that keeps to MNIST
        return "mnist", "dataset", "dataset"
    kept = {"persist_state": "session"}
    if st.session_state.get("train_dataset") not in keys:
        st.session_state["train_dataset"] = "mnist"
    c = st.columns(3)
    key = c[0].selectbox("Dataset", keys, format_func=lambda k: DATASETS[k].title,
                         key="train_dataset", **kept)
    digits = key == "mnist"  # the class draws digits
    train = c[1].selectbox("Train on", list(TRAIN_CHOICES), format_func=TRAIN_CHOICES.get,
                           key="train_on", disabled=not digits, **kept)
    test = c[2].selectbox("Test on", list(TEST_CHOICES), format_func=TEST_CHOICES.get,
                          key="test_on", disabled=not digits, **kept)
    if why_not:  # offline: say once what is missing, and where it was looked for
        titles = [DATASETS[k].title for k in why_not]
        missing = ", ".join(titles[:-1]) + f" and {titles[-1]} are" if len(titles) > 1 \
            else f"{titles[0]} is"
        st.caption(f":material/cloud_off: {missing} not on this server's disk (in "
                   f"{data_dir()}) and downloading is turned off.")
    return (key, train, test) if digits else (key, "dataset", "dataset")


def prepare_data() -> tuple[MnistSplits, str | None]:
    """The splits to train with and why training cannot start (or None); stops the page
    while the dataset is still loading."""
    job = current_job()
    if job is not None and job.snapshot().active:
        return job.splits, None  # its data is fixed: the choices come back when it ends
    key, train, test = data_choice()
    store = dataset_store(key)
    status = store.status()
    if status.state == "unavailable":
        st.error(status.message, icon=":material/cloud_off:")
        if st.button("Try the download again"):
            store.retry()
            st.rerun()
        st.stop()
    if status.state != "ready":
        st.info(f"Preparing {DATASETS[key].title} (downloading once for the whole server"
                f"{', or using the bundled digits when offline' if key == 'mnist' else ''})…")
        data_progress(store)
        st.stop()
    base = store.splits
    assert base is not None
    data_notice(store, base)
    try:
        mixed = mix(base, class_data()[0], train, test)
    except ClassDataError as exc:  # the disk under the class set failed
        return base, str(exc)
    for warning in mixed.warnings:
        st.warning(f"Training is allowed, but {warning}.", icon=":material/warning:")
    if mixed.splits is None:
        return base, mixed.refusal
    if mixed.splits is not base:
        st.caption(f":material/groups: {mixed.splits.description}.")
    return mixed.splits, None


def start_training(config: TrainConfig, splits: MnistSplits) -> None:
    job = current_job()
    if job is not None and job.snapshot().active:  # a double click starts nothing new
        return
    try:
        new_job = training_runner().start(current_spec(), splits, config, name=design_name(),
                                          orphan_timeout_s=disconnect_grace_s(),
                                          owner_connected=this_session_connected(),
                                          recorder=recorder("train page"), way=Way.TRAIN_PAGE,
                                          share=True, join=not train_anyway())
    except (ValueError, RunnerError) as exc:  # checked when drawn; the server may have changed
        st.session_state["train_refused"] = str(exc)
        return
    st.session_state["job"] = new_job
    st.session_state["job_seen_state"] = None
    # With a free slot the job is running within milliseconds: waiting for that here lets
    # this rerun draw it running, instead of queued and, half a second later, a second
    # whole-page rerun just to enable Pause.
    new_job.wait_until_started(timeout=1.0)


def controls(config: TrainConfig | None, splits: MnistSplits, blocked: str | None) -> None:
    job = current_job()
    snap = job.snapshot() if job else None
    active = bool(snap and snap.active)
    mine = job is None or owns_training(job)  # a tab that followed a link only watches
    c = st.columns([2, 2, 2, 6])
    c[0].button("Train", icon=":material/play_arrow:", type="primary", width="stretch",
                disabled=active or config is None or blocked is not None,
                on_click=start_training, args=(config, splits))
    if snap is not None and snap.state == "paused":
        c[1].button("Resume", icon=":material/play_arrow:", width="stretch",
                    disabled=not mine, on_click=job.resume)
    else:
        c[1].button("Pause", icon=":material/pause:", width="stretch",
                    disabled=not (mine and snap and snap.state == "running"),
                    on_click=job.pause if job else None)
    c[2].button("Stop", icon=":material/stop:", width="stretch", disabled=not (mine and active),
                on_click=job.stop if job else None)
    if active and not mine:
        c[3].caption(":material/visibility: You are following this training from a link: "
                     "only the browser that started it can pause, steer or stop it.")
    elif blocked:
        c[3].error(f"Training is disabled: {blocked}")
    elif refused := st.session_state.pop("train_refused", None):
        c[3].error(f"Not started: {refused}")
    elif job is not None and job.recorder is not None and job.recorder.problem:
        c[3].warning(job.recorder.problem, icon=":material/history:")
    sharing_row(job, active)
    if mine and active and snap.state != "queued" and not shared(job) and shows("steer"):
        steer(job, snap)


def steer(job: Training, snap: Snapshot) -> None:
    """Change the learning rate of the running training; while paused, train one batch."""
    c = st.columns([2, 2, 2, 6], vertical_alignment="bottom")
    c[0].number_input("Learning rate from now on", step=1e-4, format="%.4f",
                      **setting_range("learning_rate", float, value=job.learning_rate),
                      key=f"steer_lr_{id(job)}")  # each training starts from its own rate
    c[1].button("Apply", icon=":material/tune:", width="stretch",
                on_click=predict_train.before_apply(apply_lr), args=(job,))
    c[2].button("One step", icon=":material/redo:", width="stretch",
                disabled=snap.state != "paused", on_click=one_step, args=(job,),
                help="Train one batch and show its loss before and after the update")
    c[3].caption("A new learning rate applies from the next step and is marked on the curves.")
    predict_train.question(job, f"steer_lr_{id(job)}", apply_lr)


def apply_lr(job: Training) -> None:
    problem = job.set_learning_rate(st.session_state[f"steer_lr_{id(job)}"])
    if problem:
        st.toast(problem)


def one_step(job: Training) -> None:
    """Take one step and wait for it (a batch takes milliseconds), so this rerun shows it."""
    done = len(job.snapshot().one_steps)
    if not job.step_once():
        st.toast("Still finishing the step in flight: try again.")
        return
    deadline = time.monotonic() + 5
    while len(job.snapshot().one_steps) == done and time.monotonic() < deadline:
        time.sleep(0.02)


def loss_axis_top(steps: Sequence[StepPoint], step: float = 0.5) -> float:
    """The loss axis ends at the next multiple of ``step`` above the highest loss plotted.
    A fixed range that changes only when the loss climbs past it lets the browser move just
    the lines on most updates instead of redrawing the axes."""
    highest = max((p.loss for p in steps), default=2.5)
    return max(step, math.ceil(highest * 1.05 / step) * step)


def curves(steps: Sequence[StepPoint], epochs_done: Sequence[EpochPoint],
           epochs: int, lr_changes: Sequence[LrChange] = ()) -> dict[str, Any]:
    """Loss and accuracy side by side, as a plain plotly dict (see ``live_chart`` for why)."""
    x = [p.epoch for p in steps]
    finished = [e.epoch for e in epochs_done]

    def trace(xs: list[float], y: list[float], name: str, axis: str, **style: Any
              ) -> dict[str, Any]:
        # Four decimals are more than a chart shows and keep each update's message small.
        # [None] before the first point: plotly leaves a trace with no points out of the
        # legend, and the legend tells a student what to watch for. A uid names the trace
        # in the browser, where live_chart redraws the lines of the live updates itself.
        return {"type": "scatter", "x": [round(v, 4) for v in xs] or [None],
                "y": [round(v, 4) for v in y] or [None], "name": name,
                "uid": name.replace(",", "").replace(" ", "-"),
                "xaxis": f"x{axis}", "yaxis": f"y{axis}", **style}

    def line(y: list[float], name: str, color: str, axis: str, **style: Any) -> dict[str, Any]:
        # simplify off: Plotly then draws every point, as live_chart's own redraws do
        return trace(x, y, name, axis, mode="lines",
                     line={"color": color, "simplify": False, **style})

    def per_epoch(y: list[float], name: str, color: str, axis: str) -> dict[str, Any]:
        return trace(finished, y, name, axis, mode="lines+markers", line={"color": color},
                     marker={"size": 8})

    data = [
        line([p.loss for p in steps], "train loss, per step", "#1f6feb", "",
             width=1, dash="dot"),
        line([p.smoothed_loss for p in steps], "train loss, smoothed", "#1f6feb", "",
             width=2.5),
        per_epoch([e.val_loss for e in epochs_done], "validation loss", "#d1242f", ""),
        line([p.accuracy for p in steps], "train accuracy, per step", "#1a7f37", "2",
             width=1, dash="dot"),
        line([p.smoothed_accuracy for p in steps], "train accuracy, smoothed",
             "#1a7f37", "2", width=2.5),
        per_epoch([e.val_accuracy for e in epochs_done], "validation accuracy",
                  "#8250df", "2"),
        # On its own scale, right of the loss chart; three significant digits, as a rate of
        # 0.00004 would round to 0 at the other lines' four decimals.
        {**line([], "learning rate", "#9a6700", "", width=1.5), "yaxis": "y3",
         "x": [round(v, 4) for v in x] or [None],
         "y": [float(f"{p.learning_rate:.3g}") for p in steps] or [None]},
    ]
    epoch_axis = {"title": {"text": "epoch"}, "range": [0, epochs], "gridcolor": GRID,
                  "zeroline": False}
    layout = {
        "height": 360, "margin": {"l": 60, "r": 20, "t": 30, "b": 10},
        "xaxis": {**epoch_axis, "domain": [0, 0.45]},
        "yaxis": {"title": {"text": "loss"}, "range": [0, loss_axis_top(steps)],
                  "gridcolor": GRID},
        "xaxis2": {**epoch_axis, "domain": [0.55, 1], "anchor": "y2"},
        "yaxis2": {"title": {"text": "accuracy"}, "range": [0, 1.0], "tickformat": ".0%",
                   "anchor": "x2", "gridcolor": GRID},
        "yaxis3": {"title": {"text": "lr"}, "overlaying": "y", "side": "right",
                   "anchor": "x", "showgrid": False, "exponentformat": "e",
                   "range": [0, 1.1 * max((p.learning_rate for p in steps), default=0.001)]},
        "legend": {"orientation": "h", "y": -0.3},
        "hovermode": "x",
        "uirevision": "train",  # a zoom survives the updates
    }
    if lr_changes:  # a dotted line where the learning rate changed, on both charts
        layout["shapes"] = [{"type": "line", "xref": xref, "yref": f"{yref} domain",
                             "x0": c.epoch, "x1": c.epoch, "y0": 0, "y1": 1,
                             "line": {"color": "#9a6700", "dash": "dot", "width": 1.5}}
                            for c in lr_changes for xref, yref in (("x", "y"), ("x2", "y2"))]
        layout["annotations"] = [{"x": c.epoch, "xref": "x", "y": 1, "yref": "y domain",
                                  "text": f"lr {c.learning_rate:g}", "showarrow": False,
                                  "xanchor": "left", "yanchor": "top",
                                  "font": {"size": 10, "color": "#9a6700"}}
                                 for c in lr_changes]
    return {"data": data, "layout": layout}


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
        stream_to_live_chart(slot, **chart_of(snap), key=CHART_KEY)


def training_panel(job: Training | None, planned_epochs: int, *, live: bool) -> None:
    """Status, then progress and curves in one live chart element. The chart is drawn once
    (empty axes before the first training, when the browser has time to spare) and then only
    updated: it keeps its key and is always drawn from a fragment."""
    if job is None:
        st.info("Press **Train** to start. The charts update live while it trains; you can "
                "switch pages meanwhile.")
        live_plotly_chart(curves((), (), planned_epochs), key=CHART_KEY, config=CHART_CONFIG)
        return
    snap = job.snapshot()
    follow_state(snap, live=live)
    if snap.state == "failed":
        st.error(snap.message)
    elif snap.state == "stopped":
        st.warning(f"Training {snap.message}.")
    live_plotly_chart(**chart_of(snap), key=CHART_KEY)
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


def chart_of(snap: Snapshot) -> dict[str, Any]:
    """The live chart's figure and progress bar for a job's snapshot."""
    return {"figure": curves(snap.steps, snap.epochs_done, snap.epochs, snap.lr_changes),
            "config": CHART_CONFIG,
            "progress": snap.fraction, "progress_text": progress_text(snap)}


def results(job: Training) -> None:
    evaluation = job.evaluation
    if evaluation is None:
        return
    snap = job.snapshot()
    splits = job.splits
    names = list(splits.classes)
    if splits.test_data == "class":
        test_name = f"the class's {len(splits.test_images):,} drawings" + (
            " held out" if splits.train_data != "dataset" else "")
    elif splits.source == "bundled":
        test_name = f"the {len(splits.test_images):,} held-out digits"
    else:
        test_name = f"the {len(splits.test_images):,} {splits.info.title} test images"
    st.subheader(f"Results on {test_name}")
    c = st.columns(4)
    c[0].metric("Test accuracy", f"{evaluation.accuracy:.2%}")
    c[1].metric("Test loss", f"{evaluation.loss:.3f}")
    c[2].metric("Training time", f"{snap.elapsed_s:.0f} s")
    # "Throughput: 2,578 images/s" read "2,578 ima…" in a quarter of a projector's width
    c[3].metric("Images per second", f"{snap.images_per_second:,.0f}")
    changes = "".join(f"; learning rate {c.learning_rate:g} from step {c.step:,}"
                      for c in snap.lr_changes)
    st.caption(f"Trained on {snap.device}: {job.config.describe()}{changes}. Speed-ups: "
               f"{describe_speedups(job.config, job.device)}.")
    # Pictures, not plotly charts: the first plotly chart in a tab loads Streamlit's plotly
    # bundle, and the two charts cost a fresh tab about 1.4 s of its main thread.
    many = len(names) > 10  # 26 letters: each picture takes the page's width, one after the other
    left, right = (st.container(), st.container()) if many else st.columns(2)
    with left:
        st.image(confusion_svg(evaluation.confusion, names),
                 caption="Confusion matrix: each row a true class, each column what the "
                         "network said; the diagonal is what it got right")
    with right:
        tested = [c for c, row in enumerate(evaluation.confusion) if sum(row)]  # a small
        accuracy = [evaluation.per_class_accuracy[c] for c in tested]  # class set lacks some
        floor = math.floor(max(0.0, min(accuracy, default=0.0) - 0.1) * 10) / 10
        st.image(bar_svg(accuracy, [names[c] for c in tested], decimals=0 if many else 1,
                         floor=floor),
                 caption=f"Accuracy per {splits.info.noun} (the bars start at {floor:.0%})")
    open_confusion(evaluation.confusion, names, splits.test_images, splits.test_labels,
                   evaluation.predictions, evaluation.probabilities, key="train_cells",
                   way=Way.TRAIN_WHY, model=lambda: job.model, spec=job.spec)
    wrong = evaluation.misclassified[:GALLERY]
    st.subheader(f"{splits.info.noun.capitalize()}s it got wrong "
                 f"({len(evaluation.misclassified):,}"
                 f"{'+' if len(evaluation.misclassified) >= MAX_MISCLASSIFIED else ''} of "
                 f"{len(splits.test_labels):,}; the first {len(wrong)})")
    cols = st.columns(8)
    for n, i in enumerate(wrong):
        true = int(splits.test_labels[i])
        predicted = int(evaluation.predictions[i])
        cols[n % 8].image(digit_image_bytes(splits.test_images[i]),
                          caption=f"#{n + 1}: true {names[true]} → said {names[predicted]}")
    if wrong and job.model is not None and len(names) == 10:  # the why panel knows 10 classes
        explain_mistake(job, wrong)


def explain_mistake(job: Training, wrong: Sequence[int]) -> None:
    """The attribution heatmap of one mistake, computed only once a digit is picked."""
    splits, predictions = job.splits, job.evaluation.predictions
    pick = st.selectbox(
        "Why did it get one wrong?", range(len(wrong)), index=None, key="train_why_digit",
        placeholder="Pick a digit above to see which pixels misled it",
        format_func=lambda n: f"#{n + 1}: true {splits.classes[int(splits.test_labels[wrong[n]])]}"
                              f" → said {splits.classes[int(predictions[wrong[n]])]}")
    if pick is not None:
        i = wrong[pick]
        why_panel(job.model, job.spec, splits.test_images[i].numpy() / 255.0,
                  int(predictions[i]), key="train_why", way=Way.TRAIN_WHY,
                  true_label=int(splits.test_labels[i]))


def unlock_teacher_view() -> None:
    key = st.session_state.pop("train_teacher_key", None) or ""  # never kept past this try
    if teacher_key().check(key):
        st.session_state["teacher_unlocked"] = True
    else:
        st.session_state["teacher_refusal"] = teacher_key().refusal()


def teacher_panel() -> None:
    """Every training on this server, for a teacher to see and stop (the key unlocks this
    session; only that fact is kept, never the key)."""
    with st.expander("Teacher: every training on this server", icon=":material/school:"):
        if not st.session_state.get("teacher_unlocked"):
            st.text_input("Teacher key", type="password", key="train_teacher_key")
            st.button("Show every training", on_click=unlock_teacher_view)
            if refusal := st.session_state.pop("teacher_refusal", None):
                st.error(refusal)
            return
        jobs = active_jobs()
        if not jobs:
            st.caption("No training is queued, running or paused.")
        for i, other in enumerate(jobs):
            snap = other.snapshot()
            place = f", number {snap.queue_position} in the queue" if snap.queue_position else ""
            c = st.columns([6, 1])
            c[0].write(f"**{other.name}** · {snap.state}{place} · {snap.fraction:.0%} · "
                       f"{other.config.describe()}")
            c[1].button("Stop", key=f"teacher_stop_{i}", icon=":material/stop:",
                        on_click=other.stop, args=("stopped by the teacher",))


st.title("Train")
predict.switch("train")
splits, blocked = prepare_data()
report = current_report()
if not report.ok:
    blocked = f"the design has an error ({report.errors[0]}); fix it on the Design page"
elif refusal := output_refusal(report, splits.info):
    blocked = refusal
try:
    training_runner()
except RunnerError as exc:
    blocked = blocked or str(exc)
st.markdown(f"**Training:** {design_name()} · {report.total_params:,} parameters · "
            f"{report.total_macs:,} MACs per image")
st.page_link("pages/architecture.py", label="Change the design", icon=":material/account_tree:")
job = current_job()
if job is not None and job.snapshot().active:
    # The settings of the running training, as text: changing them now would not change it,
    # and the page the browser redraws twice a second stays small. The widgets keep their
    # values (persist_state) and come back when the training is over.
    config = None
    st.caption(f":material/tune: This training: {job.config.describe()}. Stop it to change "
               "the settings.")
else:
    config = settings_form(lambda seed: augmentation_preview(splits, seed))
    if config is not None and blocked is None:
        blocked = admit(TrainingRequest(Way.TRAIN_PAGE, report, config.batch_size,
                                        config.optimizer, config.epochs,
                                        len(splits.train_images), splits.info))
    if config is not None and report.ok:
        budget_caption(report, config, len(splits.train_images))
controls(config, splits, blocked)
live_view(config.epochs if config else 1)
if job is not None and job.snapshot().state == "finished":
    results(job)
if shows("teacher"):
    teacher_panel()
