"""The start of a lesson: 30 students press Train within a minute, on one server.

Twenty train the LeNet-5 preset unchanged (its recipe), ten a design of their own
(LeNet-5 with one layer's width changed, each a different width). Each press goes through the
Train page's path, without browsers: the server's runner (``InProcessRunner``, its default
slots and queue), ``share=True``, a recorder in a fresh run store with the student's own owner
secret, and the server's MNIST (offline: the bundled digits). A student's page is simulated by
polling the snapshot and sending heartbeats every 0.1 s, as the live panel does; a student
given a finished run's replay presses "Skip to the end" at once (the hurried case).

Measured per student: from pressing Train to holding a trained model (``model`` not None).
``trainings_run``: the runs the store recorded (each real training records one). Over the
limit: each recorded run's training time past the time limit (``Limits.seconds``).

Ends with ``p50_s=… p95_s=… trainings_run=… max_over_limit_s=…``. Targets on 2 quiet cores:
p95 ≤ 90 s, trainings_run ≤ 11, max_over_limit_s ≤ 5.

Run: python bench/class_queue.py [--window 60] [--seed 0] [--quick]
(--quick: one epoch each and a 15 s window, to see it work on a busy machine). Each starts
from what the Train page starts from for the design (``settings.recipe``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_core.data.dataset_store import MnistStore
from cnn_core.design.presets import LENET5
from cnn_core.design.spec import ArchitectureSpec, Layer
from cnn_core.runs.recording import Recorder
from cnn_core.runs.store import RunStore
from cnn_core.storage.owners import new_owner_token
from cnn_core.training.admission import Way
from cnn_core.training.budget import Limits
from cnn_core.training.replay import ReplayedTraining
from cnn_core.training.runner import InProcessRunner
from cnn_core.training.settings import recipe
from cnn_core.training.sharing import SHARE_ENV
from cnn_core.training.trainer import TrainConfig

PRESET_STUDENTS, OWN_STUDENTS = 20, 10
POLL_S = 0.1
GIVE_UP_S = 900.0


def own_design(n: int) -> ArchitectureSpec:
    """LeNet-5 with one width changed: the n-th student's own small variation."""
    layers = list(LENET5.layers)
    if n % 2:  # the first linear layer: 96 to 136 units instead of 120
        index, param, value = 7, "out_features", (96, 104, 112, 128, 136)[n // 2]
    else:  # the first conv layer: 3 to 8 channels instead of 6
        index, param, value = 0, "out_channels", (3, 4, 5, 7, 8)[n // 2]
    layers[index] = Layer(layers[index].type, {**layers[index].params, param: value})
    return dataclasses.replace(LENET5, layers=tuple(layers))


def student(runner: InProcessRunner, store: RunStore, splits, spec: ArchitectureSpec,
            name: str, config: TrainConfig, at: float, start: float, waits: list[float],
            kinds: list[str]) -> None:
    time.sleep(max(0.0, start + at - time.monotonic()))
    pressed = time.monotonic()
    recorder = Recorder(store, None, "train page", owner_token=new_owner_token())
    training = runner.start(spec, splits, config, name=name, recorder=recorder,
                            way=Way.TRAIN_PAGE, share=True)
    kinds.append(type(training).__name__)
    if isinstance(training, ReplayedTraining):
        training.skip_to_end()
    while training.model is None and time.monotonic() - pressed < GIVE_UP_S:
        training.heartbeat()
        if training.snapshot().state in ("stopped", "failed"):
            print(f"{name}: {training.snapshot().message}", file=sys.stderr)
            return
        time.sleep(POLL_S)
    waits.append(time.monotonic() - pressed)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=60.0, help="seconds the presses span")
    parser.add_argument("--seed", type=int, default=0, help="of the press times")
    parser.add_argument("--quick", action="store_true", help="1 epoch each, a 15 s window")
    args = parser.parse_args()
    os.environ[SHARE_ENV] = "1"  # the server's default, whatever the shell says
    def config(spec: ArchitectureSpec) -> TrainConfig:  # what the Train page starts from
        return TrainConfig(**(recipe(spec) | ({"epochs": 1} if args.quick else {})))

    window = 15.0 if args.quick else args.window
    data = MnistStore()
    data.start()
    splits = data.wait()
    store = RunStore(Path(tempfile.mkdtemp(prefix="class-queue-runs-")))
    runner = InProcessRunner()
    rng = random.Random(args.seed)
    students = [(LENET5, "LeNet-5")] * PRESET_STUDENTS + [
        (own_design(n), f"LeNet-5 (edited {n})") for n in range(OWN_STUDENTS)]
    rng.shuffle(students)
    times = sorted(rng.uniform(0, window) for _ in students)
    waits: list[float] = []
    kinds: list[str] = []
    start = time.monotonic()
    threads = [threading.Thread(target=student, args=(runner, store, splits, spec, name,
                                                      config(spec), at, start, waits, kinds))
               for (spec, name), at in zip(students, times, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    limit = Limits.from_env().seconds
    runs = store.list_runs(limit=1000)
    over = max((max(0.0, (r.duration_s or 0.0) - limit) for r in runs), default=0.0)
    print(f"{len(splits.train_images):,} training images ({splits.source}), "
          f"LeNet-5: {config(LENET5).describe()}, the others: {config(own_design(0)).describe()}, "
          f"{runner.slots.limit} slot(s), presses over {window:.0f} s; "
          f"given: {', '.join(f'{kinds.count(k)} {k}' for k in sorted(set(kinds)))}; "
          f"{len(waits)} of {len(students)} got a model; wall {time.monotonic() - start:.0f} s")
    if not waits:
        sys.exit("no student got a model")
    print(f"p50_s={statistics.median(waits):.1f} p95_s={percentile(waits, 0.95):.1f} "
          f"trainings_run={store.count()} max_over_limit_s={over:.1f}", flush=True)
    # The app's worker threads (daemons, eleven here) are alive at exit, and torch aborted
    # in its finalization once they had all trained ("terminate called without an active
    # exception", rc 134) after the figures above: leave without finalizing.
    os._exit(0)


if __name__ == "__main__":
    main()
