"""The Explain page's arithmetic equals torch's conv2d, max_pool2d and avg_pool2d."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnn_core.explain.stepping import (
    Geometry,
    conv_step,
    convolve,
    kernel_presets,
    parse_kernel,
    pool,
    pool_step,
    relu,
)


@pytest.fixture(scope="module")
def digit(bundled):
    return bundled.val_images[0].numpy() / 255.0


def torch_conv(image, kernel, g):
    out = F.conv2d(torch.tensor(image)[None, None], torch.tensor(kernel)[None, None],
                   stride=g.stride, padding=g.padding, dilation=g.dilation)
    return out[0, 0].numpy()


@settings(max_examples=150, deadline=None)
@given(size=st.sampled_from([3, 5]), stride=st.integers(1, 4), padding=st.integers(0, 3),
       dilation=st.integers(1, 3), crop=st.integers(6, 28), seed=st.integers(0, 10**6))
def test_convolution_equals_torch(bundled, size, stride, padding, dilation, crop, seed):
    rng = np.random.default_rng(seed)
    image = bundled.val_images[seed % 2000].numpy()[:crop, :crop] / 255.0
    kernel = rng.normal(size=(size, size))
    g = Geometry(size, stride, padding, dilation)
    if g.output_size(crop) == 0:
        with pytest.raises(RuntimeError):
            torch_conv(image, kernel, g)
        return
    ours = convolve(image, kernel, g)
    np.testing.assert_allclose(ours, torch_conv(image, kernel, g), atol=1e-9)
    assert ours.shape == (g.output_size(crop),) * 2
    row, col = rng.integers(ours.shape[0]), rng.integers(ours.shape[1])
    step = conv_step(image, kernel, g, row, col)
    assert step.value == ours[row, col]  # the step shows the map's own number, bit for bit
    np.testing.assert_allclose(step.products, step.window * kernel)


@settings(max_examples=100, deadline=None)
@given(kind=st.sampled_from(["max", "avg"]), kernel=st.integers(1, 4), stride=st.integers(1, 4),
       crop=st.integers(4, 28), seed=st.integers(0, 10**6))
def test_pooling_after_relu_equals_torch(bundled, kind, kernel, stride, crop, seed):
    rng = np.random.default_rng(seed)
    x = relu(rng.normal(size=(crop, crop)))
    g = Geometry(kernel, stride)
    ours = pool(x, kind, g)
    op = F.max_pool2d if kind == "max" else F.avg_pool2d
    theirs = op(torch.tensor(x)[None, None], kernel, stride)[0, 0].numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    step = pool_step(x, kind, g, ours.shape[0] - 1, ours.shape[1] - 1)
    assert step.value == ours[-1, -1]


def test_formula_text_and_floor(digit):
    g = Geometry(3, stride=2, padding=0)
    assert g.formula(28) == "O = floor((28 - 3 + 2*0) / 2) + 1 = floor(12.5) + 1 = 13"
    assert g.skipped(28) == 1
    big = Geometry(5, dilation=8)
    assert big.output_size(28) == 0 and "larger than the padded input" in big.formula(28)


@pytest.mark.parametrize("size", [3, 5])
def test_presets_do_what_they_say(digit, size):
    presets = kernel_presets(size)
    same = Geometry(size, padding=size // 2)
    np.testing.assert_allclose(convolve(digit, presets["identity"], same), digit, atol=1e-12)
    blurred = convolve(digit, presets["box blur"], same)
    assert blurred.max() < digit.max() and blurred.sum() == pytest.approx(digit.sum(), rel=0.05)
    for name in ("Sobel x (vertical edges)", "Laplacian (outlines)"):
        assert presets[name].sum() == pytest.approx(0)  # flat regions give 0


def test_kernel_cells_that_are_not_numbers_are_each_named():
    kernel, bad = parse_kernel([["1", "0", " -1 "], ["2", "x", ""], ["1", "nan", "0.5"]])
    assert kernel is None
    assert bad == ["row 2, column 2 ('x')", "row 2, column 3 (empty)", "row 3, column 2 ('nan')"]
    kernel, bad = parse_kernel([["1", "0"], ["-2.5", "1e-1"]])
    assert bad == [] and kernel.tolist() == [[1.0, 0.0], [-2.5, 0.1]]
