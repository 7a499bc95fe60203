"""How honest the admission check's time estimate is, and how soon a training stops at its limit.

For LeNet-5, the seed tutorial's ConvNet, the small fast net and a design with a wide max-pool,
one real epoch over the 8,000 bundled training digits (through ``TrainingJob``, validation
included) against the estimate the Train page shows before it starts; the three presets'
own recipes (what the Train page starts them from) likewise, against the first estimate the
Design and Train pages show for them; then a training given a 3 s limit and an estimate that
says it fits, and how long past the limit it ran.

    python bench/admission.py          # prints one key=value line per figure
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_core.data.mnist import load_bundled
from cnn_core.design.presets import LENET5, PYTORCH_TUTORIAL, SMALL_FAST
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.design.spec import layer as L
from cnn_core.training import budget
from cnn_core.training.calibration import PACES
from cnn_core.training.job import TrainingJob
from cnn_core.training.settings import recipe
from cnn_core.training.trainer import TrainConfig

WIDE_POOL = ArchitectureSpec((L("conv2d", out_channels=8, kernel_size=3, padding=1),
                              L("maxpool2d", kernel_size=9, stride=1, padding=4), L("relu"),
                              L("flatten"), L("linear", out_features=10)))
DESIGNS = {"lenet5": LENET5, "convnet": PYTORCH_TUTORIAL, "small": SMALL_FAST,
           "wide_pool": WIDE_POOL}
PRESETS = {"lenet5": LENET5, "convnet": PYTORCH_TUTORIAL, "small": SMALL_FAST}


def seconds_of(spec: ArchitectureSpec, splits, config: TrainConfig) -> float:
    """Wall seconds of one training through ``TrainingJob`` (validation and the test
    included), as the Train page runs it."""
    job = TrainingJob(spec, splits, config, orphan_timeout_s=float("inf"))
    job.start()
    job.join()
    snap = job.snapshot()
    assert snap.state == "finished", snap.message
    return snap.elapsed_s


def one_epoch(spec: ArchitectureSpec, splits, batch_size: int = budget.DEFAULT_BATCH_SIZE
              ) -> float:
    return seconds_of(spec, splits, TrainConfig(epochs=1, batch_size=batch_size))


def ig_peak(splits) -> None:
    """Integrated Gradients on a wide design, batched to fit a pass: estimate against the
    real peak (the process's high-water mark, reset just before)."""
    from cnn_core import passes
    from cnn_core.design.build import build_model
    from cnn_core.training import admission
    from cnn_core.training.admission import PassRequest, Way

    spec = ArchitectureSpec((L("conv2d", out_channels=256, kernel_size=3, padding=1),
                             *[x for _ in range(6) for x in (L("batchnorm2d"), L("relu"))],
                             L("maxpool2d", kernel_size=2), L("flatten"),
                             L("linear", out_features=10)))
    model, image = build_model(spec), splits.test_images[0].numpy() / 255.0
    passes.predict_drawing(model, spec, image)  # captum and the first pass loaded first

    def status(field: str) -> int:
        return int(Path("/proc/self/status").read_text().split(f"{field}:")[1].split()[0])

    before = status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the high-water mark restarts here
    batch = admission.attribution_batch(analyze(spec), 64, Way.DRAW_WHY)
    estimate = admission.pass_memory(PassRequest(Way.DRAW_WHY, analyze(spec), batch,
                                                 backward=True))
    passes.explain(model, spec, image, 3, "integrated_gradients", Way.DRAW_WHY)
    real = (status("VmHWM") - before) * 1024
    print(f"ig_batch={batch} ig_estimate_mb={estimate / 2**20:.0f} "
          f"ig_real_peak_mb={real / 2**20:.0f} ig_estimate_over_real={estimate / real:.2f}")


def main() -> None:
    splits = load_bundled()
    limits = budget.Limits.from_env()
    images = len(splits.train_images)
    worst = 0.0
    # A server's first training also pays the process's one-off start (thread pools, the
    # allocator's first blocks): paid here first, so each figure is a design's own epoch.
    one_epoch(ArchitectureSpec((L("flatten"), L("linear", out_features=10))), splits)
    for name, spec in DESIGNS.items():
        estimate = budget.training_seconds(analyze(spec), images, 1, limits.macs_per_s)
        real = one_epoch(spec, splits)
        ratio = real / estimate
        worst = max(worst, ratio, 1 / ratio)
        print(f"{name}_real_s={real:.2f} {name}_estimate_s={estimate:.2f} "
              f"{name}_real_over_estimate={ratio:.2f}", flush=True)
    for name, spec in PRESETS.items():
        PACES.clear()  # the first estimate: no training of the design has run on this server
        config = TrainConfig(**recipe(spec))
        estimate = budget.expected_seconds(analyze(spec), images, config.epochs, limits,
                                           config.batch_size)
        real = seconds_of(spec, splits, config)
        ratio = real / estimate
        worst = max(worst, ratio, 1 / ratio)
        print(f"{name}_recipe_real_s={real:.2f} {name}_recipe_estimate_s={estimate:.2f} "
              f"{name}_recipe_real_over_estimate={ratio:.2f}", flush=True)
    print(f"worst_factor={worst:.2f}")
    # After the epochs: the pass runs on this thread, which keeps its OpenMP team after it,
    # and that slows later small trainings here 1.4-2x (docs/benchmarks.md, "Threads and
    # OpenMP teams").
    ig_peak(splits)
    os.environ[budget.SECONDS_ENV] = "3"
    # The estimate says it fits (a pace 100 times too quick, as if measured): the limit holds.
    PACES.clear()
    PACES.record(analyze(LENET5), 32, 1e-4)
    job = TrainingJob(LENET5, splits, TrainConfig(epochs=30, batch_size=32),
                      orphan_timeout_s=float("inf"))
    job.start()
    job.join()
    snap = job.snapshot()
    print(f"time_limit_state={snap.state} over_limit_s={snap.elapsed_s - 3:.2f}  "
          f"({snap.message})")


if __name__ == "__main__":
    main()
