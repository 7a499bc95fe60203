"""Designs a hostile (or curious) student could submit, for the tests and benchmarks."""

from cnn_core.spec import ArchitectureSpec
from cnn_core.spec import layer as L

# Issue #20, case 1: within every design limit (94 layers, 73,738 parameters, 813k MACs) but
# 285,387 KiB of activations per image: about 22 GB to train at batch 64.
MEMORY_BOMB = ArchitectureSpec((
    L("conv2d", out_channels=1024, kernel_size=1),
    *[ly for _ in range(30) for ly in (L("batchnorm2d"), L("relu"), L("dropout"))],
    L("maxpool2d", kernel_size=28), L("flatten"), L("linear", out_features=10)))
