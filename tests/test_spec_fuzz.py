"""Fuzzing the one design parser: any text or bytes gives a design the shape engine and the
Design page's widgets can use, or ``SpecFormatError`` with one short line; nothing else."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, find, given, settings
from hypothesis import strategies as st

from cnn_core.design.layers import LAYERS, FieldSpec
from cnn_core.design.parse import MAX_MESSAGE_CHARS, SpecFormatError, spec_from_json_text
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec

FUZZ = settings(max_examples=1000, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
JS_SAFE_INTEGER = 2**53 - 1  # Streamlit's number_input refuses ints beyond this


@dataclass(frozen=True)
class Raw:
    """A literal written into the JSON text as is: a 5,000-digit integer, 3e0, NaN."""

    text: str


def to_text(value: Any) -> str:
    """JSON text of ``value``, with ``Raw`` literals kept (json.dumps cannot write them)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, list):
        return "[" + ", ".join(to_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {to_text(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


number_literals = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40).map(lambda n: Raw(str(n))),
    st.integers(min_value=30, max_value=6000).map(lambda n: Raw("9" * n)),  # huge integers
    st.integers(min_value=0, max_value=40).map(lambda n: Raw(f"{n}.0")),
    st.integers(min_value=0, max_value=40).map(lambda n: Raw(f"{n}e0")),
    st.sampled_from([Raw(t) for t in ("-0.0", "-0", "0.0", "1e400", "-1e400", "1e-400", "NaN",
                                      "Infinity", "-Infinity", "3E0", "0.5", "1.5e1")]),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), number_literals,
                    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: Raw(repr(f))
                                                                       if math.isfinite(f)
                                                                       else Raw("NaN")),
                    st.text(max_size=20), st.sampled_from(["same", "valid", "conv2d", "0.5"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
arbitrary = st.one_of(json_values, number_literals,
                      st.lists(number_literals, min_size=2, max_size=2))
whole_literals = st.one_of(st.integers(0, 40), st.integers(0, 40).map(lambda n: Raw(f"{n}.0")),
                          st.integers(0, 40).map(lambda n: Raw(f"{n}e0")))
plausible = {  # values a design might really hold
    "int": st.one_of(st.integers(1, 64), whole_literals),
    "size": st.one_of(whole_literals, st.lists(whole_literals, min_size=2, max_size=2)),
    "padding": st.one_of(whole_literals, st.sampled_from(["same", "valid"])),
    "float": st.one_of(st.floats(0, 1), st.sampled_from([Raw("0"), Raw("-0.0"), Raw("1")])),
}


@st.composite
def plausible_designs(draw: st.DrawFn) -> dict[str, Any]:
    """A design as someone would write one: known types, values of the right JSON type."""
    layers = []
    for type_ in draw(st.lists(st.sampled_from(list(LAYERS)), max_size=6)):
        layer = {"type": type_}
        for spec_field in LAYERS[type_].fields:
            if spec_field.required or draw(st.booleans()):
                layer[spec_field.name] = draw(plausible[spec_field.kind])
        layers.append(layer)
    design: dict[str, Any] = {"layers": layers}
    if draw(st.booleans()):
        design["input_shape"] = draw(st.lists(st.one_of(st.integers(1, 32), whole_literals),
                                              min_size=3, max_size=3))
    return design


@st.composite
def designs(draw: st.DrawFn) -> str:
    """A plausible design's JSON text with up to two places given arbitrary JSON values: a
    field of a layer (each field of each type can be picked), a layer's type, a whole layer,
    the input shape, the layer list or a new top-level field."""
    design = draw(plausible_designs())
    for _ in range(draw(st.integers(0, 2))):  # none: the fuzz also covers designs that run
        layers = design["layers"] if isinstance(design["layers"], list) else []
        place = draw(st.sampled_from(["field", "field", "field", "type", "layer",
                                      "input_shape", "layers", "top-level"]))
        if place in ("field", "type", "layer") and layers:
            i = draw(st.integers(0, len(layers) - 1))
            if place == "layer":
                layers[i] = draw(arbitrary)
            elif isinstance(layers[i], dict):
                kind = LAYERS.get(str(layers[i].get("type")))
                names = [f.name for f in kind.fields] if kind else []
                name = "type" if place == "type" or not names else draw(st.sampled_from(names))
                layers[i][name] = draw(arbitrary)
        elif place in ("input_shape", "layers"):
            design[place] = draw(arbitrary)
        else:
            design[draw(st.text(max_size=8))] = draw(arbitrary)
    prefix = draw(st.sampled_from(["", "\ufeff", " \n"]))
    return prefix + to_text(design)


@st.composite
def deep_nesting(draw: st.DrawFn) -> str:
    depth = draw(st.integers(1, 20_000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"layers": ', "}"), ('{"a": [', "]}")]))
    inner = draw(st.sampled_from(["", "1", '{"type": "relu"}', "[]"]))
    return opener * depth + inner + closer * draw(st.sampled_from([depth, 0, depth // 2]))


def widget_value_ok(spec_field: FieldSpec, value: Any) -> bool:
    """Whether a value has the type the Design page's widget for its field expects."""
    def whole(v: Any) -> bool:
        return type(v) is int and abs(v) <= JS_SAFE_INTEGER

    if spec_field.kind == "float":
        negative_zero = value == 0 and math.copysign(1, value) < 0
        return type(value) is float and math.isfinite(value) and not negative_zero
    if spec_field.kind == "int":
        return whole(value)
    pair = isinstance(value, list) and len(value) == 2 and all(whole(v) for v in value)
    words = spec_field.kind == "padding" and value in ("same", "valid")
    return whole(value) or pair or words


def check_parse(text: str | bytes) -> ArchitectureSpec | None:
    """The property every input must satisfy; returns the design when there was one."""
    try:
        spec = spec_from_json_text(text)
    except SpecFormatError as exc:
        message = str(exc)
        assert message and len(message) <= MAX_MESSAGE_CHARS and "\n" not in message, message
        return None
    report = analyze(spec)  # must not raise
    for line in report.errors + list(report.training_warnings):
        assert len(line) <= 2 * MAX_MESSAGE_CHARS and "\n" not in line, line
    assert all(type(v) is int for v in spec.input_shape)
    for layer in spec.layers:
        fields = {f.name: f for f in LAYERS[layer.type].fields}
        for name, value in layer.params.items():
            assert widget_value_ok(fields[name], value), (layer.type, name, value)
    assert spec_from_json_text(spec.to_json_text()) == spec  # what the page exports comes back
    return spec


def fuzz_check(text: str | bytes) -> ArchitectureSpec | None:
    """``check_parse``, counting outcomes (``--hypothesis-show-statistics`` lists them)."""
    spec = check_parse(text)
    event("refused" if spec is None else "a design that torch can run"
          if analyze(spec).ok else "a design with layer errors")
    return spec


@FUZZ
@given(designs())
def test_any_json_in_any_field_gives_a_usable_design_or_one_short_line(text):
    fuzz_check(text)


@FUZZ
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300), deep_nesting()))
def test_any_text_or_bytes_gives_a_design_or_one_short_line(data):
    fuzz_check(data)


@FUZZ
@given(plausible_designs(), st.data())
def test_the_design_pages_import_of_an_edited_paste(design, data):
    """The page's Import button hands the text area's content to ``spec_from_json_text`` and
    shows the design in widgets: a design, as typed or with a few characters changed (as a
    student editing a pasted design would), parses to widget-typed values or one line."""
    text = to_text(design)
    fuzz_check(text)
    chars = list(text)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(chars)))
        edit = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = data.draw(st.sampled_from(list('0123456789.-eE[]{}",:') + ["9" * 500, "NaN"]))
        if edit == "insert":
            chars.insert(at, piece)
        elif chars and at < len(chars):
            chars[at:at + 1] = [] if edit == "delete" else [piece]
    fuzz_check("".join(chars))


def test_the_fuzzer_reaches_designs_that_torch_can_run_and_every_refusal():
    def runnable(text: str) -> bool:
        spec = check_parse(text)
        return spec is not None and len(spec.layers) >= 4 and analyze(spec).ok

    assert runnable(find(designs(), runnable, settings=settings(max_examples=2000)))
    for words in ("layer", "input_shape", "number", "is not a number", "unknown top-level"):
        def refused(text: str, words: str = words) -> bool:
            return check_parse(text) is None and words in str(_refusal(text))

        find(designs(), refused, settings=settings(max_examples=2000))


def _refusal(text: str) -> SpecFormatError | None:
    try:
        spec_from_json_text(text)
    except SpecFormatError as exc:
        return exc
    return None


HOSTILE_TEXTS = [
    "[" * 10_000 + "]" * 10_000, '{"layers": [' * 50_000, " " * 5_000_000,
    '{"layers": [{"type": "linear", "out_features": ' + "9" * 5_000 + "}]}",
    '{"layers": [' + ", ".join(['{"type": "relu"}'] * 5_000) + "]}",
    '"' + '\\"' * 49_999,  # the paste: 51 s with the pre-scan reading it 50,000 times
    '["' + '\\"' * 49_980 + "[" * 20,  # brackets after a string never closed
    '"' * 100_000, '"\\' * 50_000, '{"a": "' + "\\\\" * 49_990 + "\\",
]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("text", HOSTILE_TEXTS, ids=lambda t: f"{t[:8]}…{len(t)}")
def test_hostile_inputs_are_refused(text):
    """Nothing is parsed past the limits, and the nesting pre-scan reads each character once
    (its time is in bench/parsers.py: a test asserts what happens, not how fast)."""
    assert check_parse(text) is None
    assert check_parse(text.encode()) is None


@st.composite
def long_runs(draw: st.DrawFn) -> str:
    """A short piece of JSON's own syntax repeated up to the length limit: what makes a
    scanner or a regex read the same text again and again."""
    piece = draw(st.text(alphabet='"\\[]{}:,0e-. a\u00b2', min_size=1, max_size=5))
    times = draw(st.integers(1, 100_000 // len(piece)))
    return draw(st.sampled_from(["", '"', "[", '{"layers": [', '["'])) + piece * times + \
        draw(st.text(alphabet='"\\]}', max_size=3))


@pytest.mark.timeout(120)
@FUZZ
@given(long_runs())
def test_long_runs_of_json_syntax_give_one_short_line(text):
    fuzz_check(text)
