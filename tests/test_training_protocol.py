"""One training protocol: the local ``TrainingJob`` and the Ray ``RayTraining`` both satisfy
``protocol.Training`` member by member, behave the same through it (device, snapshots,
pause, steering, stop), the Train page shows either's results, and the pages read nothing
from a training outside it.

The member checks need only the ``ray`` package (a ``RayTraining`` that was never started);
the behaviour runs each kind for real, the Ray one on conftest's local Ray head (slow: a
worker imports torch). Without Ray these are skipped, except under ``CI=true``, where they
fail.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import inspect
import os
import time
from pathlib import Path

import pytest
import torch
from digits import first_digits
from helpers import FIRST_START_S, by_label, on_page, wait_for

from cnn_core.design.presets import SMALL_FAST
from cnn_core.training.job import TrainingJob
from cnn_core.training.protocol import Snapshot, Training
from cnn_core.training.runner import InProcessRunner
from cnn_core.training.slots import TrainingSlots
from cnn_core.training.trainer import TrainConfig
from ui.app_state import mnist_store

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


# ---- each kind for real, through the same checks -------------------------------------------
KINDS = ["local", pytest.param("ray", marks=pytest.mark.slow)]


def runner_of(kind: str, request: pytest.FixtureRequest):
    if kind == "local":
        return InProcessRunner()
    ray_training_class()  # skipped (or failed, in CI) without Ray
    return request.getfixturevalue("ray_runner")


@pytest.fixture
def started(request):
    """Start trainings with ``started(kind, spec, digits, config)``; each is stopped and
    joined when the test ends (one left following its worker would outlive the test)."""
    trainings = []

    def start(kind: str, *args) -> Training:
        training = runner_of(kind, request).start(*args)
        trainings.append(training)
        return training

    yield start
    for training in trainings:
        training.stop("the test is over")
    for training in trainings:
        training.join(30)


def kept_alive(training: Training, check) -> bool:
    training.heartbeat()  # the test is its page: without heartbeats it stops as an orphan
    return check()


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_runs_pauses_steers_resumes_and_stops_alike(kind, started, bundled):
    training = started(kind, SMALL_FAST, bundled, TrainConfig(epochs=50, batch_size=16))
    assert isinstance(training, Training)
    wait_for(lambda: kept_alive(training, lambda: training.snapshot().step > 0),
             timeout=FIRST_START_S)
    assert training.device == torch.device("cpu")  # known once it trains, whichever kind
    snap = training.snapshot()
    assert snap.state == "running" and snap.device.startswith("CPU (")
    assert snap.steps_per_epoch == 500 and snap.epochs == 50
    training.pause()
    assert training.snapshot().state == "paused"  # at once
    assert training.wait_until_held(30)
    time.sleep(1.0)  # a Ray training's copy of the snapshot is polled a few times a second
    held = training.snapshot().step
    time.sleep(1.0)
    assert training.snapshot().step == held and training.snapshot().state == "paused"
    # Steering: a rate is checked, then applies from the next step; one batch while paused.
    assert training.set_learning_rate(0) == "learning rate must be between 1e-06 and 10 (got 0)"
    assert training.set_learning_rate(0.01) is None and training.learning_rate == 0.01
    assert training.step_once()
    wait_for(lambda: kept_alive(training, lambda: training.snapshot().one_steps), timeout=30)
    snap = training.snapshot()
    assert snap.state == "paused" and [o.step for o in snap.one_steps] == [held + 1]
    assert [(c.step, c.learning_rate) for c in snap.lr_changes] == [(held + 1, 0.01)]
    training.resume()
    wait_for(lambda: kept_alive(training, lambda: training.snapshot().step > held + 3),
             timeout=30)
    assert training.snapshot().state == "running"
    training.stop()
    wait_for(lambda: training.snapshot().state == "stopped", timeout=30)
    training.join(30)
    assert not training.running_thread and training.snapshot().message == "stopped by the user"
    assert training.model is not None and training.evaluation is None  # a stopped net: no test


@pytest.mark.slow  # an AppTest of a whole page
@pytest.mark.parametrize("kind", KINDS)
def test_the_train_pages_results_show_each_kind(kind, started, bundled):
    """The results view reads the training's ``device`` (for its speed-ups line): a Ray
    training without one failed the page with "Sorry, something went wrong"."""
    training = started(kind, SMALL_FAST, first_digits(bundled, 2000, 500),
                       TrainConfig(epochs=1, batch_size=32))
    wait_for(lambda: kept_alive(training, lambda: not training.running_thread),
             timeout=FIRST_START_S)
    snap = training.snapshot()
    assert snap.state == "finished", snap.message
    at = on_page("pages/train.py")
    mnist_store().wait(60)  # run alone, the page would still say "Preparing MNIST…"
    at.session_state["job"] = training
    at.run()  # conftest fails the test on any exception or "Sorry" the page shows
    assert float(by_label(at.metric, "Test accuracy").value.rstrip("%")) > 80
    trained_on = next(c.value for c in at.caption if c.value.startswith("Trained on"))
    assert trained_on.startswith(f"Trained on {snap.device}: 1 epoch, batch 32")
    assert "Speed-ups: channels_last" in trained_on
