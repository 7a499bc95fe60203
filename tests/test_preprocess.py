"""canvas_to_mnist: real MNIST digits drawn back onto a canvas keep the model's accuracy."""

import numpy as np
import pytest
import torch

from cnn_core.data.preprocess import canvas_to_mnist, digit_to_canvas
from cnn_core.design.presets import SMALL_FAST
from cnn_core.explain.activations import first_conv_kernels, predict_with_maps
from cnn_core.training.evaluate import predict_logits
from cnn_core.training.job import train_to_completion
from cnn_core.training.trainer import TrainConfig

DRAWING_STYLES = {
    "large, centred": {"digit_px": 250},
    "small": {"digit_px": 90},
    "shifted off centre": {"digit_px": 150, "offset": (55, -60)},
    "thicker strokes": {"digit_px": 200, "thicken": 2},  # strokes about 1.2x as wide
}


@pytest.fixture(scope="module")
def model(bundled):
    return train_to_completion(SMALL_FAST, bundled, TrainConfig(epochs=3, seed=0)).model


@pytest.mark.slow
@pytest.mark.parametrize("style", list(DRAWING_STYLES))
def test_redrawn_digits_keep_accuracy_within_2_points(model, bundled, style):
    images, labels = bundled.val_images, bundled.val_labels
    original = (predict_logits(model, images).argmax(1) == labels).float().mean().item()
    prepared = []
    for digit in images:
        result = canvas_to_mnist(digit_to_canvas(digit.numpy(), **DRAWING_STYLES[style]))
        assert result.image is not None and result.image.shape == (28, 28)
        prepared.append(result.image)
    batch = torch.from_numpy(np.stack(prepared))
    redrawn = (predict_logits(model, batch).argmax(1) == labels).float().mean().item()
    print(f"{style}: original {original:.2%}, redrawn {redrawn:.2%}")
    assert redrawn >= original - 0.02


def test_steps_are_shown_in_order_and_the_result_is_mnist_like(bundled):
    result = canvas_to_mnist(digit_to_canvas(bundled.val_images[0].numpy(), digit_px=120,
                                             offset=(60, 70)))
    titles = [t for t, _ in result.steps]
    assert titles == ["1 · grayscale", "2 · crop to ink", "3 · fit 20×20", "4 · centre in 28×28"]
    image = result.image
    assert image.dtype == np.float32 and image.min() >= 0 and image.max() <= 1
    ys, xs = np.nonzero(image > 0.1)
    assert max(np.ptp(ys), np.ptp(xs)) + 1 <= 20
    rows, cols = np.indices(image.shape)
    cy = ((rows + 0.5) * image).sum() / image.sum()
    cx = ((cols + 0.5) * image).sum() / image.sum()
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


def canvas(fill=0):
    c = np.zeros((280, 280, 4), dtype=np.uint8)
    c[..., :3] = fill
    c[..., 3] = 255
    return c


def test_empty_canvas_asks_for_a_digit():
    result = canvas_to_mnist(canvas())
    assert result.empty and result.message == "The canvas is empty: draw a digit."


def test_single_dot_ink_on_the_border_and_a_full_canvas_never_fail(model):
    dot = canvas()
    dot[140:146, 140:146, :3] = 255
    border = canvas()
    border[:, :12, :3] = 255  # a stroke along the left edge
    full = canvas(255)
    for name, drawing in {"dot": dot, "border": border, "full": full}.items():
        result = canvas_to_mnist(drawing)
        assert result.image is not None, name
        prediction = predict_with_maps(model, result.image)
        assert prediction.probabilities.shape == (10,)
        assert abs(prediction.probabilities.sum() - 1) < 1e-5
    assert "very small" in canvas_to_mnist(dot).message
    assert "Most of the canvas is ink" in canvas_to_mnist(full).message
    speck = canvas()
    speck[10, 10, :3] = 255  # one pixel is noise, not a drawing
    assert canvas_to_mnist(speck).empty


def test_feature_maps_are_what_the_next_layer_receives(model, bundled):
    image = bundled.val_images[3].numpy() / 255.0
    prediction = predict_with_maps(model, image)
    names = [n for n, _ in prediction.feature_maps]
    assert names == ["1 · Conv2d", "3 · MaxPool2d", "4 · Conv2d", "6 · MaxPool2d"]
    assert [m.shape for _, m in prediction.feature_maps] == [
        (16, 28, 28), (16, 14, 14), (32, 14, 14), (32, 7, 7)]
    assert prediction.digit == int(bundled.val_labels[3])
    kernels = first_conv_kernels(model)
    assert kernels.shape == (16, 3, 3)
