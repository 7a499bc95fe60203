"""Explain: a kernel sliding over a real digit, one multiply-add at a time; then pooling."""

from __future__ import annotations

from ui.page_guard import need_torch, require_frame

require_frame()  # first, before the imports below load torch (see page_guard)
need_torch()

import functools

import numpy as np
import pandas as pd
import streamlit as st

from cnn_core.explain.activations import first_conv_kernels
from cnn_core.explain.stepping import (
    KERNEL_NOTES,
    Geometry,
    PoolKind,
    Step,
    conv_step,
    convolve,
    kernel_presets,
    pad,
    parse_kernel,
    partial,
    pool,
    pool_step,
    relu,
    window_cells,
    zoom,
)
from cnn_core.explain.svg import grid_svg, value_range
from ui import predict
from ui.app_state import bundled_digits, trained_model
from ui.backward_view import backward_steps
from ui.lesson import shows
from ui.predict.explain import ask_window_value
from ui.stepper import stepper

KERNEL_CELL_PX = 48
PIXELS = (0.0, 1.0)  # the input's grey scale: a close-up's zero is black too


# ---- input and kernel -------------------------------------------------------------------
def choose_input() -> tuple[np.ndarray, str, int | None]:
    drawing = st.session_state.get("last_drawing")
    sources = ["A real MNIST digit"] + (["My drawing (from the Draw page)"] if drawing is not None
                                        else [])
    source = st.radio("Input", sources, horizontal=True)
    if source != "A real MNIST digit":
        return np.asarray(drawing, dtype=np.float64), "your drawing", None
    digits = bundled_digits()
    images = np.concatenate([digits.train_images.numpy(), digits.val_images.numpy()])
    labels = np.concatenate([digits.train_labels.numpy(), digits.val_labels.numpy()])
    # One above the other: side by side, a projector's narrow column cut the button's label.
    if st.button("Random digit", icon=":material/casino:", width="stretch"):
        st.session_state["digit_index"] = int(np.random.default_rng().integers(len(images)))
    index = st.number_input("MNIST test digit number", 0, len(images) - 1, key="digit_index",
                            step=1)
    label = int(labels[index])
    return images[int(index)] / 255.0, f"MNIST test digit #{int(index)} (a {label})", label


def _apply_kernel_preset() -> None:
    st.session_state.pop("kernel_table", None)
    st.session_state["kernel_good"] = None


def choose_kernel() -> tuple[np.ndarray, str]:
    size = st.radio("Kernel size", [3, 5], horizontal=True, format_func=lambda k: f"{k}×{k}",
                    on_change=_apply_kernel_preset)
    presets = kernel_presets(size)
    record = trained_model()
    learned = first_conv_kernels(record.model) if record else None
    options = list(presets)
    if learned is not None and learned.shape[1] == learned.shape[2]:  # square kernels only
        options += [f"trained model, kernel {i + 1}" for i in range(len(learned))]
    name = st.selectbox("Kernel", options, on_change=_apply_kernel_preset, key="kernel_name")
    if name in presets:
        base = presets[name]
    else:
        base = learned[int(name.rsplit(" ", 1)[1]) - 1]
        st.caption(f"A {base.shape[0]}×{base.shape[1]} kernel the network learned (averaged "
                   "over input channels).")
    table = pd.DataFrame([[f"{v:.3g}" for v in row] for row in base],
                         columns=[str(i + 1) for i in range(base.shape[1])])
    # Columns narrow enough that a 5x5 kernel fits the settings column on a projector.
    edited = st.data_editor(table, key="kernel_table", hide_index=True, width="content",
                            column_config={c: st.column_config.TextColumn(width=KERNEL_CELL_PX)
                                           for c in table.columns})
    kernel, bad = parse_kernel(edited.to_numpy().tolist())
    if kernel is None:
        st.error("Not a number: " + "; ".join(bad) + ". The last good kernel is used.")
        kernel = st.session_state.get("kernel_good")
        if kernel is None or kernel.shape != base.shape:
            kernel = base
    st.session_state["kernel_good"] = kernel
    if name in KERNEL_NOTES:
        st.caption(f"**{name}** {KERNEL_NOTES[name]}")
    return kernel, name


# ---- pictures -----------------------------------------------------------------------------
def arithmetic(step: Step, kernel: np.ndarray) -> str:
    terms = [f"{v:.2f}×{k:.2f}" for v, k in zip(step.window.ravel(), kernel.ravel())]
    lines = ["  ".join(terms[i:i + kernel.shape[1]])
             for i in range(0, len(terms), kernel.shape[1])]
    return ("window × kernel, element by element:\n" + "\n".join(lines) +
            f"\n\nsum of the {kernel.size} products = {step.value:.4f}")


