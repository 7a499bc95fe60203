"""The training loop: the plain PyTorch loop of pytorch/examples' ``mnist/main.py``, as a generator.

``train_steps`` shuffles, slices a batch from the in-memory uint8 digits, runs forward, loss,
backward and the optimizer step, and yields after every step. One driver asks it for steps:
``cnn_core.training.driver.EpochDriver``, which publishes the metrics, validates each epoch
and keeps the time limit, and stops by closing the generator; the job (which the Train page,
the command line, Ray's workers and the benchmarks run) and torchrun both run that driver.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from cnn_core.data.augment import augment
from cnn_core.data.mnist import normalize
from cnn_core.design.build import build_model
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.training.devices import resolve_device
from cnn_core.training.schedule import Schedule, describe_schedule
from cnn_core.training.settings import (
    DEFAULT_OPTIMIZER,
    DEFAULT_SCHEDULE,
    OPTIMIZERS,
    SCHEDULES,
    SETTINGS,
    SGD_MOMENTUM,
    Setting,
)


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters. ``check()`` lists every problem in words; an empty list means valid."""

    epochs: int = int(SETTINGS["epochs"].default)
    batch_size: int = int(SETTINGS["batch_size"].default)
    optimizer: str = DEFAULT_OPTIMIZER  # one of OPTIMIZERS
    learning_rate: float = SETTINGS["learning_rate"].default
    momentum: float = SGD_MOMENTUM
    seed: int = int(SETTINGS["seed"].default)
    device: str = "auto"
    speedups: bool = True  # False: the plain eager loop, bit for bit (for checking against it)
    augment: bool = False  # redraw each batch at random (cnn_core.data.augment)
    schedule: str = DEFAULT_SCHEDULE  # one of SCHEDULES
    stop_at_accuracy: float = SETTINGS["stop_at_accuracy"].default  # percent; 0: off

    LIMITS: ClassVar[dict[str, Setting]] = SETTINGS

    def check(self) -> list[str]:
        problems = []
        for name, setting in self.LIMITS.items():
            lo, hi = setting.minimum, setting.maximum
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not lo <= value <= hi:
                problems.append(f"{name.replace('_', ' ')} must be between {lo:g} and {hi:g} "
                                f"(got {value})")
        if not isinstance(self.augment, bool):
            problems.append(f"augment must be true or false (got {self.augment!r})")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer must be {' or '.join(OPTIMIZERS)} (got "
                            f"{self.optimizer!r})")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule must be {' or '.join(SCHEDULES)} (got "
                            f"{self.schedule!r})")
        return problems

    def resolved_device(self) -> torch.device:
        """The device to train on, once every setting is usable; ``ValueError`` naming every
        problem (or the device this computer does not have) otherwise."""
        problems = self.check()
        if problems:
            raise ValueError("; ".join(problems))
        return resolve_device(self.device)

    def describe(self) -> str:
        """The settings in words, e.g. ``3 epochs, batch 64, Adam, learning rate 0.001, seed 0``
        (the schedule and the accuracy to stop at, when not the constant rate and off)."""
        optimizer = "Adam" if self.optimizer == "adam" else f"SGD, momentum {self.momentum:g}"
        rate = f"learning rate {self.learning_rate:g}"
        if self.schedule != "constant":
            rate = f"{describe_schedule(self.schedule)} {rate.replace('rate', 'rate up to')}"
        stop = (f", stop at {self.stop_at_accuracy:g} % validation accuracy"
                if self.stop_at_accuracy else "")
        return (f"{self.epochs} epoch{'s' * (self.epochs != 1)}, batch {self.batch_size}, "
                f"{optimizer}, {rate}, seed {self.seed}"
                f"{', augmented' if self.augment else ''}{stop}")


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD with momentum, or Adam with torch's fused kernel (one pass over all parameters:
    faster where a big linear layer makes the update step costly; docs/benchmarks.md has the
    figures)."""
    params = list(model.parameters())
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.learning_rate, momentum=cfg.momentum)
    fused = all(p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(params, lr=cfg.learning_rate, fused=fused or None)


@dataclass(frozen=True)
class Step:
    """One training step's results, detached from the graph (still on the training device)."""

    epoch: int  # 1-based
    index: int  # 1-based, within the epoch
    steps_in_epoch: int
    loss: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor
    inputs: torch.Tensor  # the normalised batch it trained on
    learning_rate: float = 0.0  # the rate this step trained with

    @property
    def ends_epoch(self) -> bool:
        return self.index == self.steps_in_epoch


