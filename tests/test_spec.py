"""The design format: JSON round trip, and one clear line for anything that is not a design."""

import json

import pytest

from cnn_core.presets import PRESETS
from cnn_core.shapes import analyze
from cnn_core.spec import (
    MAX_LAYERS,
    ArchitectureSpec,
    SpecFormatError,
    layer,
    spec_from_dict,
    spec_from_json_text,
)

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
