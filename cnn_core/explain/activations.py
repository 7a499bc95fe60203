"""What each layer sees: run a built model layer by layer and keep the feature maps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnn_core.data.mnist import normalize
from cnn_core.design.build import window_classes


@dataclass(frozen=True)
class Prediction:
    probabilities: np.ndarray  # (10,)
    feature_maps: tuple[tuple[str, np.ndarray], ...]  # ("1 · conv2d", (C, H, W)), ...

    @property
    def digit(self) -> int:
        return int(self.probabilities.argmax())

    @property
    def confidence(self) -> float:
        return float(self.probabilities.max())


@torch.no_grad()
def predict_with_maps(model: nn.Sequential, image: np.ndarray) -> Prediction:
    """Probabilities for a 28x28 image in [0, 1], and the output of every conv and pool layer.

    The model is run one module at a time (it is an ``nn.Sequential``), so the maps are the
    very tensors the next layer receives.
    """
    was_training = model.training
    model.eval()
    x = normalize(torch.from_numpy(np.asarray(image, dtype=np.float32))[None])
    maps = []
    windows = window_classes()
    for index, module in enumerate(model, 1):
        x = module(x)
        if isinstance(module, windows):
            maps.append((f"{index} · {type(module).__name__}", x[0].numpy().copy()))
    model.train(was_training)
    probabilities = torch.softmax(x[0].float(), dim=0).numpy()
    return Prediction(probabilities, tuple(maps))


def first_conv_kernels(model: nn.Module) -> np.ndarray | None:
    """The first conv layer's kernels as (out_channels, kh, kw), averaged over input channels."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.weight.detach().float().mean(dim=1).cpu().numpy()
    return None
