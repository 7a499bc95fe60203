"""Trainings on a Ray cluster: each in an actor of its own, followed from the app's process.

The app only connects to a running cluster (``ray start --head`` on one machine,
``ray start --address HEAD:6379`` on the others), once per process. Each training is a
``TrainingActor`` (``cnn_core.training.ray_worker``) holding a ``TrainingJob`` on a worker, with its
own CPUs (and GPU share); ``RayTraining`` here, the job the page holds, satisfies the same
``protocol.Training``: it polls the actor for a ``Snapshot`` a few times a second,
forwards pause, resume, stop and steering, watches for an orphaned page, and when the
training is over brings back the trained weights. A worker that dies, or stops answering,
turns the training "failed" within seconds.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import ray
import torch
from ray.exceptions import GetTimeoutError, RayActorError, RayError, RayTaskError
from torch import nn

from cnn_core.data.mnist import MnistSplits
from cnn_core.design.build import build_model
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.runs.recording import Recorder
from cnn_core.training.admission import Way, require, training_request
from cnn_core.training.evaluate import Evaluation
from cnn_core.training.protocol import (
    ACTIVE_STATES,
    ORPHAN_TIMEOUT_S,
    TAB_GONE,
    JobState,
    RunnerError,
    Snapshot,
    Training,
    owner_gone,
)
from cnn_core.training.ray_worker import TrainingActor
from cnn_core.training.shared import join_or_start
from cnn_core.training.slots import TrainingSlots
from cnn_core.training.trainer import TrainConfig

CPUS_ENV = "CNN_EXPLAINER_RAY_CPUS"  # CPUs each training reserves (default 1)
GPUS_ENV = "CNN_EXPLAINER_RAY_GPUS"  # GPU share each training reserves (default 0; 0.25 fits 4)
KEPT_DATASETS = 2  # datasets kept in the object store for the next trainings
POLL_S = 0.25  # how often the page's copy of the progress is refreshed
LOST_AFTER_S = 5.0  # a worker that does not answer for this long is lost
LOST_MESSAGE = "training failed: the worker was lost"
CNN_CORE = Path(__file__).resolve().parents[1]

_connect_lock = threading.Lock()


def connect(address: str) -> None:
    """Join the cluster at ``address`` once per process (never start one); ``RunnerError``
    when it cannot be reached. Workers get this ``cnn_core`` with every training."""
    with _connect_lock:
        if ray.is_initialized():
            return
        try:
            ray.init(address=address, ignore_reinit_error=True, logging_level=logging.WARNING,
                     log_to_driver=False, runtime_env={"py_modules": [str(CNN_CORE)]})
        except (ConnectionError, RuntimeError, ValueError) as exc:
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise RunnerError(f"cannot reach the Ray cluster at {address}: {first_line}") \
                from exc


def _resource(env: str, default: float) -> float:
    try:
        value = float(os.environ.get(env, default))
    except ValueError:
        return default
    return value if math.isfinite(value) and value >= 0 else default


class RayRunner:
    """Starts each training in a ``TrainingActor`` on the cluster at ``address``."""

    def __init__(self, address: str) -> None:
        connect(address)
        self.where = f"the Ray cluster at {address}"
        self.cpus = _resource(CPUS_ENV, 1.0) or 1.0
        self.gpus = _resource(GPUS_ENV, 0.0)
        room = int(ray.cluster_resources().get("CPU", 1) // self.cpus)
        self.slots = TrainingSlots(limit=max(1, room))
        self._actor_class = ray.remote(TrainingActor)
        self._shared: dict[int, tuple[MnistSplits, ray.ObjectRef]] = {}
        self._lock = threading.Lock()

    def digits_ref(self, splits: MnistSplits) -> ray.ObjectRef:
        """The digits in the cluster's object store, put there once per ``splits``. Only the
        latest few stay referenced: an actor holds its own ref, so dropping ours lets Ray free
        a dataset once no training uses it (the class set changes with every drawing)."""
        with self._lock:
            if id(splits) not in self._shared:
                while len(self._shared) >= KEPT_DATASETS:
                    self._shared.pop(next(iter(self._shared)))
                self._shared[id(splits)] = (splits, ray.put(splits))
            return self._shared[id(splits)][1]

    def new_actor(self, spec: ArchitectureSpec, splits: MnistSplits, config: TrainConfig,
                  name: str):
        return self._actor_class.options(num_cpus=self.cpus, num_gpus=self.gpus).remote(
            spec, self.digits_ref(splits), config, name)

    def start(self, spec: ArchitectureSpec, splits: MnistSplits, config: TrainConfig,
              name: str = "Custom", orphan_timeout_s: float = ORPHAN_TIMEOUT_S,
              owner_connected: Callable[[], bool] | None = None,
              recorder: Recorder | None = None, way: Way = Way.RAY, share: bool = False,
              join: bool = True) -> Training:
        # Checked here, before anything reaches the cluster; the worker checks again.
        require(training_request(Way.RAY, analyze(spec), config, splits))

        def start(connected: Callable[[], bool] | None) -> RayTraining:
            training = RayTraining(self, spec, splits, config, name, orphan_timeout_s,
                                   connected, recorder)
            training.start()
            return training

        if not share:
            return start(owner_connected)
        # the same lookup as this server's: a worker's device type and CPUs are the runner's
        device_type = f"ray-{'cuda' if self.gpus else 'cpu'}"
        return join_or_start(start, spec, splits, config, device_type, owner_connected,
                             recorder, join, threads=int(self.cpus))


class RayTraining:
    """The app's side of a training on a Ray worker; the same controls and snapshots as
    ``TrainingJob``, which runs on the worker. Its follower thread queues for a slot,
    creates the actor, polls it and, at the end, brings the model back."""

    def __init__(self, runner: RayRunner, spec: ArchitectureSpec, splits: MnistSplits,
                 config: TrainConfig, name: str = "Custom",
                 orphan_timeout_s: float = ORPHAN_TIMEOUT_S,
                 owner_connected: Callable[[], bool] | None = None,
                 recorder: Recorder | None = None) -> None:
        problems = config.check()  # the device is resolved on the worker
        if problems:
            raise ValueError("; ".join(problems))
        self.runner, self.spec, self.splits, self.config, self.name = (
            runner, spec, splits, config, name)
        self.orphan_timeout_s = orphan_timeout_s
        self.owner_connected, self.recorder = owner_connected, recorder
        self.model: nn.Module | None = None
        self.evaluation: Evaluation | None = None
        self.device: torch.device | None = None  # the worker's, once it has started
        self.worker_pid: int | None = None  # on the worker's machine
        self._asked_lr: float | None = None  # the latest learning rate asked for
        self._steer_lock = threading.Lock()  # one asked for before the worker starts is sent
        self.steps_per_epoch = math.ceil(len(splits.train_images) / config.batch_size)
        self._actor = None
        self._snap = Snapshot(state="created", message="", epoch=0, epochs=config.epochs,
                              step=0, steps_per_epoch=self.steps_per_epoch,
                              images_per_second=0.0, elapsed_s=0.0, eta_s=None,
                              queue_position=None, device="a Ray worker", steps=(),
                              epochs_done=())
        self._stop_reason: str | None = None
        self._paused = False
        self._last_seen = time.monotonic()
        self._done = threading.Event()
        self._left_queue = threading.Event()

    # ---- controls (any thread) -------------------------------------------------------------
    def start(self) -> None:
        if self._snap.state == "created":
            self._publish(state="queued")
            self.runner.slots.enqueue(self)
            threading.Thread(target=self._follow, name="ray-follower", daemon=True).start()

    def stop(self, reason: str = "stopped by the user") -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
            if self._actor is not None:
                self._actor.stop.remote(reason)

    def pause(self) -> None:
        if self._snap.state == "running" and self._actor is not None:
            self._paused = True
            self._actor.pause.remote()

    def resume(self) -> None:
        if self._paused and self._actor is not None:
            self._paused = False
            self._actor.resume.remote()

    def heartbeat(self) -> None:
        self._last_seen = time.monotonic()

    def set_learning_rate(self, learning_rate: float) -> str | None:
        """As ``TrainingJob.set_learning_rate``: the worker's job applies it at its next step."""
        if problems := dataclasses.replace(self.config, learning_rate=learning_rate).check():
            return problems[0]
        with self._steer_lock:
            self._asked_lr = float(learning_rate)
            if self.worker_pid is not None:
                self._ask("set_learning_rate", self._asked_lr, wait=False)
        return None

    @property
    def learning_rate(self) -> float:
        """The rate the next step will use (every rate asked for reaches the worker)."""
        asked = self._asked_lr
        return self.config.learning_rate if asked is None else asked

    def step_once(self) -> bool:
        """While paused and held on the worker: train one batch there, then stay paused."""
        return self._ask("step_once") is True

    def wait_until_held(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._ask("held") is not True:
            if time.monotonic() >= deadline or self._done.is_set():
                return False
            time.sleep(0.02)
        return True

    def _ask(self, method: str, *args, wait: bool = True):
        """Call the worker's actor (an answer within ``LOST_AFTER_S``); None without a
        worker (not yet, or no more): the follower reports a lost one."""
        if self.worker_pid is None or self._done.is_set():
            return None
        try:
            ref = getattr(self._actor, method).remote(*args)
            return ray.get(ref, timeout=LOST_AFTER_S) if wait else None
        except RayError:
            return None

    def wait_until_started(self, timeout: float) -> bool:
        return self._snap.state != "created" and self._left_queue.wait(timeout)

    def join(self, timeout: float | None = None) -> None:
        if self._snap.state != "created":
            self._done.wait(timeout)

    @property
    def running_thread(self) -> bool:
        return self._snap.state != "created" and not self._done.is_set()

    def snapshot(self) -> Snapshot:
        snap = self._snap  # replaced whole by the follower: always consistent
        if snap.state == "running" and self._paused:
            snap = dataclasses.replace(snap, state="paused")
        elif snap.state == "queued":
            snap = dataclasses.replace(snap, queue_position=self.runner.slots.position(self))
        return snap

    # ---- the follower thread -----------------------------------------------------------------
    def _publish(self, snap: Snapshot | None = None, **changes) -> None:
        self._snap = dataclasses.replace(snap or self._snap, **changes)

    def _should_stop(self) -> bool:
        if owner_gone(self.owner_connected, self.heartbeat, self._last_seen,
                      self.orphan_timeout_s):
            self.stop(TAB_GONE)
        return self._stop_reason is not None

    def _follow(self) -> None:
        acquired = False
        try:
            acquired = self.runner.slots.acquire(self, self._should_stop)
            if not acquired:
                self._publish(state="stopped", message=self._stop_reason or "")
                return
            self._actor = self.runner.new_actor(self.spec, self.splits, self.config, self.name)
            if not self._await_start():
                return
            self._left_queue.set()
            if self.recorder:
                self.recorder.begin(self.spec, self.splits, self.config, "a Ray worker",
                                    self.name)
            self._poll()
        except RayTaskError as exc:  # the worker raised: unusable settings, e.g. no CUDA there
            cause = exc.cause if exc.cause is not None else exc
            self._publish(state="failed",
                          message=f"training failed: {type(cause).__name__}: {cause}")
        except (RayActorError, GetTimeoutError):
            self._publish(state="failed", message=LOST_MESSAGE)
        except RayError as exc:
            self._publish(state="failed", message=f"training failed: {exc}")
        finally:
            if self._actor is not None:
                ray.kill(self._actor)  # frees its CPUs at once (a dead one: nothing to do)
            if acquired:
                self.runner.slots.release(self)
            if self.recorder:  # before _done: whoever joins finds the run recorded
                self.recorder.finish(self._snap, self.evaluation, self.model)
            self._left_queue.set()
            self._done.set()

    def _await_start(self) -> bool:
        """Wait for the actor (the cluster may be full: still queued); False when stopped
        meanwhile."""
        started = self._actor.start.remote()
        while not ray.wait([started], timeout=POLL_S)[0]:
            if self._should_stop():
                self._publish(state="stopped", message=self._stop_reason or "")
                return False
        pid, device = ray.get(started)
        self.device = torch.device(device)
        with self._steer_lock:
            self.worker_pid = pid
            if self._asked_lr is not None:  # asked for while the worker was starting
                self._actor.set_learning_rate.remote(self._asked_lr)
        if self._stop_reason is not None:  # stopped while the actor was starting
            self._actor.stop.remote(self._stop_reason)
        return True

    def _poll(self) -> None:
        """Copy the actor's progress until the training is over, then collect its model."""
        while True:
            self._should_stop()
            ref = self._actor.snapshot.remote()
            snap: Snapshot = ray.get(ref, timeout=LOST_AFTER_S)
            if snap.state not in ACTIVE_STATES:
                break
            self._publish(snap, state="running" if snap.state == "paused" else snap.state)
            time.sleep(POLL_S)
        weights, evaluation = ray.get(self._actor.result.remote(), timeout=60)
        if weights is not None:
            model = build_model(self.spec)
            model.load_state_dict(weights)
            self.model = model.eval()
        self.evaluation = evaluation
        state: JobState = snap.state
        self._publish(snap, state=state)  # last: "finished" means the model is here
