"""Does a training run as fast after two trainings ran at once as before?

Each thread that has run a parallel torch op keeps an OpenMP team of threads; once the teams
outnumber the cores, OpenMP's waits between parallel ops go from spinning to sleeping, and a
net of many small ops (LeNet-5) waits at each one. ``cnn_core.training.workers`` keeps one
idle training thread only. Prints one LeNet-5 epoch's seconds (through ``TrainingJob``) alone,
then after two trainings ran at once, and ``after_two_at_once_vs_alone=`` (median over median;
target <= 1.1: before the fix it read 1.41-1.94).

    python bench/idle_teams.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics

from admission import one_epoch

from cnn_core.data.mnist import load_bundled
from cnn_core.design.presets import LENET5
from cnn_core.training.job import TrainingJob
from cnn_core.training.trainer import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    splits = load_bundled()
    one_epoch(LENET5, splits)  # warm-up: the first training pays one-off costs
    alone = [one_epoch(LENET5, splits) for _ in range(rounds)]
    pair = [TrainingJob(LENET5, splits, TrainConfig(epochs=1), orphan_timeout_s=float("inf"))
            for _ in range(2)]
    for job in pair:
        job.start()
    for job in pair:
        job.join()
    after = [one_epoch(LENET5, splits) for _ in range(rounds)]
    print("LeNet-5 epoch alone:", " ".join(f"{s:.2f}" for s in alone), "s; after two at once:",
          " ".join(f"{s:.2f}" for s in after), "s")
    print(f"after_two_at_once_vs_alone={statistics.median(after) / statistics.median(alone):.2f}")


if __name__ == "__main__":
    main()
