"""A design as a short readable code, for links: ``c32k5p2-relu-max2-flat-fc10``.

One token per layer, joined by ``-``. A token is the layer's word, its main value right after
it, then its other fields, each a letter and a value, only those the design sets:

=========================  ==========================================================
``c32k5s1p2d1``            conv2d: out_channels 32, kernel_size, stride, padding, dilation
``max2s2p0`` / ``avg2``    maxpool2d / avgpool2d: kernel_size, stride, padding
``fc10``                   linear: out_features
``drop0.5`` / ``drop``     dropout: p (``drop`` alone: the default)
``lrelu0.01``              leaky_relu: negative_slope
``relu sig tanh bn flat``  relu, sigmoid, tanh, batchnorm2d, flatten
``in3x32x32``              first, only when the input is not 1x28x28
=========================  ==========================================================

Values are written as the design holds them, so a code turns back into exactly the same
design: ``5`` and ``5.0`` differ, ``1en05`` is ``1e-05``, ``3x5`` is ``[3, 5]``,
``psame``/``pvalid`` are padding strings, ``n`` marks a negative number and ``none`` a null.
A code that is not a design raises ``SpecFormatError`` with one line saying why.

Reading is one pass, left to right, that never goes back (linear in the code's length):
a token is its word (the longest that fits), then the longest value that starts there, if
any, then a field letter and the longest value after it, again to the token's end. So ``x``
and ``e`` belong to the number before them whenever they can: ``max1x1`` is a 1x1 pool,
``max1x1x1`` that pool then a field ``x``, which no layer has; ``c8k1e1`` is kernel 10.0.
Digits are ASCII ``0``-``9``; a number has at most ``MAX_NUMBER_CHARS`` characters.
"""

from __future__ import annotations

import math
import re
from typing import Any

from cnn_core.design.layers import LAYERS, layer_type
from cnn_core.design.parse import MAX_NUMBER_CHARS, SpecFormatError, spec_from_dict
from cnn_core.design.spec import MNIST_INPUT_SHAPE, ArchitectureSpec

MAX_CODE_LENGTH = 4000


def _tokens(type_: str) -> tuple[str, str | None, dict[str, str]]:
    """A layer type's word, the field right after it (its first) and the others by letter
    (each field's first letter), all from the layer registry."""
    names = [f.name for f in layer_type(type_).fields]
    return layer_type(type_).word, (names[0] if names else None), {n[0]: n for n in names[1:]}


# Possessive (``++``, ``?+``) and atomic (``(?>...)``): a piece once read is never re-read,
# so matching is linear however the letters and digits are mixed (``c1x1x1...x1Z`` once
# took seconds per character added, backtracking over which ``x`` ends a value).
_NUMBER = r"n?+[0-9]++(?:\.[0-9]++)?+(?:en?+[0-9]++)?+"
_VALUE = rf"(?>none|same|valid|{_NUMBER}(?:x{_NUMBER})?+)"
_MAIN = re.compile(_VALUE)
_FIELD = re.compile(rf"([a-z])({_VALUE})")
_INPUT = re.compile(r"in([0-9]{1,4})x([0-9]{1,4})x([0-9]{1,4})")


def _word_pattern() -> re.Pattern[str]:
    """The registry's words, longest first (read at each call: a test may add a type; ``re``
    caches the compiled form)."""
    words = sorted((re.escape(t.word) for t in LAYERS.values()), key=len, reverse=True)
    return re.compile(f"(?>{'|'.join(words)})")


