"""Time to accuracy: the learning-rate schedule (one-cycle beside constant), the rate recorded
per step and drawn on the curves, and the stop at a validation accuracy, recorded in the run."""

from __future__ import annotations

import itertools
import time

import pytest
import torch
from digits import first_digits

from cnn_core.__main__ import build_parser, fill_from_recipe, main
from cnn_core.design.presets import LENET5, PRESET_TABLE, SMALL_FAST
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.runs.recording import Recorder
from cnn_core.runs.store import RunStore
from cnn_core.training.job import TrainingJob, train_to_completion
from cnn_core.training.settings import RECIPE_FIELDS, recipe
from cnn_core.training.trainer import TrainConfig, prepare, train_steps

CPU = torch.device("cpu")


def rates(bundled, **settings) -> list[float]:
    digits = first_digits(bundled, 640, 100)  # 10 steps an epoch at batch 64
    config = TrainConfig(epochs=2, batch_size=64, learning_rate=0.01, **settings)
    model, optimizer = prepare(LENET5, config, CPU)
    return [step.learning_rate for step in train_steps(model, optimizer, digits.train_images,
                                                       digits.train_labels, config)]


def test_one_cycle_climbs_to_the_rate_set_then_falls_to_almost_nothing(bundled):
    cycle = rates(bundled, schedule="one_cycle")
    assert len(cycle) == 20
    assert cycle[0] == pytest.approx(0.01 / 25)  # OneCycleLR's start: a 25th of the peak
    peak = max(range(20), key=cycle.__getitem__)
    assert cycle[peak] == pytest.approx(0.01) and 4 <= peak <= 6  # 30 % of the way
    assert all(a < b for a, b in itertools.pairwise(cycle[:peak + 1]))
    assert all(a > b for a, b in itertools.pairwise(cycle[peak:]))
    assert cycle[-1] < 0.01 / 1000
    assert set(rates(bundled)) == {0.01}  # constant, the default
    assert TrainConfig().schedule in ("constant", "one_cycle")


def test_the_rate_is_recorded_with_each_step_and_in_the_run(bundled, tmp_path):
    store = RunStore(tmp_path / "runs")
    config = TrainConfig(epochs=2, batch_size=64, learning_rate=0.01, schedule="one_cycle")
    job = train_to_completion(LENET5, first_digits(bundled, 640, 100), config,
                              recorder=Recorder(store, source="test"))
    snap = job.snapshot()
    drawn = [p.learning_rate for p in snap.steps]
    assert len(set(drawn)) == 20 and max(drawn) == pytest.approx(0.01)
    record = store.get(job.recorder.run_id)
    assert [p["learning_rate"] for p in record.steps] == pytest.approx(drawn, rel=1e-3)
    assert record.settings["schedule"] == "one_cycle"
    assert "one-cycle learning rate up to 0.01" in config.describe()


def test_a_rate_set_by_hand_takes_over_from_the_schedule(bundled):
    config = TrainConfig(epochs=3, batch_size=64, learning_rate=0.01, schedule="one_cycle")
    job = TrainingJob(LENET5, first_digits(bundled, 640, 100), config)
    job.start()
    assert job.wait_until_started(60)
    job.pause()
    assert job.wait_until_held(60)
    assert job.set_learning_rate(0.002) is None
    job.resume()
    job.join(120)
    snap = job.snapshot()
    assert snap.state == "finished", snap.message
    asked_at = snap.lr_changes[0].step
    after = {p.learning_rate for p in snap.steps if p.step >= asked_at}
    assert after == {0.002}  # the schedule let go: no step after it moved the rate
    assert len({p.learning_rate for p in snap.steps if p.step < asked_at}) == asked_at - 1


def test_a_training_stops_at_the_accuracy_asked_for_and_the_run_keeps_it(bundled, tmp_path):
    store = RunStore(tmp_path / "runs")
    digits = first_digits(bundled, 2000, 300)
    config = TrainConfig(epochs=20, batch_size=64, learning_rate=0.003, stop_at_accuracy=80)
    job = train_to_completion(LENET5, digits, config, recorder=Recorder(store, source="test"))
    snap = job.snapshot()
    assert snap.state == "finished" and job.evaluation is not None
    reached = [e.val_accuracy >= 0.8 for e in snap.epochs_done]
    assert reached[-1] and not any(reached[:-1]) and len(reached) < 20  # the first that did
    assert (f"stopped after epoch {len(reached)}: validation accuracy "
            f"{snap.epochs_done[-1].val_accuracy:.2%} reached the 80 % asked for") in snap.message
    record = store.get(job.recorder.run_id)
    assert record.settings["stop_at_accuracy"] == 80 and len(record.epochs) == len(reached)
    assert "stop at 80 % validation accuracy" in config.describe()


@pytest.mark.parametrize("bad, words", [({"schedule": "cosine"}, "schedule must be constant or "
                                         "one_cycle (got 'cosine')"),
                                        ({"stop_at_accuracy": 101}, "stop at accuracy must be "
                                         "between 0 and 100 (got 101)")])
