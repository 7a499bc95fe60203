"""Steering a local training while it runs: a new learning rate from the next step, one batch
while paused, and the learning view of the first conv layer (the kernels, and what they make
of one fixed digit), kept for the job's snapshots."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

import torch
from torch import nn

from cnn_core.explain.learning_view import EVERY_S, KernelView, first_conv, fixed_digit, take_view
from cnn_core.training.protocol import LrChange, OneStep
from cnn_core.training.schedule import Schedule
from cnn_core.training.trainer import Step, TrainConfig


class Steering:
    """What the page asks of a running job and what it has done, under one lock: asked
    from any thread, applied by the training thread between two steps."""

    def __init__(self, config: TrainConfig, steps_per_epoch: int) -> None:
        self.config, self.steps_per_epoch = config, steps_per_epoch
        self._pending_lr: float | None = None
        self.schedule: Schedule | None = None  # while training: it moves the rate each step
        self.one_step = threading.Event()  # asked for one batch while paused
        self.holding = threading.Event()  # paused, between two steps
        self._lock = threading.Lock()
        self._lr_changes: list[LrChange] = []
        self._one_steps: list[OneStep] = []
        self._views: list[KernelView] = []
        self._latest_view: KernelView | None = None

    def set_learning_rate(self, learning_rate: float) -> str | None:
        """Change the learning rate from the next step on; the problem in words, or None."""
        # The settings' own check (the rest of the config passed it when the job was made).
        if problems := dataclasses.replace(self.config, learning_rate=learning_rate).check():
            return problems[0]
        self._pending_lr = float(learning_rate)
        return None

    @property
    def learning_rate(self) -> float:
        """The rate the next step will use."""
        with self._lock:
            changes = self._lr_changes[-1:]
        pending, schedule = self._pending_lr, self.schedule
        if pending is not None:
            return pending
        if schedule is not None:
            return schedule.learning_rate
        return changes[0].learning_rate if changes else self.config.learning_rate

    def apply_pending_lr(self, optimizer: torch.optim.Optimizer, next_step: int) -> None:
        """A new learning rate reaches the optimizer before the step it was asked for."""
        learning_rate, self._pending_lr = self._pending_lr, None
        if learning_rate is None:
            return
        if self.schedule is not None:
            self.schedule.let_go()  # set by hand: the rate stays as set
        for group in optimizer.param_groups:
            group["lr"] = learning_rate
        change = LrChange(next_step, (next_step - 1) / self.steps_per_epoch, learning_rate)
        with self._lock:
            self._lr_changes.append(change)

    @torch.no_grad()
    def record_one_step(self, before: nn.Module, after: nn.Module, step: Step,
                        step_number: int) -> None:
        losses = []
        for model in (before, after):
            was_training = model.training
            model.eval()
            losses.append(nn.functional.cross_entropy(model(step.inputs), step.labels).item())
            model.train(was_training)
        with self._lock:
            self._one_steps.append(OneStep(step_number, *losses))

    def add_view(self, view: KernelView, keep: bool) -> None:
        with self._lock:
            self._latest_view = view
            if keep:
                self._views.append(view)

    def published(self) -> dict:
        """The snapshot's steering fields."""
        with self._lock:
            return {"lr_changes": tuple(self._lr_changes), "one_steps": tuple(self._one_steps),
                    "views": tuple(self._views), "latest_view": self._latest_view}


class Watch:
    """Takes the learning view: before the first step, at each epoch's end and at most every
    ``EVERY_S`` seconds in between (one weight copy and one small convolution each)."""

    def __init__(self, model: nn.Module, held_out: torch.Tensor, device: torch.device,
                 publish: Callable[[KernelView, bool], None]) -> None:
        self.conv = first_conv(model)
        self.publish = publish
        self.digit = fixed_digit(held_out, device) if self.conv is not None else None
        self.last = time.monotonic()
        if self.conv is not None:
            publish(take_view(self.conv, self.digit, 0, 0.0), True)

    def take(self, step: int, epoch: float, epoch_end: bool = False) -> None:
        if self.conv is None or not (epoch_end or time.monotonic() - self.last >= EVERY_S):
            return
        self.last = time.monotonic()
        self.publish(take_view(self.conv, self.digit, step, epoch), epoch_end)
