"""A report as people read it: shapes as ``32x28x28``, a layer's settings as ``32, k5, s1,
p2``, receptive fields, and the per-layer table's rows that the CLI, the Design page and the
benchmark each lay out their own way. No arithmetic here: ``cnn_core.design.shapes`` does it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnn_core.design.layers import layer_type
from cnn_core.design.report import LayerReport, NetworkReport, Pair, Shape


def format_shape(shape: Shape | None) -> str:
    """``(32, 28, 28)`` -> ``32x28x28``; ``None`` -> an em dash (unknown)."""
    return "—" if shape is None else "x".join(str(d) for d in shape)


def format_pair(pair: Pair) -> str:
    """``(3, 3)`` -> ``3``; ``(3, 5)`` -> ``3x5``."""
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def format_settings(report: LayerReport) -> str:
    """A compact description of a layer's settings for the table, e.g. ``32, k5, s1, p2``:
    each field with its ``short`` prefix, in the registry's order (or the type's own
    ``summary``); optional fields at their default are left out, as in generated code."""
    s = report.settings
    if not s:
        return ""
    kind = layer_type(report.type)
    if kind.summary is not None:
        return kind.summary(s)
    parts = []
    for spec_field in kind.fields:
        value = s[spec_field.name]
        if spec_field.name in kind.torch.optional and value in (spec_field.default,
                                                                 (spec_field.default,) * 2):
            continue
        shown = format_pair(value) if isinstance(value, tuple) else str(value)
        parts.append(f"{spec_field.short}{shown}")
    return ", ".join(parts)


def format_receptive_field(report: LayerReport) -> str:
    """The patch of the input one output value sees: ``5x5``; ``whole input`` once the
    values are flat (a linear layer sees everything); an em dash when unknown."""
    if report.output_shape is not None and len(report.output_shape) == 1:
        return "whole input"
    if report.receptive_field is None:
        return "—"
    return format_shape(report.receptive_field)


@dataclass(frozen=True)
class SummaryRow:
    """One row of the per-layer table, as the CLI, the Design page and the benchmark show it."""

    index: int
    layer: str
    settings: str
    output: str
    params: int
    macs: int
    receptive_field: str
    error: str | None


def summary_rows(report: NetworkReport) -> list[SummaryRow]:
    """The per-layer table as plain data; each caller formats it its own way."""
    return [SummaryRow(r.index, r.type, format_settings(r), format_shape(r.output_shape),
                       r.params, r.macs, format_receptive_field(r), r.error)
            for r in report.layers]

