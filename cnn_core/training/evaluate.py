"""Test a trained model: accuracy, confusion matrix, per-class accuracy, misclassified digits."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cnn_core.data.mnist import normalize
from cnn_core.training.budget import eval_batch_size

NUM_CLASSES = 10  # the width of an empty set's logits


@dataclass(frozen=True)
class Evaluation:
    """Results on a labelled set. ``confusion[t][p]`` counts digits of class t predicted p."""

    accuracy: float
    loss: float
    confusion: list[list[int]]
    per_class_accuracy: list[float]
    misclassified: list[int]  # indices into the evaluated set, in order
    predictions: torch.Tensor
    probabilities: torch.Tensor  # (N, classes): softmax of the logits, for the matrix's cells


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, device: torch.device | str = "cpu",
                   batch_size: int | None = None) -> torch.Tensor:
    """Logits for uint8 (N, 28, 28) images, in eval mode, batched to bound memory (by
    default as many images as keep the largest layer output within the budget's share)."""
    was_training = model.training
    model.eval()
    if batch_size is None:
        batch_size = eval_batch_size(largest_output(model, images[:1], device))
    outputs = [model(normalize(images[i:i + batch_size]).to(device)).float().cpu()
               for i in range(0, len(images), batch_size)]
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.empty(0, NUM_CLASSES)


@torch.no_grad()
def largest_output(model: nn.Module, image: torch.Tensor, device: torch.device | str) -> int:
    """The most values any layer outputs for one image (a probe pass; 1 with no image)."""
    sizes = [1]
    hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(out[0].numel()))
             for m in model.modules() if not list(m.children())]
    try:
        if len(image):
            model(normalize(image).to(device))
    finally:
        for hook in hooks:
            hook.remove()
    return max(sizes)


MAX_MISCLASSIFIED = 60  # the mistakes kept for the Train page's gallery


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
             device: torch.device | str = "cpu",
             max_misclassified: int = MAX_MISCLASSIFIED) -> Evaluation:
    logits = predict_logits(model, images, device)
    loss = nn.functional.cross_entropy(logits, labels).item() if len(labels) else 0.0
    predictions = logits.argmax(dim=1)
    classes = logits.shape[1]  # 10 digits, or 26 letters
    confusion = torch.zeros(classes, classes, dtype=torch.long)
    confusion.index_put_((labels, predictions), torch.ones_like(labels), accumulate=True)
    per_class_total = confusion.sum(dim=1).clamp(min=1)
    wrong = (predictions != labels).nonzero().flatten()[:max_misclassified]
    return Evaluation(
        accuracy=(predictions == labels).float().mean().item() if len(labels) else 0.0,
        loss=loss, confusion=confusion.tolist(),
        per_class_accuracy=(confusion.diag() / per_class_total).tolist(),
        misclassified=wrong.tolist(), predictions=predictions,
        probabilities=torch.softmax(logits, dim=1))
