"""The architecture spec: a design as plain data that round-trips through JSON.

A spec is an input shape and an ordered list of layers. Each layer keeps the raw values the
user gave (so a bad value can be shown on its own layer while the others keep theirs);
``resolve_layer`` turns them into checked, normalised settings. Field names are torch's own
(``out_channels``, ``kernel_size``, ``stride``, ``padding``, ``dilation``, ...), and one table,
``LAYER_FIELDS``, describes every field: the validator, the page's widgets and the README all
follow it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

FieldKind = Literal["int", "size", "padding", "float"]

MAX_LAYERS = 100
MAX_PARAMS = 20_000_000
MAX_MACS = 1_000_000_000
MAX_INPUT_CHANNELS = 16
MAX_INPUT_SIZE = 512
MNIST_INPUT_SHAPE = (1, 28, 28)
MNIST_CLASSES = 10


@dataclass(frozen=True)
class FieldSpec:
    """One setting of a layer type: its kind, default and allowed range.

    ``torch_min``/``torch_max`` are the bounds torch itself enforces; a value outside them is
    one torch cannot run, while a value outside ``minimum``/``maximum`` but inside torch's is
    merely outside what this app allows (too big to train in a classroom).
    """

    name: str
    kind: FieldKind
    minimum: float
    maximum: float
    default: Any = None  # None: required (or, for pooling stride, "same as kernel_size")
    required: bool = False
    torch_min: float | None = None
    torch_max: float | None = None
    help: str = ""


def _size(name: str, lo: int, hi: int, default: Any, help_text: str, **kw: Any) -> FieldSpec:
    return FieldSpec(name, "size", lo, hi, default, help=help_text, **kw)


_KERNEL = _size("kernel_size", 1, 32, None, "height and width of the window", required=True,
                torch_min=1)
_CONV_STRIDE = _size("stride", 1, 16, 1, "how far the window moves each step", torch_min=1)
_POOL_STRIDE = _size("stride", 1, 32, None, "how far the window moves (default: kernel_size)",
                     torch_min=1)
_DILATION = _size("dilation", 1, 8, 1, "spacing between kernel elements", torch_min=1)

LAYER_FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    "conv2d": (
        FieldSpec("out_channels", "int", 1, 1024, required=True, torch_min=1,
                  help="number of kernels, i.e. output feature maps"),
        _KERNEL,
        _CONV_STRIDE,
        FieldSpec("padding", "padding", 0, 32, 0, torch_min=0,
                  help='zeros added on each side, or "same" / "valid"'),
        _DILATION,
    ),
    "maxpool2d": (
        _KERNEL,
        _POOL_STRIDE,
        _size("padding", 0, 16, 0, "padding on each side (at most half the kernel)", torch_min=0),
    ),
    "avgpool2d": (
        _KERNEL,
        _POOL_STRIDE,
        _size("padding", 0, 16, 0, "zero padding on each side (at most half the kernel)",
              torch_min=0),
    ),
    "relu": (),
    "leaky_relu": (
        FieldSpec("negative_slope", "float", 0.0, 1.0, 0.01, help="slope for negative inputs"),
    ),
    "sigmoid": (),
    "tanh": (),
    "batchnorm2d": (),
    "dropout": (
        FieldSpec("p", "float", 0.0, 1.0, 0.5, torch_min=0.0, torch_max=1.0,
                  help="probability of zeroing each value during training"),
    ),
    "flatten": (),
    "linear": (
        FieldSpec("out_features", "int", 1, 65536, required=True, torch_min=1,
                  help="number of output values"),
    ),
}
LAYER_TYPES: tuple[str, ...] = tuple(LAYER_FIELDS)
SPATIAL_TYPES = frozenset({"conv2d", "maxpool2d", "avgpool2d"})


class SpecFormatError(ValueError):
    """The JSON is not a design at all (syntax, structure, unknown type or field)."""


class FieldError(ValueError):
    """One field of one layer has a value that cannot be used."""

    def __init__(self, field_name: str, message: str, torch_would_fail: bool) -> None:
        super().__init__(message)
        self.field_name = field_name
        self.torch_would_fail = torch_would_fail


@dataclass(frozen=True)
class Layer:
    """One layer as the user wrote it: a type and the raw values of its fields."""

    type: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, **self.params}


@dataclass(frozen=True)
class ArchitectureSpec:
    """A whole design: the input shape (C, H, W) and the layers in order."""

    layers: tuple[Layer, ...]
    input_shape: tuple[int, int, int] = MNIST_INPUT_SHAPE

    def to_json(self) -> dict[str, Any]:
        return {"input_shape": list(self.input_shape),
                "layers": [layer.to_json() for layer in self.layers]}

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), indent=2)


def layer(type_: str, **params: Any) -> Layer:
    """Shorthand used by presets and tests: ``layer("conv2d", out_channels=8, kernel_size=3)``."""
    return Layer(type_, dict(params))


def spec_from_json_text(text: str) -> ArchitectureSpec:
    """Parse an imported design; raise ``SpecFormatError`` with one line saying what is wrong."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecFormatError(f"not valid JSON: {exc.msg} at line {exc.lineno}, "
                              f"column {exc.colno}") from None
    return spec_from_dict(obj)


