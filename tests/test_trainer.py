"""The trainer on real digits: accuracy, controls, determinism, divergence, shared slots."""

import json
import threading
import time
from pathlib import Path

import pytest
import torch
from digits import first_digits

from cnn_core.design.presets import LENET5, SMALL_FAST
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.design.spec import layer as L
from cnn_core.training.job import TrainingJob, active_jobs, train_to_completion
from cnn_core.training.metrics import MAX_STEP_POINTS, LossDiverged, Metrics, StepTally
from cnn_core.training.slots import TrainingSlots
from cnn_core.training.trainer import TrainConfig
from cnn_core.training.workers import TRAINING_NICE


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.slow
def test_small_net_beats_95_percent_on_held_out_real_digits(bundled):
    job = train_to_completion(SMALL_FAST, bundled, TrainConfig(epochs=3, seed=1))
    snap = job.snapshot()
    assert snap.state == "finished", snap.message
    assert snap.epochs_done[-1].val_accuracy > 0.95
    assert job.evaluation.accuracy > 0.95
    assert sum(map(sum, job.evaluation.confusion)) == len(bundled.test_labels)
    assert len(job.evaluation.per_class_accuracy) == 10
    wrong = job.evaluation.misclassified
    assert all(job.evaluation.predictions[i] != bundled.test_labels[i] for i in wrong)
    assert snap.images_per_second > 0 and snap.step == 3 * snap.steps_per_epoch
    assert job.model.training is False  # handed over ready to answer


ROOT = Path(__file__).resolve().parent.parent
PRE_SPLIT = json.loads((Path(__file__).parent / "data" / "pre_split_curves.json").read_text())


@pytest.mark.skipif(torch.__version__.split("+")[0] != PRE_SPLIT["torch"]
                    or torch.get_num_threads() != PRE_SPLIT["threads"],
                    reason="the recorded curves are bit-exact only for the torch version and "
                           "thread count they were recorded with")
@pytest.mark.parametrize("case", PRE_SPLIT["cases"], ids=lambda c: c["preset"])
def test_the_loop_gives_exactly_the_curves_of_the_trainer_before_the_split(bundled, case):
    presets = {"lenet5": LENET5, "small": SMALL_FAST}
    digits = first_digits(bundled, 1000, 200)
    config = TrainConfig(**case["config"], speedups=False)
    job = train_to_completion(presets[case["preset"]], digits, config)
    snap = job.snapshot()
    # Equal to float32 rounding: oneDNN picks other kernels on another CPU (AVX2, AVX-512),
    # which add in another order (the recording machine's differed from an AVX-512 EPYC).
    steps = [[p.step, p.epoch, p.loss, p.accuracy] for p in snap.steps]
    epochs = [[e.train_loss, e.train_accuracy, e.val_loss, e.val_accuracy]
              for e in snap.epochs_done]
    assert len(steps) == len(case["steps"]) and len(epochs) == len(case["epochs"])
    flat = [value for row in steps + epochs for value in row]
    assert flat == pytest.approx([v for row in case["steps"] + case["epochs"] for v in row],
                                 rel=1e-5)
    assert job.evaluation.accuracy == case["test_accuracy"]


@pytest.mark.slow
def test_speedups_keep_the_accuracy_of_the_eager_loop(bundled):
    """Mean test accuracy over three seeds within 0.5 points of the plain eager loop's; the
    trained net comes back in the standard layout either way."""
    def mean_accuracy(speedups: bool) -> float:
        accuracies = []
        for seed in (0, 1, 2):
            config = TrainConfig(epochs=2, seed=seed, speedups=speedups)
            job = train_to_completion(LENET5, bundled, config)
            assert all(p.is_contiguous() for p in job.model.parameters())
            accuracies.append(job.evaluation.accuracy)
        return sum(accuracies) / len(accuracies)

    assert abs(mean_accuracy(True) - mean_accuracy(False)) <= 0.005


def test_every_trainer_runs_the_one_loop():
    """``loss.backward()`` is written once in the app (the loop in
    ``cnn_core/training/trainer.py``);
    ``bench/common.py`` holds the reference loops the benchmarks compare it with."""
    sources = [*ROOT.glob("cnn_core/**/*.py"), *ROOT.glob("bench/*.py")]
    counts = {str(p.relative_to(ROOT)): p.read_text().count(".backward(") for p in sources}
    assert {path: n for path, n in counts.items() if n} == {
        "cnn_core/training/trainer.py": 1, "bench/common.py": 3}


