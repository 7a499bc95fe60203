"""Build a ``torch.nn.Module`` from an architecture spec (the model the Train page trains)."""

from __future__ import annotations

from torch import nn

from cnn_core.shapes import LayerReport, NetworkReport, analyze
from cnn_core.spec import ArchitectureSpec


class DesignError(ValueError):
    """The design cannot be built; the message names the first bad layer."""


def build_model(spec: ArchitectureSpec, report: NetworkReport | None = None) -> nn.Sequential:
    """Return an ``nn.Sequential`` with one module per layer of the spec.

    Refuses (``DesignError``) any design the shape engine rejects, so no oversized or broken
    model is ever allocated.
    """
    report = report or analyze(spec)
    if not report.ok:
        raise DesignError(report.errors[0])
    return nn.Sequential(*(build_layer(r) for r in report.layers))


def build_layer(report: LayerReport) -> nn.Module:
    """One torch module from a layer's resolved settings (in_channels/in_features inferred)."""
    s = report.settings
    match report.type:
        case "conv2d":
            return nn.Conv2d(s["in_channels"], s["out_channels"], kernel_size=s["kernel_size"],
                             stride=s["stride"], padding=s["padding"], dilation=s["dilation"])
        case "maxpool2d":
            return nn.MaxPool2d(s["kernel_size"], stride=s["stride"], padding=s["padding"])
        case "avgpool2d":
            return nn.AvgPool2d(s["kernel_size"], stride=s["stride"], padding=s["padding"])
        case "relu":
            return nn.ReLU()
        case "leaky_relu":
            return nn.LeakyReLU(s["negative_slope"])
        case "sigmoid":
            return nn.Sigmoid()
        case "tanh":
            return nn.Tanh()
        case "batchnorm2d":
            return nn.BatchNorm2d(s["num_features"])
        case "dropout":
            return nn.Dropout(s["p"])
        case "flatten":
            return nn.Flatten()
        case "linear":
            return nn.Linear(s["in_features"], s["out_features"])
    raise DesignError(f"{report.label}: unknown layer type")
