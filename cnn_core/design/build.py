"""Build a ``torch.nn.Module`` from an architecture spec (the model the Train page trains)."""

from __future__ import annotations

from torch import nn

from cnn_core.design.layers import LAYERS, arguments, layer_type
from cnn_core.design.report import LayerReport, NetworkReport
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec


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
    """One torch module from a layer's resolved settings (in_channels/in_features inferred),
    as the layer registry (``cnn_core.design.layers``) says."""
    kind = layer_type(report.type)
    cls = getattr(nn, kind.torch.cls, None)
    if cls is None:
        raise DesignError(f"{report.label}: torch.nn has no class {kind.torch.cls!r}")
    args, kwargs = arguments(kind, kind.torch, report.settings)
    return cls(*args, **dict(kwargs))


def window_classes() -> tuple[type[nn.Module], ...]:
    """The torch classes of the sliding-window layers (conv and pooling): their outputs are
    the feature maps the Draw page shows and the budget counts."""
    return tuple(getattr(nn, t.torch.cls) for t in LAYERS.values() if t.rule in ("conv", "pool"))
