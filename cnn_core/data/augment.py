"""Data augmentation: each training batch redrawn a little differently, as whole tensors.

Every digit in a batch gets its own stroke thickness (a dilation or an erosion), then its own
small rotation, scaling and shift, all in one ``affine_grid``/``grid_sample`` call on the
training device. The random draws come from a ``torch.Generator``, so the same seed gives
the same batches. The images stay in [0, 1] with a black background; normalise afterwards.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

NOTE = ("Augmentation: each batch is redrawn at random, shifted up to 2 pixels, rotated up "
        "to 15°, scaled 0.85 to 1.15× and drawn with thinner or thicker strokes, so the "
        "network learns the digit and not the pen.")
MAX_SHIFT_PX = 2.0
MAX_ROTATION_DEG = 15.0
SCALE_RANGE = (0.85, 1.15)
# Stroke thickness per digit: thinner (2x2 erosion: -1 pixel, unless that takes half the ink:
# the strokes were thin already), as drawn, thicker (3x3 dilation: +2 pixels), much thicker
# (5x5: +4); a Draw page pen is often the last.
THICKNESS_WEIGHTS = (0.15, 0.35, 0.3, 0.2)


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """uint8 (N, 28, 28) or float [0, 1] (N, [1,] 28, 28) digits -> float (N, 1, 28, 28) in
    [0, 1], each redrawn at random. ``generator`` lives on the images' device."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    if x.dim() == 3:
        x = x.unsqueeze(1)
    n, device = len(x), x.device
    x = _thickness(x, torch.multinomial(torch.tensor(THICKNESS_WEIGHTS, device=device), n,
                                        replacement=True, generator=generator))
    u = torch.rand(n, 4, generator=generator, device=device) * 2 - 1  # uniform in [-1, 1]
    angle = u[:, 0] * math.radians(MAX_ROTATION_DEG)
    lo, hi = SCALE_RANGE
    scale = (lo + hi) / 2 + u[:, 1] * (hi - lo) / 2
    shift = u[:, 2:] * MAX_SHIFT_PX * 2 / x.shape[-1]  # grid coordinates span [-1, 1]
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)  # output -> input
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False).clamp_(0, 1)


def _thickness(x: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
    """Per digit: 0 thinner, 1 unchanged, 2 thicker, 3 much thicker."""
    eroded = F.pad(-F.max_pool2d(-x, 2, stride=1), (0, 1, 0, 1))  # 3x3 would erase strokes
    mass = x.sum(dim=(1, 2, 3), keepdim=True)
    thinner = torch.where(eroded.sum(dim=(1, 2, 3), keepdim=True) >= mass / 2, eroded, x)
    options = torch.stack([thinner, x, F.max_pool2d(x, 3, stride=1, padding=1),
                           F.max_pool2d(x, 5, stride=1, padding=2)])
    return options[choice, torch.arange(len(x), device=x.device)]


def preview_grid(images: torch.Tensor, seed: int = 0, variants: int = 3) -> np.ndarray:
    """What the network will see: the first row is ``images`` as they are, each row below a
    fresh random redrawing of them. A 2-D array in [0, 1] with 2-pixel gaps, for display."""
    generator = torch.Generator(device=images.device).manual_seed(seed)
    rows = [augment(images, generator) if r else augment_none(images)
            for r in range(variants + 1)]
    gap = 2
    size = images.shape[-1]
    cols = len(images)
    grid = torch.ones((size + gap) * len(rows) - gap, (size + gap) * cols - gap) * 0.5
    for r, row in enumerate(rows):
        for c in range(cols):
            top, left = r * (size + gap), c * (size + gap)
            grid[top:top + size, left:left + size] = row[c, 0]
    return grid.cpu().numpy()


def augment_none(images: torch.Tensor) -> torch.Tensor:
    """The same conversion as ``augment`` without the random redrawing."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    return x.unsqueeze(1) if x.dim() == 3 else x
