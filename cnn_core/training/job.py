"""A training as a background job: queued for a slot, run on a worker thread, paused, stopped,
watched for an orphaned page, and read by anyone through consistent snapshots.

The job drives the one training loop (``cnn_core.training.trainer.train_steps``): it pauses by not
asking for the next step, stops by closing the loop, and hands each step to the bookkeeping
(``cnn_core.training.metrics``). Controls are events checked after every step, so they take effect
within one batch; a paused job gives its slot to the next in the queue and queues again to
resume. A job stops itself when its owner is gone for ``orphan_timeout_s``: the owner is
there while ``owner_connected()`` says so (the app passes its browser session's connection,
which a hidden tab keeps up), and for a while after each ``heartbeat()``. Readers (the
page's live chart, a script) call ``snapshot()`` and never touch the model.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import dataclasses
import math
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable

import torch
from torch import nn

from cnn_core.data.mnist import MnistSplits
from cnn_core.design.report import NetworkReport
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.explain.learning_view import EVERY_S, KernelView, first_conv, fixed_digit, take_view
from cnn_core.runs.recording import Recorder
from cnn_core.training.admission import TrainingRequest, Way, require
from cnn_core.training.budget import Limits, training_memory
from cnn_core.training.devices import device_name
from cnn_core.training.evaluate import Evaluation, evaluate
from cnn_core.training.limits import ParkedOptimizer, RunClock, forecast, over_time
from cnn_core.training.memory import return_freed_memory
from cnn_core.training.metrics import EpochPoint, LossDiverged, Metrics, StepTally
from cnn_core.training.protocol import (
    ORPHAN_TIMEOUT_S,
    JobState,
    LrChange,
    OneStep,
    Snapshot,
)
from cnn_core.training.slots import TrainingSlots
from cnn_core.training.trainer import (
    Step,
    TrainConfig,
    prepare,
    to_device,
    train_steps,
    trained_model,
)

PAUSE_RELEASE_S = 180.0  # paused this long, the optimizer's state goes to disk until resumed
PAUSE_STOP_S = 900.0  # paused this long, it stops: what it still holds is another's turn
CHANCE_LEVEL = 0.2  # ten classes: guessing scores about 0.1
TRAINING_NICE = 10  # Linux nice value of the training threads: pages and drawings go first


class _Workers:
    """Daemon threads that run trainings and are reused: a thread that has trained before has
    its OpenMP team warm. A new thread starts only when none is idle, so a job never waits
    behind another; daemon, so a server can always exit."""

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
        lower_priority()  # before this thread's first parallel op: its OpenMP team inherits it
        while True:
            task = self._tasks.get()
            try:
                task()
            finally:
                del task  # an idle worker must not keep its last training's model alive
                with self._lock:
                    self._idle += 1


_WORKERS = _Workers()
_ACTIVE: weakref.WeakSet[TrainingJob] = weakref.WeakSet()  # started and not yet over


def lower_priority() -> None:
    """Run the calling thread at ``TRAINING_NICE``: a training then takes only the CPU that
    students' clicks and drawings leave, and still all of it when nobody else needs any."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux, or not allowed: as is
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), TRAINING_NICE)


def active_jobs() -> list[TrainingJob]:
    """Every training of this process that is queued, running or paused (the teacher's view)."""
    return sorted(list(_ACTIVE), key=lambda job: job.created_at)


@atexit.register
def _stop_every_training() -> None:
    """Stop and wait for the trainings still running when the process exits: a daemon thread
    cut off inside torch's C++ aborts the interpreter ("terminate called without an active
    exception")."""
    for job in active_jobs():
        job.stop("the server shut down before the training finished")
    for job in active_jobs():
        job.join(timeout=10)


