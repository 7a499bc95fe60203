"""The Explain page's backward steps in AppTest: shown without error, stepped, and the
number the last step writes is torch.autograd's gradient for that weight."""

import re

import numpy as np
import torch
import torch.nn.functional as F
from helpers import on_page

from cnn_core.explain.backward import readout
from cnn_core.explain.stepping import kernel_presets


def autograd_weight_gradient(image: np.ndarray, kernel: np.ndarray, label: int) -> np.ndarray:
    """The page's default chain (padding 1, ReLU, 2x2 max pooling) in torch."""
    w = torch.tensor(kernel)[None, None].requires_grad_()
    z = F.conv2d(torch.tensor(image)[None, None], w, padding=1)
    p = F.max_pool2d(F.relu(z), 2, 2)
    scores = torch.tensor(readout(p.numel())) @ p.reshape(-1)
    (grad,) = torch.autograd.grad(F.cross_entropy(scores[None], torch.tensor([label])), w)
    return grad[0, 0].numpy()


def texts(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_the_backward_steps_show_and_end_at_autograds_gradient(bundled):
    at = on_page("pages/explain.py")
    at.selectbox(key="kernel_name").set_value("Sobel x (vertical edges)").run()
    shown = texts(at)
    for heading in ("1 · The loss", "2 · Back through pooling", "3 · Through ReLU",
                    "4 · One weight's gradient", "5 · The update"):
        assert heading in shown
    label = int(at.selectbox(key="back_label").value)
    digits = np.concatenate([bundled.train_images.numpy(), bundled.val_images.numpy()])
    labels = np.concatenate([bundled.train_labels.numpy(), bundled.val_labels.numpy()])
    index = int(at.number_input(key="digit_index").value)
    assert label == labels[index]  # the true digit starts as the MNIST label

    at.selectbox(key="back_weight").set_value((0, 2)).run()
    last = at.slider(key="back_grad").max
    at.slider(key="back_grad").set_value(last).run()
    step = next(m.value for m in at.markdown if m.value.startswith("Position **"))
    assert "= ∂loss/∂w[0, 2]" in step
    running = float(re.search(r"running sum = \*\*([-0-9.e+]+)\*\*", step).group(1))
    kernel = kernel_presets(3)["Sobel x (vertical edges)"]
    expected = autograd_weight_gradient(digits[index] / 255.0, kernel, label)[0, 2]
    assert abs(running - expected) <= 1e-5 * abs(expected)  # written to 6 digits

    at.slider(key="back_pool").set_value(0).run()
    assert any(m.value.startswith("Pooled cell **(0, 0)**") for m in at.markdown)
    at.selectbox(key="back_label").set_value((label + 1) % 10).run()  # another loss
    at.number_input(key="back_lr").set_value(0.1).run()
    assert "learning rate 0.1," in texts(at)
    next(r for r in at.radio if r.label == "Pooling").set_value("avg").run()
    assert "each of (0, 0), (0, 1), (1, 0), (1, 1) gets" in texts(at)
