"""The Explain page's backward steps equal torch.autograd's, on real digits, over random
geometries; and the updates equal torch.optim's SGD and Adam."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnn_core.explain.backward import (
    Chain,
    adam_update,
    contributions,
    gradient_step,
    pool_back_step,
    pool_backward,
    readout,
    run,
    sgd_update,
)
from cnn_core.explain.stepping import Geometry, kernel_presets

TOLERANCE = 1e-6


def autograd(chain: Chain, label: int) -> dict[str, np.ndarray]:
    """The same chain in torch (float64), and autograd's gradient of every map."""
    g, pg = chain.geometry, chain.pool_geometry
    x = torch.tensor(chain.image)[None, None]
    w = torch.tensor(chain.kernel)[None, None].requires_grad_()
    z = F.conv2d(x, w, stride=g.stride, padding=g.padding, dilation=g.dilation)
    a = F.relu(z) if chain.relu else z * 1.0  # a separate node, so grad(a) can be asked
    if chain.pool_kind == "max":
        p = F.max_pool2d(a, pg.kernel, pg.stride)
    elif chain.pool_kind == "avg":
        p = F.avg_pool2d(a, pg.kernel, pg.stride)
    else:
        p = a * 1.0
    scores = torch.tensor(readout(p.numel())) @ p.reshape(-1)
    loss = F.cross_entropy(scores[None], torch.tensor([label]))
    grads = torch.autograd.grad(loss, [w, z, a, p])
    return {"loss": loss.detach().numpy(), "conv": z.detach()[0, 0].numpy(),
            "pooled": p.detach()[0, 0].numpy(), "weight": grads[0][0, 0].numpy(),
            "delta_conv": grads[1][0, 0].numpy(), "delta_activated": grads[2][0, 0].numpy(),
            "delta_pooled": grads[3][0, 0].numpy()}


@settings(max_examples=500, deadline=None)
@given(kernel=st.integers(1, 5), stride=st.integers(1, 4), padding=st.integers(0, 3),
       dilation=st.integers(1, 3), use_relu=st.booleans(),
       pool_kind=st.sampled_from([None, "max", "avg"]), pool_kernel=st.integers(1, 4),
       pool_stride=st.integers(1, 4), crop=st.integers(8, 28), label=st.integers(0, 9),
       seed=st.integers(0, 10**6), ties=st.booleans())
def test_every_backward_value_equals_autograd(bundled, kernel, stride, padding, dilation,
                                              use_relu, pool_kind, pool_kernel, pool_stride,
                                              crop, label, seed, ties):
    rng = np.random.default_rng(seed)
    pixels = bundled.val_images[seed % 2000].numpy()[:crop, :crop]
    # Ties: a kernel of ones over pixels in 256ths sums exactly in any order, so equal maxima
    # are equal in torch too, and the pick among equals (the first, row by row) must be its.
    image = pixels / 256.0 if ties else pixels / 255.0
    weights = np.ones((kernel, kernel)) if ties else rng.normal(size=(kernel, kernel))
    g, pg = Geometry(kernel, stride, padding, dilation), Geometry(pool_kernel, pool_stride)
    out = g.output_size(crop)
    assume(out > 0 and (pool_kind is None or pg.output_size(out) > 0))
    chain = Chain(image, weights, g, use_relu, pool_kind, pg)
    ours, theirs = run(chain, label), autograd(chain, label)

    assert ours.loss == pytest.approx(float(theirs["loss"]), abs=TOLERANCE)
    for name in ("conv", "pooled", "delta_pooled", "delta_activated", "delta_conv"):
        np.testing.assert_allclose(getattr(ours, name), theirs[name], atol=TOLERANCE,
                                   err_msg=name)
    np.testing.assert_allclose(ours.weight_gradient, theirs["weight"], atol=TOLERANCE)

    # One weight, stepped through: each position's δ·x, and the running sum ends at autograd's.
    u, v = int(rng.integers(kernel)), int(rng.integers(kernel))
    positions = ours.delta_conv.size
    last = gradient_step(image, ours.delta_conv, g, weights.shape, u, v, positions - 1)
    assert last.running_sum == pytest.approx(float(theirs["weight"][u, v]), abs=TOLERANCE)
    index = int(rng.integers(positions))
    step = gradient_step(image, ours.delta_conv, g, weights.shape, u, v, index)
    padded = np.pad(image, padding)
    assert step.x == padded[step.pixel] and step.delta == ours.delta_conv[step.row, step.col]
    assert step.product == pytest.approx(step.x * step.delta, abs=1e-12)
    products = contributions(image, ours.delta_conv, g, weights.shape, u, v)
    assert step.running_sum == pytest.approx(products.reshape(-1)[:index + 1].sum(), abs=1e-12)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_a_pool_step_sends_its_delta_where_the_map_says(kind):
    activated = np.array([[0.0, 3.0, 1.0, 1.0], [2.0, 3.0, 1.0, 1.0],
                          [0.0, 0.0, 5.0, 4.0], [0.0, 0.0, 4.0, 5.0]])
    delta = np.array([[10.0, 20.0], [30.0, 40.0]])
    g = Geometry(2, 2)
    step = pool_back_step(activated, delta, kind, g, 0, 0)
    if kind == "max":  # two 3s: the first, row by row, takes it all (as torch's argmax)
        assert step.receivers == [(0, 1)] and step.share == 10.0
        assert pool_back_step(activated, delta, kind, g, 1, 1).receivers == [(2, 2)]
    else:
        assert step.receivers == [(0, 0), (0, 1), (1, 0), (1, 1)] and step.share == 2.5
    back = pool_backward(activated, delta, kind, g)
    assert back.sum() == pytest.approx(delta.sum())  # nothing lost, nothing made up
    theirs = torch.tensor(activated)[None, None].requires_grad_()
    pooled = (F.max_pool2d if kind == "max" else F.avg_pool2d)(theirs, 2, 2)
    (grad,) = torch.autograd.grad(pooled, theirs, torch.tensor(delta)[None, None])
    np.testing.assert_array_equal(back, grad[0, 0].numpy())


