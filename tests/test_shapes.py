"""The shape engine on hand-picked cases: formulas, floor notes, errors, limits, totals."""

import torch

from cnn_core.design.build import build_model
from cnn_core.design.formatting import summary_rows
from cnn_core.design.parse import spec_from_dict
from cnn_core.design.presets import PRESETS, PYTORCH_TUTORIAL
from cnn_core.design.shapes import (
    FIX_INSERT_FLATTEN,
    analyze,
    effective_kernel,
    size_formula,
    window_output,
)
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.design.spec import layer as L


def one(*layers, input_shape=(1, 28, 28)):
    return analyze(ArchitectureSpec(tuple(layers), input_shape))


def test_formula_has_the_users_numbers():
    r = one(L("conv2d", out_channels=32, kernel_size=5, stride=1, padding=2)).layers[0]
    assert r.formulas == ("H_out = W_out = floor((28 - 5 + 2*2) / 1) + 1 = 28",)


def test_formula_per_axis_and_dilation():
    r = one(L("conv2d", out_channels=1, kernel_size=[3, 5], dilation=2)).layers[0]
    assert r.formulas == ("H_out = floor((28 - (2*(3-1)+1) + 2*0) / 1) + 1 = 24",
                          "W_out = floor((28 - (2*(5-1)+1) + 2*0) / 1) + 1 = 20")
    assert r.output_shape == (1, 24, 20)


def test_floor_is_explained():
    r = one(L("conv2d", out_channels=1, kernel_size=3, stride=2)).layers[0]
    assert r.output_shape == (1, 13, 13)
    assert r.notes == ("(28 - 3 + 2*0) / 2 = 12.5 is floored, so the last 1 row and column of "
                       "the padded input is not covered by any window",)


def test_kernel_larger_than_padded_input_names_layer_and_numbers():
    report = one(L("maxpool2d", kernel_size=2), L("maxpool2d", kernel_size=2),
                 L("conv2d", out_channels=4, kernel_size=9))
    assert report.errors == ["layer 3 (conv2d): the kernel (9) is larger than the padded input: "
                             "7 + 2*0 = 7 < 9"]
    assert report.layers[2].torch_would_fail


def test_same_padding_with_stride_is_rejected():
    r = one(L("conv2d", out_channels=4, kernel_size=3, stride=2, padding="same")).layers[0]
    assert "needs stride 1" in r.error and r.torch_would_fail


def test_pool_padding_over_half_the_kernel():
    r = one(L("avgpool2d", kernel_size=3, padding=2)).layers[0]
    assert r.error.startswith("padding 2 is more than half the kernel size 3 (at most 1)")


def test_linear_on_a_volume_offers_flatten():
    report = one(L("conv2d", out_channels=4, kernel_size=3), L("linear", out_features=10))
    r = report.layers[1]
    assert r.fix == FIX_INSERT_FLATTEN and "insert a flatten layer" in r.error
    assert not r.torch_would_fail  # torch would run it; no one means it


def test_volume_layers_after_flatten_are_rejected():
    report = one(L("flatten"), L("batchnorm2d"))
    assert report.errors[0].startswith("layer 2 (batchnorm2d): batchnorm2d needs a feature-map")


def test_later_layers_keep_their_own_field_errors_after_a_broken_one():
    report = one(L("conv2d", out_channels=4, kernel_size=40), L("relu"),
                 L("dropout", p=3))
    assert [r.error is not None for r in report.layers] == [True, False, True]
    assert report.layers[1].output_shape is None


def test_a_billion_parameters_is_refused_with_the_limit_named():
    report = one(L("flatten"), L("linear", out_features=65536), L("linear", out_features=65536))
    assert not report.ok
    assert any("the limit is 20,000,000" in e for e in report.errors)


def test_training_warning_blocks_training_not_the_table():
    report = one(L("flatten"), L("linear", out_features=7))
    assert report.ok and not report.trainable
    assert "must output 10 values" in report.training_warnings[0]
    odd_input = one(L("flatten"), L("linear", out_features=10), input_shape=(3, 32, 32))
    assert odd_input.ok and "MNIST digits are 1x28x28" in odd_input.training_warnings[0]


def test_receptive_field_and_totals_of_the_seed_convnet():
    report = analyze(PYTORCH_TUTORIAL)
    rfs = [r.receptive_field for r in report.layers if r.type in ("conv2d", "maxpool2d")]
    assert rfs == [(5, 5), (6, 6), (14, 14), (16, 16)]
    model = build_model(PYTORCH_TUTORIAL)
    assert report.total_params == sum(p.numel() for p in model.parameters()) == 3_199_106
    assert report.total_macs == (32 * 28 * 28 * 25 + 64 * 14 * 14 * 32 * 25 + 3136 * 1000
                                 + 1000 * 10)
    # kept for the backward pass: the input and each output as float32, max-pooling's int64
    # indices and dropout's noise besides, flatten none (a view)
    kept = {"maxpool2d": 12, "dropout": 8, "flatten": 0}
    assert report.activation_bytes == 4 * 784 + sum(
        kept.get(r.type, 4) * torch.Size(r.output_shape).numel() for r in report.layers)


def test_every_preset_builds_and_matches_torch():
    for spec in PRESETS.values():
        report = analyze(spec)
        assert report.trainable
        model = build_model(spec)
        x = torch.zeros(2, 1, 28, 28)
        for module, r in zip(model, report.layers):
            x = module(x)
            assert tuple(x.shape[1:]) == r.output_shape


def test_empty_design_is_not_trainable():
    report = analyze(spec_from_dict({"layers": []}))
    assert report.ok and report.output_shape == (1, 28, 28) and not report.trainable


def test_one_summary_row_per_layer_with_one_receptive_field_convention():
    rows = summary_rows(analyze(PYTORCH_TUTORIAL))
    assert [r.receptive_field for r in rows] == [
        "5x5", "5x5", "6x6", "14x14", "14x14", "16x16", *["whole input"] * 4]
    assert (rows[0].settings, rows[2].settings, rows[7].settings, rows[8].settings) == (
        "32, k5, s1, p2", "k2, s2, p0", "p=0.5", "3136→1000")
    broken = summary_rows(one(L("flatten"), L("conv2d", out_channels=1, kernel_size=3)))
    assert (broken[1].output, broken[1].receptive_field) == ("—", "—") and broken[1].error
    dilated = summary_rows(one(L("conv2d", out_channels=2, kernel_size=3, dilation=2)))
    assert dilated[0].settings == "2, k3, s1, p0, d2"


def test_the_formula_renderer_and_the_output_size_agree():
    for size, k, s, p, d in [(28, 5, 1, 2, 1), (28, 3, 2, 0, 1), (28, 5, 1, 0, 4), (7, 9, 1, 0, 1)]:
        out = window_output(size, k, s, p, d)
        text = size_formula(size, k, s, p, d)
        if out is None:
            assert text.endswith("so there is no output")
        else:
            assert text.endswith(f"= {out}")
            assert size_formula(size, k, s, p, d, show_floor=True).endswith(
                f"= floor({(size + 2 * p - effective_kernel(k, d)) / s:g}) + 1 = {out}")
