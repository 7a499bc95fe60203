"""The worker's side of a training on a Ray cluster: one ``TrainingJob`` in an actor.

``ray_runner`` creates one ``TrainingActor`` per training and drives it: every call
here answers at once (an actor answers one call at a time, and the app polls its snapshots
a few times a second), while the job trains on a thread of the worker.
"""

from __future__ import annotations

import dataclasses
import math
import os

import ray

from cnn_core.data.mnist import MnistSplits
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.training.admission import Way
from cnn_core.training.evaluate import Evaluation
from cnn_core.training.job import TrainingJob
from cnn_core.training.protocol import Snapshot
from cnn_core.training.trainer import TrainConfig


class TrainingActor:
    """Runs on a worker: one ``TrainingJob``, driven by the calls of a ``RayTraining``."""

    def __init__(self, spec: ArchitectureSpec, splits: MnistSplits, config: TrainConfig,
                 name: str) -> None:
        self.args = spec, splits, config, name
        self.job: TrainingJob | None = None
        self.node = ray.util.get_node_ip_address()

    def start(self) -> tuple[int, str]:
        """Start training (``ValueError`` when this worker cannot, e.g. it has no CUDA); the
        worker's process id (for tests that kill it) and the device it trains on."""
        spec, splits, config, name = self.args
        # The page watches for orphans; if the app's process dies, Ray ends this actor.
        self.job = TrainingJob(spec, splits, config, name=name, orphan_timeout_s=math.inf,
                               way=Way.RAY)
        self.job.start()
        self.job.wait_until_started(10)
        return os.getpid(), str(self.job.device)

    def snapshot(self) -> Snapshot:
        snap = self.job.snapshot()
        return dataclasses.replace(snap, device=f"{snap.device} on Ray node {self.node}")

    def pause(self) -> None:
        self.job.pause()

    def resume(self) -> None:
        self.job.resume()

    def stop(self, reason: str) -> None:
        self.job.stop(reason)

    def set_learning_rate(self, learning_rate: float) -> str | None:
        return self.job.set_learning_rate(learning_rate)

    def step_once(self) -> bool:
        return self.job.step_once()

    def held(self) -> bool:
        # Never waits: the actor answers one call at a time, and the snapshots must go on.
        return self.job.wait_until_held(0)

    def result(self) -> tuple[dict | None, Evaluation | None]:
        """The trained weights (on the CPU) and the test results, once over."""
        self.job.join(30)
        model = self.job.model
        return (model.state_dict() if model is not None else None), self.job.evaluation
