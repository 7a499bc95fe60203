"""A finished run given to an identical request: its recorded curves replayed at their own
pace (or skipped to the end), then its weights, tested again on the request's test set.

``replay_run`` makes one from the run store; ``count_request`` records, on the run, that a
request was answered with it (``cnn_core.runs.shares``).
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from typing import Any

import torch
from torch import nn

from cnn_core.data.mnist import MnistSplits
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.runs import shares
from cnn_core.runs.recording import Recorder
from cnn_core.runs.records import RunRecord
from cnn_core.training import sharing
from cnn_core.training.evaluate import Evaluation
from cnn_core.training.protocol import Snapshot
from cnn_core.training.trainer import TrainConfig

NO_STEERING = ("this training is shared with others who asked for the same one: change the "
               "seed, or tick \"Train it anyway\", to train and steer your own")


def count_request(recorder: Recorder | None, run_id: int) -> None:
    """Record the request on the run, within the recorder's no-failure promise."""
    if recorder is None or recorder.store is None:
        return
    recorder.run_id = run_id  # the page's links and "Mine" name the run that trained it
    try:
        shares.add_requester(recorder.store, run_id, recorder.owner_token)
    except Exception as exc:  # a store that fails never stops a training, nor a share
        recorder.problem = f"{recorder.problem or ''} the share was not recorded: {exc}".strip()


def replay_run(store: Any, run_id: int, spec: ArchitectureSpec, splits: MnistSplits,
               config: TrainConfig, recorder: Recorder | None) -> ReplayedTraining | None:
    """A finished run replayed, or None when its record or weights cannot be read (it
    trains again instead)."""
    from cnn_core.runs.files import run_model

    try:
        record = store.get(run_id)
        model = run_model(store, run_id)
    except Exception:  # gone, damaged or capped since the lookup: train instead
        return None
    count_request(recorder, run_id)
    return ReplayedTraining(record, model, spec, splits, config, recorder)


class ReplayedTraining:
    """A finished run's recorded curves, replayed at the pace they were recorded (or skipped
    to the end), then its weights, tested again on this request's (identical) test set."""

    def __init__(self, record: RunRecord, model: nn.Module, spec: ArchitectureSpec,
                 splits: MnistSplits, config: TrainConfig, recorder: Recorder | None) -> None:
        from cnn_core.training.metrics import EpochPoint, StepPoint

        self.spec, self.splits, self.config, self.recorder = spec, splits, config, recorder
        self.name, self.device = record.name, torch.device("cpu")
        self.record, self.note = record, sharing.note(record.started_at, record.id, live=False)
        self._trained = model
        self._evaluation: Evaluation | None = None
        self._steps = [StepPoint(**{f: p[f] for f in StepPoint.__dataclass_fields__ if f in p})
                       for p in record.steps if _complete(p, StepPoint)]
        self._epochs = [EpochPoint(**{f: e[f] for f in EpochPoint.__dataclass_fields__})
                        for e in record.epochs if _complete(e, EpochPoint)]
        last = record.epochs[-1].get("elapsed_s") if record.epochs else None
        self.duration_s = max(float(record.duration_s or last or 0.0), 0.0)
        self._knots = [(0.0, 0.0)] + [(float(e.get("epoch", i + 1)), float(e["elapsed_s"]))
                                      for i, e in enumerate(record.epochs)
                                      if e.get("elapsed_s") is not None]
        self._played, self._since = 0.0, time.monotonic()  # seconds shown before _since
        self._paused = False
        self._stopped: str | None = None
        self._over = threading.Event()
        self._lock = threading.Lock()

    def _clock(self) -> float:
        with self._lock:
            moving = 0.0 if self._paused else time.monotonic() - self._since
            return min(self.duration_s, self._played + moving)

    def _time_at(self, epoch: float) -> float:
        """When the original training reached ``epoch``: between its epochs' recorded ends."""
        knots = self._knots
        if len(knots) < 2:
            return self.duration_s * epoch / max(self.config.epochs, 1)
        for (e0, t0), (e1, t1) in itertools.pairwise(knots):
            if epoch <= e1:
                return t0 + (t1 - t0) * (epoch - e0) / max(e1 - e0, 1e-9)
        return knots[-1][1]

    def skip_to_end(self) -> None:
        """The "Skip to the end" button: the whole curves and the model, now."""
        with self._lock:
            self._played, self._since = self.duration_s, time.monotonic()
        self._over.set()

    @property
    def over(self) -> bool:
        if self._stopped is None and self._clock() >= self.duration_s:
            self._over.set()
        return self._over.is_set()

    @property
    def model(self) -> nn.Module | None:
        return self._trained if self.over and self._stopped is None else None

    @property
    def evaluation(self) -> Evaluation | None:
        if self.model is None:
            return None
        from cnn_core.training.evaluate import evaluate

        with self._lock:  # the same net on the same test set: the recorded results, in full
            if self._evaluation is None:
                self._evaluation = evaluate(self._trained, self.splits.test_images,
                                            self.splits.test_labels)
            return self._evaluation

    def snapshot(self) -> Snapshot:
        now = self._clock()
        over = self.over
        steps = tuple(p for p in self._steps if over or self._time_at(p.epoch) <= now)
        epochs = tuple(e for e in self._epochs if over or self._time_at(e.epoch) <= now)
        state = ("stopped" if self._stopped else "finished" if over
                 else "paused" if self._paused else "running")
        message = self._stopped or (self.record.message if over else "")
        per_epoch = -(-self.record.train_size // self.config.batch_size)
        return Snapshot(state=state, message=message, epoch=len(epochs),
                        epochs=self.config.epochs, step=steps[-1].step if steps else 0,
                        steps_per_epoch=per_epoch,
                        images_per_second=self.record.images_per_s or 0.0, elapsed_s=now,
                        eta_s=None if over else self.duration_s - now, queue_position=None,
                        device=self.record.device, steps=steps, epochs_done=epochs)

    def start(self) -> None:
        """It plays from the moment it is made."""

    def pause(self) -> None:
        with self._lock:
            if not self._paused:
                self._played += time.monotonic() - self._since
                self._paused = True

    def resume(self) -> None:
        with self._lock:
            if self._paused:
                self._since, self._paused = time.monotonic(), False

    def stop(self, reason: str = "stopped by the user") -> None:
        if not self.over:
            self._stopped = reason
            self._over.set()

    def heartbeat(self) -> None:
        """Nothing runs on the server to keep alive."""

    def wait_until_started(self, timeout: float) -> bool:
        return True

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.over:
            left = self.duration_s - self._clock()
            if deadline is not None:
                left = min(left, deadline - time.monotonic())
                if left <= 0:
                    return
            self._over.wait(max(0.01, min(left, 0.5)))  # a pause stretches the replay

    @property
    def running_thread(self) -> bool:
        return not self.over

    @property
    def learning_rate(self) -> float:
        return self.config.learning_rate

    def set_learning_rate(self, learning_rate: float) -> str | None:
        return NO_STEERING

    def step_once(self) -> bool:
        return False

    def wait_until_held(self, timeout: float) -> bool:
        return False


def _complete(point: dict[str, Any], kind: type) -> bool:
    """A recorded point with every field a number (a NaN loss was stored as null)."""
    return all(isinstance(point.get(f), (int, float)) for f, spec in
               kind.__dataclass_fields__.items() if spec.default is dataclasses.MISSING)
