"""Why this answer: which pixels pushed a digit's score up or down, computed with Captum.

Two methods, both on the network's raw score (logit) for one digit:

- Integrated Gradients walks from a blank canvas to the drawing and adds up the gradients
  along the way; each pixel's value is its share of the score's change, and the shares add
  up to that change (up to Captum's reported convergence delta).
- Saliency is the size of the gradient at the drawing itself: how strongly the score reacts
  to a small change in each pixel, ink or not.

The baseline is a blank canvas passed through the same normalisation as every input, so
Integrated Gradients shares out the difference between the score for the drawing and the
score for nothing at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from cnn_core.data.mnist import normalize

Method = Literal["integrated_gradients", "saliency"]
METHODS: dict[Method, tuple[str, str]] = {
    "integrated_gradients": (
        "Integrated Gradients",
        "How much each pixel's ink added to (red) or took away from (blue) the digit's score, "
        "compared with a blank canvas; the pixels' values add up to that change."),
    "saliency": (
        "Saliency",
        "How strongly the digit's score reacts to a tiny change in each pixel (the gradient's "
        "size), ink or not: where the network is sensitive, not what it used."),
}
BASELINE_NOTE = ("The baseline is a blank canvas, normalised like every input: the colours "
                 "share out the difference between the digit's score for this drawing and "
                 "for an empty canvas.")
IG_STEPS = 64  # more steps, smaller convergence delta; 64 images is one cheap batch
BLANK_MESSAGE = "The canvas is blank: there is nothing to explain yet."


@dataclass(frozen=True)
class Attribution:
    """One heatmap. ``heatmap`` is None (and ``message`` says why) for a blank input."""

    method: Method
    target: int
    heatmap: np.ndarray | None  # (28, 28): signed for Integrated Gradients, >= 0 for Saliency
    score: float | None = None  # the target's logit for the input
    baseline_score: float | None = None  # and for the blank baseline (Integrated Gradients)
    convergence_delta: float | None = None  # Captum's: sum(heatmap) - (score - baseline_score)
    message: str | None = None

    @property
    def signed(self) -> bool:
        return self.method == "integrated_gradients"


def baseline_like(x: torch.Tensor) -> torch.Tensor:
    """The normalised blank canvas, shaped like ``x``."""
    return normalize(torch.zeros(x.shape[0], *x.shape[-2:])).to(x.device)


def attribute(model: nn.Module, image: np.ndarray | torch.Tensor | None, target: int,
              method: Method = "integrated_gradients", n_steps: int = IG_STEPS,
              internal_batch_size: int | None = None) -> Attribution:
    """Attribute ``model``'s score for digit ``target`` to the pixels of a 28x28 ``image``
    (uint8, or float in [0, 1], as ``canvas_to_mnist`` makes it; normalised here). Integrated
    Gradients runs its steps ``internal_batch_size`` at a time (all at once by default); the
    app goes through ``cnn_core.passes.explain``, which sizes it to the server's budget."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)} (got {method!r})")
    if not 0 <= target < 10:
        raise ValueError(f"target must be a digit from 0 to 9 (got {target})")
    if image is None:
        return Attribution(method, target, None, message=BLANK_MESSAGE)
    pixels = torch.as_tensor(np.asarray(image))
    if pixels.shape != (28, 28):
        raise ValueError(f"expected a 28x28 image, got shape {tuple(pixels.shape)}")
    if not bool((pixels.float() > 0).any()):  # nothing differs from the baseline
        return Attribution(method, target, None, message=BLANK_MESSAGE)
    from captum.attr import IntegratedGradients, Saliency  # here: it loads matplotlib (~1 s)

    device = next(model.parameters()).device
    x = normalize(pixels[None]).to(device).requires_grad_()
    was_training = model.training
    model.eval()  # dropout and batch norm as at prediction time
    try:
        if method == "saliency":
            heat = Saliency(model).attribute(x, target=target, abs=True)
            with torch.no_grad():
                score = model(x)[0, target].item()
            return Attribution(method, target, _as_map(heat), score=score)
        baseline = baseline_like(x)
        heat, delta = IntegratedGradients(model).attribute(
            x, baselines=baseline, target=target, n_steps=n_steps,
            internal_batch_size=internal_batch_size, return_convergence_delta=True)
        with torch.no_grad():
            scores = model(torch.cat([x, baseline]))[:, target].tolist()
        return Attribution(method, target, _as_map(heat), score=scores[0],
                           baseline_score=scores[1], convergence_delta=float(delta.item()))
    finally:
        model.train(was_training)


def _as_map(heat: torch.Tensor) -> np.ndarray:
    return heat.detach()[0, 0].float().cpu().numpy()


FOR, AGAINST, SENSITIVE = (178, 24, 43), (33, 102, 172), (255, 140, 0)
STRONGEST = 0.95  # the strongest pixel's colour still lets its ink show a little


def overlay(image: np.ndarray, result: Attribution) -> np.ndarray:
    """The 28x28 digit (values in [0, 1]) in grey with the heatmap over it, as (28, 28, 3)
    uint8: red where a pixel raised the score and blue where it lowered it (Integrated
    Gradients), orange by size (Saliency); each as strong as its value over the largest, so
    a pixel of zero shows the digit as it is. A blank result: the grey digit alone."""
    grey = np.clip(np.nan_to_num(np.asarray(image, dtype=np.float64)), 0, 1)[..., None] * 255.0
    heat = result.heatmap if result.heatmap is not None else np.zeros(grey.shape[:2])
    heat = np.nan_to_num(np.asarray(heat, dtype=np.float64))
    limit = float(np.abs(heat).max()) or 1.0  # a zero map stays zero, never NaN
    strength = (STRONGEST * np.abs(heat) / limit)[..., None]
    if result.signed:
        colour = np.where(heat[..., None] >= 0, np.array(FOR), np.array(AGAINST))
    else:
        colour = np.broadcast_to(np.array(SENSITIVE, dtype=np.float64), grey.shape[:2] + (3,))
    return np.rint(grey * (1 - strength) + colour * strength).astype(np.uint8)
