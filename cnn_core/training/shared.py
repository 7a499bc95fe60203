"""A training given instead of trained: the join of an identical request, and what it holds.

``join_or_start`` is what a runner calls for the Train page: with the conditions' key
(``sharing``) it follows a live training with that key (``FollowedTraining``), else replays a
finished run with it from the run store (``ReplayedTraining``), else starts the training and
makes it findable. Both satisfy the ``Training`` protocol, so the page follows them as it
follows its own; they only refuse to steer (that would change another student's net).
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from cnn_core.data.mnist import MnistSplits
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.runs import shares
from cnn_core.runs.recording import Recorder
from cnn_core.training import sharing
from cnn_core.training.evaluate import Evaluation
from cnn_core.training.protocol import Snapshot
from cnn_core.training.replay import NO_STEERING, count_request, replay_run
from cnn_core.training.trainer import TrainConfig

Start = Callable[[Callable[[], bool] | None], Any]  # owner_connected -> the started Training


class Holders:
    """Everyone a shared training is kept running for: it is orphaned only when all are gone."""

    def __init__(self, first: Callable[[], bool] | None) -> None:
        self._checks = [first] if first is not None else []
        self._lock = threading.Lock()

    def add(self, check: Callable[[], bool] | None) -> None:
        if check is not None:
            with self._lock:
                self._checks.append(check)

    def discard(self, check: Callable[[], bool] | None) -> None:
        with self._lock:
            if check in self._checks:
                self._checks.remove(check)

    def any_connected(self) -> bool:
        with self._lock:
            checks = list(self._checks)
        return any(check() for check in checks)


def join_or_start(start: Start, spec: ArchitectureSpec, splits: MnistSplits,
                  config: TrainConfig, device_type: str,
                  owner_connected: Callable[[], bool] | None, recorder: Recorder | None,
                  join: bool = True, threads: int | None = None) -> Any:
    """The training for this request: another's identical one when ``join`` and there is one,
    else ``start(owner_connected)``'s, recorded with its key for those who come later."""
    if not sharing.sharing_on():
        return start(owner_connected)
    key = sharing.share_key(sharing.conditions(spec, splits, config, device_type, threads))
    store = recorder.store if recorder is not None else None
    with sharing.LIVE.lock:  # thirty presses at once: one start, twenty-nine joins
        if join and (live := sharing.LIVE.find(key)) is not None:
            live.holders.add(owner_connected)
            return FollowedTraining(live, spec, splits, config, owner_connected, recorder,
                                    lambda: join_or_start(start, spec, splits, config,
                                                          device_type, owner_connected,
                                                          recorder, join, threads))
        if join and (run_id := sharing.find_finished(store, key)) is not None:
            replay = replay_run(store, run_id, spec, splits, config, recorder)
            if replay is not None:
                return replay
        holders = Holders(owner_connected)
        training = start(holders.any_connected)
        if recorder is not None:
            recorder.after_finish = lambda run_id, snap: _keep_key(store, run_id, key, snap)
        sharing.LIVE.add(key, training, holders)
        return training


def _keep_key(store: Any, run_id: int, key: str, snap: Snapshot) -> None:
    if store is not None and sharing.complete(snap):
        shares.keep_key(store, run_id, key)


class FollowedTraining:
    """Another session's live training, followed: its curves, then a copy of its model. If
    it is stopped or steered before the end, this request starts (or joins) its own."""

    def __init__(self, live: sharing.Live, spec: ArchitectureSpec, splits: MnistSplits,
                 config: TrainConfig, owner_connected: Callable[[], bool] | None,
                 recorder: Recorder | None, restart: Callable[[], Any]) -> None:
        self.spec, self.splits, self.config = spec, splits, config
        self.name = live.training.name
        self._live, self._source = live, live.training
        self._connected, self._recorder, self._restart = owner_connected, recorder, restart
        self._own: Any = None  # the training this request got after the source went astray
        self._stopped: Snapshot | None = None
        self._model: nn.Module | None = None
        self._counted = False
        self._lock = threading.RLock()

    # ---- what it holds ---------------------------------------------------------------------
    @property
    def note(self) -> str | None:
        if self._own is not None:
            return getattr(self._own, "note", None)
        run_id = getattr(self._source.recorder, "run_id", None)
        return sharing.note(self._live.started_at, run_id, live=True)

    @property
    def recorder(self) -> Recorder | None:
        return self._own.recorder if self._own is not None else self._recorder

    @property
    def device(self) -> torch.device | None:
        return self._current().device

    @property
    def model(self) -> nn.Module | None:
        if self._own is not None:
            return self._own.model
        if self._stopped is not None:
            return None
        with self._lock:  # its own copy: a page's hooks must not reach another session's net
            if self._model is None and self._source.model is not None:
                self._model = copy.deepcopy(self._source.model)
            return self._model

    @property
    def evaluation(self) -> Evaluation | None:
        return None if self._stopped is not None else self._current().evaluation

    def _current(self) -> Any:
        return self._own if self._own is not None else self._source

    # ---- following -------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        if self._stopped is not None:
            return self._stopped
        with self._lock:
            if self._own is None:
                snap = self._source.snapshot()
                if snap.state == "stopped" or sharing.steered(snap):
                    self._live.holders.discard(self._connected)
                    self._own = self._restart()  # theirs went astray: this request trains
                    return self._own.snapshot()
                run_id = getattr(self._source.recorder, "run_id", None)
                if not self._counted and run_id is not None:
                    self._counted = True
                    count_request(self._recorder, run_id)
                return snap
        return self._own.snapshot()

    def start(self) -> None:
        """Started already: the source is someone else's."""

    def stop(self, reason: str = "stopped by the user") -> None:
        """Stop following (the source trains on for the others); one's own: stop it."""
        if self._own is not None:
            return self._own.stop(reason)
        if self._stopped is None:
            self._live.holders.discard(self._connected)
            self._stopped = dataclasses.replace(self._source.snapshot(), state="stopped",
                                                message=reason, eta_s=None)

    def pause(self) -> None:
        if self._own is not None:
            self._own.pause()

    def resume(self) -> None:
        if self._own is not None:
            self._own.resume()

    def heartbeat(self) -> None:
        if self._stopped is None:
            self._current().heartbeat()  # the source lives on while anyone follows it

    def wait_until_started(self, timeout: float) -> bool:
        return self._current().wait_until_started(timeout)

    def join(self, timeout: float | None = None) -> None:
        if self._stopped is None:
            self._current().join(timeout)

    @property
    def running_thread(self) -> bool:
        return self._stopped is None and self._current().running_thread

    @property
    def learning_rate(self) -> float:
        return self._current().learning_rate

    def set_learning_rate(self, learning_rate: float) -> str | None:
        if self._own is not None:
            return self._own.set_learning_rate(learning_rate)
        return NO_STEERING

    def step_once(self) -> bool:
        return self._own.step_once() if self._own is not None else False

    def wait_until_held(self, timeout: float) -> bool:
        return self._own.wait_until_held(timeout) if self._own is not None else False