def test_same_seed_gives_the_same_curves(bundled):
    config = TrainConfig(epochs=1, batch_size=256, seed=7)
    small = first_digits(bundled, 1024, 256)
    a = train_to_completion(LENET5, small, config).snapshot()
    b = train_to_completion(LENET5, small, config).snapshot()
    c = train_to_completion(LENET5, small, TrainConfig(epochs=1, batch_size=256, seed=8))
    assert [p.loss for p in a.steps] == [p.loss for p in b.steps]
    assert [p.loss for p in a.steps] != [p.loss for p in c.snapshot().steps]


def test_stop_takes_effect_within_one_batch_and_twice_is_harmless(bundled):
    job = TrainingJob(SMALL_FAST, bundled, TrainConfig(epochs=5, batch_size=32))
    job.start()
    wait_for(lambda: job.snapshot().step >= 3)
    job.stop()
    step_at_stop = job.snapshot().step
    job.stop()
    job.join(10)
    snap = job.snapshot()
    assert snap.state == "stopped" and snap.message == "stopped by the user"
    assert snap.step <= step_at_stop + 1
    assert job.evaluation is None


def thread_nice_values() -> dict[int, int]:
    """Each thread of this process and its Linux nice value (field 19 of its stat line)."""
    tasks = Path("/proc/self/task")
    return {int(t.name): int((t / "stat").read_text().rsplit(")", 1)[1].split()[16])
            for t in tasks.iterdir()}


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="Linux only")
def test_a_training_runs_at_lower_priority_than_the_pages(bundled):
    job = TrainingJob(SMALL_FAST, bundled, TrainConfig(epochs=5))
    job.start()
    wait_for(lambda: job.snapshot().step >= 3)
    nice = thread_nice_values()
    job.stop()
    job.join(10)
    assert nice[threading.get_native_id()] == 0  # the caller (a page's script) keeps its own
    # the training thread and its OpenMP team, which it started
    assert sum(v == TRAINING_NICE for v in nice.values()) >= torch.get_num_threads(), nice


def test_pause_holds_and_resume_continues(bundled):
    job = TrainingJob(SMALL_FAST, bundled, TrainConfig(epochs=2, batch_size=32))
    job.start()
    wait_for(lambda: job.snapshot().step >= 2)
    job.pause()
    wait_for(lambda: job.snapshot().state == "paused")
    held = job.snapshot().step
    time.sleep(0.5)
    assert job.snapshot().step <= held + 1
    job.resume()
    wait_for(lambda: job.snapshot().step > held + 5)
    assert job.snapshot().state == "running"
    assert job.optimizer is not None  # the steering reads it while training
    job.stop()
    job.join(10)
    assert job.optimizer is None  # a finished job held by a session keeps only its model


def test_divergence_stops_with_an_explanation(bundled):
    no_activation = ArchitectureSpec((L("flatten"), L("linear", out_features=64),
                                      L("linear", out_features=10)))
    config = TrainConfig(epochs=1, batch_size=64, optimizer="sgd", learning_rate=10.0)
    job = train_to_completion(no_activation, bundled, config)
    snap = job.snapshot()
    assert snap.state == "failed"
    assert "learning rate is probably too high" in snap.message
    assert snap.step < snap.steps_per_epoch


def test_a_net_that_learns_nothing_gets_a_hint(bundled):
    config = TrainConfig(epochs=1, optimizer="sgd", learning_rate=10.0)
    job = train_to_completion(LENET5, bundled, config)  # ReLUs die: stuck at chance level
    snap = job.snapshot()
    assert snap.state == "finished"
    assert "no better than guessing" in snap.message


@pytest.mark.parametrize("config, words", [
    (TrainConfig(epochs=0), "epochs must be between 1 and 50"),
    (TrainConfig(batch_size=-1), "batch size must be between"),
    (TrainConfig(learning_rate=float("nan")), "learning rate must be between"),
    (TrainConfig(learning_rate=1e9), "learning rate must be between"),
])
def test_bad_hyperparameters_start_nothing(bundled, config, words):
    with pytest.raises(ValueError, match=words):
        TrainingJob(SMALL_FAST, bundled, config)


