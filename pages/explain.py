"""Explain: a kernel sliding over a real digit, one multiply-add at a time; then pooling."""

from __future__ import annotations

from ui.page_guard import need_torch, require_frame

require_frame()  # first, before the imports below load torch (see page_guard)
need_torch()

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from cnn_core.activations import first_conv_kernels
from cnn_core.stepping import (
    KERNEL_NOTES,
    Geometry,
    Step,
    conv_step,
    convolve,
    kernel_presets,
    pad,
    parse_kernel,
    pool,
    pool_step,
    relu,
)
from ui.app_state import bundled_digits, trained_model

KERNEL_CELL_PX = 48


# ---- input and kernel -------------------------------------------------------------------
def choose_input() -> tuple[np.ndarray, str]:
    drawing = st.session_state.get("last_drawing")
    sources = ["A real MNIST digit"] + (["My drawing (from the Draw page)"] if drawing is not None
                                        else [])
    source = st.radio("Input", sources, horizontal=True)
    if source != "A real MNIST digit":
        return np.asarray(drawing, dtype=np.float64), "your drawing"
    digits = bundled_digits()
    images = np.concatenate([digits.train_images.numpy(), digits.val_images.numpy()])
    labels = np.concatenate([digits.train_labels.numpy(), digits.val_labels.numpy()])
    # One above the other: side by side, a projector's narrow column cut the button's label.
    if st.button("Random digit", icon=":material/casino:", width="stretch"):
        st.session_state["digit_index"] = int(np.random.default_rng().integers(len(images)))
    index = st.number_input("MNIST test digit number", 0, len(images) - 1, key="digit_index",
                            step=1)
    return images[int(index)] / 255.0, f"MNIST test digit #{int(index)} (a {labels[index]})"


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
def grid_figure(values: np.ndarray, window: Step | None, title: str, pad_width: int = 0,
                highlight_output: tuple[int, int] | None = None, zmid: float | None = None,
                numbers: bool = False, offset: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    """A heatmap (hover shows each value), the padding outlined and a window in yellow.

    ``numbers`` prints every value (for small grids); ``offset`` is the grid's top-left
    position in the full map, so a zoomed grid keeps the full map's row and column numbers.
    A plain dict rather than ``go.Figure``: each ``add_shape`` validated the figure again,
    ~50 ms of the server's time per grid, five grids per step; now ~6 ms.
    """
    h, w = values.shape
    ys, xs = np.arange(h) + offset[0], np.arange(w) + offset[1]
    heatmap = {"type": "heatmap", "z": values.astype(np.float32), "x": xs, "y": ys,
               "colorscale": "RdBu_r" if zmid is not None else "gray", "zmid": zmid,
               "showscale": False, "xgap": 1, "ygap": 1,
               "hovertemplate": "row %{y}, column %{x}: %{z:.3f}<extra></extra>"}
    if numbers:
        heatmap["text"] = [["" if np.isnan(v) else f"{v:.2f}" for v in row] for row in values]
        heatmap["texttemplate"] = "%{text}"
        heatmap["textfont"] = {"size": 13}
    traces = [heatmap]
    if pad_width:
        traces.append(outlines([(pad_width - 0.5, w - pad_width - 0.5, pad_width - 0.5,
                                 h - pad_width - 0.5)], color="#f59f4c", width=2, dash="dot"))
    cells = [(r, c) for r in window.rows for c in window.cols] if window is not None else []
    if highlight_output is not None:
        cells.append(highlight_output)
    if cells:
        traces.append(outlines([(c - 0.5, c + 0.5, r - 0.5, r + 0.5) for r, c in cells],
                               color="#ffbf00", width=3))
    return {"data": traces,
            "layout": {"title": {"text": title, "font": {"size": 13}}, "height": 360,
                       "margin": {"l": 0, "r": 0, "t": 36, "b": 0}, "plot_bgcolor": "#dde3ea",
                       "showlegend": False,
                       "xaxis": {"visible": False, "range": [xs[0] - 0.5, xs[-1] + 0.5],
                                 "constrain": "domain"},
                       "yaxis": {"visible": False, "range": [ys[-1] + 0.5, ys[0] - 0.5],
                                 "scaleanchor": "x"}}}


def outlines(boxes: list[tuple[float, float, float, float]], **line: Any) -> dict[str, Any]:
    """Rectangles (x0, x1, y0, y1) as one line trace: plotly validates each layout shape on
    its own, ~4 ms apiece, and a 3×3 window is nine."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for x0, x1, y0, y1 in boxes:
        xs += [x0, x1, x1, x0, x0, None]
        ys += [y0, y0, y1, y1, y0, None]
    return {"type": "scatter", "mode": "lines", "x": xs, "y": ys, "line": line,
            "hoverinfo": "skip"}


def zoom(padded: np.ndarray, step: Step, margin: int = 1) -> tuple[np.ndarray, tuple[int, int]]:
    """The window and ``margin`` cells around it, with the top-left position in ``padded``."""
    r0 = max(0, int(step.rows[0]) - margin)
    c0 = max(0, int(step.cols[0]) - margin)
    r1 = min(padded.shape[0], int(step.rows[-1]) + margin + 1)
    c1 = min(padded.shape[1], int(step.cols[-1]) + margin + 1)
    return padded[r0:r1, c0:c1], (r0, c0)


def partial(full: np.ndarray, upto: int) -> np.ndarray:
    """The output map with the cells after ``upto`` (row-major) not yet filled in."""
    shown = np.full(full.shape, np.nan)
    flat = shown.reshape(-1)
    flat[:upto + 1] = full.reshape(-1)[:upto + 1]
    return shown


def arithmetic(step: Step, kernel: np.ndarray) -> str:
    terms = [f"{v:.2f}×{k:.2f}" for v, k in zip(step.window.ravel(), kernel.ravel())]
    lines = ["  ".join(terms[i:i + kernel.shape[1]])
             for i in range(0, len(terms), kernel.shape[1])]
    return ("window × kernel, element by element:\n" + "\n".join(lines) +
            f"\n\nsum of the {kernel.size} products = {step.value:.4f}")


@st.fragment(run_every=0.6)
def autoplay(key: str, total: int) -> None:
    """Advance a step slider; runs only while its play toggle is on."""
    if st.session_state.get(f"{key}.play"):
        st.session_state[key] = (st.session_state.get(key, 0) + 1) % total
        st.rerun(scope="app")


def step_slider(key: str, side: int, label: str) -> int:
    """A slider over the ``side`` x ``side`` output cells, row by row; starts at the centre,
    where a digit has ink."""
    total = side * side
    if st.session_state.get(key, (side // 2) * side + side // 2) >= total:
        st.session_state[key] = 0
    st.session_state.setdefault(key, (side // 2) * side + side // 2)
    index = st.slider(label, 0, total - 1, key=key, help="output cells, row by row")
    if st.toggle("▶ Play", key=f"{key}.play"):
        autoplay(key, total)  # no timer at all while paused
    return index


# ---- the page -----------------------------------------------------------------------------
st.title("A convolution, one step at a time")
st.caption("A kernel is a small grid of weights. It slides over the image; at each position "
           "it multiplies the pixels under it by its weights and adds them up. That sum is one "
           "pixel of the output: high where the image looks like the kernel.")
settings, view = st.columns([4, 11], gap="medium")
with settings:
    image, image_name = choose_input()
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
    index = step_slider("conv_step", out_size, "Output position")
    row, col = divmod(index, out_size)
    step = conv_step(image, kernel, geometry, row, col)
    st.markdown(f"Output cell **(row {row}, column {col})** = sum of window × kernel = "
                f"**{step.value:.4f}**")
    padded = pad(image, geometry.padding)
    near, offset = zoom(padded, step)
    a, b, c = st.columns([4, 3, 4])
    # Short titles: a plot's title does not wrap, and on a projector these plots are narrow.
    a.plotly_chart(grid_figure(padded, step, f"Input, padded by {geometry.padding}",
                               pad_width=geometry.padding), width="stretch",
                   config={"displayModeBar": False}, key="conv_input")
    b.plotly_chart(grid_figure(near, step, "The window", numbers=True,
                               offset=offset), width="stretch",
                   config={"displayModeBar": False}, key="conv_zoom")
    c.plotly_chart(grid_figure(partial(output, index), None, f"Output {out_size}×{out_size}",
                               highlight_output=(row, col), zmid=0.0),
                   width="stretch", config={"displayModeBar": False}, key="conv_output")
    st.caption(f"Left: the {size}×{size} input (inside the dotted line) with its padding, and "
               "the kernel's window in yellow. Middle: the window up close. Right: the output, "
               "filled in up to this step.")
    st.code(arithmetic(step, kernel), language=None)

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
pool_index = step_slider("pool_step", pooled_size, "Pooling position")
prow, pcol = divmod(pool_index, pooled_size)
pstep = pool_step(activated, kind, pool_geometry, prow, pcol)
values = ", ".join(f"{v:.2f}" for v in pstep.window.ravel())
st.markdown(f"Pooled cell **(row {prow}, column {pcol})** = {kind}({values}) = "
            f"**{pstep.value:.4f}**")
a, b = st.columns(2)
a.plotly_chart(grid_figure(activated, pstep, f"After ReLU: {out_size}×{out_size}"),
               width="stretch", config={"displayModeBar": False}, key="pool_input")
b.plotly_chart(grid_figure(partial(pooled, pool_index), None,
                           f"After {kind} pooling: {pooled_size}×{pooled_size}",
                           highlight_output=(prow, pcol)),
               width="stretch", config={"displayModeBar": False}, key="pool_output")
