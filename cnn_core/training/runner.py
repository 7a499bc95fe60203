"""Where the app's trainings run: in this process (the default), or on a Ray cluster.

The app starts every training through a runner and gets back a ``Training`` that it follows
(``snapshot``), pauses, steers, resumes, stops and collects (``model``, ``evaluation``) the
same way wherever it runs. The default runs ``job.TrainingJob`` on a thread of this process, as
always; with ``CNN_EXPLAINER_RAY_ADDRESS`` set, each training runs on a Ray worker
(``cnn_core.training.ray_runner``), and the runner's slots hold as many trainings as the cluster has
room for.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol

from cnn_core.data.mnist import MnistSplits
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.runs.recording import Recorder
from cnn_core.training.admission import Way
from cnn_core.training.job import TrainingJob
from cnn_core.training.protocol import ORPHAN_TIMEOUT_S, RunnerError, Training
from cnn_core.training.shared import join_or_start
from cnn_core.training.slots import TrainingSlots
from cnn_core.training.trainer import TrainConfig

RAY_ADDRESS_ENV = "CNN_EXPLAINER_RAY_ADDRESS"


class Runner(Protocol):
    slots: TrainingSlots  # trainings beyond its room wait here, first come first served
    where: str  # for the page, e.g. "this server"

    def start(self, spec: ArchitectureSpec, splits: MnistSplits, config: TrainConfig,
              name: str = "Custom", orphan_timeout_s: float = ORPHAN_TIMEOUT_S,
              owner_connected: Callable[[], bool] | None = None,
              recorder: Recorder | None = None, way: Way = Way.TRAIN_PAGE,
              share: bool = False, join: bool = True) -> Training:
        """Queue a training and return it; ``ValueError`` (``Refused``: what ``admit`` said)
        for one that cannot or may not run. ``owner_connected`` and ``recorder``: as for
        ``TrainingJob``. ``share``: an identical training, live or recorded, is given instead
        unless not ``join`` ("train it anyway"), and this one is given to those who come
        later (``cnn_core.training.shared``)."""
        ...


class InProcessRunner:
    """Trainings on threads of this process (nothing to install or start)."""

    where = "this server"

    def __init__(self, slots: TrainingSlots | None = None) -> None:
        self.slots = slots or TrainingSlots()

    def start(self, spec: ArchitectureSpec, splits: MnistSplits, config: TrainConfig,
              name: str = "Custom", orphan_timeout_s: float = ORPHAN_TIMEOUT_S,
              owner_connected: Callable[[], bool] | None = None,
              recorder: Recorder | None = None, way: Way = Way.TRAIN_PAGE,
              share: bool = False, join: bool = True) -> Training:
        def start(connected: Callable[[], bool] | None) -> TrainingJob:
            job = TrainingJob(spec, splits, config, slots=self.slots, name=name,
                              orphan_timeout_s=orphan_timeout_s, owner_connected=connected,
                              recorder=recorder, way=way)
            job.start()
            return job

        if not share:
            return start(owner_connected)
        return join_or_start(start, spec, splits, config, config.resolved_device().type,
                             owner_connected, recorder, join)


def runner_from_env() -> Runner:
    """The Ray runner when ``CNN_EXPLAINER_RAY_ADDRESS`` is set, else the in-process one;
    ``RunnerError`` when Ray is asked for but not installed or not reachable."""
    address = os.environ.get(RAY_ADDRESS_ENV, "").strip()
    if not address:
        return InProcessRunner()
    try:
        from cnn_core.training.ray_runner import RayRunner
    except ImportError as exc:
        raise RunnerError(f"{RAY_ADDRESS_ENV} is set but Ray is not installed "
                          "(pip install -r requirements-ray.txt)") from exc
    return RayRunner(address)
