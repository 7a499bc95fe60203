"""The heavy passes outside trainings, as the pages run them: each is admitted first and holds
its memory in the pool every student's passes share (``cnn_core.training.admission``).

The maths lives in ``activations``, ``attribution`` and ``evaluate``; pages call these instead,
so no page can run a pass the server has not agreed to. Each raises ``NotAdmitted`` (one sentence).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.explain.activations import Prediction, predict_with_maps
from cnn_core.explain.attribution import IG_STEPS, Attribution, Method, attribute
from cnn_core.training.admission import (
    NotAdmitted,
    PassRequest,
    Way,
    admit,
    attribution_batch,
    evaluation_request,
    heavy_pass,
)
from cnn_core.training.evaluate import Evaluation, evaluate


def predict_drawing(model: nn.Sequential, spec: ArchitectureSpec,
                    image: np.ndarray) -> Prediction:
    """The Draw page's probabilities and every conv and pool layer's feature maps."""
    request = PassRequest(Way.DRAW_MAPS, analyze(spec), feature_maps=True)
    with heavy_pass(request):
        return predict_with_maps(model, image)


def explain(model: nn.Module, spec: ArchitectureSpec, image: np.ndarray, target: int,
            method: Method, way: Way) -> Attribution:
    """A "why" heatmap; Integrated Gradients' steps go through in batches that fit."""
    report = analyze(spec)
    steps = IG_STEPS if method == "integrated_gradients" else 1
    batch = attribution_batch(report, steps, way)
    request = PassRequest(way, report, max(1, batch), backward=True)
    if batch == 0:  # not even one image forward and back fits: admit says why
        raise NotAdmitted(admit(request) or "this model is too large to explain here")
    with heavy_pass(request):
        return attribute(model, image, target, method, internal_batch_size=batch)


def test_on_drawings(model: nn.Module, spec: ArchitectureSpec, images: torch.Tensor,
                     labels: torch.Tensor) -> Evaluation:
    """A kept run's net on every drawing of the class set (evaluated batch by batch)."""
    with heavy_pass(evaluation_request(Way.HANDWRITING_TEST, analyze(spec))):
        return evaluate(model, images, labels)


def check_uploaded(spec: ArchitectureSpec) -> None:
    """Uploaded weights are for drawing with: refuse a model whose drawing would not fit."""
    if refusal := admit(PassRequest(Way.UPLOADED_WEIGHTS, analyze(spec), feature_maps=True)):
        raise NotAdmitted(refusal)