def prepare(spec: ArchitectureSpec, cfg: TrainConfig,
            device: torch.device) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The seeded model on ``device`` and its optimizer: the same seed gives the same start."""
    torch.manual_seed(cfg.seed)
    if device.type == "cuda":  # same seed, same curves: cuDNN may otherwise pick
        torch.backends.cudnn.deterministic = True  # kernels that add in any order
    model = build_model(spec).to(device, memory_format=memory_format(cfg, device))
    return model, make_optimizer(model, cfg)


def memory_format(cfg: TrainConfig, device: torch.device) -> torch.memory_format:
    """channels_last on a CPU: oneDNN's convolutions run faster in it (figures:
    docs/benchmarks.md)."""
    cpu = device.type == "cpu"
    return torch.channels_last if cfg.speedups and cpu else torch.contiguous_format


def describe_speedups(cfg: TrainConfig, device: torch.device) -> str:
    """What the loop does beyond a plain PyTorch loop, in words for the page."""
    if not cfg.speedups:
        return "none (the plain eager loop)"
    layout = ("channels_last memory format" if device.type == "cpu"
              else "digits kept on the device, metrics read back in groups")
    # torch.compile stays off: slower per step than eager on a CPU (docs/benchmarks.md).
    return f"{layout}; torch.compile: off (no faster per step on this hardware)"


def trained_model(model: nn.Module) -> nn.Module:
    """The trained net as every other part of the app expects it: on the CPU, in the standard
    memory layout (safetensors and the Draw page's maps want contiguous tensors), eval mode."""
    return model.to("cpu", memory_format=torch.contiguous_format).eval()


def to_device(images: torch.Tensor, labels: torch.Tensor,
              device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The uint8 digits are small (47 MB for all 60,000): copied over once, every batch is then
    cut on the device instead of crossing the bus step by step."""
    return images.to(device), labels.to(device)


def train_steps(model: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor,
                labels: torch.Tensor, cfg: TrainConfig, *, rank: int = 0,
                world_size: int = 1, schedule: Schedule | None = None) -> Iterator[Step]:
    """Train for ``cfg.epochs`` epochs over uint8 ``images`` (N, 28, 28), yielding after each
    step. Each epoch's order comes from the seed alone, so that processes training one model
    together agree on it without talking: each takes every ``world_size``-th digit of each
    batch, starting at its ``rank``. The learning rate follows ``schedule`` (by default
    ``cfg.schedule``'s; pass one to steer it from outside)."""
    loss_fn = nn.CrossEntropyLoss()
    layout = memory_format(cfg, images.device)
    shuffler = torch.Generator().manual_seed(cfg.seed)
    redraw = torch.Generator(device=images.device).manual_seed(cfg.seed)  # for cfg.augment
    batch_starts = range(0, len(images), cfg.batch_size)
    if schedule is None:
        schedule = Schedule(optimizer, cfg.schedule, cfg.epochs * len(batch_starts))
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(len(images), generator=shuffler).to(images.device)
        for index, start in enumerate(batch_starts, 1):
            idx = order[start:start + cfg.batch_size][rank::world_size]
            x, y = images[idx], labels[idx]
            x = normalize(augment(x, redraw) if cfg.augment else x).contiguous(
                memory_format=layout)
            rate = schedule.learning_rate
            optimizer.zero_grad(set_to_none=True)
            logits = model(x)
            loss = loss_fn(logits, y)
            loss.backward()
            optimizer.step()
            schedule.step()
            yield Step(epoch, index, len(batch_starts), loss.detach(), logits.detach(), y, x,
                       rate)