def test_unavailable_device_is_refused(bundled):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="cuda is not available"):
        TrainingJob(SMALL_FAST, bundled, TrainConfig(device="cuda"))
    job = TrainingJob(SMALL_FAST, bundled, TrainConfig(device="cpu"))
    assert job.device.type == "cpu" and job.snapshot().device.startswith("CPU")


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="no CUDA GPU here (run on one: python -m pytest -k cuda)")
def test_trains_on_cuda_reproducibly_and_hands_back_a_cpu_model(bundled):
    config = TrainConfig(epochs=1, batch_size=128, seed=3, device="cuda")
    first = train_to_completion(SMALL_FAST, bundled, config)
    snap = first.snapshot()
    assert snap.state == "finished", snap.message
    assert snap.device.startswith("CUDA: ")
    assert snap.epochs_done[-1].val_accuracy > 0.9 and first.evaluation.accuracy > 0.9
    assert next(first.model.parameters()).device.type == "cpu"  # ready for the Draw page
    again = train_to_completion(SMALL_FAST, bundled, config).snapshot()
    assert [p.loss for p in again.steps] == [p.loss for p in snap.steps]
    assert TrainingJob(SMALL_FAST, bundled, TrainConfig()).device.type == "cuda"  # auto


def test_slots_queue_in_order_and_an_orphan_frees_its_slot(bundled):
    slots = TrainingSlots(limit=1)
    config = TrainConfig(epochs=50, batch_size=16)
    first = TrainingJob(SMALL_FAST, bundled, config, slots=slots, orphan_timeout_s=1.0)
    second = TrainingJob(SMALL_FAST, bundled, config, slots=slots)
    third = TrainingJob(SMALL_FAST, bundled, config, slots=slots)
    assert not first.wait_until_started(0.01)  # not started at all
    for job in (first, second, third):
        job.start()
    # Places are taken at start(), in click order, whichever worker thread wakes first.
    third_place = slots.position(third)  # read first: places only move up meanwhile
    assert third_place > slots.position(second) >= 1
    # Keep the first job's page "alive" until the queue is checked (a loaded machine can take
    # longer than its 1 s orphan timeout to get here).
    wait_for(lambda: first.heartbeat() or first.snapshot().state == "running")
    wait_for(lambda: first.heartbeat() or third.snapshot().queue_position == 2)
    assert second.snapshot().queue_position == 1
    assert first.wait_until_started(0) and not third.wait_until_started(0.1)  # queued
    # Now nobody heartbeats the first job: after 1 s it stops itself and frees the slot.
    second.heartbeat()
    third.heartbeat()
    wait_for(lambda: first.snapshot().state == "stopped", timeout=20)
    assert "browser tab" in first.snapshot().message
    wait_for(lambda: second.snapshot().state == "running")
    assert third.snapshot().queue_position == 1
    third.stop()  # leaving the queue
    wait_for(lambda: third.snapshot().state == "stopped")
    second.stop()
    second.join(10)
    assert slots.running == 0


def test_plotted_points_stay_bounded(bundled):
    few = first_digits(bundled, 2000, 64)
    linear = ArchitectureSpec((L("flatten"), L("linear", out_features=10)))  # quick steps
    job = train_to_completion(linear, few, TrainConfig(epochs=1, batch_size=2))
    snap = job.snapshot()
    assert snap.step == 1000 > 4 * MAX_STEP_POINTS
    assert MAX_STEP_POINTS // 2 <= len(snap.steps) <= MAX_STEP_POINTS


def test_gpu_steps_are_read_back_in_groups_and_a_nan_is_still_caught():
    """The GPU bookkeeping, run on CPU tensors: steps wait in a group, then publish in order."""
    metrics = Metrics()
    tally = StepTally(metrics, epoch_images=40, on_cpu=False)
    tally.read_back_s = 3600.0  # only the step count decides here, however slow the machine
    tally.start_epoch(1)
    labels = torch.tensor([0, 1, 2, 3])
    two_right = torch.eye(10)[[0, 1, 5, 5]]  # predicts 0, 1, 5, 5
    for loss in (2.0, 1.5, 1.0):
        tally.add(torch.tensor(loss), two_right, labels)
    assert not tally.due() and not metrics.steps  # nothing read back yet,
    assert metrics.step == 3  # but the progress counts the steps taken
    tally.read_back()
    assert [p.loss for p in metrics.steps] == [2.0, 1.5, 1.0]
    assert [p.epoch for p in metrics.steps] == pytest.approx([0.1, 0.2, 0.3])
    assert metrics.steps[0].accuracy == 0.5 and metrics.images == 12
    assert tally.epoch_means() == (1.5, 0.5)
    for _ in range(tally.read_back_steps - 1):
        tally.add(torch.tensor(float("nan")), two_right, labels)
    assert not tally.due()
    tally.add(torch.tensor(float("nan")), two_right, labels)
    assert tally.due()
    with pytest.raises(LossDiverged, match=r"^the loss became nan at step 4: the learning rate"):
        tally.read_back()


