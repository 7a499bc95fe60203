"""The bookkeeping around training steps: smoothed curves, epoch means, images/s, and a loss
that blew up.

``Metrics`` is what readers see: written by the training thread, read by anyone under its
lock. ``StepTally`` turns the loop's steps into ``StepPoint`` records for it. On a GPU each
step's loss and batch accuracy stay there until ``read_back``: copying a value to the CPU
waits for every kernel queued so far, so reading back every step would leave the GPU idle
while Python prepares the next one. A read-back happens every ``GPU_READ_BACK_STEPS`` steps or
``GPU_READ_BACK_S`` seconds, before a pause or a stop, and at the end of each epoch. On the
CPU nothing is queued: every step is read back.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

import torch

MAX_STEP_POINTS = 200  # what a live chart redraws stays bounded however long the training
GPU_READ_BACK_STEPS = 32
GPU_READ_BACK_S = 0.1


class LossDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says what to try."""


@dataclass(frozen=True)
class StepPoint:
    step: int
    epoch: float  # fractional: 1.5 = halfway through the second epoch
    loss: float
    smoothed_loss: float
    accuracy: float
    smoothed_accuracy: float
    learning_rate: float = 0.0  # the rate the step trained with (a schedule moves it)


@dataclass(frozen=True)
class EpochPoint:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float


@dataclass
class Metrics:
    """Written by the training thread, read by everyone else, under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    steps: list[StepPoint] = field(default_factory=list)
    stride: int = 1  # keep every stride-th step once the list is full
    epochs: list[EpochPoint] = field(default_factory=list)
    step: int = 0  # steps taken; on a GPU up to a read-back ahead of the published points
    epoch: int = 0
    images: int = 0
    train_seconds: float = 0.0

    def add_step(self, point: StepPoint, images: int, seconds: float) -> None:
        """Record one training step (``images`` trained on in ``seconds``), taking the lock once."""
        with self.lock:
            self.images += images
            self.train_seconds += seconds
            if point.step % self.stride:
                return
            self.steps.append(point)
            if len(self.steps) > MAX_STEP_POINTS:  # thin out: halve the points, double stride
                self.steps = self.steps[::2]
                self.stride *= 2

    def add_epoch(self, point: EpochPoint) -> None:
        with self.lock:
            self.epoch = point.epoch
            self.epochs.append(point)


def smooth(previous: float | None, value: float) -> float:
    """Exponential moving average for the smoothed curves (the first value starts it)."""
    return value if previous is None else 0.95 * previous + 0.05 * value


class StepTally:
    """Feeds ``Metrics`` from the loop's steps: call ``start_epoch`` before an epoch's first
    step, ``add`` after each step, ``read_back`` when ``due()`` and before anything waits."""

    read_back_steps = GPU_READ_BACK_STEPS
    read_back_s = GPU_READ_BACK_S

    def __init__(self, metrics: Metrics, epoch_images: int, on_cpu: bool) -> None:
        self.metrics, self.epoch_images, self.on_cpu = metrics, epoch_images, on_cpu
        self.step = 0  # the last step read back
        self.taken = 0  # steps taken: the progress shown, also while a read-back is pending
        self.epoch = 0
        self.smoothed_loss: float | None = None
        self.smoothed_accuracy: float | None = None
        self.loss_sum = 0.0
        self.correct = 0
        self.seen = 0
        # loss, correct, n, learning rate
        self.pending: list[tuple[torch.Tensor, torch.Tensor, int, float]] = []
        self.clock = time.perf_counter()

    def start_epoch(self, epoch: int) -> None:
        self.epoch, self.loss_sum, self.correct, self.seen = epoch, 0.0, 0, 0

    def restart_clock(self) -> None:
        """Training time runs without gaps from step to step (publishing, waiting for the
        GIL and the loop itself included), so images/s is what the wall clock sees. Only
        validation between epochs and pauses are left out: the clock restarts after them."""
        self.clock = time.perf_counter()

    def add(self, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor,
            learning_rate: float = 0.0) -> None:
        # No more kernels than needed: on a small net a GPU step is mostly launch overhead.
        self.pending.append((loss.detach(), (logits.argmax(1) == labels).sum(), len(labels),
                             learning_rate))
        self.taken += 1
        self.metrics.step = self.taken  # one int: readers need no lock for it

    def due(self) -> bool:
        return self.on_cpu or len(self.pending) >= self.read_back_steps \
            or time.perf_counter() - self.clock >= self.read_back_s

    def read_back(self) -> None:
        """Publish the pending steps; ``LossDiverged`` if a loss is NaN or infinite."""
        if not self.pending:
            return
        losses = torch.stack([p[0] for p in self.pending]).tolist()  # waits for the GPU
        corrects = torch.stack([p[1] for p in self.pending]).tolist()
        sizes = [p[2] for p in self.pending]
        rates = [p[3] for p in self.pending]
        self.pending.clear()
        now = time.perf_counter()
        seconds = (now - self.clock) / len(sizes)  # shared out: the GPU ran them queued
        self.clock = now
        for loss, correct, n, rate in zip(losses, corrects, sizes, rates):
            if not math.isfinite(loss):
                raise LossDiverged(f"the loss became {loss} at step {self.step + 1}: the "
                                   "learning rate is probably too high; try 10 times lower")
            self.step += 1
            self.smoothed_loss = smooth(self.smoothed_loss, loss)
            self.smoothed_accuracy = smooth(self.smoothed_accuracy, correct / n)
            self.loss_sum += loss * n
            self.correct += correct
            self.seen += n
            point = StepPoint(self.step, self.epoch - 1 + self.seen / self.epoch_images, loss,
                              self.smoothed_loss, correct / n, self.smoothed_accuracy, rate)
            self.metrics.add_step(point, images=n, seconds=seconds)

    def epoch_means(self) -> tuple[float, float]:
        """The epoch's mean training loss and accuracy."""
        return self.loss_sum / self.seen, self.correct / self.seen
