"""Is the memory budget's estimate an upper bound, and how loose? Train real designs with the
app's trainer, each in a fresh process, and compare the peak memory the training added (the
process's peak RSS during it, minus its RSS just before) with ``budget.training_memory``.

Each training runs a few steps (peak memory per step does not depend on the epoch's length)
and one validation pass of a full evaluation batch. Ends with
``worst_measured_over_estimate=R`` (must stay below 1: the estimate is an upper bound) and
``loosest_estimate_over_measured=R``.

Run: python bench/memory_budget.py
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "harness")]

from hostile_designs import MEMORY_BOMB  # noqa: E402

from cnn_core.design.presets import PRESETS  # noqa: E402
from cnn_core.design.report import largest_values  # noqa: E402
from cnn_core.design.shapes import analyze  # noqa: E402
from cnn_core.training.budget import eval_batch_size, format_bytes, training_memory  # noqa: E402

DESIGNS = {**PRESETS, "memory bomb": MEMORY_BOMB}
CASES = [(name, 64, "adam") for name in PRESETS] + [
    ("Seed tutorial: PyTorch ConvNet", 512, "adam"), ("Seed tutorial: PyTorch ConvNet", 64, "sgd"),
    ("Seed tutorial: Keras net", 512, "adam"), ("Small fast net", 1024, "sgd"),
    ("memory bomb", 1, "adam"), ("memory bomb", 2, "adam"), ("memory bomb", 4, "adam")]
STEPS = 4


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def measure(name: str, batch: int, optimizer: str) -> list[int]:
    """In this process: train ``name`` for a few steps, twice; the bytes the peak RSS rose by
    each time (the first also pays torch's one-time costs: thread pools, kernels)."""
    import torch

    from cnn_core.data.mnist import MnistSplits, load_bundled
    from cnn_core.training.job import TrainingJob
    from cnn_core.training.trainer import TrainConfig

    torch.set_num_threads(2)
    digits = load_bundled()
    held = eval_batch_size(largest_values(analyze(DESIGNS[name])))  # one full eval batch
    n = batch * STEPS
    splits = MnistSplits(digits.train_images[:n], digits.train_labels[:n],
                         digits.val_images[:held], digits.val_labels[:held],
                         digits.val_images[:held], digits.val_labels[:held], "bundled")
    config = TrainConfig(epochs=1, batch_size=batch, optimizer=optimizer, device="cpu")
    rises = []
    for _ in range(2):  # a server's first training, then a later one
        job = TrainingJob(DESIGNS[name], splits, config, orphan_timeout_s=float("inf"))
        before = _status("VmRSS:")
        Path("/proc/self/clear_refs").write_text("5")  # restart the peak (VmHWM) from now
        job.start()
        job.join()
        assert job.snapshot().state == "finished", job.snapshot().message
        rises.append(_status("VmHWM:") - before)
        del job
        gc.collect()
    return rises


def main() -> None:
    if len(sys.argv) == 4:  # the child: one measurement, as JSON
        print(json.dumps(measure(sys.argv[1], int(sys.argv[2]), sys.argv[3])))
        return
    ratios = []
    for name, batch, optimizer in CASES:
        child = subprocess.run([sys.executable, __file__, name, str(batch), optimizer],
                               capture_output=True, text=True, check=True, cwd=ROOT)
        first, later = json.loads(child.stdout.splitlines()[-1])
        estimate = training_memory(analyze(DESIGNS[name]), batch, optimizer).total
        ratios.append(first / estimate)
        print(f"{name}, batch {batch}, {optimizer}: peak RSS rose by {format_bytes(first)} "
              f"(first training), {format_bytes(later)} (the next); estimated "
              f"{format_bytes(estimate)}; first/estimate {first / estimate:.2f}", flush=True)
    print(f"worst_measured_over_estimate={max(ratios):.2f} "
          f"loosest_estimate_over_measured={1 / min(ratios):.2f}")


if __name__ == "__main__":
    main()
