"""Fit the time estimate's constants (``cnn_core.training.budget``) to real epochs on this machine.

Nine designs (the four presets, a 9x9 stride-1 max-pool, three 3x3 convs, conv + batch norm,
an MLP, 5x5 convs with average pooling, tanh and dropout), LeNet-5 and the small net also at
batch 16 and 256: one epoch each over the 8,000 bundled digits through ``TrainingJob``
(validation and the final test included, as a student waits for them), ``--rounds`` times.
Each epoch's seconds are split into what the model counts: multiply-adds, pooling's output
values and window elements, elementwise layers' values, steps and layer-steps; the constants
are fitted together by non-negative least squares on the relative error. Prints each epoch
against the fit and the estimate in use, then the fitted constants in budget's units and
``worst_fit=`` and ``worst_now=`` (the largest factor either way, fitted and current).

Run: python bench/time_model.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from admission import one_epoch

from cnn_core.data.mnist import load_bundled
from cnn_core.design.layers import layer_type
from cnn_core.design.presets import KERAS_TUTORIAL, LENET5, PYTORCH_TUTORIAL, SMALL_FAST
from cnn_core.design.report import NetworkReport, layer_values
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.design.spec import layer as L
from cnn_core.training import budget

DESIGNS = {
    "lenet5": LENET5, "convnet": PYTORCH_TUTORIAL, "small": SMALL_FAST, "keras": KERAS_TUTORIAL,
    "wide_pool": ArchitectureSpec((
        L("conv2d", out_channels=8, kernel_size=3, padding=1),
        L("maxpool2d", kernel_size=9, stride=1, padding=4), L("relu"), L("flatten"),
        L("linear", out_features=10))),
    "three_convs": ArchitectureSpec((
        *[x for _ in range(3) for x in (L("conv2d", out_channels=16, kernel_size=3, padding=1),
                                        L("relu"))],
        L("maxpool2d", kernel_size=4), L("flatten"), L("linear", out_features=10))),
    "batch_norm": ArchitectureSpec((
        L("conv2d", out_channels=32, kernel_size=3, padding=1), L("batchnorm2d"), L("relu"),
        L("maxpool2d", kernel_size=2), L("flatten"), L("linear", out_features=10))),
    "mlp": ArchitectureSpec((L("flatten"), L("linear", out_features=128), L("relu"),
                             L("linear", out_features=10))),
    "avg_pool": ArchitectureSpec((
        L("conv2d", out_channels=16, kernel_size=5, padding=2), L("relu"),
        L("avgpool2d", kernel_size=2), L("conv2d", out_channels=32, kernel_size=5, padding=2),
        L("tanh"), L("maxpool2d", kernel_size=2), L("dropout"), L("flatten"),
        L("linear", out_features=10))),
}
BATCHES = {"lenet5": (16, 64, 256), "small": (16, 64, 256)}
IMAGES = 8000
# The columns, and how each fitted coefficient reads in budget's units.
COLUMNS = ("macs", "pool_values", "pool_elements", "elementwise_values", "steps", "layer_steps")


def columns(report: NetworkReport, batch: int) -> list[float]:
    """One epoch's counts, in the order of ``COLUMNS`` (MACs as forward and backward: x3)."""
    macs = pool_values = pool_elements = elementwise = 0.0
    for layer in report.layers:
        rule = layer_type(layer.type).rule
        if layer.macs or rule == "flatten":
            macs += layer.macs
        elif rule == "pool":
            kernel_h, kernel_w = layer.settings.get("kernel_size", (1, 1))
            pool_values += layer_values(layer)
            pool_elements += kernel_h * kernel_w * layer_values(layer)
        else:
            elementwise += layer_values(layer)
    steps = -(-IMAGES // batch)
    return [3 * macs * IMAGES, pool_values * IMAGES, pool_elements * IMAGES,
            elementwise * IMAGES, steps, steps * len(report.layers)]


def nonnegative_least_squares(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """min |a x - b| with x >= 0, by projected gradient on scaled columns (6 unknowns)."""
    scale = np.linalg.norm(a, axis=0)
    scale[scale == 0] = 1
    a = a / scale
    x = np.maximum(np.linalg.lstsq(a, b, rcond=None)[0], 0)
    step = 1 / np.linalg.norm(a, 2) ** 2
    for _ in range(200_000):
        x = np.maximum(x - step * a.T @ (a @ x - b), 0)
    return x / scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    splits = load_bundled()
    one_epoch(DESIGNS["mlp"], splits, 64)  # the process's one-off start, paid first
    rate = budget.Limits.from_env().macs_per_s
    rows, seconds, names = [], [], []
    for _ in range(args.rounds):
        for name, spec in DESIGNS.items():
            report = analyze(spec)
            for batch in BATCHES.get(name, (64,)):
                rows.append(columns(report, batch))
                seconds.append(one_epoch(spec, splits, batch))
                names.append((name, batch, budget.training_seconds(report, IMAGES, 1, rate,
                                                                   batch)))
    x, y = np.array(rows), np.array(seconds)
    fitted = nonnegative_least_squares(x / y[:, None], np.ones_like(y))
    predicted = x @ fitted
    for (name, batch, now), real, fit in zip(names, y, predicted, strict=True):
        print(f"{name:12s} batch {batch:3d}: real {real:5.2f} s, fitted {fit:5.2f} s "
              f"({real / fit:.2f}), estimate now {now:5.2f} s ({real / now:.2f})")
    mac_s, pool_value, pool_element, value, step, layer_step = fitted
    per_mac = mac_s  # seconds per MAC pass (the columns count each MAC 3 times)
    cores = rate / budget.MACS_PER_S_PER_CORE  # the cores one training gets here
    print(f"MACS_PER_S_PER_CORE={1 / per_mac / cores:.3g} "
          f"VALUE_COST_MACS={value / per_mac / 3:.0f} "
          f"POOL_BASE_MACS={pool_value / per_mac / 3:.0f} "
          f"POOL_ELEMENT_MACS={pool_element / per_mac / 3:.0f} "
          f"STEP_OVERHEAD_S={step:.2g} LAYER_STEP_OVERHEAD_S={layer_step:.2g}")
    now = np.array([n for _, _, n in names])
    worst = max(np.max(y / predicted), np.max(predicted / y))
    worst_now = max(np.max(y / now), np.max(now / y))
    print(f"worst_fit={worst:.2f} worst_now={worst_now:.2f}")


if __name__ == "__main__":
    main()
