"""The resources every page shares, and the session's training and model.

Per-user state lives in ``st.session_state``; heavy objects shared by all users (the MNIST
tensors, the training runner, the quick model) come from ``st.cache_resource``. The design
being edited is ``ui.design_state``'s; the page URL ``ui.url_sync``'s. Importing this
module does not import torch (the sidebar and the Design page draw before it has loaded):
what needs it imports it inside.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st

from cnn_core.design.presets import SMALL_FAST
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.runs.recording import Recorder, open_store
from cnn_core.runs.store import RunStore
from cnn_core.training import memory
from ui.ownership import owner_token as owner_token  # re-exported: pages import it from here
from ui.ownership import teacher_key as teacher_key  # re-exported: pages import it from here

if TYPE_CHECKING:
    import torch
    from torch import nn

    from cnn_core.data.class_data import ClassData
    from cnn_core.data.dataset_store import MnistStore
    from cnn_core.data.mnist import MnistSplits
    from cnn_core.training.job import TrainingJob
    from cnn_core.training.runner import Runner, Training

DIGITS = tuple("0123456789")


# ---- shared by all sessions -------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def mnist_store() -> MnistStore:
    """The server's one copy of MNIST (downloaded once, or the bundled set offline)."""
    from cnn_core.data.dataset_store import MnistStore

    store = MnistStore()
    store.start()
    return store


@st.cache_resource(show_spinner=False)
def dataset_store(key: str) -> MnistStore:
    """The server's one copy of a dataset (``cnn_core.data.datasets``), loaded on first use."""
    if key == "mnist":
        return mnist_store()
    from cnn_core.data.dataset_store import MnistStore

    store = MnistStore(dataset=key)
    store.start()
    return store


@st.cache_resource(show_spinner=False)
def class_data() -> tuple[ClassData | None, str | None]:
    """The class's drawings, kept beside the runs, or None and why not."""
    from cnn_core.data.class_data import ClassData, ClassDataError

    try:
        return ClassData(), None
    except ClassDataError as exc:
        return None, f"The class set is not available: {exc}"


@st.cache_resource(show_spinner=False)
def bundled_digits() -> MnistSplits:
    """The 10,000 real digits shipped with the app (for the Draw and Explain pages)."""
    from cnn_core.data.mnist import load_bundled

    return load_bundled()


@st.cache_resource(show_spinner=False)
def training_runner() -> Runner:
    """Where the Train page's trainings run: this server, or the Ray cluster named by
    ``CNN_EXPLAINER_RAY_ADDRESS`` (``RunnerError``, not cached, when it cannot be used)."""
    from cnn_core.training.runner import runner_from_env

    return runner_from_env()


@st.cache_resource(show_spinner=False)
def run_store() -> tuple[RunStore | None, str | None]:
    """The server's run store (opened once: runs a restart cut short become "interrupted"),
    or None and the one line saying why runs are not being kept."""
    return open_store()


def recorder(source: str, mine: bool = True) -> Recorder:
    """What records one training in the run store (``mine``: owned by this session and
    labelled with its nickname; otherwise everyone's, like the quick model)."""
    store, problem = run_store()
    if not mine:
        return Recorder(store, problem, source)
    return Recorder(store, problem, source, st.session_state.get("nickname", ""),
                    owner_token())


