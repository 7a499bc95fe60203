"""A layer's raw values checked and normalised into the settings torch takes.

``resolve_layer`` fills defaults, turns sizes into (h, w) pairs and raises ``FieldError`` for
the first value that cannot be used, saying whether torch itself would refuse it.
"""

from __future__ import annotations

import math
from typing import Any

from cnn_core.design.layers import LAYERS, FieldSpec
from cnn_core.design.parse import snippet
from cnn_core.design.spec import Layer


class FieldError(ValueError):
    """One field of one layer has a value that cannot be used."""

    def __init__(self, field_name: str, message: str, torch_would_fail: bool) -> None:
        super().__init__(message)
        self.field_name = field_name
        self.torch_would_fail = torch_would_fail


def resolve_layer(layer_: Layer) -> dict[str, Any]:
    """Checked, normalised settings of a layer: sizes become (h, w) tuples, defaults filled.

    Raises ``FieldError`` for the first bad field.
    """
    settings: dict[str, Any] = {}
    fields = LAYERS[layer_.type].fields
    for spec_field in fields:
        raw = layer_.params.get(spec_field.name)
        if raw is None:
            if spec_field.required:
                raise FieldError(spec_field.name, f"{spec_field.name} is required", True)
            settings[spec_field.name] = _normalise_default(spec_field)
        else:
            settings[spec_field.name] = resolve_field(spec_field, raw)
    for spec_field in fields:
        if spec_field.same_as and settings[spec_field.name] is None:
            settings[spec_field.name] = settings[spec_field.same_as]
    return settings


def _normalise_default(spec_field: FieldSpec) -> Any:
    default = spec_field.default
    if spec_field.kind in ("size", "padding") and isinstance(default, int):
        return (default, default)
    return default


def resolve_field(spec_field: FieldSpec, raw: Any) -> Any:
    """Check one raw JSON value against its field; return it normalised."""
    name = spec_field.name
    if spec_field.kind == "padding" and isinstance(raw, str):
        if raw == "valid":
            return (0, 0)
        if raw == "same":
            return "same"
        raise FieldError(name, f'padding must be a number, [height, width], "same" or '
                               f'"valid" (got {snippet(raw)})', True)
    if spec_field.kind in ("size", "padding"):
        values = raw if isinstance(raw, list) else [raw, raw]
        if len(values) != 2:
            raise FieldError(name, f"{name} must be one number or [height, width] "
                                   f"(got {snippet(raw)})", True)
        h, w = (_check_number(spec_field, v, integer=True) for v in values)
        return (h, w)
    return _check_number(spec_field, raw, integer=spec_field.kind == "int")


def _check_number(spec_field: FieldSpec, raw: Any, integer: bool) -> Any:
    name = spec_field.name
    is_number = isinstance(raw, (int, float)) and not isinstance(raw, bool)
    if not is_number or (isinstance(raw, float) and not math.isfinite(raw)):
        kind = "a whole number" if integer else "a number"
        raise FieldError(name, f"{name} must be {kind} (got {snippet(raw)})", True)
    if integer and isinstance(raw, float):
        if not raw.is_integer():
            raise FieldError(name, f"{name} must be a whole number (got {snippet(raw)})", True)
        raw = int(raw)
    if not spec_field.minimum <= raw <= spec_field.maximum:
        below_torch = spec_field.torch_min is not None and raw < spec_field.torch_min
        above_torch = spec_field.torch_max is not None and raw > spec_field.torch_max
        raise FieldError(name, f"{name} must be between {_fmt(spec_field.minimum)} and "
                               f"{_fmt(spec_field.maximum)} (got {_fmt(raw)})",
                         below_torch or above_torch)
    return raw


def _fmt(value: float) -> str:
    """A bound or value for a message: ``1.0`` as ``1``; never ``float()`` of a huge int."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return snippet(value)
