"""Convolution and pooling written out one output cell at a time, for the Explain page.

Everything here is plain numpy loops on purpose: each output value is visibly the sum of a
window's element-wise products (or its max or mean). The tests check every output against
``torch.nn.functional.conv2d``, ``max_pool2d`` and ``avg_pool2d``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from cnn_core.design.shapes import effective_kernel, size_formula, window_output

PoolKind = Literal["max", "avg"]


@dataclass(frozen=True)
class Geometry:
    """Kernel size, stride, zero padding and dilation along one sliding operation."""

    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1

    @property
    def effective_kernel(self) -> int:
        return effective_kernel(self.kernel, self.dilation)

    def output_size(self, size: int) -> int:
        """``floor((W - K_eff + 2P) / S) + 1``, or 0 when the window does not fit."""
        return window_output(size, self.kernel, self.stride, self.padding, self.dilation) or 0

    def formula(self, size: int) -> str:
        return size_formula(size, self.kernel, self.stride, self.padding, self.dilation,
                            show_floor=True)

    def skipped(self, size: int) -> int:
        """Rows (or columns) at the end of the padded input that no window reaches."""
        span = size + 2 * self.padding - self.effective_kernel
        return span % self.stride if span >= 0 else 0


@dataclass(frozen=True)
class Step:
    """One output cell: where the window sits on the padded input and the arithmetic."""

    row: int
    col: int
    rows: np.ndarray  # indices into the padded input, one per kernel row
    cols: np.ndarray
    window: np.ndarray  # the input values under the kernel
    products: np.ndarray | None  # window * kernel (convolution only)
    value: float


def pad(image: np.ndarray, padding: int) -> np.ndarray:
    return np.pad(np.asarray(image, dtype=np.float64), padding)


def conv_step(image: np.ndarray, kernel: np.ndarray, geometry: Geometry,
              row: int, col: int) -> Step:
    """The window and products for output cell (row, col) of a cross-correlation (what
    ``conv2d`` computes: the kernel is not flipped)."""
    padded = pad(image, geometry.padding)
    rows, cols = window_at(geometry, row, col, kernel.shape)
    window = padded[np.ix_(rows, cols)]
    products = window * kernel
    return Step(row, col, rows, cols, window, products, float(products.sum()))


def convolve(image: np.ndarray, kernel: np.ndarray, geometry: Geometry) -> np.ndarray:
    """The whole output map: every cell's window at once, summed as ``conv_step`` sums one."""
    products = all_windows(pad(image, geometry.padding), geometry, kernel.shape) * kernel
    return products.reshape(*products.shape[:2], -1).sum(axis=-1)


def pool_step(image: np.ndarray, kind: PoolKind, geometry: Geometry, row: int,
              col: int) -> Step:
    """The window for output cell (row, col) of max or average pooling (no padding)."""
    rows, cols = window_at(geometry, row, col, (geometry.kernel, geometry.kernel))
    window = np.asarray(image, dtype=np.float64)[np.ix_(rows, cols)]
    value = float(window.max() if kind == "max" else window.mean())
    return Step(row, col, rows, cols, window, None, value)


def pool(image: np.ndarray, kind: PoolKind, geometry: Geometry) -> np.ndarray:
    shape = (geometry.kernel, geometry.kernel)
    windows = all_windows(np.asarray(image, dtype=np.float64), geometry, shape)
    cells = windows.reshape(*windows.shape[:2], -1)
    return cells.max(axis=-1) if kind == "max" else cells.mean(axis=-1)


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _out(geometry: Geometry, size: int, kernel: int) -> int:
    g = Geometry(kernel, geometry.stride, geometry.padding, geometry.dilation)
    return g.output_size(size)


def all_windows(padded: np.ndarray, geometry: Geometry,
             kernel_shape: tuple[int, ...]) -> np.ndarray:
    """Every output cell's window, (out rows, out cols, kernel rows, kernel cols): one
    indexing instead of a Python loop over the cells (a 28×28 map: 784 pads and slices)."""
    d, s = geometry.dilation, geometry.stride
    oh = _out(geometry, padded.shape[0] - 2 * geometry.padding, kernel_shape[0])
    ow = _out(geometry, padded.shape[1] - 2 * geometry.padding, kernel_shape[1])
    rows = np.arange(max(oh, 0))[:, None] * s + d * np.arange(kernel_shape[0])
    cols = np.arange(max(ow, 0))[:, None] * s + d * np.arange(kernel_shape[1])
    return padded[rows[:, None, :, None], cols[None, :, None, :]]


