"""A student's output-shape answer: parsed from any text, checked against the shape engine, and
a wrong one's cause named by recomputing the layer under the mistaken rule."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec, Layer
from cnn_core.teaching import shape_answers as sa
from cnn_core.teaching.shape_answers import AnswerError, check_answer, check_shape, parse_shape


def layer_report(type_: str = "conv2d", input_shape=(1, 28, 28), **params):
    report = analyze(ArchitectureSpec((Layer(type_, params),), input_shape))
    return report.layers[0]


# ---- the parser ------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["16x24x24", "16 × 24 × 24", "(16, 24, 24)", "[16,24,24]",
                                  "16 24 24", "16*24*24", " 16X24X24 ", "16 x 24 x 24"])
def test_the_usual_ways_of_writing_a_shape_are_read(text):
    assert parse_shape(text) == (16, 24, 24)


def test_one_part_shapes_are_read():
    assert parse_shape("10") == parse_shape("(10,)") == parse_shape("[10]") == (10,)


@pytest.mark.parametrize("text, said", [
    ("", "type the shape"), ("x16", "missing before 'x'"), ("16x", "missing after 'x'"),
    ("16xx24", "missing before 'x'"), ("(16,24,24", "'(' is not part of a shape"),
    ("abc", "'a' is not part of a shape"), ("0x1x1", "at least 1"),
    ("1 2 3 4", "at most three parts"), ("1234567", "at most 6 digits"),
    ("16.5x2x2", "'.' is not part of a shape"), ("١٦x2x2", "is not part of a shape"),
    ("9" * 10_000, "10,000 characters")])
def test_anything_else_is_refused_with_a_sentence(text, said):
    with pytest.raises(AnswerError) as refused:
        parse_shape(text)
    assert said in str(refused.value)


@settings(max_examples=500)
@given(st.text(max_size=60))
def test_any_text_is_a_shape_or_a_refusal(text):
    try:
        shape = parse_shape(text)
    except AnswerError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert 1 <= len(shape) <= 3 and all(isinstance(d, int) and d >= 1 for d in shape)


@given(st.lists(st.integers(1, 999_999), min_size=1, max_size=3),
       st.sampled_from(["x", " x ", "×", " × ", ",", ", ", " ", "*"]),
       st.sampled_from(["{}", "({})", "[{}]", "  {} "]))
def test_a_shape_written_any_accepted_way_reads_back(shape, separator, brackets):
    assert parse_shape(brackets.format(separator.join(map(str, shape)))) == tuple(shape)


# ---- the diagnosis --------------------------------------------------------------------------
def test_a_right_answer_is_right():
    verdict = check_answer(layer_report(out_channels=16, kernel_size=5, padding=2), "16x28x28")
    assert verdict.right and verdict.cause == "" and verdict.parts == ()


def test_forgotten_padding_is_named_with_the_formula_in_the_students_numbers():
    verdict = check_answer(layer_report(out_channels=16, kernel_size=5, padding=2), "16x24x24")
    assert not verdict.right and verdict.cause == sa.FORGOT_PADDING
    assert verdict.parts == ("height", "width")
    assert "you used no padding" in verdict.message
    assert "floor((28 - 5 + 2*0) / 1) + 1 = 24" in verdict.message  # what the student did
    assert "floor((28 - 5 + 2*2) / 1) + 1 = 28" in verdict.message  # and the right one


@pytest.mark.parametrize("params, answer, cause, part", [
    ({"out_channels": 8, "kernel_size": 3, "stride": 2}, "8x26x26", sa.IGNORED_STRIDE, "height"),
    ({"out_channels": 8, "kernel_size": 3, "stride": 2}, "8x14x14", sa.USED_CEIL, "width"),
    ({"out_channels": 8, "kernel_size": 3, "dilation": 2}, "8x26x26", sa.FORGOT_DILATION,
     "height"),
    ({"out_channels": 8, "kernel_size": 5, "padding": 2}, "8x26x26", sa.PADDING_ONE_SIDE,
     "width"),
    ({"out_channels": 8, "kernel_size": 5}, "8x23x23", sa.OFF_BY_ONE, "height"),
    ({"out_channels": 8, "kernel_size": 5}, "5x24x24", sa.KERNELS_AS_CHANNELS, "channels"),
    ({"out_channels": 8, "kernel_size": 5}, "1x24x24", sa.INPUT_CHANNELS, "channels"),
    ({"out_channels": 8, "kernel_size": 5}, "8x24x24x", None, None),
])
def test_each_mistake_is_told_apart(params, answer, cause, part):
    report = layer_report(**params)
    if cause is None:
        with pytest.raises(AnswerError):
            check_answer(report, answer)
        return
    verdict = check_answer(report, answer)
    assert (verdict.right, verdict.cause) == (False, cause) and part in verdict.parts


def test_pooling_layers_flatten_and_linear_have_their_own_reasons():
    pool = layer_report("maxpool2d", (16, 28, 28), kernel_size=2)
    assert check_answer(pool, "16x14x14").right
    assert check_answer(pool, "16x27x27").cause == sa.IGNORED_STRIDE  # stride = kernel_size
    assert check_answer(pool, "8x14x14").cause == sa.POOL_CHANNELS
    flat = layer_report("flatten", (8, 6, 6))
    assert check_answer(flat, "288").right
    assert check_answer(flat, "8x6x6").cause == sa.NOT_FLAT
    relu = layer_report("relu", (8, 6, 6))
    assert check_answer(relu, "8x3x3").cause == sa.KEEPS_SHAPE
    conv = layer_report(out_channels=8, kernel_size=3)
    assert check_answer(conv, "8x26").cause == sa.WRONG_COUNT
    wide = layer_report(out_channels=4, kernel_size=[3, 5], input_shape=(1, 20, 30))
    assert check_answer(wide, "4x26x18").cause == sa.SWAPPED


GEOMETRY = st.fixed_dictionaries({
    "size": st.integers(1, 40), "kernel": st.integers(1, 7), "stride": st.integers(1, 4),
    "padding": st.integers(0, 3), "dilation": st.integers(1, 3), "in_channels": st.integers(1, 8),
    "out_channels": st.integers(1, 32)})


def conv(g: dict, **changed: int):
    g = {**g, **changed}
    return layer_report(out_channels=g["out_channels"], kernel_size=g["kernel"],
                        stride=g["stride"], padding=g["padding"], dilation=g["dilation"],
                        input_shape=(g["in_channels"], g["size"], g["size"]))


# The spec change that *is* each mistake: the shape engine itself computes the wrong answer.
AS_A_SPEC = {sa.FORGOT_PADDING: {"padding": 0}, sa.IGNORED_STRIDE: {"stride": 1},
             sa.FORGOT_DILATION: {"dilation": 1}}


@settings(max_examples=400, deadline=None)
@given(GEOMETRY, st.sampled_from(sorted(AS_A_SPEC)))
def test_a_mistake_made_as_a_spec_change_is_diagnosed_as_one_that_gives_that_answer(g, mistake):
    report = conv(g)
    wrong = conv(g, **AS_A_SPEC[mistake]).output_shape
    if report.output_shape is None or wrong is None:
        return
    verdict = check_shape(report, wrong)
    if wrong == report.output_shape:
        assert verdict.right
        return
    assert not verdict.right
    # Several mistakes can give the same numbers: the one named must give them too.
    if verdict.cause in AS_A_SPEC:
        assert conv(g, **AS_A_SPEC[verdict.cause]).output_shape == wrong
    else:
        assert verdict.cause in (sa.USED_CEIL, sa.PADDING_ONE_SIDE, sa.OFF_BY_ONE)
    assert str(wrong[1]) in verdict.message and str(report.output_shape[1]) in verdict.message


@settings(max_examples=300, deadline=None)
@given(GEOMETRY)
def test_a_rounded_up_division_is_diagnosed_as_ceil_or_an_equal_mistake(g):
    report = conv(g)
    if report.output_shape is None:
        return
    span = g["size"] + 2 * g["padding"] - (g["dilation"] * (g["kernel"] - 1) + 1)
    ceiled = math.ceil(span / g["stride"]) + 1  # computed here, not by the shape engine
    answer = (g["out_channels"], ceiled, ceiled)
    verdict = check_shape(report, answer)
    assert verdict.right == (answer == report.output_shape)
    if not verdict.right:
        assert verdict.cause in (sa.FORGOT_PADDING, sa.IGNORED_STRIDE, sa.USED_CEIL,
                                 sa.FORGOT_DILATION, sa.PADDING_ONE_SIDE, sa.OFF_BY_ONE)
