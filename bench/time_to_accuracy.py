"""Time to accuracy: seconds until held-out accuracy first reaches 97 %, the app's default recipe
against the seed tutorial's, for LeNet-5 and the seed tutorial's ConvNet.

The bundled real digits: 8,000 to train on, the other 2,000 held out. Both sides check the
held-out digits after each epoch and stop at the first check at or over 97 %; each clock runs
from model creation to that check, the checks included (the app's clock also holds its test
pass on the held-out digits once stopped: what a student waits for).

- app: ``TrainingJob`` with the preset's recipe (``settings.recipe``: what the Train page
  and the command line start from for it), only ``stop_at_accuracy=97`` added so that it
  ends at the check that reached it;
- tutorial: the seed tutorial's own loop, unchanged: a Dataset of PIL images through
  ``ToTensor``/``Normalize``, ``DataLoader(batch_size=100, shuffle=True)``,
  ``Adam(lr=0.001)``, and its test loop (batches of 100 under ``no_grad``) after each epoch.

Rounds interleave app and tutorial so that drift hits both alike; each figure is a median.
Prints each round, then ``lenet_tta_ratio=R1 convnet_tta_ratio=R2`` (tutorial s / app s).
Target: >= 3 for both.

Run: python bench/time_to_accuracy.py [--rounds 3] [--device cuda] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import plain_loop, tutorial_seconds_to

from cnn_core.data.mnist import MnistSplits, load_bundled
from cnn_core.design.presets import LENET5, PYTORCH_TUTORIAL
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.training.devices import device_name, resolve_device
from cnn_core.training.job import TrainingJob
from cnn_core.training.settings import recipe
from cnn_core.training.trainer import TrainConfig

TARGET = 0.97
MAX_EPOCHS = 12  # the tutorial's LeNet-5 needs about 5 here; a side that never gets there stops
NETS = (("lenet", LENET5), ("convnet", PYTORCH_TUTORIAL))


def app_seconds(spec: ArchitectureSpec, splits: MnistSplits, device: str) -> tuple[float, int]:
    """The design's recipe: seconds to the first epoch at 97 %, and that epoch."""
    config = TrainConfig(**recipe(spec), device=device, stop_at_accuracy=100 * TARGET)
    start = time.perf_counter()
    job = TrainingJob(spec, splits, config)
    job.start()
    job.join()
    seconds = time.perf_counter() - start
    snap = job.snapshot()
    assert snap.state == "finished", snap.message
    reached = [e.epoch for e in snap.epochs_done if e.val_accuracy >= TARGET]
    return (seconds, reached[0]) if reached else (float("inf"), snap.epochs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or mps")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    resolved = resolve_device(args.device)
    device = resolved.type
    splits = load_bundled()
    apps = "; ".join(f"{name} {TrainConfig(**recipe(spec)).describe()}" for name, spec in NETS)
    print(f"torch {torch.__version__}, {device_name(resolved)}, {torch.get_num_threads()} "
          f"threads; app: {apps}; tutorial: batch 100, Adam, learning rate 0.001; "
          f"both checked after each epoch, target {TARGET:.0%} held-out accuracy")
    started = time.perf_counter()
    ratios = {}
    for name, spec in NETS:
        app_seconds(spec, splits, device)  # warm-ups: a process's first training pays
        plain_loop(spec, 640, device=device)  # one-off costs (the reference loops run in a
        # process of their own)
        runs: dict[str, list[float]] = {"app": [], "tutorial": []}
        for round_ in range(1, args.rounds + 1):
            a, a_epoch = app_seconds(spec, splits, device)
            t, t_epoch = tutorial_seconds_to(TARGET, spec, device, MAX_EPOCHS)
            runs["app"].append(a)
            runs["tutorial"].append(t)
            print(f"{name:8s} round {round_}: app {a:6.1f} s (epoch {a_epoch})   tutorial "
                  f"{t:6.1f} s (epoch {t_epoch})   ratio {t / a:.2f}", flush=True)
        med = {k: statistics.median(v) for k, v in runs.items()}
        ratios[name] = med["tutorial"] / med["app"]
        print(f"{name:8s} median: app {med['app']:.1f} s, tutorial {med['tutorial']:.1f} s, "
              f"ratio {ratios[name]:.2f}")
    print(f"elapsed {time.perf_counter() - started:.0f} s")
    print(f"lenet_tta_ratio={ratios['lenet']:.2f} convnet_tta_ratio={ratios['convnet']:.2f}")


if __name__ == "__main__":
    main()
