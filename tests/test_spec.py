"""The design format: JSON round trip, and one clear line for anything that is not a design."""

import json

import pytest
from hostile_designs import HOSTILE, conv

from cnn_core.design.parse import (
    MAX_MESSAGE_CHARS,
    SpecFormatError,
    spec_from_dict,
    spec_from_json_text,
)
from cnn_core.design.presets import PRESETS
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import MAX_LAYERS, ArchitectureSpec, layer

ISSUE_EXAMPLE = (
    '{"input_shape": [1, 28, 28], "layers": [{"type": "conv2d", "out_channels": 32, '
    '"kernel_size": 5, "stride": 1, "padding": 2}, {"type": "relu"}, {"type": "maxpool2d", '
    '"kernel_size": 2}, {"type": "flatten"}, {"type": "dropout", "p": 0.5}, {"type": "linear", '
    '"out_features": 10}]}')


def test_issue_example_parses_and_has_torch_shapes():
    spec = spec_from_json_text(ISSUE_EXAMPLE)
    report = analyze(spec)
    assert report.ok
    assert [r.output_shape for r in report.layers] == [
        (32, 28, 28), (32, 28, 28), (32, 14, 14), (6272,), (6272,), (10,)]
    assert report.total_params == 32 * 25 + 32 + 6272 * 10 + 10


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_round_trip_through_json(name):
    spec = PRESETS[name]
    again = spec_from_json_text(spec.to_json_text())
    assert again == spec
    assert json.loads(again.to_json_text()) == spec.to_json()


@pytest.mark.parametrize("text, words", [
    ("{not json", "not valid JSON"),
    ("[1, 2, 3]", "must be a JSON object"),
    ('{"model": "resnet"}', "unknown top-level field 'model'"),
    ('{"input_shape": [1, 28, 28]}', 'needs a "layers" list'),
    ('{"layers": [{"type": "conv3d"}]}', 'layer 1 has unknown type "conv3d"'),
    ('{"layers": [{"type": "relu"}, 7]}', "layer 2 must be an object"),
    ('{"layers": [{"type": "conv2d", "out_channels": 4, "kernal_size": 3}]}',
     "layer 1 (conv2d) has unknown field 'kernal_size'"),
    ('{"input_shape": [28, 28], "layers": []}', '"input_shape" must be [channels, height'),
    ('{"input_shape": [1, 0, 28], "layers": []}', "out of range"),
])
def test_foreign_or_malformed_json_is_one_clear_line(text, words):
    with pytest.raises(SpecFormatError) as info:
        spec_from_json_text(text)
    message = str(info.value)
    assert words in message
    assert "\n" not in message


def test_too_many_layers_names_the_limit():
    with pytest.raises(SpecFormatError, match=f"500 layers; the limit is {MAX_LAYERS}"):
        spec_from_dict({"layers": [{"type": "relu"}] * 500})


@pytest.mark.parametrize("value, words", [
    (0, "kernel_size must be between 1 and 32 (got 0)"),
    (-3, "kernel_size must be between 1 and 32 (got -3)"),
    (4000, "kernel_size must be between 1 and 32 (got 4000)"),
    (None, "kernel_size is required"),
])
def test_bad_field_is_reported_on_its_layer_and_others_keep_their_values(value, words):
    layers = [{"type": "conv2d", "out_channels": 4, "kernel_size": 3},
              {"type": "relu"},
              {"type": "conv2d", "out_channels": 8, "kernel_size": value}]
    if value is None:
        del layers[2]["kernel_size"]
    report = analyze(spec_from_dict({"layers": layers}))
    first, _relu, bad = report.layers
    assert first.error is None and first.output_shape == (4, 26, 26)
    assert bad.error == words and bad.error_field == "kernel_size"
    assert report.errors == [f"layer 3 (conv2d): {words}"]