def spec_from_dict(obj: Any) -> ArchitectureSpec:
    """Check the structure of a design (not its values, which ``analyze`` reports per layer)."""
    if not isinstance(obj, dict):
        raise SpecFormatError("a design must be a JSON object with a \"layers\" list, "
                              f"not a {_json_type(obj)}")
    unknown = sorted(set(obj) - {"input_shape", "layers"})
    if unknown:
        raise SpecFormatError(f"unknown top-level field {unknown[0]!r}: a design has only "
                              "\"input_shape\" and \"layers\"")
    raw_layers = obj.get("layers")
    if not isinstance(raw_layers, list):
        raise SpecFormatError("a design needs a \"layers\" list")
    if len(raw_layers) > MAX_LAYERS:
        raise SpecFormatError(f"the design has {len(raw_layers)} layers; the limit is "
                              f"{MAX_LAYERS}")
    input_shape = _parse_input_shape(obj.get("input_shape", list(MNIST_INPUT_SHAPE)))
    return ArchitectureSpec(tuple(_parse_layer(i, raw) for i, raw in enumerate(raw_layers, 1)),
                            input_shape)


def _parse_input_shape(raw: Any) -> tuple[int, int, int]:
    ok = (isinstance(raw, list) and len(raw) == 3
          and all(isinstance(v, int) and not isinstance(v, bool) for v in raw))
    if not ok:
        raise SpecFormatError("\"input_shape\" must be [channels, height, width], "
                              f"e.g. [1, 28, 28]; got {json.dumps(raw)}")
    c, h, w = raw
    if not 1 <= c <= MAX_INPUT_CHANNELS or not (1 <= h <= MAX_INPUT_SIZE
                                                  and 1 <= w <= MAX_INPUT_SIZE):
        raise SpecFormatError(f"\"input_shape\" {raw} is out of range: channels 1 to "
                              f"{MAX_INPUT_CHANNELS}, height and width 1 to {MAX_INPUT_SIZE}")
    return (c, h, w)


def _parse_layer(index: int, raw: Any) -> Layer:
    if not isinstance(raw, dict):
        raise SpecFormatError(f"layer {index} must be an object like {{\"type\": \"relu\"}}, "
                              f"not a {_json_type(raw)}")
    type_ = raw.get("type")
    if type_ not in LAYER_FIELDS:
        raise SpecFormatError(f"layer {index} has unknown type {json.dumps(type_)}; known "
                              f"types: {', '.join(LAYER_TYPES)}")
    known = {f.name for f in LAYER_FIELDS[type_]}
    for key in raw:
        if key != "type" and key not in known:
            allowed = ", ".join(sorted(known)) or "none"
            raise SpecFormatError(f"layer {index} ({type_}) has unknown field {key!r}; "
                                  f"its fields: {allowed}")
    return Layer(type_, {k: v for k, v in raw.items() if k != "type"})


def _json_type(value: Any) -> str:
    return {list: "list", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)


def resolve_layer(layer_: Layer) -> dict[str, Any]:
    """Checked, normalised settings of a layer: sizes become (h, w) tuples, defaults filled.

    Raises ``FieldError`` for the first bad field.
    """
    settings: dict[str, Any] = {}
    for spec_field in LAYER_FIELDS[layer_.type]:
        raw = layer_.params.get(spec_field.name)
        if raw is None:
            if spec_field.required:
                raise FieldError(spec_field.name, f"{spec_field.name} is required", True)
            settings[spec_field.name] = _normalise_default(spec_field)
        else:
            settings[spec_field.name] = resolve_field(spec_field, raw)
    if layer_.type in ("maxpool2d", "avgpool2d") and settings["stride"] is None:
        settings["stride"] = settings["kernel_size"]
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
                               f'"valid" (got {json.dumps(raw)})', True)
    if spec_field.kind in ("size", "padding"):
        values = raw if isinstance(raw, list) else [raw, raw]
        if len(values) != 2:
            raise FieldError(name, f"{name} must be one number or [height, width] "
                                   f"(got {json.dumps(raw)})", True)
        h, w = (_check_number(spec_field, v, integer=True) for v in values)
        return (h, w)
    return _check_number(spec_field, raw, integer=spec_field.kind == "int")


def _check_number(spec_field: FieldSpec, raw: Any, integer: bool) -> Any:
    name = spec_field.name
    is_number = isinstance(raw, (int, float)) and not isinstance(raw, bool)
    if not is_number or (isinstance(raw, float) and not math.isfinite(raw)):
        kind = "a whole number" if integer else "a number"
        raise FieldError(name, f"{name} must be {kind} (got {json.dumps(raw)})", True)
    if integer and isinstance(raw, float):
        if not raw.is_integer():
            raise FieldError(name, f"{name} must be a whole number (got {raw})", True)
        raw = int(raw)
    if not spec_field.minimum <= raw <= spec_field.maximum:
        below_torch = spec_field.torch_min is not None and raw < spec_field.torch_min
        above_torch = spec_field.torch_max is not None and raw > spec_field.torch_max
        raise FieldError(name, f"{name} must be between {_fmt(spec_field.minimum)} and "
                               f"{_fmt(spec_field.maximum)} (got {_fmt(raw)})",
                         below_torch or above_torch)
    return raw


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
