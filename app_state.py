"""State and resources every page shares (the shared frame; ``app.py`` lists the pages).

Per-user state lives in ``st.session_state``; heavy objects shared by all users (the MNIST
tensors, the training runner, the quick model) come from ``st.cache_resource``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import streamlit as st
import torch
from torch import nn

from cnn_core.data import MnistSplits, MnistStore, load_bundled
from cnn_core.job import TrainingJob
from cnn_core.presets import DEFAULT_PRESET, PRESETS, SMALL_FAST
from cnn_core.runner import Runner, Training, runner_from_env
from cnn_core.shapes import NetworkReport, analyze
from cnn_core.spec import ArchitectureSpec, Layer
from cnn_core.trainer import TrainConfig

_uids = itertools.count(1)


# ---- shared by all sessions -------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def mnist_store() -> MnistStore:
    """The server's one copy of MNIST (downloaded once, or the bundled set offline)."""
    store = MnistStore()
    store.start()
    return store


@st.cache_resource(show_spinner=False)
def bundled_digits() -> MnistSplits:
    """The 10,000 real digits shipped with the app (for the Draw and Explain pages)."""
    return load_bundled()


@st.cache_resource(show_spinner=False)
def training_runner() -> Runner:
    """Where the Train page's trainings run: this server, or the Ray cluster named by
    ``CNN_EXPLAINER_RAY_ADDRESS`` (``RunnerError``, not cached, when it cannot be used)."""
    return runner_from_env()


class QuickModel:
    """The small fast preset trained once per server on the bundled digits, on request, so the
    Draw page works on a fresh start. Every student shares it."""

    NAME = "Small fast net (quick model, 3 epochs on the bundled digits)"

    def __init__(self) -> None:
        self.job: TrainingJob | None = None

    def start(self) -> TrainingJob:
        if self.job is None or self.job.snapshot().state in ("failed", "stopped"):
            self.job = TrainingJob(SMALL_FAST, bundled_digits(), TrainConfig(epochs=3),
                                   name="quick model", orphan_timeout_s=float("inf"))
            self.job.start()
        return self.job


@st.cache_resource(show_spinner=False)
def quick_model() -> QuickModel:
    return QuickModel()


# ---- the design (per session) -----------------------------------------------------------
def new_uid() -> int:
    """A fresh id for a layer: widget keys derive from it, so a new id means fresh widgets."""
    return next(_uids)


def _with_uids(spec: ArchitectureSpec) -> list[dict[str, Any]]:
    return [{"uid": new_uid(), "type": ly.type, "params": dict(ly.params)} for ly in spec.layers]


def load_design(spec: ArchitectureSpec, name: str) -> None:
    """Replace the session's design (every layer gets a fresh id, so widgets start fresh)."""
    st.session_state["design_layers"] = _with_uids(spec)
    st.session_state["design_input_shape"] = tuple(spec.input_shape)
    st.session_state["design_name"] = name


def design_layers() -> list[dict[str, Any]]:
    if "design_layers" not in st.session_state:
        load_design(PRESETS[DEFAULT_PRESET], DEFAULT_PRESET)
    return st.session_state["design_layers"]


def current_spec() -> ArchitectureSpec:
    layers = design_layers()
    return ArchitectureSpec(tuple(Layer(d["type"], dict(d["params"])) for d in layers),
                            st.session_state["design_input_shape"])


def design_name() -> str:
    design_layers()
    return st.session_state["design_name"]


def current_report() -> NetworkReport:
    return analyze(current_spec())


def mark_design_edited() -> None:
    name = st.session_state.get("design_name", "Custom")
    if not name.endswith("(edited)") and name != "Custom":
        st.session_state["design_name"] = f"{name} (edited)"


# ---- training and the trained model (per session) --------------------------------------
def current_job() -> Training | None:
    return st.session_state.get("job")


@dataclass(frozen=True)
class TrainedModel:
    model: nn.Module
    name: str
    spec: ArchitectureSpec
    test_accuracy: float | None
    source: str


def trained_model() -> TrainedModel | None:
    """The model the Draw page uses: the session's last finished training, else the quick
    model when it is ready."""
    record = st.session_state.get("trained_model")
    job = current_job()
    if job is not None and job.model is not None and job.snapshot().state == "finished" and (
            record is None or record.model is not job.model):
        record = TrainedModel(job.model, job.name, job.spec,
                              job.evaluation.accuracy if job.evaluation else None,
                              "trained on the Train page")
        st.session_state["trained_model"] = record
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