@pytest.mark.parametrize("value, words", [
    ("five", 'layer 2 (conv2d): kernel_size must be a whole number or [height, width] '
             '(got "five")'),
    (2.5, "kernel_size must be a whole number or [height, width] (got 2.5)"),
    ([3], "kernel_size must be a whole number or [height, width] (got [3])"),
    (True, "(got true)"),
    ({"h": 3}, '(got {"h": 3})'),
])
def test_a_value_of_the_wrong_json_type_is_not_a_design(value, words):
    layers = [{"type": "relu"}, {"type": "conv2d", "out_channels": 8, "kernel_size": value}]
    with pytest.raises(SpecFormatError) as info:
        spec_from_dict({"layers": layers})
    assert words in str(info.value)


@pytest.mark.parametrize("value, words", [
    ("five", 'kernel_size must be a whole number (got "five")'),
    (2.5, "kernel_size must be a whole number (got 2.5)"),
    ([3], "kernel_size must be one number or [height, width] (got [3])"),
])
def test_a_layer_built_in_code_with_a_wrong_type_reports_it_on_the_layer(value, words):
    report = analyze(ArchitectureSpec((layer("conv2d", out_channels=8, kernel_size=value),)))
    assert report.errors == [f"layer 1 (conv2d): {words}"]


def test_field_values_keep_torch_names_and_defaults():
    report = analyze(spec_from_dict({"layers": [
        {"type": "maxpool2d", "kernel_size": 3},
        {"type": "conv2d", "out_channels": 2, "kernel_size": [3, 1], "padding": "same"},
        {"type": "leaky_relu"}, {"type": "dropout"}]}))
    pool, conv, leaky, dropout = report.layers
    assert pool.settings["stride"] == (3, 3)  # pooling stride defaults to kernel_size
    assert conv.settings["padding"] == "same" and conv.output_shape == (2, 9, 9)
    assert leaky.settings["negative_slope"] == 0.01
    assert dropout.settings["p"] == 0.5


# ---- the imports that broke pages (issue 20, item 3) ----------------------------------------


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_imports_are_refused_with_one_short_line(name):
    text, words = HOSTILE[name]
    with pytest.raises(SpecFormatError) as info:
        spec_from_json_text(text)
    message = str(info.value)
    assert words in message
    assert len(message) <= MAX_MESSAGE_CHARS and "\n" not in message


@pytest.mark.parametrize("text, params", [
    (conv(kernel_size=3.0, out_channels=8.0), {"out_channels": 8, "kernel_size": 3}),
    (conv().replace("3}", "3e0}"), {"out_channels": 8, "kernel_size": 3}),
    (conv(padding=-0.0, stride=[2.0, 1]), {"out_channels": 8, "kernel_size": 3, "padding": 0,
                                           "stride": [2, 1]}),
    (conv(dilation=None), {"out_channels": 8, "kernel_size": 3}),  # null: the default
    ('{"layers": [{"type": "dropout", "p": 0}]}', {"p": 0.0}),
    ('{"layers": [{"type": "dropout", "p": -0.0}]}', {"p": 0.0}),
    ('{"layers": [{"type": "leaky_relu", "negative_slope": 1}]}', {"negative_slope": 1.0}),
])
def test_whole_floats_are_integers_and_every_value_has_its_widgets_type(text, params):
    (layer_,) = spec_from_json_text(text).layers
    assert layer_.params == params
    for name, value in params.items():
        got = layer_.params[name]
        assert type(got) is type(value) and str(got) == str(value)  # 0.0, not -0.0 nor 0


def test_whole_float_input_shape_and_a_byte_order_mark_are_accepted():
    text = '\ufeff{"input_shape": [1.0, 28e0, 28], "layers": [{"type": "relu"}]}'
    spec = spec_from_json_text(text)
    assert spec.input_shape == (1, 28, 28) and all(type(v) is int for v in spec.input_shape)
    assert spec_from_json_text(text.encode("utf-8")) == spec
    assert spec_from_json_text(b"\xef\xbb\xbf" + text[1:].encode()) == spec


def test_a_huge_integer_in_a_layer_built_in_code_is_reported_not_raised():
    """The shape engine never calls float() on a value (it overflowed on 400 digits)."""
    report = analyze(ArchitectureSpec((layer("conv2d", out_channels=10**400, kernel_size=3),)))
    assert report.errors == ["layer 1 (conv2d): out_channels must be between 1 and 1024 "
                             "(got a 401-digit number)"]
