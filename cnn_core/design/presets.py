"""Ready-made designs: the seed tutorial's two nets, LeNet-5 and a small fast net."""

from __future__ import annotations

from dataclasses import dataclass

from cnn_core.design.spec import ArchitectureSpec
from cnn_core.design.spec import layer as L

KERAS_TUTORIAL = ArchitectureSpec((
    L("conv2d", out_channels=64, kernel_size=3), L("relu"),
    L("conv2d", out_channels=32, kernel_size=3), L("relu"),
    L("flatten"),
    L("linear", out_features=10),
))

PYTORCH_TUTORIAL = ArchitectureSpec((
    L("conv2d", out_channels=32, kernel_size=5, stride=1, padding=2), L("relu"),
    L("maxpool2d", kernel_size=2, stride=2),
    L("conv2d", out_channels=64, kernel_size=5, stride=1, padding=2), L("relu"),
    L("maxpool2d", kernel_size=2, stride=2),
    L("flatten"),
    L("dropout", p=0.5),
    L("linear", out_features=1000),
    L("linear", out_features=10),
))

LENET5 = ArchitectureSpec((
    L("conv2d", out_channels=6, kernel_size=5, padding=2), L("relu"),
    L("maxpool2d", kernel_size=2),
    L("conv2d", out_channels=16, kernel_size=5), L("relu"),
    L("maxpool2d", kernel_size=2),
    L("flatten"),
    L("linear", out_features=120), L("relu"),
    L("linear", out_features=84), L("relu"),
    L("linear", out_features=10),
))

SMALL_FAST = ArchitectureSpec((
    L("conv2d", out_channels=16, kernel_size=3, padding=1), L("relu"),
    L("maxpool2d", kernel_size=2),
    L("conv2d", out_channels=32, kernel_size=3, padding=1), L("relu"),
    L("maxpool2d", kernel_size=2),
    L("flatten"),
    L("linear", out_features=10),
))


@dataclass(frozen=True)
class Preset:
    """A ready-made design: its name on the Design page, its slug for ``--preset``, a note,
    and its recipe: the training settings (``TrainConfig`` fields) that differ from the
    defaults in the quickest way to 97 % measured for it (``bench/time_to_accuracy.py``)."""

    name: str
    slug: str
    note: str
    spec: ArchitectureSpec
    recipe: tuple[tuple[str, float | int | str], ...] = ()


# One epoch, one-cycle: 97 % or more held out for each of three seeds, on the 8,000 bundled
# digits (figures: docs/benchmarks.md#time-to-accuracy).
def quick_recipe(peak_rate: float, batch_size: int = 32) -> tuple[tuple[str, float | int | str],
                                                                  ...]:
    return (("epochs", 1), ("batch_size", batch_size), ("schedule", "one_cycle"),
            ("learning_rate", peak_rate))


PRESET_TABLE: tuple[Preset, ...] = (
    Preset("Small fast net", "small",
           "Two small conv blocks and one linear layer: trains in seconds on a CPU.", SMALL_FAST,
           quick_recipe(0.008)),
    Preset("LeNet-5", "lenet5",
           "LeCun et al. (1998), with ReLU and max-pooling as it is usually taught today.",
           LENET5, quick_recipe(0.008)),
    Preset("Seed tutorial: PyTorch ConvNet", "pytorch-convnet",
           "The seed tutorial's PyTorch ConvNet: two 5x5 conv blocks then 3136 → 1000 → 10.",
           PYTORCH_TUTORIAL, quick_recipe(0.003, batch_size=64)),  # 64: its big layers
    Preset("Seed tutorial: Keras net", "keras-net",
           "The seed tutorial's Keras Sequential: conv 64, conv 32, dense 10 (softmax is part "
           "of the loss here).", KERAS_TUTORIAL, quick_recipe(0.005)),
)
PRESETS: dict[str, ArchitectureSpec] = {p.name: p.spec for p in PRESET_TABLE}
DEFAULT_PRESET = PRESET_TABLE[0].name


def preset_by_slug(slug: str) -> Preset:
    return next(p for p in PRESET_TABLE if p.slug == slug)


def preset_of(spec: ArchitectureSpec) -> Preset | None:
    """The preset ``spec`` is, layer for layer (a design edited away from it is none)."""
    return next((p for p in PRESET_TABLE if p.spec == spec), None)
