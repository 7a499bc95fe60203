"""How soon a training answers Stop, and a lost Ray worker: figures the tests no longer assert
(they check that the stop and the failure happen, with a generous bound on a hang).

Starts the Small fast net (batch 16, 50 epochs of 2,000 bundled digits) on the runner the app
would use (in this process, or on Ray when ``CNN_EXPLAINER_RAY_ADDRESS`` is set), waits until
it has taken a few steps, presses Stop and times until its state reads "stopped". On Ray it
then starts another, kills its worker process and times until the training reads "failed".
Ends with ``stop_s=X`` (the median; target: under 2 s) and, on Ray, ``lost_worker_s=Y``
(target: under 10 s).

Run: python bench/stop_latency.py [--rounds 3]
     CNN_EXPLAINER_RAY_ADDRESS=HEAD_IP:6379 python bench/stop_latency.py
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import time
from collections.abc import Callable

from common import training_splits

from cnn_core.design.presets import SMALL_FAST
from cnn_core.training.runner import Runner, Training, runner_from_env
from cnn_core.training.trainer import TrainConfig

FIRST_START_S = 240  # a Ray worker's first start imports torch


def seconds_until(predicate: Callable[[], bool], timeout: float) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise SystemExit(f"no answer after {timeout:.0f} s")
        time.sleep(0.02)
    return time.monotonic() - start


def running(runner: Runner, splits) -> Training:
    job = runner.start(SMALL_FAST, splits, TrainConfig(epochs=50, batch_size=16))
    seconds_until(lambda: job.heartbeat() or job.snapshot().step > 3, FIRST_START_S)
    return job


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    runner, splits = runner_from_env(), training_splits(2000)
    stops = []
    for _ in range(args.rounds):
        job = running(runner, splits)
        job.stop()
        stops.append(seconds_until(lambda job=job: job.snapshot().state == "stopped", 60))
        job.join(60)
    print(f"{runner.where}: Stop to 'stopped' " + ", ".join(f"{s:.2f}" for s in stops) + " s")
    figures = f"stop_s={statistics.median(stops):.2f}"
    if hasattr(job, "worker_pid"):  # Ray: a worker that dies is noticed
        job = running(runner, splits)
        os.kill(job.worker_pid, signal.SIGKILL)
        lost = seconds_until(lambda: job.heartbeat() or job.snapshot().state == "failed", 120)
        print(f"killed worker to 'failed': {lost:.2f} s ({job.snapshot().message})")
        figures += f" lost_worker_s={lost:.2f}"
    print(figures)


if __name__ == "__main__":
    main()
