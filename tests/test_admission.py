"""The one admission check: every way in to a training or a heavy pass goes through ``admit``
(each way fed the same over-budget design is refused with what ``admit`` said), and the limits
that hold while a training runs (its time, a long pause's memory) and between passes."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import import_design, on_page, wait_data
from hostile_designs import MEMORY_BOMB

from cnn_core.design.build import build_model
from cnn_core.design.presets import LENET5, SMALL_FAST
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.training import admission, budget
from cnn_core.training.admission import (
    REFUSED,
    MemoryPool,
    NotAdmitted,
    PassRequest,
    Way,
    admit,
    attribution_batch,
)
from cnn_core.training.job import TrainingJob, train_to_completion
from cnn_core.training.slots import TrainingSlots
from cnn_core.training.trainer import TrainConfig

# Low enough that the quick model's fixed design is over too; MEMORY_BOMB is over everywhere.
TRAINING_MB, PASS_MB = "100", "4"


@pytest.fixture
def tight(monkeypatch):
    monkeypatch.setenv(budget.MEMORY_ENV, TRAINING_MB)
    monkeypatch.setenv(budget.DRAW_MEMORY_ENV, PASS_MB)
    REFUSED.clear()


def first_digits(bundled, n: int = 512):
    return replace(bundled, train_images=bundled.train_images[:n],
                   train_labels=bundled.train_labels[:n], val_images=bundled.val_images[:200],
                   val_labels=bundled.val_labels[:200])


# ---- every way in, fed the same over-budget design ------------------------------------------
def train_page(_bundled) -> str:
    at = on_page("pages/architecture.py")
    import_design(at, MEMORY_BOMB)
    at.switch_page("pages/train.py")
    at.run()
    wait_data(at)
    assert next(b for b in at.button if b.label == "Train").disabled
    return next(e.value for e in at.error if "Training is disabled" in e.value)


def quick_model(_bundled) -> str:
    from ui.app_state import quick_model as cached

    cached.clear()  # another test may have trained it already
    at = on_page("pages/draw.py")
    next(b for b in at.button if b.label == "Train a quick model").click().run()
    assert not at.exception, at.exception
    return next(e.value for e in at.error if "quick model was not trained" in e.value)


def cli(_bundled, tmp_path, capsys) -> str:
    from cnn_core.__main__ import main

    path = tmp_path / "bomb.json"
    path.write_text(MEMORY_BOMB.to_json_text())
    assert main(["train", str(path), "--epochs", "1", "--runs-dir", str(tmp_path)]) == 2
    return capsys.readouterr().err


def torchrun(_bundled, monkeypatch, capsys) -> str:
    import socket

    from cnn_core.training import distributed

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(port))
    launch = distributed.Launch(rank=0, world_size=1, local_rank=0)
    assert distributed.train(MEMORY_BOMB, TrainConfig(epochs=1), launch) == 2
    return capsys.readouterr().err


def ray(bundled) -> str:
    from cnn_core.training.ray_runner import RayRunner

    runner = object.__new__(RayRunner)  # refused before it ever reaches a cluster
    with pytest.raises(NotAdmitted) as refused:
        RayRunner.start(runner, MEMORY_BOMB, bundled, TrainConfig(epochs=1))
    return str(refused.value)


def script(bundled) -> str:
    with pytest.raises(NotAdmitted) as refused:
        train_to_completion(MEMORY_BOMB, bundled, TrainConfig(epochs=1))
    return str(refused.value)


def passes(way: Way):
    def drive(bundled) -> str:
        from cnn_core import passes

        model = build_model(MEMORY_BOMB)
        image = bundled.test_images[0].numpy() / 255.0
        run = {Way.DRAW_MAPS: lambda: passes.predict_drawing(model, MEMORY_BOMB, image),
               Way.DRAW_WHY: lambda: passes.explain(model, MEMORY_BOMB, image, 3,
                                                    "integrated_gradients", Way.DRAW_WHY),
               Way.TRAIN_WHY: lambda: passes.explain(model, MEMORY_BOMB, image, 3, "saliency",
                                                     Way.TRAIN_WHY),
               Way.RUNS_WHY: lambda: passes.explain(model, MEMORY_BOMB, image, 3, "saliency",
                                                    Way.RUNS_WHY),
               Way.HANDWRITING_TEST: lambda: passes.test_on_drawings(
                   model, MEMORY_BOMB, bundled.test_images[:20], bundled.test_labels[:20]),
               Way.UPLOADED_WEIGHTS: lambda: passes.check_uploaded(MEMORY_BOMB)}[way]
        with pytest.raises(NotAdmitted) as refused:
            run()
        return str(refused.value)
    return drive


DRIVERS = {Way.TRAIN_PAGE: train_page, Way.QUICK_MODEL: quick_model, Way.CLI: cli,
           Way.TORCHRUN: torchrun, Way.RAY: ray, Way.SCRIPT: script,
           **{way: passes(way) for way in (Way.DRAW_MAPS, Way.DRAW_WHY, Way.TRAIN_WHY,
                                          Way.RUNS_WHY, Way.HANDWRITING_TEST,
                                          Way.UPLOADED_WEIGHTS)}}


def test_every_way_in_has_a_driver():
    assert set(DRIVERS) == set(Way)


@pytest.mark.slow
@pytest.mark.parametrize("way", list(Way), ids=lambda w: w.name.lower())
def test_every_way_in_refuses_the_over_budget_design_through_admit(
        way, tight, bundled, tmp_path, capsys, monkeypatch):
    driver = DRIVERS[way]
    extra = {"cli": {"tmp_path": tmp_path, "capsys": capsys},
             "torchrun": {"monkeypatch": monkeypatch, "capsys": capsys}}.get(driver.__name__, {})
    shown = driver(bundled, **extra)
    refusals = [message for w, message in REFUSED if w is way]
    assert refusals, f"{way} was refused without asking admit: {shown!r}"
    assert refusals[-1] in shown  # what the user sees is admit's own sentence
    assert "\n" not in refusals[-1].strip() and "Traceback" not in shown


# ---- limits while a training runs -------------------------------------------------------------
@pytest.mark.slow
def test_a_training_stops_itself_at_its_time_limit_with_the_reason(monkeypatch, bundled):
    monkeypatch.setenv(budget.SECONDS_ENV, "3")
    monkeypatch.setenv(budget.RATE_ENV, "1e15")  # its estimate says it fits easily: it does not
    job = TrainingJob(LENET5, bundled, TrainConfig(epochs=7, batch_size=32))
    job.start()
    job.join(60)
    snap = job.snapshot()
    assert snap.state == "finished"  # cut short, still a net to test and draw with
    assert snap.message.startswith("test accuracy ")
    assert ", stopped at the time limit: one training may take 3 s" in snap.message
    assert snap.step < 7 * snap.steps_per_epoch and job.evaluation is not None
    assert snap.notice.startswith("At this pace 7 epochs take about")  # told early, too
    from ui.progress import progress_text

    assert snap.notice in progress_text(replace(snap, state="running"))  # on the Train page
    print(f"stopped {snap.elapsed_s - 3:.2f} s after its 3 s limit (bench/admission.py times it)")


def test_the_clock_leaves_pauses_out():
    from cnn_core.training.limits import RunClock, forecast, over_time

    clock = RunClock()
    clock.go()
    time.sleep(0.05)
    clock.halt()
    paused = clock.seconds
    time.sleep(0.05)
    assert clock.seconds == paused and 0.04 < paused < 1
    assert over_time(10.0, 5.0, 1.5, 4).endswith("(it had trained 1.5 of 4 epochs)")
    assert over_time(4.0, 5.0, 1.5, 4) is None
    assert forecast(1.0, 10, 100, 3, 5.0) is None  # too soon to say
    said = forecast(2.0, 10, 100, 3, 25.0)
    assert said == ("At this pace 3 epochs take about 60 s, over the 25 s limit: about 1 epoch "
                    "will fit, and it stops there.")
    assert forecast(2.0, 10, 100, 3, 60.0) is None


@pytest.mark.slow
def test_a_long_pause_gives_its_optimizer_memory_back_and_resumes_exactly(bundled):
    digits = first_digits(bundled)
    config = TrainConfig(epochs=2, batch_size=64, seed=5)
    plain = train_to_completion(LENET5, digits, config)
    slots = TrainingSlots(limit=1)
    job = TrainingJob(LENET5, digits, config, slots=slots, pause_release_s=0.2)
    job.start()
    assert job.wait_until_started(30)
    job.pause()
    assert job.wait_until_held(30)
    assert slots.held_bytes == job.memory  # paused: no slot, but its memory is still held
    deadline = time.monotonic() + 10
    while slots.held_bytes == job.memory and time.monotonic() < deadline:
        time.sleep(0.05)
    assert slots.held_bytes == job.memory // 4  # parked: the optimizer's state went to disk
    assert not job.optimizer.state and job._parked.path is not None
    assert all(p.grad is None for p in job.optimizer.param_groups[0]["params"])
    job.resume()
    job.join(60)
    assert job.snapshot().state == "finished" and slots.held_bytes == 0
    assert job._parked.path is None
    for mine, theirs in zip(job.model.state_dict().values(), plain.model.state_dict().values()):
        assert torch.equal(mine, theirs)  # Adam's moments came back bit for bit


def test_a_paused_trainings_memory_keeps_the_next_one_waiting():
    slots = TrainingSlots(limit=2, memory_bytes=1000)
    paused, second, third = object(), object(), object()
    assert slots.acquire(paused, lambda: False, memory=700)
    slots.release(paused, keep=700)  # paused: its slot is free, its memory is not
    waited = []

    def start(owner, memory):
        waited.append(slots.acquire(owner, lambda: len(waited) > 5, memory=memory))

    thread = threading.Thread(target=start, args=(second, 400))
    thread.start()
    time.sleep(0.6)
    assert thread.is_alive() and slots.position(second) == 1  # queued behind the memory
    slots.hold(paused, 100)  # the paused one parked its optimizer
    thread.join(5)
    assert waited == [True] and slots.held_bytes == 500
    assert slots.acquire(third, lambda: False, memory=400)  # 900 of 1000: it fits at once
    slots.release(paused)
    assert slots.held_bytes == 800


# ---- heavy passes -------------------------------------------------------------------------------
def test_integrated_gradients_runs_in_batches_that_fit_and_gives_the_same_map(monkeypatch,
                                                                                bundled):
    from cnn_core.explain.attribution import attribute

    model = train_to_completion(SMALL_FAST, first_digits(bundled),
                                TrainConfig(epochs=1)).model
    image = bundled.test_images[0].numpy() / 255.0
    report = analyze(SMALL_FAST)
    limits = budget.Limits(memory_bytes=1 << 30, seconds=60, macs_per_s=1e10,
                           draw_memory_bytes=1 << 30)
    assert attribution_batch(report, 64, Way.DRAW_WHY, limits) == 64
    small = budget.Limits(memory_bytes=1 << 30, seconds=60, macs_per_s=1e10,
                          draw_memory_bytes=admission.pass_memory(
                              PassRequest(Way.DRAW_WHY, report, 5, backward=True)))
    assert attribution_batch(report, 64, Way.DRAW_WHY, small) == 5
    whole = attribute(model, image, 3)
    batched = attribute(model, image, 3, internal_batch_size=5)
    np.testing.assert_allclose(batched.heatmap, whole.heatmap, rtol=1e-4, atol=1e-6)


def test_heavy_passes_share_one_pool_and_wait_or_are_refused():
    pool = MemoryPool()
    with pool.hold(600, capacity=1000):
        with pytest.raises(NotAdmitted, match="busy with other students"), \
                pool.hold(600, capacity=1000, wait_s=0.2):
            pass
        with pool.hold(300, capacity=1000):  # what fits beside it runs at once
            assert pool.held == 900
    assert pool.held == 0
    with pool.hold(5000, capacity=1000):  # alone, a pass admitted on its own always runs
        assert pool.held == 5000


def test_pooling_is_costed_by_its_window_and_small_nets_by_their_steps():
    def seconds(*layers) -> float:
        from cnn_core.design.spec import layer as L

        spec = ArchitectureSpec((L("conv2d", out_channels=8, kernel_size=3, padding=1),
                                 *layers, L("flatten"), L("linear", out_features=10)))
        return budget.training_seconds(analyze(spec), 8000, 1, 1.5e10)

    from cnn_core.design.spec import layer as L

    small = seconds(L("maxpool2d", kernel_size=2, stride=1))
    wide = seconds(L("maxpool2d", kernel_size=15, stride=1, padding=7))
    assert wide > 3 * small  # a 15x15 window compares 56 times the values of a 2x2 one
    tiny = ArchitectureSpec((L("flatten"), L("linear", out_features=10)))
    assert budget.training_seconds(analyze(tiny), 8000, 1, 1.5e10, batch_size=8) > \
        budget.training_seconds(analyze(tiny), 8000, 1, 1.5e10, batch_size=256)


def test_admit_is_one_sentence_for_each_kind(tight):
    from cnn_core.data.datasets import DATASETS
    from cnn_core.training.admission import TrainingRequest

    report = analyze(MEMORY_BOMB)
    training = admit(TrainingRequest(Way.SCRIPT, report, 64, "adam", 1, 8000,
                                     DATASETS["mnist"]))
    assert "layer 4 (dropout)" in training and "not even batch size 1 fits" in training
    letters = admit(TrainingRequest(Way.SCRIPT, analyze(LENET5), 64, "adam", 1, 8000,
                                    DATASETS["emnist_letters"]))
    assert "26 classes" in letters
    drawing = admit(PassRequest(Way.DRAW_MAPS, report, feature_maps=True))
    assert drawing.startswith("this model's feature maps for one drawing need")
    assert "the Draw page's prediction and feature maps may use" in drawing


def test_the_ray_runner_keeps_only_the_latest_datasets_in_the_object_store(monkeypatch,
                                                                             bundled):
    import threading as _threading
    from dataclasses import replace

    pytest.importorskip("ray")
    from cnn_core.training import ray_runner

    put = []
    monkeypatch.setattr(ray_runner.ray, "put", lambda value: put.append(value) or len(put))
    runner = object.__new__(ray_runner.RayRunner)
    runner._shared, runner._lock = {}, _threading.Lock()
    sets = [replace(bundled, dataset="mnist") for _ in range(5)]  # five class-set mixes
    refs = [runner.digits_ref(splits) for splits in sets]
    assert refs == [1, 2, 3, 4, 5] and runner.digits_ref(sets[-1]) == 5  # each put once
    assert len(runner._shared) == ray_runner.KEPT_DATASETS  # the older refs were let go


def test_a_head_that_cannot_fit_lets_those_behind_it_that_fit_go_first():
    slots = TrainingSlots(limit=2, memory_bytes=1000)
    parked, big, small = object(), object(), object()
    assert slots.acquire(parked, lambda: False, memory=800)
    slots.release(parked, keep=200)  # a long-paused training: its optimizer went to disk
    got = []
    waiter = threading.Thread(target=lambda: got.append(
        slots.acquire(big, lambda: len(got) > 1, memory=900)))
    waiter.start()
    time.sleep(0.4)
    assert slots.position(big) == 1 and slots.running == 0
    assert slots.acquire(small, lambda: False, memory=300)  # passes the big one: 500 of 1000
    slots.release(small)
    slots.release(parked)  # the paused one stopped: now the big one goes
    waiter.join(5)
    assert got == [True] and slots.held_bytes == 900


@pytest.mark.slow
def test_a_training_paused_too_long_stops_and_lets_go(bundled):
    slots = TrainingSlots(limit=1)
    job = TrainingJob(LENET5, first_digits(bundled), TrainConfig(epochs=2), slots=slots,
                      pause_release_s=0.1, pause_stop_s=0.5)
    job.start()
    assert job.wait_until_started(30)
    job.pause()
    job.join(30)
    snap = job.snapshot()
    assert snap.state == "stopped"
    assert snap.message.startswith("stopped: paused for more than")
    assert slots.held_bytes == 0 and job._parked.path is None