def test_relu_gates_the_gradient_on_a_real_digit(bundled):
    image = bundled.val_images[0].numpy() / 255.0
    chain = Chain(image, kernel_presets(3)["Sobel x (vertical edges)"], Geometry(3, padding=1))
    result = run(chain, int(bundled.val_labels[0]))
    closed = result.conv <= 0
    assert closed.any() and (~closed).any()  # an edge kernel: both signs on a digit
    assert (result.delta_conv[closed] == 0).all()
    np.testing.assert_array_equal(result.delta_conv[~closed], result.delta_activated[~closed])


@pytest.mark.parametrize("learning_rate", [1e-3, 0.05])
def test_the_updates_equal_torch_optim(learning_rate):
    rng = np.random.default_rng(1)
    weight = rng.normal(size=(3, 3))
    gradients = [rng.normal(size=(3, 3)) for _ in range(3)]
    sgd_param = torch.tensor(weight).requires_grad_()
    adam_param = torch.tensor(weight).requires_grad_()
    sgd = torch.optim.SGD([sgd_param], lr=learning_rate, momentum=0.9)
    adam = torch.optim.Adam([adam_param], lr=learning_rate)
    sgd_param.grad = torch.tensor(gradients[0])
    sgd.step()  # the first step: momentum's buffer starts as the gradient
    np.testing.assert_allclose(sgd_update(weight, gradients[0], learning_rate),
                               sgd_param.detach().numpy(), atol=1e-12)
    ours = None
    for gradient in gradients:
        adam_param.grad = torch.tensor(gradient)
        adam.step()
        ours = adam_update(weight if ours is None else ours.weight, gradient, learning_rate,
                           ours)
        state = adam.state[adam_param]
        np.testing.assert_allclose(ours.first_moment, state["exp_avg"].numpy(), atol=1e-12)
        np.testing.assert_allclose(ours.second_moment, state["exp_avg_sq"].numpy(),
                                   atol=1e-12)
        np.testing.assert_allclose(ours.weight, adam_param.detach().numpy(), atol=1e-12)
    first = adam_update(weight, gradients[0], learning_rate)
    # The first step moves every weight by about lr, whatever its gradient's size.
    np.testing.assert_allclose(np.abs(first.change), learning_rate, rtol=1e-4)


def test_a_window_that_fits_nowhere_is_refused(bundled):
    image = bundled.val_images[0].numpy()[:8, :8] / 255.0
    with pytest.raises(ValueError, match="fits nowhere"):
        run(Chain(image, np.ones((5, 5)), Geometry(5, dilation=3)), 0)
    with pytest.raises(ValueError, match="pooling window"):
        run(Chain(image, np.ones((3, 3)), Geometry(3), pool_geometry=Geometry(9, 1)), 0)
