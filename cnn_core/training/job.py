"""A training as a background job: queued for a slot, run on a worker thread, paused, stopped,
watched for an orphaned page, and read by anyone through consistent snapshots.

The job hands the epochs to the epoch driver (``cnn_core.training.driver``) and acts between
its steps: it pauses by not asking for the next step, stops by answering False, and steers
(``steering``). Controls are events checked after every step, so they take effect within one
batch; a paused job gives its slot to the next in the queue and queues again to resume. A
job stops itself when its owner is gone for ``orphan_timeout_s``: the owner is there while
``owner_connected()`` says so (the app passes its browser session's connection, which a
hidden tab keeps up), and for a while after each ``heartbeat()``. Readers (the page's live
chart, a script) call ``snapshot()`` and never touch the model.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable

import torch
from torch import nn

from cnn_core.data.mnist import MnistSplits
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.runs.recording import Recorder
from cnn_core.training.admission import Way, require, training_request
from cnn_core.training.budget import Limits, training_memory
from cnn_core.training.calibration import PaceMeter
from cnn_core.training.devices import device_name
from cnn_core.training.driver import EpochDriver
from cnn_core.training.evaluate import Evaluation, evaluate
from cnn_core.training.limits import ParkedOptimizer, RunClock, TimeLimit
from cnn_core.training.memory import return_freed_memory
from cnn_core.training.metrics import EpochPoint, LossDiverged, Metrics
from cnn_core.training.protocol import (
    ORPHAN_TIMEOUT_S,
    TAB_GONE,
    JobState,
    Snapshot,
    owner_gone,
)
from cnn_core.training.schedule import target_reached
from cnn_core.training.slots import TrainingSlots
from cnn_core.training.steering import Steering, Watch
from cnn_core.training.trainer import Step, TrainConfig, prepare, to_device, trained_model
from cnn_core.training.workers import ACTIVE, WORKERS

PAUSE_RELEASE_S = 180.0  # paused this long, the optimizer's state goes to disk until resumed
PAUSE_STOP_S = 900.0  # paused this long, it stops: what it still holds is another's turn
CHANCE_LEVEL = 0.2  # ten classes: guessing scores about 0.1

def active_jobs() -> list[TrainingJob]:
    """Every training of this process that is queued, running or paused (the teacher's view)."""
    return sorted(list(ACTIVE), key=lambda job: job.created_at)


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
        self._pace = PaceMeter(report, config.batch_size)  # for the next estimate
        self.pause_release_s = pause_release_s
        self.pause_stop_s = pause_stop_s
        self._parked = ParkedOptimizer()  # long paused: the optimizer's state on disk
        self._clock = RunClock()
        self._time = TimeLimit(self.limits.seconds, config.epochs, self._clock)
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
        self.steps_per_epoch = math.ceil(len(splits.train_images) / config.batch_size)
        self._steering = Steering(config, self.steps_per_epoch)
        self._driver: EpochDriver | None = None  # while training
        self._watch: Watch | None = None
        self._before: nn.Module | None = None  # the model before a one step, to compare with

    # ---- controls (any thread) -------------------------------------------------------------
    def start(self) -> None:
        if self._state == "created":
            self._state = "queued"
            ACTIVE.add(self)
            if self.slots:
                self.slots.enqueue(self)
            WORKERS.submit(self._run)

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
        return self._steering.set_learning_rate(learning_rate)

    @property
    def learning_rate(self) -> float:
        """The rate the next step will use."""
        return self._steering.learning_rate

    def step_once(self) -> bool:
        """While paused: train exactly one batch, then stay paused. False (and nothing
        happens) unless the job is paused and holding between two steps."""
        if not self._steering.holding.is_set():
            return False
        self._steering.one_step.set()
        return True

    def wait_until_held(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) for a paused job to finish its step in flight."""
        return self._steering.holding.wait(timeout)

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
                        device=device_name(self.device), notice=self._time.notice,
                        steps=steps, epochs_done=epochs, **self._steering.published())

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
            # the optimizer's state (Adam: two copies of the weights) and the digits are done
            self.optimizer = self._driver = self._watch = self._before = None
            self._steering.schedule = None  # it holds the optimizer too
            self._parked.drop()
            return_freed_memory()  # the optimizer's state and the activations are gone now
            self._finished_at = time.monotonic()
            ACTIVE.discard(self)
            if self.recorder:  # before _done: whoever joins the job finds its run recorded
                self.recorder.finish(self.snapshot(), self.evaluation, self.model,
                                     self._epoch_seconds)
            self._left_queue.set()
            self._done.set()

    def _should_stop(self) -> bool:
        if owner_gone(self.owner_connected, self.heartbeat, self._last_seen,
                      self.orphan_timeout_s):
            self.stop(TAB_GONE)
        return self._stop.is_set()

    def _train(self) -> None:
        model, optimizer = prepare(self.spec, self.config, self.device)
        self.optimizer = optimizer
        train = to_device(self.splits.train_images, self.splits.train_labels, self.device)
        self._driver = EpochDriver(model, optimizer, self.config, train,
                                   (self.splits.val_images, self.splits.val_labels),
                                   self._metrics, self._time)
        self._watch = Watch(model, self.splits.val_images, self.device,
                            self._steering.add_view)
        self._steering.schedule = self._driver.schedule
        try:
            ended = self._driver.run(self._after_step, self._after_epoch)
        except LossDiverged as exc:
            self._message = str(exc)
            return self._finish(model, "failed")
        if ended == "out of time":  # cut short by its time limit, it is still a trained net
            self._out_of_time = self._time.reason
            self.stop(self._out_of_time)
        # at its target accuracy it stopped early as asked: a finished training
        self._finish(model, "stopped" if ended == "stopped" and not self._out_of_time
                     else "finished")

    def _after_epoch(self, point: EpochPoint) -> bool:
        self._epoch_seconds.append(time.monotonic() - (self._started_at or 0.0))
        self._watch.take(self._driver.tally.taken, float(point.epoch), epoch_end=True)
        if reason := target_reached(self.config.stop_at_accuracy, point.val_accuracy,
                                    point.epoch):
            self._out_of_time = reason  # the reason it ended early, in its message
            return False
        return True

    def _after_step(self, step: Step) -> bool:
        """Between two steps: the one step's result, the learning view, a pause or a stop,
        and a new learning rate. False to stop."""
        taken, model = self._driver.tally.taken, self._driver.model
        self._pace.observe(self._clock.seconds, taken, step.ends_epoch)
        if self._before is not None:
            self._steering.record_one_step(self._before, model, step, self._metrics.step)
            self._before = None
        if not step.ends_epoch:
            self._watch.take(taken, taken / step.steps_in_epoch)
        if not self._resume.is_set() or self._should_stop():
            self._driver.tally.read_back()  # publish the steps done so far
            if not self._hold_while_paused():
                return False
            if self._steering.one_step.is_set():
                self._steering.one_step.clear()
                self._before = copy.deepcopy(model)
        self._steering.apply_pending_lr(self._driver.optimizer, taken + 1)
        return True

    def _hold_while_paused(self) -> bool:
        """Wait while paused (not asking the loop for the next step), with the slot handed
        to the next in the queue; then queue again for one. Asked for one step, it returns
        still paused and without a slot: one batch takes milliseconds. False to stop."""
        if self._resume.is_set():
            return not self._should_stop()
        self._clock.halt()  # a pause is not training time
        if self.slots:  # a paused tab must not hold the class's only slot, only its memory
            self.slots.release(self, keep=self.memory)
        self._steering.holding.set()
        paused_at = time.monotonic()
        while not self._resume.wait(0.05) and not self._steering.one_step.is_set():
            self._should_stop()
            paused_for = time.monotonic() - paused_at
            if paused_for > self.pause_release_s:
                self._park()
            if paused_for > self.pause_stop_s:  # its memory is the next student's
                self.stop(f"stopped: paused for more than {self.pause_stop_s / 60:.0f} min")
        self._steering.holding.clear()
        if self.slots and self._resume.is_set() and not self._should_stop():
            self._state = "queued"
            acquired = self.slots.acquire(self, self._should_stop, self.memory)
            self._state = "running"
            if not acquired:
                return False
        self._parked.restore(self.optimizer)
        self._clock.go()
        self._driver.tally.restart_clock()
        return not self._should_stop()

    def _park(self) -> None:
        if self.optimizer is not None and self._parked.park(self.optimizer):
            return_freed_memory()
            if self.slots:
                self.slots.hold(self, self.memory // 4)  # about the weights and the digits

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
