"""The design code: short for every preset, exact round trips, one-line errors on garbage."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_shapes_property import input_shapes, layers

from cnn_core.design_code import MAX_CODE_LENGTH, decode_design, encode_design
from cnn_core.presets import PRESETS, PYTORCH_TUTORIAL
from cnn_core.shapes import analyze
from cnn_core.spec import ArchitectureSpec, Layer, SpecFormatError, spec_from_dict


def test_presets_are_short_and_readable():
    assert encode_design(PYTORCH_TUTORIAL) == \
        "c32k5s1p2-relu-max2s2-c64k5s1p2-relu-max2s2-flat-drop0.5-fc1000-fc10"
    for name, spec in PRESETS.items():
        code = encode_design(spec)
        assert len(code) <= 100, (name, code)
        assert decode_design(code) == spec


def test_exact_values_survive():
    spec = spec_from_dict({"input_shape": [3, 32, 30], "layers": [
        {"type": "conv2d", "out_channels": 8, "kernel_size": [3, 5], "padding": "same",
         "stride": 1.0, "dilation": None},
        {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": "valid"},
        {"type": "leaky_relu", "negative_slope": 1e-05}, {"type": "leaky_relu"},
        {"type": "leaky_relu", "negative_slope": -0.0},
        {"type": "avgpool2d", "kernel_size": 2, "padding": [1, 0]}, {"type": "batchnorm2d"},
        {"type": "sigmoid"}, {"type": "tanh"}, {"type": "dropout"},
        {"type": "dropout", "p": 1}, {"type": "flatten"}, {"type": "linear",
                                                              "out_features": 10}]})
    code = encode_design(spec)
    # The parser has already normalised what it read: whole floats to ints, null to the
    # default, -0.0 to 0.0, p to a float (see spec_from_dict); the code keeps exactly that.
    assert code == ("in3x32x30-c8k3x5s1psame-c4k3pvalid-lrelu1en05-lrelu-lrelu0.0-"
                    "avg2p1x0-bn-sig-tanh-drop-drop1.0-flat-fc10")
    back = decode_design(code)
    assert back == spec and back.to_json() == spec.to_json()  # fields in a fixed order
    assert str(back.layers[4].params["negative_slope"]) == "0.0"


numbers = st.one_of(st.integers(0, 2000), st.floats(0, 64, allow_nan=False),
                    st.floats(allow_nan=False, allow_infinity=False))
field_values = st.one_of(numbers, st.lists(numbers, min_size=2, max_size=2),
                         st.sampled_from(["same", "valid", None]))
odd_layers = st.one_of(
    st.fixed_dictionaries({"type": st.just("conv2d")},
                          optional={k: field_values for k in ("out_channels", "kernel_size",
                                                              "stride", "padding", "dilation")}),
    st.fixed_dictionaries({"type": st.sampled_from(["maxpool2d", "avgpool2d"])},
                          optional={k: field_values for k in ("kernel_size", "stride",
                                                              "padding")}),
    st.fixed_dictionaries({"type": st.just("dropout")}, optional={"p": numbers}),
    st.fixed_dictionaries({"type": st.just("linear")}, optional={"out_features": numbers}))


def as_spec(input_shape, raw_layers) -> ArchitectureSpec:
    return ArchitectureSpec(tuple(Layer(d["type"], {k: v for k, v in d.items() if k != "type"})
                                  for d in raw_layers), input_shape)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(input_shape=input_shapes, raw_layers=layers)
def test_every_design_round_trips_exactly(input_shape, raw_layers):
    spec = as_spec(input_shape, raw_layers)
    code = encode_design(spec)
    back = decode_design(code)
    assert back == spec and back.to_json() == spec.to_json()
    if analyze(spec).ok:
        assert len(code) <= 300


@settings(max_examples=500, deadline=None)
@given(input_shape=input_shapes, raw_layers=st.lists(odd_layers, max_size=6))
def test_odd_but_well_formed_values_round_trip(input_shape, raw_layers):
    """Whatever the one parser makes of a design's JSON travels exactly in its code."""
    try:
        parsed = spec_from_dict(json.loads(as_spec(input_shape, raw_layers).to_json_text()))
    except SpecFormatError:
        return  # the parser refuses it (a wrong JSON type, far out of range): no design
    assert decode_design(encode_design(parsed)) == parsed


@pytest.mark.parametrize(("code", "message"), [
    ("", "the design code is empty"),
    ("<script>alert(1)</script>", "layer 1 ('<script>alert(1)</sc…') is not a layer"),
    ("c" * 100_000, "the limit is 4,000"),
    ("c8k3-relu-zz9", "layer 3 ('zz9') is not a layer"),
    ("relu5", "layer 1 (relu) takes no value"),
    ("c8k3k5", "layer 1 (conv2d) repeats 'k'"),
    ("fc10s2", "layer 1 (linear) has no field 's'"),
    ("-".join(["relu"] * 101), "the design has 101 layers; the limit is 100"),
    ("relu--relu", "layer 2 ('') is not a layer"),
])
def test_garbage_gets_one_line(code, message):
    with pytest.raises(SpecFormatError) as refused:
        decode_design(code)
    assert message in str(refused.value) and "\n" not in str(refused.value)


@settings(max_examples=500, deadline=None)
@given(code=st.one_of(st.text(max_size=200),
                      st.text(alphabet="cmaxvgfdroplunsitbkhe0123456789.-n", max_size=60)))
def test_random_text_is_a_design_or_one_format_error(code):
    try:
        spec = decode_design(code)
    except SpecFormatError as exc:
        assert "\n" not in str(exc)
    else:
        assert decode_design(encode_design(spec)) == spec
        assert len(code) <= MAX_CODE_LENGTH
