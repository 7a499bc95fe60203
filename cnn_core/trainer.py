"""Train a design on MNIST in a background thread and publish its metrics as it goes.

The loop in ``TrainingJob._train`` is the plain PyTorch loop a student could read aloud:
shuffle, slice a batch from the in-memory uint8 tensor, forward, loss, backward, step. Around
it, a lock-protected ``_Metrics`` object takes one small record per step (on a GPU they come
in groups, see ``_StepTally``); readers (the page's live chart, a script) call ``snapshot()``
and never touch the model. Controls (stop, pause, resume) are events checked once per batch,
so they take effect within one batch.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch
from torch import nn

from cnn_core.build import build_model
from cnn_core.data import MnistSplits, normalize
from cnn_core.devices import device_name, resolve_device
from cnn_core.evaluate import Evaluation, evaluate
from cnn_core.slots import TrainingSlots
from cnn_core.spec import ArchitectureSpec

JobState = Literal["created", "queued", "running", "paused", "finished", "stopped", "failed"]
ACTIVE_STATES = ("queued", "running", "paused")
MAX_STEP_POINTS = 200  # what a live chart redraws stays bounded however long the training
ORPHAN_TIMEOUT_S = 30.0
CHANCE_LEVEL = 0.2  # ten classes: guessing scores about 0.1
GPU_READ_BACK_STEPS = 32  # see _StepTally
GPU_READ_BACK_S = 0.1


class _Workers:
    """Daemon threads that run trainings and are reused: a thread that has trained before has
    its OpenMP team warm (measured: steps on a fresh thread were about 5 % slower, LeNet-5's
    trainer/plain ratio went from 0.88 to 1.02). A new thread starts only when none is idle,
    so a job never waits behind another; daemon, so a server can always exit."""

    def __init__(self) -> None:
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, task: Callable[[], None]) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1  # an idle worker will take it
            else:
                threading.Thread(target=self._work, name="trainer", daemon=True).start()
        self._tasks.put(task)

    def _work(self) -> None:
        while True:
            task = self._tasks.get()
            try:
                task()
            finally:
                with self._lock:
                    self._idle += 1


_WORKERS = _Workers()


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters. ``check()`` lists every problem in words; an empty list means valid."""

    epochs: int = 3
    batch_size: int = 64
    optimizer: Literal["adam", "sgd"] = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    seed: int = 0
    device: str = "auto"

    LIMITS: ClassVar[dict[str, tuple[float, float]]] = {
        "epochs": (1, 50), "batch_size": (1, 2048), "learning_rate": (1e-6, 10.0),
        "seed": (0, 2**31 - 1)}

    def check(self) -> list[str]:
        problems = []
        for name, (lo, hi) in self.LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not lo <= value <= hi:
                problems.append(f"{name.replace('_', ' ')} must be between {lo:g} and {hi:g} "
                                f"(got {value})")
        if self.optimizer not in ("adam", "sgd"):
            problems.append(f"optimizer must be adam or sgd (got {self.optimizer!r})")
        return problems

    def resolved_device(self) -> torch.device:
        """The device to train on, once every setting is usable; ``ValueError`` naming every
        problem (or the device this computer does not have) otherwise."""
        problems = self.check()
        if problems:
            raise ValueError("; ".join(problems))
        return resolve_device(self.device)

    def describe(self) -> str:
        """The settings in words, e.g. ``3 epochs, batch 64, Adam, learning rate 0.001, seed 0``."""
        optimizer = "Adam" if self.optimizer == "adam" else f"SGD, momentum {self.momentum:g}"
        return (f"{self.epochs} epoch{'s' * (self.epochs != 1)}, batch {self.batch_size}, "
                f"{optimizer}, learning rate {self.learning_rate:g}, seed {self.seed}")


@dataclass(frozen=True)
class StepPoint:
    step: int
    epoch: float  # fractional: 1.5 = halfway through the second epoch
    loss: float
    smoothed_loss: float
    accuracy: float
    smoothed_accuracy: float