def test_bad_schedule_settings_are_named(bad, words):
    assert TrainConfig(**bad).check() == [words]


def test_the_command_line_offers_the_schedule_and_the_stop(capsys):
    args = build_parser().parse_args(["train", "--preset", "small", "--schedule", "one_cycle",
                                      "--stop-at-accuracy", "97"])
    assert (args.schedule, args.stop_at_accuracy) == ("one_cycle", 97.0)
    assert main(["train", "--preset", "small", "--schedule", "warm"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'warm'" in err and err.count("\n") == 1


def test_each_presets_recipe_is_a_valid_training_and_a_design_of_ones_own_gets_the_defaults():
    defaults = {name: getattr(TrainConfig(), name) for name in RECIPE_FIELDS}
    differ = 0
    for preset in PRESET_TABLE:
        settings = recipe(preset.spec)
        assert set(settings) == set(RECIPE_FIELDS)
        assert {name for name, _ in preset.recipe} <= set(RECIPE_FIELDS)
        assert TrainConfig(**settings).check() == []
        differ += settings != defaults
    assert differ  # at least one preset trains quicker than the defaults would
    own = ArchitectureSpec(LENET5.layers[:-1] + LENET5.layers[-1:] * 2)  # LeNet-5, edited
    assert recipe(own) == defaults


def test_the_command_line_starts_from_the_presets_recipe_and_what_it_says_wins():
    lenet = next(p for p in PRESET_TABLE if p.spec == LENET5)
    args = build_parser().parse_args(["train", "--preset", lenet.slug, "--epochs", "7"])
    fill_from_recipe(args, LENET5)
    assert args.epochs == 7
    for name, value in recipe(LENET5).items():
        if name != "epochs":
            assert getattr(args, name) == value


@pytest.mark.slow
def test_the_train_page_starts_from_the_designs_recipe_and_a_preset_loads_its_own():
    from helpers import by_label, on_page, wait_data

    def form(at) -> dict:
        return {"epochs": by_label(at.number_input, "Epochs").value,
                "batch_size": by_label(at.selectbox, "Batch size").value,
                "optimizer": by_label(at.selectbox, "Optimizer").value,
                "learning_rate": pytest.approx(by_label(at.number_input,
                                                        "Learning rate").value),
                "schedule": by_label(at.selectbox, "Learning-rate schedule").value}

    at = on_page("pages/train.py")
    wait_data(at)
    assert form(at) == recipe(SMALL_FAST)  # the design a session starts with
    for preset in PRESET_TABLE[::-1]:  # each in turn: none leaves its recipe behind
        at.switch_page("pages/architecture.py")
        at.run()
        by_label(at.selectbox, "Start from").set_value(preset.name)
        by_label(at.button, "Load").click().run()
        at.switch_page("pages/train.py")
        at.run()
        assert not at.exception and not at.warning, at.warning
        assert form(at) == recipe(preset.spec), preset.name


def test_torchrun_refuses_the_stop_it_cannot_keep(capsys):
    from cnn_core.training import distributed

    launch = distributed.Launch(rank=0, world_size=2, local_rank=0)
    assert distributed.train(LENET5, TrainConfig(stop_at_accuracy=97), launch) == 2
    assert capsys.readouterr().err == ("error: stop at accuracy is not available under "
                                       "torchrun: leave it at 0\n")


@pytest.mark.slow
def test_the_train_page_trains_with_the_schedule_and_the_stop_chosen_there():
    from helpers import by_label, live_chart_args, on_page, wait_data

    at = on_page("pages/train.py")
    wait_data(at)
    by_label(at.number_input, "Epochs").set_value(20).run()
    by_label(at.selectbox, "Learning-rate schedule").set_value("one_cycle").run()
    by_label(at.number_input, "Stop at validation accuracy (%)").set_value(99.5).run()
    next(b for b in at.button if b.label == "Train").click().run()
    job = at.session_state["job"]
    try:
        assert (job.config.schedule, job.config.stop_at_accuracy) == ("one_cycle", 99.5)
        assert job.wait_until_started(60)
        deadline = time.monotonic() + 60
        while job.snapshot().step < 5:
            assert time.monotonic() < deadline, "no steps"
            time.sleep(0.05)
        job.pause()
        assert job.wait_until_held(60)
        at.run()
        figure = live_chart_args(at)["figure"]
        line = next(t for t in figure["data"] if t["name"] == "learning rate")
        rates = [float(f"{p.learning_rate:.3g}") for p in job.snapshot().steps]
        assert line["y"] == rates and len(set(rates)) > 1  # it climbs, drawn as it changes
        assert line["yaxis"] == "y3" and figure["layout"]["yaxis3"]["overlaying"] == "y"
        peak = recipe(SMALL_FAST)["learning_rate"]  # the page's design starts from its recipe
        assert any(f"one-cycle learning rate up to {peak:g}" in c.value
                   and "stop at 99.5 % validation accuracy" in c.value for c in at.caption)
    finally:
        job.stop()
        job.join(30)
