"""A training's curves as the run store keeps them: thinned to ``MAX_CURVE_POINTS``, one list
per field at six significant digits, and with no NaN or infinity (JSON has no word for them)."""

from __future__ import annotations

import math
from typing import Any

MAX_CURVE_POINTS = 200  # a stored step curve stays this small however long the training


def thin_curve(points: list[dict[str, float]], limit: int = MAX_CURVE_POINTS) \
        -> list[dict[str, float]]:
    """At most ``limit`` points, evenly spaced, the last one kept."""
    if len(points) <= limit:
        return list(points)
    stride = math.ceil(len(points) / limit)
    kept = points[::stride]
    if kept[-1] is not points[-1]:
        kept = kept[:limit - 1] + [points[-1]]
    return kept


def columns(points: list[dict[str, float]]) -> dict[str, list[Any]]:
    """A curve stored as one list per field: half the size of a list of objects."""
    names = list(points[0]) if points else []
    return {name: [_short(p.get(name)) for p in points] for name in names}


def rows(stored: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """``columns`` undone: one dict per point."""
    names = list(stored)
    return [dict(zip(names, values)) for values in zip(*stored.values())]


def _short(value: Any) -> Any:
    """Six significant digits: plenty for a curve on a chart, a third of a float's text."""
    return float(f"{value:.6g}") if isinstance(value, float) else value


def finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def finite_json(value: Any) -> Any:
    """NaN and infinities (a loss that blew up) become null: JSON has no word for them."""
    if isinstance(value, float):
        return finite(value)
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value
