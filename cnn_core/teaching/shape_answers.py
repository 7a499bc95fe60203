"""A student's output-shape answer (C × H × W), checked, and when wrong, *why*.

``parse_shape`` reads what a student types ("16x24x24", "16 × 24 × 24", "(16, 24, 24)")
in one pass and refuses anything else with one sentence. ``check_shape`` compares it with
the shape engine's answer for a layer and, when it is off, recomputes the layer under each
mistaken rule a student is likely to follow (no padding, stride 1, ceil, no dilation, the
kernel size or the input's channels as the output's channels, a lost + 1...) with the shape
engine's own arithmetic (``shapes.window_output`` and ``shapes.size_formula``), and names
the rule that gives the student's numbers, with the formula filled in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cnn_core.design.formatting import format_shape
from cnn_core.design.layers import layer_type
from cnn_core.design.report import LayerReport, Shape
from cnn_core.design.shapes import size_formula, window_output

MAX_ANSWER_CHARS = 40  # "(1024, 1024, 1024)" is 18: anything longer is not a shape
MAX_DIGITS = 6  # no size in a design this app accepts has more
SEPARATORS = "xX×*,"
EXAMPLE = "16x24x24"

# The causes a wrong answer is grouped under on the teacher's board.
FORGOT_PADDING = "forgot padding"
PADDING_ONE_SIDE = "padded one side only"
IGNORED_STRIDE = "ignored stride"
USED_CEIL = "used ceil"
FORGOT_DILATION = "forgot dilation"
OFF_BY_ONE = "off by one"
KERNELS_AS_CHANNELS = "mixed up channels and kernels"
INPUT_CHANNELS = "used input channels"
POOL_CHANNELS = "pooling changed the channels"
SWAPPED = "swapped height and width"
KEEPS_SHAPE = "thought it changes the shape"
NOT_FLAT = "forgot flatten makes a vector"
WRONG_COUNT = "wrong number of parts"
SLIP = "arithmetic slip"


class AnswerError(ValueError):
    """Not a shape answer; the message says what to type instead."""


def parse_shape(text: str) -> Shape:
    """The whole numbers of a shape answer, in order; ``AnswerError`` for anything else.

    One pass over at most ``MAX_ANSWER_CHARS`` characters: numbers separated by one of
    ``x × * ,`` (spaces around it allowed) or by spaces alone, in one optional pair of
    brackets, with an optional trailing comma ("(10,)")."""
    if len(text) > MAX_ANSWER_CHARS:
        raise AnswerError(f"that is {len(text):,} characters; a shape is a few numbers, "
                          f"e.g. {EXAMPLE}")
    inner = text.strip()
    if not inner:
        raise AnswerError(f"type the shape as channels × height × width, e.g. {EXAMPLE}")
    if inner[0] in "([" and inner[-1] == {"(": ")", "[": "]"}[inner[0]]:
        inner = inner[1:-1]
    numbers: list[int] = []
    digits, last = "", "start"  # last: what came before, "start", "number" or a separator
    for char in inner + " ":  # a space at the end closes the last number
        if "0" <= char <= "9":
            digits += char
            if len(digits) > MAX_DIGITS:
                raise AnswerError(f"a size has at most {MAX_DIGITS} digits")
            continue
        if digits:
            numbers.append(int(digits))
            digits, last = "", "number"
        if char.isspace():
            continue
        if char not in SEPARATORS:
            raise AnswerError(f"{char!r} is not part of a shape: type whole numbers "
                              f"separated by x, e.g. {EXAMPLE}")
        if last != "number":
            raise AnswerError(f"a number is missing before {char!r}: type e.g. {EXAMPLE}")
        last = char
    if not numbers:
        raise AnswerError(f"type the shape as channels × height × width, e.g. {EXAMPLE}")
    if last not in ("number", ","):  # "(10,)" is Python's one-part shape
        raise AnswerError(f"a number is missing after {last!r}: type e.g. {EXAMPLE}")
    if len(numbers) > 3:
        raise AnswerError("a shape here has at most three parts: channels × height × width")
    if 0 in numbers:
        raise AnswerError("every size is at least 1")
    return tuple(numbers)


@dataclass(frozen=True)
class Verdict:
    """What a shape answer was worth: right or not, which parts were off, the most likely
    cause (one of the constants above) and what to tell the student."""

    right: bool
    expected: Shape
    answer: Shape
    cause: str = ""
    parts: tuple[str, ...] = ()
    message: str = ""


# ---- the spatial rules: (cause, applies?, size under the rule, what the student computed) ---
@dataclass(frozen=True)
class _Axis:
    size: int
    kernel: int
    stride: int
    padding: int
    dilation: int

    def right(self) -> int | None:
        return window_output(self.size, self.kernel, self.stride, self.padding, self.dilation)

    def formula(self, lhs: str, **changed: int) -> str:
        values = {"size": self.size, "kernel": self.kernel, "stride": self.stride,
                  "padding": self.padding, "dilation": self.dilation, **changed}
        return size_formula(**values, lhs=lhs)


def _ceil(a: _Axis) -> int | None:
    # ceil(span / s) is floor((span + s - 1) / s): the engine's floor on a longer input
    return window_output(a.size + a.stride - 1, a.kernel, a.stride, a.padding, a.dilation)


def _ceil_text(a: _Axis, lhs: str) -> str:
    floor_text = a.formula(lhs).rsplit(" = ", 1)[0].replace("floor", "ceil")
    return f"{floor_text} = {_ceil(a)}"


Rule = tuple[str, Callable[[_Axis], bool], Callable[[_Axis], int | None],
             Callable[[_Axis, str], str]]
RULES: tuple[Rule, ...] = (
    (FORGOT_PADDING, lambda a: a.padding > 0,
     lambda a: window_output(a.size, a.kernel, a.stride, 0, a.dilation),
     lambda a, lhs: a.formula(lhs, padding=0)),
    (IGNORED_STRIDE, lambda a: a.stride > 1,
     lambda a: window_output(a.size, a.kernel, 1, a.padding, a.dilation),
     lambda a, lhs: a.formula(lhs, stride=1)),
    (USED_CEIL, lambda a: a.stride > 1, _ceil, _ceil_text),
    (FORGOT_DILATION, lambda a: a.dilation > 1,
     lambda a: window_output(a.size, a.kernel, a.stride, a.padding, 1),
     lambda a, lhs: a.formula(lhs, dilation=1)),
    (PADDING_ONE_SIDE, lambda a: a.padding > 0,  # P where 2P belongs: P less input
     lambda a: window_output(a.size - a.padding, a.kernel, a.stride, a.padding, a.dilation),
     lambda a, lhs: f"{lhs} = floor(({a.size} - {a.kernel} + {a.padding}) / {a.stride}) + 1"
                    f" = {window_output(a.size - a.padding, a.kernel, a.stride, a.padding)}"
                    if a.dilation == 1 else f"{lhs}: {a.padding} instead of 2*{a.padding}"),
    (OFF_BY_ONE, lambda a: True, lambda a: (a.right() or 0) - 1,
     lambda a, lhs: f"{lhs} = ({a.size} - {a.kernel} + 2*{a.padding}) / {a.stride}, "
                    "without the + 1"),
    (OFF_BY_ONE, lambda a: True, lambda a: (a.right() or 0) + 1,
     lambda a, lhs: f"{lhs} = one more than the windows that fit"),
)
WHY = {
    FORGOT_PADDING: "you used no padding",
    IGNORED_STRIDE: "you moved the window one step at a time, but the stride skips",
    USED_CEIL: "you rounded up; the division is floored (a window that would hang over the "
               "edge is not taken)",
    FORGOT_DILATION: "you used the kernel's own size, but dilation spreads it out",
    PADDING_ONE_SIDE: "you added the padding once, but it goes on both sides (2P)",
    OFF_BY_ONE: "you are off by one: count the first window too (+ 1)",
}


def _axes(report: LayerReport) -> list[_Axis]:
    s, (_, height, width) = report.settings, report.input_shape
    kernel, stride = s["kernel_size"], s["stride"]
    dilation = s.get("dilation", (1, 1))
    padding = s["padding"]
    if padding == "same":  # as the shape engine resolves it (stride is 1 here)
        padding = tuple(d * (k - 1) // 2 for d, k in zip(dilation, kernel))
    elif padding == "valid":
        padding = (0, 0)
    return [_Axis(size, kernel[i], stride[i], padding[i], dilation[i])
            for i, size in enumerate((height, width))]


def _spatial(report: LayerReport, answer: Shape) -> tuple[str, str]:
    """The cause of a wrong height/width and the sentence with its formulas."""
    expected = report.output_shape
    axes = _axes(report)
    names = [("height", "H_out"), ("width", "W_out")]
    off = [i for i in range(2) if answer[1 + i] != expected[1 + i]]
    if answer[1:] == expected[:0:-1] and expected[1] != expected[2]:
        return SWAPPED, (f"you swapped height and width: it is {expected[1]} high and "
                         f"{expected[2]} wide")
    for cause, applies, rule, text in RULES:
        if all(applies(axes[i]) and rule(axes[i]) == answer[1 + i] for i in off):
            which = " and ".join(names[i][0] for i in off)
            shown = axes[off[0]]
            lhs = names[off[0]][1] if len(off) == 1 else "H_out = W_out"
            # in code spans: a page shows the message as Markdown, where 2*0 ... 2*1 is italic
            return cause, (f"{which}: {WHY[cause]}: `{text(shown, lhs)}`; the right one is "
                           f"`{shown.formula(lhs)}`")
    right = "; ".join(f"`{axes[i].formula(names[i][1])}`" for i in off)
    return SLIP, f"check the arithmetic: {right}"


def _channels(report: LayerReport, answer: int) -> tuple[str, str]:
    expected = report.output_shape[0]
    in_channels = report.input_shape[0]
    if layer_type(report.type).rule == "pool":
        return POOL_CHANNELS, (f"pooling works on each channel alone, so the {in_channels} "
                               "channels stay")
    kernel = report.settings["kernel_size"]
    if answer in kernel and answer != expected:
        return KERNELS_AS_CHANNELS, (
            f"{answer} is the kernel's size; the number of channels out is the number of "
            f"kernels (out_channels = {expected}): each kernel makes one feature map")
    if answer == in_channels:
        return INPUT_CHANNELS, (f"{in_channels} is the input's channels; each of the "
                                f"{expected} kernels makes one output channel")
    return SLIP, f"a conv layer outputs one channel per kernel: out_channels = {expected}"


def _flat(report: LayerReport, answer: Shape) -> tuple[str, str]:
    expected, shape_in = report.output_shape, report.input_shape
    rule = layer_type(report.type).rule
    if rule == "flatten":
        if len(answer) > 1:
            return NOT_FLAT, (f"flatten lines the {format_shape(shape_in)} values up in one "
                              f"vector: {' × '.join(map(str, shape_in))} = {expected[0]:,}")
        return SLIP, f"multiply every size: {' × '.join(map(str, shape_in))} = {expected[0]:,}"
    if answer == shape_in and answer != expected:
        return INPUT_CHANNELS, (f"a linear layer outputs out_features = {expected[0]} values, "
                                f"whatever it gets ({shape_in[0]:,} here)")
    return SLIP, f"a linear layer outputs out_features = {expected[0]} values"


def check_shape(report: LayerReport, answer: Shape) -> Verdict:
    """The answer against the layer's output shape, and when wrong, the likely cause."""
    expected = report.output_shape
    if expected is None or report.input_shape is None:
        raise ValueError(f"{report.label} has no output shape to ask about")
    if answer == expected:
        return Verdict(True, expected, answer, message=f"Right: {format_shape(expected)}.")
    rule = layer_type(report.type).rule
    if rule in ("flatten", "dense"):
        cause, why = _flat(report, answer)
        return _wrong(expected, answer, cause, ("size",), why)
    if len(answer) != len(expected):
        return _wrong(expected, answer, WRONG_COUNT, ("shape",),
                      f"the output has {len(expected)} parts "
                      f"({'channels × height × width' if len(expected) == 3 else 'one size'})"
                      f", you gave {len(answer)}")
    if rule not in ("conv", "pool"):  # relu, dropout, batchnorm...: the shape goes through
        return _wrong(expected, answer, KEEPS_SHAPE, _parts_off(expected, answer),
                      f"{report.type} works value by value and keeps the shape it gets: "
                      f"{format_shape(report.input_shape)}")
    causes, whys = [], []
    if answer[0] != expected[0]:
        cause, why = _channels(report, answer[0])
        causes.append(cause)
        whys.append(f"channels: {why}")
    if answer[1:] != expected[1:]:
        cause, why = _spatial(report, answer)
        causes.append(cause)
        whys.append(why)
    return _wrong(expected, answer, causes[0], _parts_off(expected, answer), "; ".join(whys))


def _parts_off(expected: Shape, answer: Shape) -> tuple[str, ...]:
    return tuple(name for name, e, a in zip(("channels", "height", "width"), expected, answer)
                 if e != a)


def _wrong(expected: Shape, answer: Shape, cause: str, parts: tuple[str, ...],
           why: str) -> Verdict:
    return Verdict(False, expected, answer, cause, parts,
                   f"Not quite: {format_shape(answer)} should be {format_shape(expected)}. "
                   f"{why[0].upper()}{why[1:]}.")


def check_answer(report: LayerReport, text: str) -> Verdict:
    """``parse_shape`` then ``check_shape``; ``AnswerError`` when the text is no shape."""
    return check_shape(report, parse_shape(text))
