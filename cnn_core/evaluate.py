"""Test a trained model: accuracy, confusion matrix, per-class accuracy, misclassified digits."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cnn_core.data import normalize

NUM_CLASSES = 10


@dataclass(frozen=True)
class Evaluation:
    """Results on a labelled set. ``confusion[t][p]`` counts digits of class t predicted p."""

    accuracy: float
    loss: float
    confusion: list[list[int]]
    per_class_accuracy: list[float]
    misclassified: list[int]  # indices into the evaluated set, in order
    predictions: torch.Tensor


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, device: torch.device | str = "cpu",
                   batch_size: int = 1000) -> torch.Tensor:
    """Logits for uint8 (N, 28, 28) images, in eval mode, batched to bound memory."""
    was_training = model.training
    model.eval()
    outputs = [model(normalize(images[i:i + batch_size]).to(device)).float().cpu()
               for i in range(0, len(images), batch_size)]
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.empty(0, NUM_CLASSES)


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
             device: torch.device | str = "cpu", max_misclassified: int = 60) -> Evaluation:
    logits = predict_logits(model, images, device)
    loss = nn.functional.cross_entropy(logits, labels).item() if len(labels) else 0.0
    predictions = logits.argmax(dim=1)
    confusion = torch.zeros(NUM_CLASSES, NUM_CLASSES, dtype=torch.long)
    confusion.index_put_((labels, predictions), torch.ones_like(labels), accumulate=True)
    per_class_total = confusion.sum(dim=1).clamp(min=1)
    wrong = (predictions != labels).nonzero().flatten()[:max_misclassified]
    return Evaluation(
        accuracy=(predictions == labels).float().mean().item() if len(labels) else 0.0,
        loss=loss, confusion=confusion.tolist(),
        per_class_accuracy=(confusion.diag() / per_class_total).tolist(),
        misclassified=wrong.tolist(), predictions=predictions)