# ---- writing -----------------------------------------------------------------------------
def encode_design(spec: ArchitectureSpec) -> str:
    """The design's code. ``ValueError`` for a value no design can hold (a bool, a list of
    three, text other than "same"/"valid"): such a design is not valid anyway."""
    tokens = [] if tuple(spec.input_shape) == MNIST_INPUT_SHAPE else \
        ["in" + "x".join(map(str, spec.input_shape))]
    for layer in spec.layers:
        word, main, fields = _tokens(layer.type)
        known = {main, *fields.values()}
        unknown = set(layer.params) - known
        if unknown:
            raise ValueError(f"{layer.type} has no field {sorted(unknown)[0]!r}")
        token = word
        if main is not None and main in layer.params:
            token += _value(layer.params[main])
        for letter, name in fields.items():
            if name in layer.params:
                token += letter + _value(layer.params[name])
        tokens.append(token)
    return "-".join(tokens)


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, str) and value in ("same", "valid"):
        return value
    if isinstance(value, list) and len(value) == 2:
        return "x".join(_number(v) for v in value)
    return _number(value)


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{value!r} cannot be written in a design code")
    if isinstance(value, int):
        return ("n" if value < 0 else "") + str(abs(value))
    if not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be written in a design code")
    # repr: the shortest digits that read back exactly; "-" and "+" would not survive a link
    text = repr(abs(value)).replace("e-", "en").replace("e+", "e")
    return ("n" if math.copysign(1.0, value) < 0 else "") + text


# ---- reading -----------------------------------------------------------------------------
def decode_design(code: str) -> ArchitectureSpec:
    """The design a code stands for; ``SpecFormatError`` (one line) when it is not one.
    Like imported JSON, the design's values are checked later, by ``analyze``."""
    if not isinstance(code, str) or not code.strip():
        raise SpecFormatError("the design code is empty")
    if len(code) > MAX_CODE_LENGTH:
        raise SpecFormatError(f"the design code has {len(code):,} characters; the limit is "
                              f"{MAX_CODE_LENGTH:,}")
    tokens = code.strip().split("-")
    input_shape: list[int] = list(MNIST_INPUT_SHAPE)
    if (match := _INPUT.fullmatch(tokens[0])) is not None:
        input_shape = [int(v) for v in match.groups()]
        tokens = tokens[1:]
    layers = [_layer(i, token) for i, token in enumerate(tokens, 1)]
    return spec_from_dict({"input_shape": input_shape, "layers": layers})


def _layer(index: int, token: str) -> dict[str, Any]:
    read = _read_token(token)
    if read is None:
        shown = token if len(token) <= 20 else token[:20] + "…"
        raise SpecFormatError(f"the design code's layer {index} ({shown!r}) is not a layer: "
                              "expected e.g. c32k5p2, relu, max2, flat, drop0.5 or fc10")
    word, main_text, pairs = read
    type_ = next(t.name for t in LAYERS.values() if t.word == word)
    _, main, fields = _tokens(type_)
    layer: dict[str, Any] = {"type": type_}
    if main_text is not None:
        if main is None:
            raise SpecFormatError(f"the design code's layer {index} ({type_}) takes no value")
        layer[main] = _parse_value(main_text)
    for letter, text in pairs:
        name = fields.get(letter)
        if name is None or name in layer:
            what = "repeats" if name else "has no field"
            raise SpecFormatError(f"the design code's layer {index} ({type_}) {what} "
                                  f"{letter!r}")
        layer[name] = _parse_value(text)
    return layer


def _read_token(token: str) -> tuple[str, str | None, list[tuple[str, str]]] | None:
    """The token's word, main value and (letter, value) fields, each piece read once from
    left to right; None when the token is not made of them to its end."""
    if (word := _word_pattern().match(token)) is None:
        return None
    position, main_text = word.end(), None
    if (main := _MAIN.match(token, position)) is not None:
        position, main_text = main.end(), main.group()
    pairs = []
    while position < len(token):
        if (pair := _FIELD.match(token, position)) is None:
            return None
        pairs.append((pair.group(1), pair.group(2)))
        position = pair.end()
    return word.group(), main_text, pairs


def _parse_value(text: str) -> Any:
    if text == "none":
        return None
    if text in ("same", "valid"):
        return text
    if "x" in text:
        return [_parse_number(part) for part in text.split("x")]
    return _parse_number(text)


def _parse_number(text: str) -> int | float:
    if len(text) > MAX_NUMBER_CHARS:  # int() of long digits costs quadratic time, as in JSON
        raise SpecFormatError(f"the design code's number {text[:12]}… is {len(text):,} "
                              f"characters long; a design's numbers have at most "
                              f"{MAX_NUMBER_CHARS}")
    negative, digits = text.startswith("n"), text.removeprefix("n")
    is_float = "." in digits or "e" in digits
    value: int | float = float(digits.replace("en", "e-")) if is_float else int(digits)
    return -value if negative else value