def test_a_paused_training_gives_its_slot_to_the_next_and_queues_to_resume(bundled):
    slots = TrainingSlots(limit=1)
    config = TrainConfig(epochs=50, batch_size=16)
    first = TrainingJob(SMALL_FAST, bundled, config, slots=slots)
    second = TrainingJob(SMALL_FAST, bundled, config, slots=slots)
    first.start()
    wait_for(lambda: first.snapshot().step >= 2)
    second.start()
    assert second.snapshot().queue_position == 1
    first.pause()
    wait_for(lambda: second.snapshot().state == "running")  # the paused tab let it in
    held = first.snapshot().step
    first.resume()
    wait_for(lambda: first.snapshot().state == "queued")  # behind the one now training
    assert first.snapshot().queue_position == 1 and first.snapshot().step == held
    second.stop()
    wait_for(lambda: first.snapshot().step > held)
    assert first.snapshot().state == "running"
    first.stop()
    for job in (first, second):
        job.join(10)
    assert slots.running == 0


def test_a_connected_owner_keeps_a_training_alive_without_heartbeats(bundled):
    connected = [True]
    job = TrainingJob(SMALL_FAST, bundled, TrainConfig(epochs=50, batch_size=16),
                      orphan_timeout_s=0.5, owner_connected=lambda: connected[0])
    job.start()
    wait_for(lambda: job.snapshot().step >= 2)
    time.sleep(1.5)  # three timeouts without a heartbeat: a hidden tab, a page timer asleep
    assert job.snapshot().state == "running"
    connected[0] = False  # the connection drops and does not come back
    wait_for(lambda: job.snapshot().state == "stopped", timeout=20)
    assert "browser tab" in job.snapshot().message


def test_active_jobs_lists_the_trainings_not_yet_over(bundled):
    job = TrainingJob(SMALL_FAST, bundled, TrainConfig(epochs=50, batch_size=16))
    assert job not in active_jobs()  # created, not started
    job.start()
    assert job in active_jobs()
    job.stop("stopped by the teacher")
    job.join(10)
    assert job not in active_jobs() and job.snapshot().message == "stopped by the teacher"


def test_no_way_of_starting_a_training_skips_the_memory_budget(bundled):
    """The issue's memory bomb: 1,024 channels kept through 30 batchnorm/relu/dropout layers."""
    bomb = ArchitectureSpec((L("conv2d", out_channels=1024, kernel_size=1),
                             *[L(t) for _ in range(30) for t in ("batchnorm2d", "relu",
                                                                  "dropout")],
                             L("maxpool2d", kernel_size=28), L("flatten"),
                             L("linear", out_features=10)))
    with pytest.raises(ValueError, match=r"costliest layer is layer \d+ .*batch size \d+ would"):
        TrainingJob(bomb, bundled, TrainConfig(batch_size=64))


@pytest.mark.slow
def test_a_process_that_exits_mid_training_stops_it_and_exits_cleanly(tmp_path):
    """Leaving a training running at exit once aborted pytest (rc 134, "terminate called
    without an active exception"): the exit hook stops and joins it, and the run says why."""
    import os
    import subprocess
    import sys

    script = tmp_path / "leave.py"
    script.write_text(
        "import sys\n"
        "from cnn_core.data.mnist import load_bundled\n"
        "from cnn_core.design.presets import LENET5\n"
        "from cnn_core.training.job import TrainingJob, active_jobs\n"
        "from cnn_core.training.trainer import TrainConfig\n"
        "job = TrainingJob(LENET5, load_bundled(), TrainConfig(epochs=50, batch_size=512),\n"
        "                  orphan_timeout_s=float('inf'))\n"
        "job.start()\n"
        "assert job.wait_until_started(60)\n"
        "import time; time.sleep(1)  # inside a large batch's convolutions\n"
        "print('started', flush=True)\n")
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(script)], cwd=root, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(root)})
    assert "started" in done.stdout, done.stderr
    assert done.returncode == 0, done.stderr
    assert "terminate called" not in done.stderr
