"""One training protocol: the local ``TrainingJob`` and the Ray ``RayTraining`` both satisfy
``runner.Training`` member by member, and the pages read nothing from a training outside it.

No Ray cluster here (``tests/test_runner.py`` runs the protocol on a real one): a
``RayTraining`` that was never started needs only the ``ray`` package. Without it these
checks are skipped, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import inspect
import os
from pathlib import Path

import pytest
import torch
from digits import first_digits

from cnn_core.design.presets import SMALL_FAST
from cnn_core.training.job import Snapshot, TrainingJob
from cnn_core.training.runner import Training
from cnn_core.training.slots import TrainingSlots
from cnn_core.training.trainer import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
JOB_NAMES = {"job", "new_job"}  # what pages and the shell call the training they hold


def protocol_members() -> tuple[set[str], set[str], set[str]]:
    """The protocol's data attributes, properties and methods."""
    data = set(Training.__annotations__)
    properties = {n for n, v in vars(Training).items() if isinstance(v, property)}
    methods = {n for n, v in vars(Training).items()
               if inspect.isfunction(v) and not n.startswith("_")}
    return data, properties, methods


def ray_training_class():
    if importlib.util.find_spec("ray") is None:
        reason = "Ray is not installed (pip install -r requirements-ray.txt)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Ray training must be checked in CI: {reason}")
        pytest.skip(reason)
    from cnn_core.training.ray_runner import RayTraining

    return RayTraining


@dataclasses.dataclass
class OffCluster:
    """All a ``RayTraining`` reads from its runner until it starts: no cluster needed."""

    slots: TrainingSlots = dataclasses.field(default_factory=TrainingSlots)


@pytest.fixture
def trainings(bundled) -> dict[str, Training]:
    """One of each kind, created and not started, on the same design, digits and settings."""
    digits, config = first_digits(bundled, 256, 64), TrainConfig(epochs=1, batch_size=64)
    return {"local": TrainingJob(SMALL_FAST, digits, config),
            "ray": ray_training_class()(OffCluster(), SMALL_FAST, digits, config)}


def test_the_pages_read_nothing_from_a_training_outside_the_protocol():
    data, properties, methods = protocol_members()
    read = set()
    for path in [ROOT / "app.py", *ROOT.glob("pages/*.py"), *ROOT.glob("ui/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in JOB_NAMES):
                read.add(node.attr)
    assert {"device", "evaluation", "set_learning_rate", "step_once"} <= read  # it sees them
    assert read - (data | properties | methods) == set()


@pytest.mark.parametrize("kind", ["local", "ray"])
def test_each_kind_has_every_member_with_the_protocols_signature(kind):
    cls = TrainingJob if kind == "local" else ray_training_class()
    _, properties, methods = protocol_members()
    for name in methods:
        expected = inspect.signature(getattr(Training, name))
        got = inspect.signature(getattr(cls, name))
        assert list(got.parameters) == list(expected.parameters), (cls.__name__, name)
        defaults = [p.default is inspect.Parameter.empty for p in got.parameters.values()]
        assert defaults == [p.default is inspect.Parameter.empty
                            for p in expected.parameters.values()], (cls.__name__, name)
    for name in properties:
        assert isinstance(getattr(cls, name), property), (cls.__name__, name)


def test_both_kinds_are_trainings_with_the_protocols_data(trainings):
    data, _, _ = protocol_members()
    for kind, training in trainings.items():
        assert isinstance(training, Training), kind
        missing = {name for name in data if not hasattr(training, name)}
        assert missing == set(), (kind, missing)
        assert training.model is None and training.evaluation is None
        assert training.spec is SMALL_FAST and training.name == "Custom"
        assert training.recorder is None
    assert trainings["local"].device == torch.device("cpu")
    assert trainings["ray"].device is None  # its worker has not started: no device yet


def test_before_it_starts_each_kind_answers_the_same(trainings):
    answers = {}
    for kind, training in trainings.items():
        snap = training.snapshot()
        assert isinstance(snap, Snapshot) and snap.state == "created"
        assert not training.running_thread and not training.wait_until_started(0.01)
        training.join(0.01)  # returns at once: nothing to wait for
        assert not training.step_once()  # only a paused, held training takes one step
        assert not training.wait_until_held(0.05)
        refused = training.set_learning_rate(0)
        first_rate = training.learning_rate
        assert training.set_learning_rate(0.01) is None
        answers[kind] = (refused, first_rate, training.learning_rate)
    assert answers["local"] == answers["ray"]
    assert answers["local"] == ("learning rate must be between 1e-06 and 10 (got 0)", 1e-3,
                                0.01)