class QuickModel:
    """The small fast preset trained once per server on the bundled digits, on request, so the
    Draw page works on a fresh start. Every student shares it."""

    NAME = "Small fast net (quick model: its recipe on the bundled digits)"

    def __init__(self) -> None:
        self.job: TrainingJob | None = None
        self._starting = threading.Lock()  # students who press at once start one training

    def start(self) -> TrainingJob:
        """Start it unless it runs or has trained; ``NotAdmitted`` when the server says no."""
        from cnn_core.training.admission import Way
        from cnn_core.training.job import TrainingJob
        from cnn_core.training.runner import InProcessRunner, RunnerError
        from cnn_core.training.settings import recipe
        from cnn_core.training.trainer import TrainConfig

        with self._starting:
            if self.job is None or self.job.snapshot().state in ("failed", "stopped"):
                try:  # in the server's own slots, with the trainings whose memory it shares
                    runner = training_runner()
                except RunnerError:  # the Ray cluster is away: this server trains it alone
                    runner = None
                slots = runner.slots if isinstance(runner, InProcessRunner) else None
                self.job = TrainingJob(SMALL_FAST, bundled_digits(),
                                       TrainConfig(**recipe(SMALL_FAST)),
                                       slots=slots, name="quick model",
                                       orphan_timeout_s=float("inf"), way=Way.QUICK_MODEL,
                                       recorder=recorder("quick model", mine=False))
                self.job.start()
            return self.job


@st.cache_resource(show_spinner=False)
def quick_model() -> QuickModel:
    return QuickModel()


# ---- training and the trained model (per session) --------------------------------------
def current_job() -> Training | None:
    return st.session_state.get("job")


def disconnect_grace_s() -> float:
    """How long a training outlives its browser session's connection: as long as Streamlit
    keeps the session for the browser to reconnect to (``server.disconnectedSessionTTL``)."""
    return float(st.get_option("server.disconnectedSessionTTL"))


def this_session_connected() -> Callable[[], bool] | None:
    """A check, safe from any thread, that this browser session's connection is up: a hidden
    tab keeps it up (its page timers may sleep), a closed tab or a reload ends it. None where
    no server runs (AppTest): the page's reruns are then the job's only heartbeats."""
    from ui.streamlit_internals import session_connection

    return session_connection()


@dataclass(frozen=True)
class TrainedModel:
    model: nn.Module
    name: str
    spec: ArchitectureSpec
    test_accuracy: float | None
    source: str
    run_id: int | None = None  # the run it came from, for the page's URL
    classes: tuple[str, ...] = DIGITS  # what its outputs mean


def use_model(record: TrainedModel) -> None:
    """The model the Draw page answers with from now on (a run, uploaded weights)."""
    st.session_state["trained_model"] = record
    st.session_state["adopted_job"] = current_job()  # a training that ends later replaces it


def trained_model() -> TrainedModel | None:
    """The model the Draw page uses: the last one chosen or trained in this session (a
    training that finishes replaces the one before), else the quick model when it is ready."""
    record = st.session_state.get("trained_model")
    job = current_job()
    if job is not None and job.model is not None and job.snapshot().state == "finished" and (
            st.session_state.get("adopted_job") is not job):
        record = TrainedModel(job.model, job.name, job.spec,
                              job.evaluation.accuracy if job.evaluation else None,
                              "trained on the Train page",
                              job.recorder.run_id if job.recorder else None,
                              job.splits.classes)
        st.session_state["trained_model"] = record
        st.session_state["adopted_job"] = job
    if record is not None:
        return record
    quick = quick_model().job
    if quick is not None and quick.model is not None and quick.snapshot().state == "finished":
        accuracy = quick.evaluation.accuracy if quick.evaluation else None
        return TrainedModel(quick.model, QuickModel.NAME, SMALL_FAST, accuracy, "quick model")
    return None


def digit_image_bytes(image: torch.Tensor) -> bytes:
    """A 28x28 uint8 tensor as a PNG (for st.image galleries)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image.numpy()).resize((84, 84), Image.NEAREST).save(buffer, format="PNG")
    return buffer.getvalue()


# ---- a closed tab -----------------------------------------------------------------------
@st.cache_resource(scope="session", show_spinner=False,
                   on_release=lambda _: memory.sweep_soon())
def _released_when_this_tab_goes() -> bool:
    return True


def sweep_when_this_tab_goes() -> None:
    """Call on every run. When the session's tab disconnects, Streamlit lets go of the
    sessions kept past their reconnect time, and a sweep gives back what they held."""
    from ui.streamlit_internals import in_script_run

    if in_script_run():  # bare mode (a spawned process's import): no tab
        _released_when_this_tab_goes()
