"""The runners behind the app's trainings: in-process, and on a real local Ray head (the
session's, from conftest's ``ray_address``). Without Ray installed the Ray tests are skipped,
except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
import torch
from digits import first_digits
from helpers import FIRST_START_S, wait_for

from cnn_core.design.presets import SMALL_FAST
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.design.spec import layer as L
from cnn_core.training.evaluate import predict_logits
from cnn_core.training.job import TrainingJob
from cnn_core.training.runner import RAY_ADDRESS_ENV, InProcessRunner, runner_from_env
from cnn_core.training.trainer import TrainConfig


def small(digits, n_train: int):
    return first_digits(digits, n_train, 500)


def test_without_a_ray_address_trainings_run_in_this_process(monkeypatch, bundled):
    monkeypatch.delenv(RAY_ADDRESS_ENV, raising=False)
    runner = runner_from_env()
    assert isinstance(runner, InProcessRunner) and runner.where == "this server"
    job = runner.start(SMALL_FAST, small(bundled, 256), TrainConfig(epochs=1, batch_size=64))
    assert isinstance(job, TrainingJob) and job.slots is runner.slots
    job.join(60)
    assert job.snapshot().state == "finished" and job.model is not None


# ---- on a real Ray head (conftest's ray_address and ray_runner) --------------------------
def start_running(runner, spec, digits, config, **kwargs):
    """A training started through ``runner`` and seen running (heartbeats kept up)."""
    job = runner.start(spec, digits, config, **kwargs)
    wait_for(lambda: job.heartbeat() or job.snapshot().step > 0, timeout=FIRST_START_S)
    return job


@pytest.mark.slow
def test_ray_trains_the_small_preset_to_the_end_with_live_curves(ray_runner, bundled):
    digits = small(bundled, 2000)
    job = ray_runner.start(SMALL_FAST, digits, TrainConfig(epochs=2, batch_size=32))
    seen = []
    while job.running_thread:
        job.heartbeat()
        seen.append(job.snapshot())
        time.sleep(0.1)
        assert len(seen) < FIRST_START_S * 10, "timed out"
    snap = job.snapshot()
    assert snap.state == "finished", snap.message
    assert snap.message.startswith("test accuracy") and " on Ray node " in snap.device
    assert [e.epoch for e in snap.epochs_done] == [1, 2] and len(snap.steps) > 20
    total = 2 * snap.steps_per_epoch
    assert any(s.state == "running" and 0 < s.step < total and s.steps for s in seen)  # live
    assert seen[0].state == "queued"
    # The trained weights came back: the model here predicts what the worker evaluated.
    assert job.evaluation.accuracy > 0.8
    predictions = predict_logits(job.model, digits.test_images).argmax(1)
    assert torch.equal(predictions, job.evaluation.predictions)


@pytest.mark.slow
def test_ray_two_trainings_run_together_pause_steer_stop_and_orphan(ray_runner, bundled):
    config = TrainConfig(epochs=50, batch_size=16)
    first = start_running(ray_runner, SMALL_FAST, bundled, config)
    second = start_running(ray_runner, SMALL_FAST, bundled, config, orphan_timeout_s=3.0)
    # Both run at once: the cluster has a CPU for each.
    steps = first.snapshot().step, second.snapshot().step
    wait_for(lambda: first.heartbeat() or second.heartbeat()
             or (first.snapshot().step > steps[0] and second.snapshot().step > steps[1]))
    assert first.snapshot().state == second.snapshot().state == "running"
    first.pause()
    assert first.snapshot().state == "paused"  # at once, as in-process
    time.sleep(1.0)  # the worker holds after at most one more step
    held = first.snapshot().step
    time.sleep(1.0)
    assert first.snapshot().step == held and first.snapshot().state == "paused"
    # Steering, as in-process: a new rate, and one batch while paused, both on the worker.
    assert first.device == torch.device("cpu") and first.learning_rate == 1e-3
    assert first.set_learning_rate(0) == "learning rate must be between 1e-06 and 10 (got 0)"
    assert first.wait_until_held(30) and first.set_learning_rate(0.01) is None
    assert first.step_once() and first.learning_rate == 0.01
    wait_for(lambda: first.heartbeat() or first.snapshot().one_steps, timeout=10)
    snap = first.snapshot()
    assert snap.state == "paused" and [o.step for o in snap.one_steps] == [held + 1]
    assert [(c.step, c.learning_rate) for c in snap.lr_changes] == [(held + 1, 0.01)]
    held += 1
    first.resume()
    wait_for(lambda: first.heartbeat() or first.snapshot().step > held + 3)
    # Stop takes effect (how soon: bench/stop_latency.py prints stop_s; 10 s bounds a hang).
    first.stop()
    wait_for(lambda: first.snapshot().state == "stopped", timeout=10)
    assert first.snapshot().message == "stopped by the user"
    # The second's page stopped heartbeating long ago: it stops itself as an orphan.
    wait_for(lambda: second.snapshot().state == "stopped", timeout=30)
    assert "browser tab" in second.snapshot().message
    wait_for(lambda: ray_runner.slots.running == 0, timeout=10)  # the CPUs are free again


@pytest.mark.slow
def test_ray_a_diverging_loss_fails_with_the_explanation(ray_runner, bundled):
    no_activation = ArchitectureSpec((L("flatten"), L("linear", out_features=64),
                                      L("linear", out_features=10)))
    config = TrainConfig(epochs=1, batch_size=64, optimizer="sgd", learning_rate=10.0)
    job = ray_runner.start(no_activation, small(bundled, 2000), config)
    wait_for(lambda: job.heartbeat() or not job.running_thread, timeout=FIRST_START_S)
    snap = job.snapshot()
    assert snap.state == "failed" and "learning rate is probably too high" in snap.message


@pytest.mark.slow
def test_ray_a_killed_worker_fails_the_training(ray_runner, bundled):
    """How soon: bench/stop_latency.py on Ray prints lost_worker_s; 30 s bounds a hang."""
    from cnn_core.training.ray_runner import LOST_MESSAGE

    job = start_running(ray_runner, SMALL_FAST, bundled, TrainConfig(epochs=50, batch_size=16))
    os.kill(job.worker_pid, signal.SIGKILL)
    wait_for(lambda: job.heartbeat() or job.snapshot().state == "failed", timeout=30)
    assert job.snapshot().message == LOST_MESSAGE == "training failed: the worker was lost"
    job.join(10)
    assert ray_runner.slots.running == 0


@pytest.mark.slow
def test_ray_the_train_page_trains_through_the_cluster(ray_address, monkeypatch):
    from helpers import by_label, live_chart_args, on_page, wait_data

    from cnn_core.training.ray_runner import RayTraining
    from ui import app_state

    monkeypatch.setenv(RAY_ADDRESS_ENV, ray_address)
    app_state.training_runner.clear()  # the page's runner is cached per server process
    try:
        at = on_page("pages/train.py")
        wait_data(at)
        by_label(at.number_input, "Epochs").set_value(1).run()
        next(b for b in at.button if b.label == "Train").click().run()
        job = at.session_state["job"]
        assert isinstance(job, RayTraining)
        wait_for(lambda: job.heartbeat() or job.snapshot().step > 10, timeout=FIRST_START_S)
        at.run()
        steering = [n for n in at.number_input if n.label == "Learning rate from now on"]
        assert steering, "a Ray training is steered like a local one"
        progress = live_chart_args(at)["progress"]
        assert progress["text"].startswith("Running on CPU") and " on Ray node " in \
            progress["text"] and 0 < progress["value"] < 1
        assert [y for y in live_chart_args(at)["figure"]["data"][0]["y"] if y is not None]
        wait_for(lambda: job.heartbeat() or not job.running_thread, timeout=FIRST_START_S)
        at.run()
        assert live_chart_args(at)["progress"]["text"].startswith("Finished on CPU")
        assert float(by_label(at.metric, "Test accuracy").value.rstrip("%")) > 90
        # The whole results view, down to what reads the training's device: no "Sorry".
        assert not at.exception and not [e.value for e in at.error if "Sorry" in e.value]
        trained_on = next(c.value for c in at.caption if c.value.startswith("Trained on"))
        assert " on Ray node " in trained_on and "Speed-ups: channels_last" in trained_on
    finally:
        app_state.training_runner.clear()
