"""The Explain page's backward steps: the loss's δ back through pooling and ReLU to one
weight of the kernel, position by position, then that weight's update (the maths is in
``cnn_core.explain.backward``; the grids are the forward steps' own)."""

from __future__ import annotations

import functools

import numpy as np
import streamlit as st

from cnn_core.explain.backward import (
    ADAM_BETAS,
    ADAM_EPS,
    Backward,
    Chain,
    adam_update,
    contributions,
    gradient_step,
    pool_back_step,
    pool_backward,
    run,
    sgd_update,
)
from cnn_core.explain.stepping import (
    Geometry,
    PoolKind,
    Step,
    pad,
    partial,
    window_cells,
    zoom,
)
from cnn_core.explain.svg import bar_svg, grid_svg, value_range
from cnn_core.training.settings import SETTINGS
from ui.stepper import stepper
from ui.training_form import form_key

PIXELS = (0.0, 1.0)
KERNEL_PX = 40  # a kernel's cell in the update's pictures


def backward_steps(image: np.ndarray, label: int | None, kernel: np.ndarray,
                   geometry: Geometry, pool_kind: PoolKind, pool_geometry: Geometry) -> None:
    """The whole backward section, below the forward steps, for the same chain."""
    st.divider()
    st.subheader("Backwards: how one weight learns")
    st.caption("Training changes each weight against its gradient, ∂loss/∂w: how much the "
               "loss would rise if that weight grew a little. Here the rest of a network is "
               "one dense layer from the pooled map to 10 scores (fixed random weights) and "
               "the loss is cross-entropy against the true digit. Its gradient, δ, flows "
               "back through pooling and ReLU to the kernel.")
    c = st.columns(3)
    true_digit = c[0].selectbox("The true digit", range(10), index=label or 0,
                                key="back_label", help="the loss compares the scores with it")
    weights = [(u, v) for u in range(kernel.shape[0]) for v in range(kernel.shape[1])]
    u, v = c[1].selectbox("The weight to follow", weights, key="back_weight",
                          index=len(weights) // 2,
                          format_func=lambda w: f"row {w[0]}, column {w[1]} "
                                                f"({kernel[w]:.3g})")
    default_lr = st.session_state.get(form_key("learning_rate"),
                                      SETTINGS["learning_rate"].default)
    learning_rate = c[2].number_input("Learning rate", SETTINGS["learning_rate"].minimum,
                                      SETTINGS["learning_rate"].maximum, float(default_lr),
                                      format="%.4f", key="back_lr",
                                      help="the Train page's, unless changed here")
    chain = Chain(image, kernel, geometry, True, pool_kind, pool_geometry)
    result = run(chain, int(true_digit))
    show_loss(result, int(true_digit))
    show_pooling(result, pool_kind, pool_geometry)
    show_gate(result)
    show_weight(image, result, geometry, kernel, u, v)
    show_update(kernel, result.weight_gradient, u, v, float(learning_rate))


def show_loss(result: Backward, true_digit: int) -> None:
    st.markdown(f"**1 · The loss.** The scores' probabilities for this input; the loss is "
                f"−log(probability of {true_digit}) = **{result.loss:.4f}**. Its δ at each "
                "pooled cell: how the loss changes when that cell grows.")
    a, b, c = st.columns([4, 3, 3])
    a.image(bar_svg(result.probabilities, range(10), highlight=true_digit),
            caption=f"Probabilities (the true digit, {true_digit}, dark)")
    b.image(grid_svg(result.pooled, limits=value_range(result.pooled)),
            caption="The pooled map", width="stretch")
    c.image(grid_svg(result.delta_pooled, diverging=True), width="stretch",
            caption="Its δ (red: the loss rises with the cell, blue: falls)")


def show_pooling(result: Backward, kind: PoolKind, geometry: Geometry) -> None:
    st.markdown("**2 · Back through pooling.** " + (
        "Max pooling passed on only each window's largest value, so only that cell gets the "
        "window's δ; the others did not change the output, so their δ is 0." if kind == "max"
        else "Average pooling gave every cell of a window an equal share, so each gets "
             "δ divided by the window's size."))
    stepper("back_pool", result.pooled.shape[0], "Pooled cell",
            functools.partial(_pool_step, result, kind, geometry))


def _pool_step(result: Backward, kind: PoolKind, geometry: Geometry, index: int) -> None:
    row, col = divmod(index, result.pooled.shape[1])
    step = pool_back_step(result.activated, result.delta_pooled, kind, geometry, row, col)
    upto = result.delta_pooled.copy()  # linear in δ: the cells after this one as 0
    upto.reshape(-1)[index + 1:] = 0.0
    sent = pool_backward(result.activated, upto, kind, geometry)
    where = ", ".join(f"({r}, {c})" for r, c in step.receivers[:4]) + (
        ", …" if len(step.receivers) > 4 else "")
    st.markdown(f"Pooled cell **({row}, {col})**: δ = {step.delta:.4g} → "
                f"{'the max at' if kind == 'max' else 'each of'} {where} gets "
                f"**{step.share:.4g}**")
    a, b, c = st.columns(3)
    a.image(grid_svg(result.delta_pooled, outlined=[(row, col)], diverging=True),
            caption="δ of the pooled map", width="stretch")
    b.image(grid_svg(result.activated, outlined=step.receivers,
                     limits=value_range(result.activated)),
            caption="After ReLU: who gets it (yellow)", width="stretch")
    c.image(grid_svg(sent, outlined=step.receivers, diverging=True,
                     limits=value_range(result.delta_activated)),
            caption="δ after ReLU, added up so far", width="stretch")