@dataclass(frozen=True)
class EpochPoint:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of a job's progress, safe to read from any thread."""

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
    steps: tuple[StepPoint, ...] = ()
    epochs_done: tuple[EpochPoint, ...] = ()

    @property
    def fraction(self) -> float:
        total = self.epochs * self.steps_per_epoch
        return min(1.0, self.step / total) if total else 0.0

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


@dataclass
class _Metrics:
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


class TrainingJob:
    """One training of one design, run on one of the trainer's worker threads.

    Lifecycle: created → queued (waiting for a slot) → running ⇄ paused → finished, stopped
    or failed. After ``finished``, ``model`` holds the trained network (on the CPU, in eval
    mode) and ``evaluation`` its test results.
    """

    def __init__(self, spec: ArchitectureSpec, splits: MnistSplits, config: TrainConfig,
                 slots: TrainingSlots | None = None, name: str = "Custom",
                 orphan_timeout_s: float = ORPHAN_TIMEOUT_S) -> None:
        self.device = config.resolved_device()
        self.spec, self.splits, self.config, self.name = spec, splits, config, name
        self.slots = slots
        self.orphan_timeout_s = orphan_timeout_s
        self.model: nn.Module | None = None
        self.evaluation: Evaluation | None = None
        self._metrics = _Metrics()
        self._state: JobState = "created"
        self._message = ""
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._last_seen = time.monotonic()
        self._started_at: float | None = None
        self._finished_at: float | None = None
        self._done = threading.Event()
        self._left_queue = threading.Event()  # running, or over without ever running
        n = len(splits.train_images)
        self.steps_per_epoch = math.ceil(n / config.batch_size)

    # ---- controls (any thread) -------------------------------------------------------------
    def start(self) -> None:
        if self._state == "created":
            self._state = "queued"
            if self.slots:
                self.slots.enqueue(self)
            _WORKERS.submit(self._run)

    def stop(self, reason: str = "stopped by the user") -> None:
        """Ask the loop to stop; it does so before the next batch. Safe to call twice."""
        if not self._stop.is_set():
            self._message = reason
        self._stop.set()
        self._resume.set()

    def pause(self) -> None:
        if self._state == "running":
            self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    def heartbeat(self) -> None:
        """The owner's page is alive. Without one for ``orphan_timeout_s``, the job stops."""
        self._last_seen = time.monotonic()

    def wait_until_started(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) for the job to leave the queue; True if it has. With a
        free slot that takes milliseconds, so a page can draw the job as running at once."""
        return self._state != "created" and self._left_queue.wait(timeout)

    def join(self, timeout: float | None = None) -> None:
        if self._state != "created":
            self._done.wait(timeout)

    @property
    def running_thread(self) -> bool:
        """True while the job's work is not over (queued, training or finishing)."""
        return self._state != "created" and not self._done.is_set()

    def snapshot(self) -> Snapshot:
        m = self._metrics
        with m.lock:
            steps, epochs = tuple(m.steps), tuple(m.epochs)
            step, epoch, images, train_s = m.step, m.epoch, m.images, m.train_seconds
        now = self._finished_at or time.monotonic()
        elapsed = now - self._started_at if self._started_at else 0.0
        total = self.config.epochs * self.steps_per_epoch
        eta = None
        if self._state in ("running", "paused") and step:
            eta = (total - step) * train_s / step
        state = self._state
        if state == "running" and not self._resume.is_set():
            state = "paused"
        position = self.slots.position(self) if self.slots and state == "queued" else None
        return Snapshot(state=state, message=self._message, epoch=epoch,
                        epochs=self.config.epochs, step=step,
                        steps_per_epoch=self.steps_per_epoch,
                        images_per_second=images / train_s if train_s > 0 else 0.0,
                        elapsed_s=elapsed, eta_s=eta, queue_position=position,
                        device=device_name(self.device), steps=steps, epochs_done=epochs)

    # ---- the training thread ---------------------------------------------------------------
    def _run(self) -> None:
        try:
            if self.slots and not self.slots.acquire(self, self._should_stop):
                self._state = "stopped"
                return
            try:
                self._started_at = time.monotonic()
                self._state = "running"
                self._left_queue.set()
                self._train()
            finally:
                if self.slots:
                    self.slots.release(self)
        except Exception as exc:
            self._state = "failed"
            self._message = f"training failed: {type(exc).__name__}: {exc}"
        finally:
            self._finished_at = time.monotonic()
            self._left_queue.set()
            self._done.set()

    def _should_stop(self) -> bool:
        if time.monotonic() - self._last_seen > self.orphan_timeout_s:
            self.stop("stopped: the browser tab that started it is gone")
        return self._stop.is_set()

    def _wait_if_paused(self) -> bool:
        """Block while paused; True if it did (that time is not training time)."""
        paused = False
        while not self._resume.wait(0.2):
            paused = True
            self._should_stop()
        return paused

    def _train(self) -> None:
        cfg, device = self.config, self.device
        torch.manual_seed(cfg.seed)
        if device.type == "cuda":  # same seed, same curves: cuDNN may otherwise pick
            torch.backends.cudnn.deterministic = True  # kernels that add in any order
        model = build_model(self.spec).to(device)
        optimizer = make_optimizer(model, cfg)
        loss_fn = nn.CrossEntropyLoss()
        images, labels = self.splits.train_images, self.splits.train_labels
        if device.type != "cpu":
            # The uint8 digits are small (47 MB for all 60,000): copied over once, every
            # batch is then cut on the GPU instead of crossing the bus step by step.
            images, labels = images.to(device), labels.to(device)
        shuffler = torch.Generator().manual_seed(cfg.seed)
        tally = _StepTally(self._metrics, len(images), on_cpu=device.type == "cpu")
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            order = torch.randperm(len(images), generator=shuffler).to(device)
            tally.start_epoch(epoch)
            for start in range(0, len(images), cfg.batch_size):
                if not self._resume.is_set() or self._should_stop():
                    if failure := tally.read_back():  # publish the steps done so far
                        return self._fail(model, failure)
                    if self._wait_if_paused():
                        tally.restart_clock()
                    if self._should_stop():
                        return self._finish(model, "stopped")
                idx = order[start:start + cfg.batch_size]
                x, y = normalize(images[idx]), labels[idx]
                optimizer.zero_grad(set_to_none=True)
                logits = model(x)
                loss = loss_fn(logits, y)
                loss.backward()
                optimizer.step()
                tally.add(loss, logits, y)
                if tally.due() and (failure := tally.read_back()):
                    return self._fail(model, failure)
            if failure := tally.read_back():
                return self._fail(model, failure)
            val = evaluate(model, self.splits.val_images, self.splits.val_labels, device,
                           max_misclassified=0)
            with self._metrics.lock:
                self._metrics.epoch = epoch
                self._metrics.epochs.append(EpochPoint(epoch, *tally.epoch_means(),
                                                       val.loss, val.accuracy))
        self._finish(model, "finished")

    def _fail(self, model: nn.Module, message: str) -> None:
        self._message = message
        self._finish(model, "failed")

    def _finish(self, model: nn.Module, state: JobState) -> None:
        model = model.to("cpu").eval()
        self.model = model
        if state == "finished":
            self.evaluation = evaluate(model, self.splits.test_images, self.splits.test_labels)
            self._message = f"test accuracy {self.evaluation.accuracy:.2%}"
            if self.evaluation.accuracy < CHANCE_LEVEL:
                self._message += (": no better than guessing. The learning rate is probably "
                                  "too high (the units stopped responding) or far too low")
        self._state = state


