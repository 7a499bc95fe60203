"""Training throughput: the app's trainer vs a plain PyTorch loop vs the seed tutorial's way.

Whole trainings end to end (model creation to the trained net), same batches (the plain and
tutorial loops in a process of their own, the trainer on its training thread here):
the seed tutorial's PyTorch ConvNet for 1 epoch of 8,000 real digits and LeNet-5 for 3
epochs of 8,000 (on a GPU 24,000 digits an epoch, the bundled ones repeated), in several
interleaved rounds; each figure is the median of its rounds (this machine's speed drifts by
10 % and more from run to run). Prints the ratios and ends with
``trainer_vs_plain=R1 convnet_vs_tutorial=R2 lenet_vs_tutorial=R3`` (R1: the worse net).
Targets: R1 >= 1.15, R2 >= 1.6, R3 >= 2.5.

Run: python bench/throughput.py [--device cuda]   (the CPU unless a device is named; on a GPU
each loop keeps the digits on the GPU, the tutorial's DataLoader copies each batch over)
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import app_trainer, plain_loop, training_splits, tutorial_loop

from cnn_core.design.presets import LENET5, PYTORCH_TUTORIAL
from cnn_core.training.devices import device_name, resolve_device

NETS = (("convnet", PYTORCH_TUTORIAL, 8000, 1, 3), ("lenet", LENET5, 8000, 3, 5))  # digits,
# epochs, rounds
GPU_EPOCH = 24_000  # digits a run on a GPU (the 8,000 three times): its fixed costs fade


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or mps")
    resolved = resolve_device(parser.parse_args().device)
    device = resolved.type
    started = time.perf_counter()
    print(f"torch {torch.__version__}, {device_name(resolved)}, batch 64, real MNIST digits "
          "(the bundled set)")
    results = {}
    for name, spec, n_train, epochs, rounds in NETS:
        if device != "cpu":
            n_train = GPU_EPOCH
        splits = training_splits(n_train)
        plain_loop(spec, n_train, device=device)  # warm-ups: each process's first training
        app_trainer(spec, splits, device=device)  # pays one-off costs
        runs: dict[str, list[float]] = {"trainer": [], "plain": [], "tutorial": []}
        for _ in range(rounds):  # interleaved, so drift hits all three alike
            runs["trainer"].append(app_trainer(spec, splits, device=device, epochs=epochs))
            runs["plain"].append(plain_loop(spec, n_train, device=device, epochs=epochs))
            runs["tutorial"].append(tutorial_loop(spec, n_train, device=device, epochs=epochs))
        med = {k: statistics.median(v) for k, v in runs.items()}
        results[name] = med
        print(f"{name:8s} trainer {med['trainer']:7,.0f} img/s   plain {med['plain']:7,.0f} "
              f"img/s   tutorial {med['tutorial']:7,.0f} img/s   trainer/plain "
              f"{med['trainer'] / med['plain']:.3f}   trainer/tutorial "
              f"{med['trainer'] / med['tutorial']:.2f}   ({rounds} rounds, {epochs} x {n_train:,})")
    r1 = min(r["trainer"] / r["plain"] for r in results.values())
    r2 = results["convnet"]["trainer"] / results["convnet"]["tutorial"]
    r3 = results["lenet"]["trainer"] / results["lenet"]["tutorial"]
    print(f"elapsed {time.perf_counter() - started:.0f} s")
    print(f"trainer_vs_plain={r1:.3f} convnet_vs_tutorial={r2:.2f} lenet_vs_tutorial={r3:.2f}")


if __name__ == "__main__":
    main()
