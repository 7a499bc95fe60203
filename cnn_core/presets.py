"""Ready-made designs: the seed tutorial's two nets, LeNet-5 and a small fast net."""

from __future__ import annotations

from cnn_core.spec import ArchitectureSpec
from cnn_core.spec import layer as L

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

PRESETS: dict[str, ArchitectureSpec] = {
    "Small fast net": SMALL_FAST,
    "LeNet-5": LENET5,
    "Seed tutorial: PyTorch ConvNet": PYTORCH_TUTORIAL,
    "Seed tutorial: Keras net": KERAS_TUTORIAL,
}
PRESET_NOTES: dict[str, str] = {
    "Small fast net": "Two small conv blocks and one linear layer: trains in seconds on a CPU.",
    "LeNet-5": "LeCun et al. (1998), with ReLU and max-pooling as it is usually taught today.",
    "Seed tutorial: PyTorch ConvNet": "The seed tutorial's PyTorch ConvNet: two 5x5 conv blocks "
                                      "then 3136 → 1000 → 10.",
    "Seed tutorial: Keras net": "The seed tutorial's Keras Sequential: conv 64, conv 32, "
                                "dense 10 (softmax is part of the loss here).",
}
DEFAULT_PRESET = "Small fast net"