class _StepTally:
    """The bookkeeping around the training steps: smoothed curves, the epoch's sums, the
    training clock, publishing to ``_Metrics`` and the check for a loss that blew up.

    On a GPU each step's loss and batch accuracy stay there until ``read_back``: copying a
    value to the CPU waits for every kernel queued so far, so doing it after each step would
    leave the GPU idle while Python prepares the next one (measured on an H100 with the seed
    ConvNet: 0.62 of a plain loop's speed when reading back every step). A read-back happens
    every ``read_back_steps`` steps or ``read_back_s`` seconds, before a pause or a stop, and
    at the end of each epoch. On the CPU nothing is queued: every step is read back.
    """

    read_back_steps = GPU_READ_BACK_STEPS
    read_back_s = GPU_READ_BACK_S

    def __init__(self, metrics: _Metrics, epoch_images: int, on_cpu: bool) -> None:
        self.metrics, self.epoch_images, self.on_cpu = metrics, epoch_images, on_cpu
        self.step = 0  # the last step read back
        self.taken = 0  # steps taken: the progress shown, also while a read-back is pending
        self.epoch = 0
        self.smoothed_loss: float | None = None
        self.smoothed_accuracy: float | None = None
        self.loss_sum = 0.0
        self.correct = 0
        self.seen = 0
        self.pending: list[tuple[torch.Tensor, torch.Tensor, int]] = []  # loss, correct, n
        self.clock = time.perf_counter()

    def start_epoch(self, epoch: int) -> None:
        self.epoch, self.loss_sum, self.correct, self.seen = epoch, 0.0, 0, 0
        self.restart_clock()

    def restart_clock(self) -> None:
        """Training time runs without gaps from step to step (publishing, waiting for the
        GIL and the loop itself included), so images/s is what the wall clock sees. Only
        validation between epochs and pauses are left out: the clock restarts after them."""
        self.clock = time.perf_counter()

    def add(self, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        # No more kernels than needed: on a small net a GPU step is mostly launch overhead.
        self.pending.append((loss.detach(), (logits.argmax(1) == labels).sum(), len(labels)))
        self.taken += 1
        self.metrics.step = self.taken  # one int: readers need no lock for it

    def due(self) -> bool:
        return self.on_cpu or len(self.pending) >= self.read_back_steps \
            or time.perf_counter() - self.clock >= self.read_back_s

    def read_back(self) -> str | None:
        """Publish the pending steps; the reason to stop if a loss is NaN or infinite."""
        if not self.pending:
            return None
        losses = torch.stack([loss for loss, _, _ in self.pending]).tolist()  # waits for the GPU
        corrects = torch.stack([correct for _, correct, _ in self.pending]).tolist()
        sizes = [n for _, _, n in self.pending]
        self.pending.clear()
        now = time.perf_counter()
        seconds = (now - self.clock) / len(sizes)  # shared out: the GPU ran them queued
        self.clock = now
        for loss, correct, n in zip(losses, corrects, sizes):
            if not math.isfinite(loss):
                return (f"the loss became {loss} at step {self.step + 1}: the learning rate "
                        "is probably too high; try 10 times lower")
            self.step += 1
            self.smoothed_loss = _smooth(self.smoothed_loss, loss)
            self.smoothed_accuracy = _smooth(self.smoothed_accuracy, correct / n)
            self.loss_sum += loss * n
            self.correct += correct
            self.seen += n
            point = StepPoint(self.step, self.epoch - 1 + self.seen / self.epoch_images, loss,
                              self.smoothed_loss, correct / n, self.smoothed_accuracy)
            self.metrics.add_step(point, images=n, seconds=seconds)
        return None

    def epoch_means(self) -> tuple[float, float]:
        """The epoch's mean training loss and accuracy."""
        return self.loss_sum / self.seen, self.correct / self.seen


def _smooth(previous: float | None, value: float) -> float:
    """Exponential moving average for the smoothed curves (the first value starts it)."""
    return value if previous is None else 0.95 * previous + 0.05 * value


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD with momentum, or Adam. Adam uses torch's fused kernel (one pass over all
    parameters instead of a loop of small ops): about 15 % faster per step for the seed
    ConvNet on a CPU, where its 3.1 M-weight linear layer makes the update step costly."""
    params = list(model.parameters())
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.learning_rate, momentum=cfg.momentum)
    fused = all(p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(params, lr=cfg.learning_rate, fused=fused or None)


def train_to_completion(spec: ArchitectureSpec, splits: MnistSplits,
                        config: TrainConfig | None = None) -> TrainingJob:
    """Run a training synchronously (scripts, tests, the Draw page's quick model)."""
    job = TrainingJob(spec, splits, config or TrainConfig())
    job.start()
    while job.running_thread:
        job.heartbeat()
        job.join(1.0)
    return job

