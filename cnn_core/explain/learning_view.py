"""Learning, live: the first conv layer's kernels, and what they make of one fixed real digit,
copied from a model while it trains (cheap: one weight copy and one small convolution)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnn_core.data.mnist import normalize

EVERY_S = 2.0  # besides each epoch's end, a view at most this often during an epoch
MAX_SHOWN = 16  # kernels and maps shown (the first ones)


@dataclass(frozen=True)
class KernelView:
    """The first conv layer at one moment of a training."""

    step: int  # steps trained when it was taken (0: before training)
    epoch: float  # fractional, as the curves' x axis
    kernels: np.ndarray  # (C, kh, kw), averaged over input channels
    maps: np.ndarray  # (C, H, W): the fixed digit through that layer


def first_conv(model: nn.Module) -> nn.Conv2d | None:
    return next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)


@torch.no_grad()
def take_view(conv: nn.Conv2d, digit: torch.Tensor, step: int, epoch: float) -> KernelView:
    """``digit``: one normalised (1, 1, 28, 28) input on the conv's device."""
    weight = conv.weight.detach()[:MAX_SHOWN]
    bias = None if conv.bias is None else conv.bias.detach()[:MAX_SHOWN]
    maps = F.conv2d(digit, weight, bias, conv.stride, conv.padding, conv.dilation)
    return KernelView(step, epoch, weight.float().mean(dim=1).cpu().numpy(),
                      maps[0].float().cpu().numpy())


def fixed_digit(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The digit every view shows: the first one held out, normalised, on ``device``."""
    return normalize(images[:1]).to(device)


def mosaic(maps: np.ndarray, columns: int = 8, gap: float = float("nan")) -> np.ndarray:
    """(C, H, W) -> one 2-D array of the C maps side by side, ``columns`` to a row, with
    1-pixel gaps of ``gap`` (NaN: a heatmap leaves them blank)."""
    c, h, w = maps.shape
    columns = max(1, min(columns, c))
    rows = (c + columns - 1) // columns
    grid = np.full((rows * (h + 1) - 1, columns * (w + 1) - 1), gap, dtype=np.float32)
    for i, m in enumerate(maps):
        r, col = divmod(i, columns)
        grid[r * (h + 1):r * (h + 1) + h, col * (w + 1):col * (w + 1) + w] = m
    return grid


def tile(maps: np.ndarray, columns: int = 8, signed: bool = False, scale: int = 4
         ) -> np.ndarray:
    """(C, H, W) -> one grey image in [0, 1] of C tiles, each scaled on its own (signed: 0 is
    mid grey), ``scale`` times larger for display, 1-pixel white gaps."""
    scaled = []
    for m in maps:
        if signed:
            limit = float(np.abs(m).max()) or 1.0
            scaled.append(0.5 + 0.5 * m / limit)
        else:
            lo, hi = float(m.min()), float(m.max())
            scaled.append((m - lo) / (hi - lo) if hi > lo else np.zeros_like(m))
    return enlarge(mosaic(np.stack(scaled), columns, gap=1.0), scale)


def framed(image: np.ndarray, pixels: int) -> np.ndarray:
    """A grey image in [0, 1] centred in a white square with a small margin (images of
    different shapes then show at one size), enlarged to at least ``pixels`` wide."""
    side = max(image.shape)
    margin = max(1, side // 12)
    box = np.ones((side + 2 * margin, side + 2 * margin), dtype=np.float32)
    top, left = margin + (side - image.shape[0]) // 2, margin + (side - image.shape[1]) // 2
    box[top:top + image.shape[0], left:left + image.shape[1]] = image
    return enlarge(box, -(-pixels // len(box)))  # ceiling


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    """Each pixel as a ``scale`` x ``scale`` block: the browser blurs a small image it scales
    up, and this one keeps square pixels."""
    return image.repeat(scale, axis=0).repeat(scale, axis=1)
