"""What every training is to the app, wherever it runs: the ``Training`` protocol, the
``Snapshot`` it is read through, and the error a runner that cannot be used raises.

The local job (``job.TrainingJob``), the Ray training (``ray_runner.RayTraining``) and the
shared ones (``shared``, ``replay``) all satisfy it, and the runners hand it out; this module
imports none of them, so each can import it without importing another.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import torch
from torch import nn

from cnn_core.data.mnist import MnistSplits
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.explain.learning_view import KernelView
from cnn_core.runs.recording import Recorder
from cnn_core.training.evaluate import Evaluation
from cnn_core.training.metrics import EpochPoint, StepPoint
from cnn_core.training.trainer import TrainConfig

JobState = Literal["created", "queued", "running", "paused", "finished", "stopped", "failed"]
ACTIVE_STATES = ("queued", "running", "paused")
ORPHAN_TIMEOUT_S = 30.0  # a training whose page is gone this long stops itself
TAB_GONE = "stopped: the browser tab that started it is gone"


def owner_gone(owner_connected: Callable[[], bool] | None, heartbeat: Callable[[], None],
               last_seen: float, timeout_s: float) -> bool:
    """The one rule, local or Ray: a connected owner counts as a heartbeat; without one for
    ``timeout_s`` since ``last_seen`` the training is left behind and should stop."""
    if owner_connected is not None and owner_connected():
        heartbeat()
        return False
    return time.monotonic() - last_seen > timeout_s


class RunnerError(RuntimeError):
    """The configured runner cannot be used; the message is one sentence for the page."""


@dataclass(frozen=True)
class LrChange:
    step: int  # the first step trained with it
    epoch: float  # where the curves mark it
    learning_rate: float


@dataclass(frozen=True)
class OneStep:
    """One batch trained while paused: its loss just before and just after the update (both
    in eval mode, so dropout does not blur the difference)."""

    step: int
    loss_before: float
    loss_after: float


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of a training's progress, safe to read from any thread."""

    state: JobState
    message: str
    epoch: int
    epochs: int
    step: int
    steps_per_epoch: int
    images_per_second: float
    elapsed_s: float
    eta_s: float | None
    queue_position: int | None
    device: str
    notice: str = ""  # e.g. that its epochs will not fit the time limit at this pace
    steps: tuple[StepPoint, ...] = ()
    epochs_done: tuple[EpochPoint, ...] = ()
    lr_changes: tuple[LrChange, ...] = ()
    one_steps: tuple[OneStep, ...] = ()
    views: tuple[KernelView, ...] = ()  # the first conv layer: at the start and each epoch's end
    latest_view: KernelView | None = None  # the newest, also from within an epoch

    @property
    def fraction(self) -> float:
        total = self.epochs * self.steps_per_epoch
        return min(1.0, self.step / total) if total else 0.0

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


@runtime_checkable
class Training(Protocol):
    """Everything the app reads from or does to a training, wherever it runs: a page holds
    one of these and never asks which kind (``TrainingJob`` here, ``RayTraining`` on a
    cluster; ``tests/test_training_protocol.py`` holds both to every member)."""

    spec: ArchitectureSpec
    splits: MnistSplits
    config: TrainConfig
    name: str
    recorder: Recorder | None  # keeps the run in the run store (its owner token included)
    device: torch.device | None  # where it trains; None until a Ray worker has taken it
    model: nn.Module | None  # once over: the trained network, on the CPU, in eval mode
    evaluation: Evaluation | None  # once finished: its test results

    # Following and control.
    def start(self) -> None: ...
    def snapshot(self) -> Snapshot: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def stop(self, reason: str = ...) -> None: ...
    def heartbeat(self) -> None: ...
    def wait_until_started(self, timeout: float) -> bool: ...
    def join(self, timeout: float | None = None) -> None: ...
    @property
    def running_thread(self) -> bool: ...

    # Steering: a new learning rate from the next step; one batch while paused.
    @property
    def learning_rate(self) -> float: ...
    def set_learning_rate(self, learning_rate: float) -> str | None: ...
    def step_once(self) -> bool: ...
    def wait_until_held(self, timeout: float) -> bool: ...