class TrainingJob:
    """One training of one design, run on one of the worker threads.

    Lifecycle: created → queued (waiting for a slot) → running ⇄ paused → finished, stopped
    or failed. After ``finished``, ``model`` holds the trained network (on the CPU, in eval
    mode) and ``evaluation`` its test results.
    """

    def __init__(self, spec: ArchitectureSpec, splits: MnistSplits, config: TrainConfig,
                 slots: TrainingSlots | None = None, name: str = "Custom",
                 orphan_timeout_s: float = ORPHAN_TIMEOUT_S,
                 owner_connected: Callable[[], bool] | None = None,
                 recorder: Recorder | None = None, way: Way = Way.SCRIPT,
                 pause_release_s: float = PAUSE_RELEASE_S,
                 pause_stop_s: float = PAUSE_STOP_S) -> None:
        self.device = config.resolved_device()
        self.limits = Limits.from_env()
        # What takes a shared server down: no way of starting a training skips this check.
        report = analyze(spec)
        require(training_request(way, report, config, splits), self.limits)
        self.memory = training_memory(report, config.batch_size, config.optimizer).total
        self.pause_release_s = pause_release_s
        self.pause_stop_s = pause_stop_s
        self._parked = ParkedOptimizer()  # long paused: the optimizer's state on disk
        self._clock = RunClock()
        self._notice = ""
        self._out_of_time: str | None = None  # why it stopped early, with a model to test
        self.spec, self.splits, self.config, self.name = spec, splits, config, name
        self.slots = slots
        self.orphan_timeout_s = orphan_timeout_s
        self.owner_connected = owner_connected
        self.recorder = recorder  # keeps the run in the run store, when there is one
        self._epoch_seconds: list[float] = []  # when each epoch ended, for the run's curves
        self.model: nn.Module | None = None
        self.evaluation: Evaluation | None = None
        self._metrics = Metrics()
        self._state: JobState = "created"
        self._message = ""
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._last_seen = self.created_at = time.monotonic()
        self._started_at: float | None = None
        self._finished_at: float | None = None
        self._done = threading.Event()
        self._left_queue = threading.Event()  # running, or over without ever running
        self.optimizer: torch.optim.Optimizer | None = None  # while training
        self._pending_lr: float | None = None
        self._one_step = threading.Event()
        self._holding = threading.Event()  # paused, between two steps
        self._steer_lock = threading.Lock()  # lr changes, one steps and views
        self._lr_changes: list[LrChange] = []
        self._one_steps: list[OneStep] = []
        self._views: list[KernelView] = []
        self._latest_view: KernelView | None = None
        self.steps_per_epoch = math.ceil(len(splits.train_images) / config.batch_size)

    # ---- controls (any thread) -------------------------------------------------------------
    def start(self) -> None:
        if self._state == "created":
            self._state = "queued"
            _ACTIVE.add(self)
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
        with self._steer_lock:
            changes = self._lr_changes[-1:]
        pending = self._pending_lr
        if pending is not None:
            return pending
        return changes[0].learning_rate if changes else self.config.learning_rate

    def step_once(self) -> bool:
        """While paused: train exactly one batch, then stay paused. False (and nothing
        happens) unless the job is paused and holding between two steps."""
        if not self._holding.is_set():
            return False
        self._one_step.set()
        return True

    def wait_until_held(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) for a paused job to finish its step in flight."""
        return self._holding.wait(timeout)

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
                        device=device_name(self.device), notice=self._notice,
                        steps=steps, epochs_done=epochs,
                        **self._steering())

    def _steering(self) -> dict:
        with self._steer_lock:
            return {"lr_changes": tuple(self._lr_changes), "one_steps": tuple(self._one_steps),
                    "views": tuple(self._views), "latest_view": self._latest_view}

    # ---- the worker thread -----------------------------------------------------------------
    def _run(self) -> None:
        try:
            if self.slots and not self.slots.acquire(self, self._should_stop, self.memory):
                self._state = "stopped"
                return
            try:
                self._started_at = time.monotonic()
                self._clock.go()
                self._state = "running"
                self._left_queue.set()
                if self.recorder:
                    self.recorder.begin(self.spec, self.splits, self.config,
                                        device_name(self.device), self.name)
                self._train()
            finally:
                if self.slots:
                    self.slots.release(self)
        except Exception as exc:
            self._state = "failed"
            self._message = f"training failed: {type(exc).__name__}: {exc}"
        finally:
            self.optimizer = None  # its state (Adam: two copies of the weights) is done with
            self._parked.drop()
            return_freed_memory()  # the optimizer's state and the activations are gone now
            self._finished_at = time.monotonic()
            _ACTIVE.discard(self)
            if self.recorder:  # before _done: whoever joins the job finds its run recorded
                self.recorder.finish(self.snapshot(), self.evaluation, self.model,
                                     self._epoch_seconds)
            self._left_queue.set()
            self._done.set()

    def _should_stop(self) -> bool:
        if self.owner_connected is not None and self.owner_connected():
            self.heartbeat()
        if time.monotonic() - self._last_seen > self.orphan_timeout_s:
            self.stop("stopped: the browser tab that started it is gone")
        return self._stop.is_set()

    def _train(self) -> None:
        model, optimizer = prepare(self.spec, self.config, self.device)
        self.optimizer = optimizer
        images, labels = to_device(self.splits.train_images, self.splits.train_labels,
                                   self.device)
        tally = StepTally(self._metrics, len(images), on_cpu=self.device.type == "cpu")
        watch = _Watch(model, self.splits.val_images, self.device, self._add_view)
        steps = train_steps(model, optimizer, images, labels, self.config)
        before: nn.Module | None = None  # the model before a one step, to compare with
        try:
            for step in steps:
                if step.index == 1:
                    tally.start_epoch(step.epoch)
                tally.add(step.loss, step.logits, step.labels)
                if before is not None:
                    self._record_one_step(before, model, step)
                    before = None
                taken = tally.taken
                if step.ends_epoch:
                    tally.read_back()
                    watch.take(taken, float(step.epoch), epoch_end=True)
                    self._validate(model, step.epoch, tally)
                else:
                    watch.take(taken, taken / step.steps_in_epoch)
                    if tally.due():
                        tally.read_back()
                self._watch_the_clock(step, taken)
                if not self._resume.is_set() or self._should_stop():
                    tally.read_back()  # publish the steps done so far
                    if not self._hold_while_paused(tally):
                        # cut short by its time limit, it is still a trained net: test it
                        return self._finish(model, "finished" if self._out_of_time
                                            else "stopped")
                    if self._one_step.is_set():
                        self._one_step.clear()
                        before = copy.deepcopy(model)
                self._apply_pending_lr(optimizer, taken + 1)
        except LossDiverged as exc:
            self._message = str(exc)
            return self._finish(model, "failed")
        finally:
            steps.close()
        self._finish(model, "finished")

    def _validate(self, model: nn.Module, epoch: int, tally: StepTally) -> None:
        val = evaluate(model, self.splits.val_images, self.splits.val_labels, self.device,
                       max_misclassified=0)
        self._metrics.add_epoch(EpochPoint(epoch, *tally.epoch_means(), val.loss,
                                           val.accuracy))
        self._epoch_seconds.append(time.monotonic() - (self._started_at or 0.0))
        tally.restart_clock()  # validation is not training time

    def _hold_while_paused(self, tally: StepTally) -> bool:
        """Wait while paused (not asking the loop for the next step), with the slot handed
        to the next in the queue; then queue again for one. Asked for one step, it returns
        still paused and without a slot: one batch takes milliseconds. False to stop."""
        if self._resume.is_set():
            return not self._should_stop()
        self._clock.halt()  # a pause is not training time
        if self.slots:  # a paused tab must not hold the class's only slot, only its memory
            self.slots.release(self, keep=self.memory)
        self._holding.set()
        paused_at = time.monotonic()
        while not self._resume.wait(0.05) and not self._one_step.is_set():
            self._should_stop()
            paused_for = time.monotonic() - paused_at
            if paused_for > self.pause_release_s:
                self._park()
            if paused_for > self.pause_stop_s:  # its memory is the next student's
                self.stop(f"stopped: paused for more than {self.pause_stop_s / 60:.0f} min")
        self._holding.clear()
        if self.slots and self._resume.is_set() and not self._should_stop():
            self._state = "queued"
            acquired = self.slots.acquire(self, self._should_stop, self.memory)
            self._state = "running"
            if not acquired:
                return False
        self._parked.restore(self.optimizer)
        self._clock.go()
        tally.restart_clock()
        return not self._should_stop()

    def _watch_the_clock(self, step: Step, taken: int) -> None:
        """Stop at the time limit; and say early, once, when the epochs will not fit it."""
        seconds, limit, epochs = self._clock.seconds, self.limits.seconds, self.config.epochs
        if reason := over_time(seconds, limit, taken / step.steps_in_epoch, epochs):
            self._out_of_time = reason
            self.stop(reason)
        elif not self._notice:
            self._notice = forecast(seconds, taken, step.steps_in_epoch, epochs, limit) or ""

    def _park(self) -> None:
        if self.optimizer is not None and self._parked.park(self.optimizer):
            return_freed_memory()
            if self.slots:
                self.slots.hold(self, self.memory // 4)  # about the weights and the digits

    def _apply_pending_lr(self, optimizer: torch.optim.Optimizer, next_step: int) -> None:
        """A new learning rate reaches the optimizer before the step it was asked for."""
        learning_rate, self._pending_lr = self._pending_lr, None
        if learning_rate is None:
            return
        for group in optimizer.param_groups:
            group["lr"] = learning_rate
        change = LrChange(next_step, (next_step - 1) / self.steps_per_epoch, learning_rate)
        with self._steer_lock:
            self._lr_changes.append(change)

    @torch.no_grad()
    def _record_one_step(self, before: nn.Module, after: nn.Module, step: Step) -> None:
        losses = []
        for model in (before, after):
            was_training = model.training
            model.eval()
            losses.append(nn.functional.cross_entropy(model(step.inputs), step.labels).item())
            model.train(was_training)
        with self._steer_lock:
            self._one_steps.append(OneStep(self._metrics.step, *losses))

    def _add_view(self, view: KernelView, keep: bool) -> None:
        with self._steer_lock:
            self._latest_view = view
            if keep:
                self._views.append(view)

    def _finish(self, model: nn.Module, state: JobState) -> None:
        self.model = model = trained_model(model)
        if state == "finished":
            self.evaluation = evaluate(model, self.splits.test_images, self.splits.test_labels)
            self._message = f"test accuracy {self.evaluation.accuracy:.2%}"
            if self._out_of_time:
                self._message += f", {self._out_of_time}"
            if self.evaluation.accuracy < CHANCE_LEVEL:
                self._message += (": no better than guessing. The learning rate is probably "
                                  "too high (the units stopped responding) or far too low")
        self._state = state


class _Watch:
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


def training_request(way: Way, report: NetworkReport, config: TrainConfig,
                     splits: MnistSplits) -> TrainingRequest:
    """What ``admit`` needs to know of a training on ``splits``."""
    return TrainingRequest(way, report, config.batch_size, config.optimizer, config.epochs,
                           len(splits.train_images), splits.info)


def train_to_completion(spec: ArchitectureSpec, splits: MnistSplits,
                        config: TrainConfig | None = None,
                        recorder: Recorder | None = None,
                        way: Way = Way.SCRIPT) -> TrainingJob:
    """Run a training synchronously (scripts, tests, the Draw page's quick model)."""
    job = TrainingJob(spec, splits, config or TrainConfig(), recorder=recorder, way=way)
    job.start()
    while job.running_thread:
        job.heartbeat()
        job.join(1.0)
    return job