def show_conv_step(image: np.ndarray, kernel: np.ndarray, geometry: Geometry,
                   output: np.ndarray, index: int) -> None:
    size, out_size = image.shape[0], output.shape[0]
    row, col = divmod(index, out_size)
    step = conv_step(image, kernel, geometry, row, col)
    if not ask_window_value(step, kernel, skip=st.session_state.get("conv_step.play", False)):
        return  # predict first: the value shows once it is answered
    st.markdown(f"Output cell **(row {row}, column {col})** = sum of window × kernel = "
                f"**{step.value:.4f}**")
    padded = pad(image, geometry.padding)
    near, offset = zoom(padded, step)
    a, b, c = st.columns([4, 3, 4])
    a.image(grid_svg(padded, outlined=window_cells(step), padding=geometry.padding,
                     limits=PIXELS), caption=f"Input, padded by {geometry.padding}",
            width="stretch")
    b.image(grid_svg(near, outlined=window_cells(step, offset), numbers=True, limits=PIXELS),
            caption=f"The window up close: rows {offset[0]}-{offset[0] + near.shape[0] - 1}, "
                    f"columns {offset[1]}-{offset[1] + near.shape[1] - 1}", width="stretch")
    c.image(grid_svg(partial(output, index), outlined=[(row, col)], diverging=True,
                     limits=value_range(output)),
            caption=f"Output {out_size}×{out_size}", width="stretch")
    st.caption(f"Left: the {size}×{size} input (inside the dashed line) with its padding, and "
               "the kernel's window in yellow. Middle: the window up close. Right: the output, "
               "filled in up to this step.")
    st.code(arithmetic(step, kernel), language=None)


def show_pool_step(activated: np.ndarray, kind: PoolKind, geometry: Geometry,
                   pooled: np.ndarray, index: int) -> None:
    row, col = divmod(index, pooled.shape[0])
    step = pool_step(activated, kind, geometry, row, col)
    values = ", ".join(f"{v:.2f}" for v in step.window.ravel())
    st.markdown(f"Pooled cell **(row {row}, column {col})** = {kind}({values}) = "
                f"**{step.value:.4f}**")
    a, b = st.columns(2)
    a.image(grid_svg(activated, outlined=window_cells(step)),
            caption=f"After ReLU: {activated.shape[0]}×{activated.shape[0]}", width="stretch")
    b.image(grid_svg(partial(pooled, index), outlined=[(row, col)],
                     limits=value_range(pooled)),
            caption=f"After {kind} pooling: {pooled.shape[0]}×{pooled.shape[0]}",
            width="stretch")


# ---- the page -----------------------------------------------------------------------------
st.title("A convolution, one step at a time")
st.caption("A kernel is a small grid of weights. It slides over the image; at each position "
           "it multiplies the pixels under it by its weights and adds them up. That sum is one "
           "pixel of the output: high where the image looks like the kernel.")
predict.switch("explain")
settings, view = st.columns([4, 11], gap="medium")
with settings:
    image, image_name, label = choose_input()
    kernel, kernel_name = choose_kernel()
    stride = st.number_input("stride", 1, 6, 1)
    padding = st.number_input("padding (zeros on each side)", 0, 6, 1)
    dilation = st.number_input("dilation", 1, 4, 1)

geometry = Geometry(kernel.shape[0], int(stride), int(padding), int(dilation))
size = image.shape[0]
out_size = geometry.output_size(size)
with view:
    st.markdown(f"**Output size** for {image_name}: `{geometry.formula(size)}`")
    skipped = geometry.skipped(size)
    if skipped:
        st.info(f"The division is floored: the last {skipped} row(s) and column(s) of the "
                "padded input are never under the kernel, because the stride skips them.")
    if out_size == 0:
        st.warning("The kernel, spread out by the dilation, is larger than the padded input, "
                   "so it fits nowhere and there is no output. Add padding, or lower the "
                   "kernel size or dilation.")
        st.stop()
    output = convolve(image, kernel, geometry)
    stepper("conv_step", out_size, "Output position",
            functools.partial(show_conv_step, image, kernel, geometry, output))

if not shows("pooling"):
    st.stop()  # a lesson about the convolution alone
st.divider()
st.subheader("Then ReLU, then pooling")
st.caption("ReLU keeps positive responses and sets negative ones to 0. Pooling then shrinks "
           "the map: each 2×2 block becomes one number (its max, or its average), so the next "
           "layer sees a wider area for the same cost, and small shifts of the digit matter "
           "less.")
p1, p2, p3 = st.columns(3)
kind = p1.radio("Pooling", ["max", "avg"], horizontal=True,
                format_func={"max": "max pooling", "avg": "average pooling"}.get)
pool_kernel = p2.number_input("pool kernel_size", 1, 4, 2)
pool_stride = p3.number_input("pool stride", 1, 4, 2)
activated = relu(output)
pool_geometry = Geometry(int(pool_kernel), int(pool_stride))
pooled_size = pool_geometry.output_size(out_size)
st.markdown(f"**Pooled size**: `{pool_geometry.formula(out_size)}`")
if pooled_size == 0:
    st.warning("The pooling window is larger than the map: no output. Lower kernel_size.")
    st.stop()
pooled = pool(activated, kind, pool_geometry)
stepper("pool_step", pooled_size, "Pooling position",
        functools.partial(show_pool_step, activated, kind, pool_geometry, pooled))
backward_steps(image, label, kernel, geometry, kind, pool_geometry)
