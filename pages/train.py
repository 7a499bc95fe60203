"""Train: the current design on MNIST (or another 28x28 dataset, or the class's own
drawings), with live charts, then test results."""

from __future__ import annotations

from ui.page_guard import need_torch, require_frame

require_frame()  # first, before the imports below load torch (see page_guard)
need_torch()

import time

import streamlit as st

from cnn_core.data import augment
from cnn_core.data.class_data import ClassDataError
from cnn_core.data.dataset_store import MnistStore
from cnn_core.data.datasets import DATASETS, output_refusal
from cnn_core.data.mixing import mix
from cnn_core.data.mnist import MnistSplits
from cnn_core.design.report import NetworkReport
from cnn_core.explain.learning_view import enlarge
from cnn_core.training.admission import TrainingRequest, Way, admit
from cnn_core.training.budget import (
    Limits,
    expected_seconds,
    format_bytes,
    format_seconds,
    is_calibrated,
    training_memory,
)
from cnn_core.training.job import active_jobs
from cnn_core.training.protocol import RunnerError, Snapshot, Training
from cnn_core.training.trainer import TrainConfig
from ui import predict
from ui.app_state import (
    class_data,
    current_job,
    dataset_store,
    disconnect_grace_s,
    recorder,
    teacher_key,
    this_session_connected,
    training_runner,
)
from ui.design_state import current_report, current_spec, design_name
from ui.lesson import shows
from ui.ownership import owns_training
from ui.predict import train as predict_train
from ui.sharing_view import shared, sharing_row, train_anyway
from ui.train_live import live_view
from ui.train_results import results
from ui.training_form import data_choice, setting_range, settings_form


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
    config = settings_form(current_spec(), lambda seed: augmentation_preview(splits, seed))
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
