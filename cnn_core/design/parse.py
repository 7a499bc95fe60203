"""The one parser of designs as text (a file, the Design page, the command line).

``spec_from_json_text`` refuses what is not a design, in one short line, and gives each value
the type its field expects; no input can make it recurse or allocate much.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import Any

from cnn_core.design.layers import LAYERS, FieldSpec
from cnn_core.design.spec import (
    MAX_INPUT_CHANNELS,
    MAX_INPUT_SIZE,
    MAX_LAYERS,
    MNIST_INPUT_SHAPE,
    ArchitectureSpec,
    Layer,
)

MAX_TEXT_CHARS = 100_000  # a 100-layer design, indented, is about 15,000
MAX_TEXT_BYTES = 4 * MAX_TEXT_CHARS  # UTF-8 takes at most 4 bytes a character
MAX_JSON_DEPTH = 8  # a design nests 4 deep: {"layers": [{"kernel_size": [3, 3]}]}
MAX_NUMBER_CHARS = 32  # the longest number literal a design may hold
MAX_ABS_NUMBER = 1_000_000_000  # beyond every field's range, and safe in a browser's number
MAX_MESSAGE_CHARS = 200


class SpecFormatError(ValueError):
    """The input is not a design (size, syntax, structure, a type, field or value's JSON type).

    Its message is one line of at most ``MAX_MESSAGE_CHARS`` characters, whatever the input.
    """

    def __init__(self, message: str) -> None:
        line = " ".join(message.split())
        if len(line) > MAX_MESSAGE_CHARS:
            line = f"{line[:MAX_MESSAGE_CHARS - 1]}…"
        super().__init__(line)


def spec_from_json_text(text: str | bytes) -> ArchitectureSpec:
    """The one way a design comes in as text (a file, the Design page, the command line).

    Returns the design, or raises ``SpecFormatError`` with one short line. Size and nesting
    are checked before ``json.loads`` runs, so no input can make it recurse or allocate much.
    """
    if isinstance(text, bytes):
        if len(text) > MAX_TEXT_BYTES:  # checked before decoding: the reader may cut it here
            raise SpecFormatError(f"the file is more than {MAX_TEXT_BYTES:,} bytes; a design "
                                  f"is at most {MAX_TEXT_CHARS:,} characters")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SpecFormatError(f"not UTF-8 text (byte {exc.start + 1} cannot be decoded)")\
                from None
    text = text.removeprefix("\ufeff")  # a byte-order mark, as some editors save
    if len(text) > MAX_TEXT_CHARS:
        raise SpecFormatError(f"the text is {len(text):,} characters; a design is at most "
                              f"{MAX_TEXT_CHARS:,}")
    if not text.strip():
        raise SpecFormatError("the text is empty: paste or load a design's JSON")
    if _nests_deeper_than(text, MAX_JSON_DEPTH):
        raise SpecFormatError(f"the JSON nests more than {MAX_JSON_DEPTH} levels deep; a "
                              "design needs 4")
    try:
        obj = json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                         parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise SpecFormatError(f"not valid JSON: {exc.msg} at line {exc.lineno}, "
                              f"column {exc.colno}") from None
    return spec_from_dict(obj)


# A JSON string, to be skipped whole so brackets inside it do not count; one never closed runs
# to the end (json.loads stops there, so no bracket after it can nest). Possessive, its tail
# optional: a match never fails once begun nor re-reads a character, so ``sub`` is linear
# (the old pattern failed on an unclosed string and was tried again from every later quote).
_JSON_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _nests_deeper_than(text: str, limit: int) -> bool:
    """Whether the brackets outside strings nest deeper than ``limit``: strings out, then all
    but brackets, then a running sum, each one pass in C (milliseconds for any 100,000
    characters; a Python loop over 50,000 ``[]`` took 30 ms)."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) > limit


def _parse_int(literal: str) -> int:
    _check_literal(literal)
    return int(literal)


def _parse_float(literal: str) -> float:
    _check_literal(literal)
    value = float(literal)
    if not math.isfinite(value):  # 1e400 overflows to inf
        raise SpecFormatError(f"the number {literal} is too large")
    return value


def _check_literal(literal: str) -> None:
    # Python refuses ints over 4,300 digits, and a long one costs quadratic time: refuse first.
    if len(literal) > MAX_NUMBER_CHARS:
        raise SpecFormatError(f"the number {literal[:12]}… is {len(literal):,} characters "
                              f"long; a design's numbers have at most {MAX_NUMBER_CHARS}")


def _refuse_constant(name: str) -> None:
    raise SpecFormatError(f"{name} is not a number a design can use (JSON has no {name})")


def spec_from_dict(obj: Any) -> ArchitectureSpec:
    """Check a decoded design's structure and the JSON type of every value.

    Values are normalised to the type their field expects (whole numbers such as ``3.0`` or
    ``3e0`` become ``int``, ``-0.0`` becomes ``0``, floats stay ``float``), so the page's widgets
    never see another type. A value of the right type but out of its range is kept: ``analyze``
    reports it on its own layer.
    """
    if not isinstance(obj, dict):
        raise SpecFormatError("a design must be a JSON object with a \"layers\" list, "
                              f"not {_json_type(obj)}")
    unknown = sorted(str(key) for key in set(obj) - {"input_shape", "layers"})
    if unknown:
        raise SpecFormatError(f"unknown top-level field {_name(unknown[0])}: a design has "
                              "only \"input_shape\" and \"layers\"")
    raw_layers = obj.get("layers")
    if not isinstance(raw_layers, list):
        found = f", not {_json_type(raw_layers)}" if "layers" in obj else ""
        raise SpecFormatError(f"a design needs a \"layers\" list{found}")
    if len(raw_layers) > MAX_LAYERS:
        raise SpecFormatError(f"the design has {len(raw_layers)} layers; the limit is "
                              f"{MAX_LAYERS}")
    input_shape = _parse_input_shape(obj.get("input_shape", list(MNIST_INPUT_SHAPE)))
    return ArchitectureSpec(tuple(_parse_layer(i, raw) for i, raw in enumerate(raw_layers, 1)),
                            input_shape)


def _parse_input_shape(raw: Any) -> tuple[int, int, int]:
    usage = "\"input_shape\" must be [channels, height, width], e.g. [1, 28, 28]"
    if not isinstance(raw, list) or len(raw) != 3:
        raise SpecFormatError(f"{usage}; got {snippet(raw)}")
    c, h, w = (_whole_number(v, '"input_shape"', f"{usage}; got {snippet(raw)}") for v in raw)
    if not 1 <= c <= MAX_INPUT_CHANNELS or not (1 <= h <= MAX_INPUT_SIZE
                                                  and 1 <= w <= MAX_INPUT_SIZE):
        raise SpecFormatError(f"\"input_shape\" {[c, h, w]} is out of range: channels 1 to "
                              f"{MAX_INPUT_CHANNELS}, height and width 1 to {MAX_INPUT_SIZE}")
    return (c, h, w)


def _parse_layer(index: int, raw: Any) -> Layer:
    if not isinstance(raw, dict):
        raise SpecFormatError(f"layer {index} must be an object like {{\"type\": \"relu\"}}, "
                              f"not {_json_type(raw)}")
    type_ = raw.get("type")
    if not isinstance(type_, str) or type_ not in LAYERS:
        raise SpecFormatError(f"layer {index} has unknown type {snippet(type_)}; known "
                              f"types: {', '.join(LAYERS)}")
    fields = {f.name: f for f in LAYERS[type_].fields}
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "type":
            continue
        if key not in fields:
            allowed = ", ".join(sorted(fields)) or "none"
            raise SpecFormatError(f"layer {index} ({type_}) has unknown field "
                                  f"{_name(str(key))}; its fields: {allowed}")
        if value is not None:  # null: the field's default, as when it is left out
            params[key] = _parse_value(fields[key], value, f"layer {index} ({type_})")
    return Layer(type_, params)


def _parse_value(spec_field: FieldSpec, raw: Any, where: str) -> Any:
    """The value as its field's widgets expect it: int, float, [int, int] or a padding word."""
    label = f"{where}: {spec_field.name}"
    if spec_field.kind == "float":
        return float(_number(raw, label, f"{label} must be a number (got {snippet(raw)})"))
    sizes = spec_field.kind in ("size", "padding")
    usage = f"{label} must be a whole number" + (" or [height, width]" if sizes else "") + (
        ', "same" or "valid"' if spec_field.kind == "padding" else "")
    message = f"{usage} (got {snippet(raw)})"
    if spec_field.kind == "padding" and raw in ("same", "valid"):
        return raw
    if sizes and isinstance(raw, list):
        if len(raw) != 2:
            raise SpecFormatError(message)
        return [_whole_number(v, label, message) for v in raw]
    return _whole_number(raw, label, message)


def _number(raw: Any, label: str, message: str) -> int | float:
    """A finite JSON number within ``MAX_ABS_NUMBER``, with ``-0.0`` made ``0.0``."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or (
            isinstance(raw, float) and not math.isfinite(raw)):
        raise SpecFormatError(message)
    if abs(raw) > MAX_ABS_NUMBER:
        raise SpecFormatError(f"{label} {snippet(raw)} is far out of range (beyond "
                              f"±{MAX_ABS_NUMBER:,})")
    return raw + 0  # -0.0 + 0 is 0.0: no negative zero reaches a widget


def _whole_number(raw: Any, label: str, message: str) -> int:
    """An int, also from a whole float (``3.0``, ``3e0``): one rule for every field."""
    value = _number(raw, label, message)
    if isinstance(value, float):
        if not value.is_integer():
            raise SpecFormatError(message)
        return int(value)
    return value


def snippet(value: Any, limit: int = 40) -> str:
    """A value as JSON, cut to ``limit`` characters: error lines never repeat a long input."""
    text = _short_json(value, limit)
    return text if len(text) <= limit else f"{text[:limit - 1]}…"


def _name(key: str, limit: int = 40) -> str:
    """A field name as the messages quote it, cut to ``limit`` characters."""
    return repr(key if len(key) <= limit else f"{key[:limit - 1]}…")


def _short_json(value: Any, budget: int, depth: int = 0) -> str:
    """JSON text of ``value``, but only about its first ``budget`` characters (bounded work)."""
    if isinstance(value, (list, dict)):
        if depth >= 3:
            return "[…]" if isinstance(value, list) else "{…}"
        items = value.items() if isinstance(value, dict) else value
        pieces, used = [], 2
        for item in itertools.islice(items, budget):
            piece = (f"{_short_json(str(item[0]), budget)}: "
                     f"{_short_json(item[1], budget, depth + 1)}"
                     if isinstance(value, dict) else _short_json(item, budget, depth + 1))
            pieces.append(piece)
            used += len(piece) + 2
            if used > budget:
                break
        ends = "[]" if isinstance(value, list) else "{}"
        return ends[0] + ", ".join(pieces) + ends[1]
    if isinstance(value, str):
        return json.dumps(value[:budget])
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"a {value.bit_length() * 30103 // 100000 + 1:,}-digit number"
    if isinstance(value, (bool, int, float)) or value is None:
        return json.dumps(value)
    return type(value).__name__


def _json_type(value: Any) -> str:
    """The JSON type of a value, with its article: "a list", "an object"."""
    return {list: "a list", dict: "an object", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(
        type(value), type(value).__name__)