def show_gate(result: Backward) -> None:
    st.markdown("**3 · Through ReLU: the gate.** ReLU let through what was positive and "
                "set the rest to 0, so δ passes where the convolution's output was above 0 "
                "(slope 1) and stops where it was not (slope 0).")
    limits = value_range(result.delta_conv)
    a, b, c = st.columns(3)
    a.image(grid_svg(result.delta_activated, diverging=True, limits=limits), width="stretch",
            caption="δ after ReLU")
    b.image(grid_svg((result.conv > 0).astype(float), limits=(0.0, 1.0)), width="stretch",
            caption="The gate: white where the convolution gave > 0")
    c.image(grid_svg(result.delta_conv, diverging=True, limits=limits), width="stretch",
            caption="δ before ReLU: at the convolution's output")


def show_weight(image: np.ndarray, result: Backward, geometry: Geometry, kernel: np.ndarray,
                u: int, v: int) -> None:
    st.markdown(f"**4 · One weight's gradient.** At each output position the weight at "
                f"row {u}, column {v} met one pixel x of the window; it added δ · x to "
                "that output. So ∂loss/∂w is the sum of δ · x over every position:")
    stepper("back_grad", result.delta_conv.shape[0], "Output position",
            functools.partial(_weight_step, image, result, geometry, kernel, u, v))


def _weight_step(image: np.ndarray, result: Backward, geometry: Geometry, kernel: np.ndarray,
                 u: int, v: int, index: int) -> None:
    step = gradient_step(image, result.delta_conv, geometry, kernel.shape, u, v, index)
    products = contributions(image, result.delta_conv, geometry, kernel.shape, u, v)
    last = index == result.delta_conv.size - 1
    st.markdown(f"Position **({step.row}, {step.col})**: δ = {step.delta:.4g}, x = "
                f"{step.x:.3g}, δ · x = {step.product:.4g}; running sum = "
                f"**{step.running_sum:.6g}**" + (
                    f" = ∂loss/∂w[{u}, {v}]" if last else
                    f" (at the last position: {result.weight_gradient[u, v]:.6g})"))
    padded = pad(image, geometry.padding)
    window = Step(step.row, step.col, step.rows, step.cols,
                  padded[np.ix_(step.rows, step.cols)], None, step.x)
    near, offset = zoom(padded, window, margin=0)
    a, b, c, d = st.columns([3, 3, 2, 3])
    a.image(grid_svg(result.delta_conv, outlined=[(step.row, step.col)], diverging=True),
            caption="δ at the convolution's output", width="stretch")
    b.image(grid_svg(padded, outlined=window_cells(window), padding=geometry.padding,
                     limits=PIXELS), caption="The input's window there", width="stretch")
    c.image(grid_svg(near, outlined=[(step.pixel[0] - offset[0], step.pixel[1] - offset[1])],
                     numbers=True, limits=PIXELS), width="stretch",
            caption=f"Up close: x, the pixel w[{u}, {v}] meets")
    d.image(grid_svg(partial(products, index), outlined=[(step.row, step.col)],
                     diverging=True, limits=value_range(products)), width="stretch",
            caption="δ · x at each position so far (their sum: the running sum)")


def show_update(kernel: np.ndarray, gradient: np.ndarray, u: int, v: int,
                learning_rate: float) -> None:
    w, g = float(kernel[u, v]), float(gradient[u, v])
    sgd = sgd_update(kernel, gradient, learning_rate)
    adam = adam_update(kernel, gradient, learning_rate)
    beta1, beta2 = ADAM_BETAS
    st.markdown(f"**5 · The update**, learning rate {learning_rate:g}, for w[{u}, {v}] = "
                f"{w:.4g} with gradient g = {g:.4g}:")
    left, right = st.columns(2)
    left.markdown(f"**SGD**: w − lr · g = {w:.4g} − {learning_rate:g} × {g:.4g} = "
                  f"**{sgd[u, v]:.6g}**. A step as large as the gradient: weights with "
                  "a small gradient hardly move.")
    right.markdown(
        f"**Adam** (its first step, from moments of 0): m = (1 − {beta1}) · g = "
        f"{adam.first_moment[u, v]:.4g}; v = (1 − {beta2}) · g² = "
        f"{adam.second_moment[u, v]:.4g}; corrected for starting at 0: m̂ = "
        f"{adam.first_corrected[u, v]:.4g}, v̂ = {adam.second_corrected[u, v]:.4g}; "
        f"w − lr · m̂ / (√v̂ + {ADAM_EPS:g}) = **{adam.weight[u, v]:.6g}**. Every weight "
        "moves by about the learning rate, whatever its gradient's size.")
    a, b, c = st.columns(3)
    side = KERNEL_PX * kernel.shape[1]
    a.image(grid_svg(gradient, outlined=[(u, v)], diverging=True), width=side,
            caption="∂loss/∂kernel, every weight")
    b.image(grid_svg(sgd - kernel, outlined=[(u, v)], diverging=True), width=side,
            caption="SGD's change to each weight")
    c.image(grid_svg(adam.change, outlined=[(u, v)], diverging=True), width=side,
            caption="Adam's change to each weight")