def window_at(geometry: Geometry, row: int, col: int,
            kernel_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    d, s = geometry.dilation, geometry.stride
    rows = row * s + d * np.arange(kernel_shape[0])
    cols = col * s + d * np.arange(kernel_shape[1])
    return rows, cols


def window_cells(step: Step, offset: tuple[int, int] = (0, 0)) -> list[tuple[int, int]]:
    """The padded input's cells under the kernel, relative to a grid that starts at ``offset``."""
    return [(int(r) - offset[0], int(c) - offset[1]) for r in step.rows for c in step.cols]


def zoom(padded: np.ndarray, step: Step, margin: int = 1) -> tuple[np.ndarray, tuple[int, int]]:
    """The window and ``margin`` cells around it, with the top-left position in ``padded``."""
    r0 = max(0, int(step.rows[0]) - margin)
    c0 = max(0, int(step.cols[0]) - margin)
    r1 = min(padded.shape[0], int(step.rows[-1]) + margin + 1)
    c1 = min(padded.shape[1], int(step.cols[-1]) + margin + 1)
    return padded[r0:r1, c0:c1], (r0, c0)


def partial(full: np.ndarray, upto: int) -> np.ndarray:
    """The map with the cells after ``upto`` (row-major) not yet filled in (NaN)."""
    shown = np.full(full.shape, np.nan)
    flat = shown.reshape(-1)
    flat[:upto + 1] = full.reshape(-1)[:upto + 1]
    return shown


def parse_kernel(cells: list[list[object]]) -> tuple[np.ndarray | None, list[str]]:
    """Numbers from an edited kernel table. Returns (kernel, []) when every cell is a finite
    number, else (None, a description of each bad cell) so the page can flag them."""
    bad: list[str] = []
    values = np.zeros((len(cells), len(cells[0]) if cells else 0))
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            text = "" if cell is None else str(cell).strip()
            try:
                value = float(text)
            except ValueError:
                value = float("nan")
            if not np.isfinite(value):
                shown = "empty" if text == "" else repr(text)
                bad.append(f"row {r + 1}, column {c + 1} ({shown})")
            else:
                values[r, c] = value
    return (None if bad else values), bad


def kernel_presets(size: int) -> dict[str, np.ndarray]:
    """Classic hand-made kernels, 3x3 or 5x5."""
    if size not in (3, 5):
        raise ValueError("kernel presets come in 3x3 and 5x5")
    identity = np.zeros((size, size))
    identity[size // 2, size // 2] = 1.0
    box = np.full((size, size), 1.0 / size**2)
    binomial = np.array([1.0, 2.0, 1.0]) if size == 3 else np.array([1.0, 4.0, 6.0, 4.0, 1.0])
    gaussian = np.outer(binomial, binomial) / binomial.sum() ** 2
    diff = np.array([-1.0, 0.0, 1.0]) if size == 3 else np.array([-1.0, -2.0, 0.0, 2.0, 1.0])
    sobel_x = np.outer(binomial, diff)
    if size == 3:  # the textbook 4-neighbour Laplacian
        laplacian = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    else:  # the centre against all its neighbours
        laplacian = -np.ones((size, size))
        laplacian[size // 2, size // 2] = size * size - 1
    rng = np.random.default_rng(0)
    return {
        "identity": identity,
        "box blur": box,
        "Gaussian blur": gaussian,
        "sharpen": 2 * identity - box,
        "Sobel x (vertical edges)": sobel_x,
        "Sobel y (horizontal edges)": sobel_x.T.copy(),
        "Laplacian (outlines)": laplacian,
        "random": np.round(rng.normal(0, 0.5, (size, size)), 2),
    }


KERNEL_NOTES = {
    "identity": "copies the input: the output equals the (padded) input.",
    "box blur": "averages each window, smoothing the strokes.",
    "Gaussian blur": "a weighted average that favours the centre: a softer blur.",
    "sharpen": "boosts each pixel against its neighbours: edges stand out.",
    "Sobel x (vertical edges)": "responds where brightness changes left to right: vertical "
                                "edges (positive on one side of a stroke, negative on the "
                                "other).",
    "Sobel y (horizontal edges)": "responds where brightness changes top to bottom: "
                                  "horizontal edges.",
    "Laplacian (outlines)": "responds where a pixel differs from its surroundings: outlines.",
    "random": "random weights, as a network starts before training.",
}
