"""The Explain page's chain run backwards, one number at a time: from the loss to one
weight of the kernel, then that weight's update.

The chain is the forward page's own: the digit, convolved with the kernel (``stepping``),
through ReLU, then max or average pooling. The rest of a network is stood in for by one
dense layer from the pooled map to 10 scores (fixed random weights) and cross-entropy against
the true digit, so the gradient that arrives at the pooled map (its δ) is a real one.
Backwards, each step is what autograd does:

- pooling: each pooled cell's δ goes to the cell that was the window's max (max pooling),
  or is shared equally by the window's cells (average pooling);
- ReLU: δ passes where the input was positive and stops where it was not (the gate);
- the convolution: ``∂L/∂w[u, v] = Σ δ[i, j] · x[i·s + u·d, j·s + v·d]`` over the output
  positions (i, j), x the padded input: each position adds δ times the one pixel that
  weight met there.

Plain numpy, like ``stepping``; the tests hold every value to ``torch.autograd.grad``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnn_core.explain.stepping import (
    Geometry,
    PoolKind,
    all_windows,
    convolve,
    pad,
    pool,
    relu,
    window_at,
)

CLASSES = 10
READOUT_SEED = 0
ADAM_BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults, which the trainer uses
ADAM_EPS = 1e-8
POOL_2X2 = Geometry(2, 2)  # the usual pooling: 2x2 windows, stride 2


@dataclass(frozen=True)
class Chain:
    """The forward chain: ``image`` (H, W) convolved with ``kernel`` as ``geometry`` says,
    then ReLU (if ``relu``), then pooling (``pool_kind`` None: none)."""

    image: np.ndarray
    kernel: np.ndarray
    geometry: Geometry
    relu: bool = True
    pool_kind: PoolKind | None = "max"
    pool_geometry: Geometry = POOL_2X2


@dataclass(frozen=True)
class Backward:
    """Every map of one forward and backward pass. ``delta_*`` is ∂loss/∂(that map)."""

    conv: np.ndarray  # z: the convolution's output
    activated: np.ndarray  # a: after ReLU (z itself without ReLU)
    pooled: np.ndarray  # p: after pooling (a itself without pooling)
    scores: np.ndarray  # the 10 scores of the stand-in dense layer
    probabilities: np.ndarray
    loss: float
    delta_pooled: np.ndarray
    delta_activated: np.ndarray
    delta_conv: np.ndarray
    weight_gradient: np.ndarray  # ∂loss/∂kernel


def readout(size: int, seed: int = READOUT_SEED) -> np.ndarray:
    """The stand-in for the rest of the network: (10, size) weights, fixed by ``seed``,
    scaled so that the scores stay near 1 whatever the map's size."""
    return np.random.default_rng(seed).normal(0.0, 1.0, (CLASSES, size)) / np.sqrt(size)


def run(chain: Chain, label: int) -> Backward:
    """The forward pass, the loss against ``label``, and every δ back to the kernel. Raises
    ValueError when a window fits nowhere (the page says so before it gets here)."""
    size = chain.image.shape[0]
    if chain.geometry.output_size(size) == 0:
        raise ValueError("the kernel fits nowhere on the padded input")
    conv = convolve(chain.image, chain.kernel, chain.geometry)
    activated = relu(conv) if chain.relu else conv
    if chain.pool_kind is not None and chain.pool_geometry.output_size(conv.shape[0]) == 0:
        raise ValueError("the pooling window is larger than the map")
    pooled = activated if chain.pool_kind is None else pool(activated, chain.pool_kind,
                                                            chain.pool_geometry)
    weights = readout(pooled.size)
    scores = weights @ pooled.reshape(-1)
    shifted = np.exp(scores - scores.max())
    probabilities = shifted / shifted.sum()
    loss = float(np.log(shifted.sum()) - (scores[label] - scores.max()))
    # Cross-entropy's gradient on the scores is p - onehot; the dense layer sends it back.
    delta_pooled = (weights.T @ (probabilities - np.eye(CLASSES)[label])).reshape(pooled.shape)
    delta_activated = delta_pooled if chain.pool_kind is None else pool_backward(
        activated, delta_pooled, chain.pool_kind, chain.pool_geometry)
    delta_conv = relu_backward(conv, delta_activated) if chain.relu else delta_activated
    return Backward(conv, activated, pooled, scores, probabilities, loss, delta_pooled,
                    delta_activated, delta_conv,
                    weight_gradient(chain.image, delta_conv, chain.geometry, chain.kernel.shape))


# ---- pooling ----------------------------------------------------------------------------
@dataclass(frozen=True)
class PoolBackStep:
    """One pooled cell's δ on its way back: the window it came from and who receives it."""

    row: int
    col: int
    rows: np.ndarray  # the window's rows and columns in the map before pooling
    cols: np.ndarray
    delta: float  # the pooled cell's δ
    receivers: list[tuple[int, int]]  # the max's cell (max pooling), or every cell (average)
    share: float  # what each receiver gets from this cell


def pool_back_step(activated: np.ndarray, delta_pooled: np.ndarray, kind: PoolKind,
                   geometry: Geometry, row: int, col: int) -> PoolBackStep:
    rows, cols = window_at(geometry, row, col, (geometry.kernel, geometry.kernel))
    delta = float(delta_pooled[row, col])
    if kind == "max":  # the first largest, row by row, as torch picks among equals
        at = int(np.argmax(activated[np.ix_(rows, cols)]))
        receivers = [(int(rows[at // len(cols)]), int(cols[at % len(cols)]))]
        return PoolBackStep(row, col, rows, cols, delta, receivers, delta)
    receivers = [(int(r), int(c)) for r in rows for c in cols]
    return PoolBackStep(row, col, rows, cols, delta, receivers, delta / len(receivers))


def pool_backward(activated: np.ndarray, delta_pooled: np.ndarray, kind: PoolKind,
                  geometry: Geometry) -> np.ndarray:
    """δ before pooling: every pooled cell's step added up (windows that overlap add)."""
    delta = np.zeros_like(np.asarray(activated, dtype=np.float64))
    for row in range(delta_pooled.shape[0]):
        for col in range(delta_pooled.shape[1]):
            step = pool_back_step(activated, delta_pooled, kind, geometry, row, col)
            for r, c in step.receivers:
                delta[r, c] += step.share
    return delta


def relu_backward(conv: np.ndarray, delta_activated: np.ndarray) -> np.ndarray:
    """δ through ReLU: it passes where the input was above 0 (ReLU's slope 1), else 0."""
    return np.where(conv > 0, delta_activated, 0.0)


# ---- the kernel -------------------------------------------------------------------------
def weight_gradient(image: np.ndarray, delta_conv: np.ndarray, geometry: Geometry,
                    kernel_shape: tuple[int, ...]) -> np.ndarray:
    """∂loss/∂kernel: each output position's window times its δ, summed over positions."""
    windows = all_windows(pad(image, geometry.padding), geometry, kernel_shape)
    return np.einsum("ij,ijuv->uv", delta_conv, windows)


@dataclass(frozen=True)
class GradientStep:
    """Weight (u, v)'s share from output position (row, col), and the sum so far."""

    row: int
    col: int
    rows: np.ndarray  # the window at (row, col), in the padded input
    cols: np.ndarray
    pixel: tuple[int, int]  # the padded input's cell that weight (u, v) meets there
    x: float
    delta: float
    product: float
    running_sum: float  # of the products at every position up to this one, row by row


def contributions(image: np.ndarray, delta_conv: np.ndarray, geometry: Geometry,
                  kernel_shape: tuple[int, ...], u: int, v: int) -> np.ndarray:
    """δ · x for weight (u, v) at every output position: the map the gradient sums."""
    windows = all_windows(pad(image, geometry.padding), geometry, kernel_shape)
    return delta_conv * windows[:, :, u, v]


def gradient_step(image: np.ndarray, delta_conv: np.ndarray, geometry: Geometry,
                  kernel_shape: tuple[int, ...], u: int, v: int, index: int) -> GradientStep:
    """Output position ``index`` (row-major) of weight (u, v)'s sum."""
    row, col = divmod(index, delta_conv.shape[1])
    rows, cols = window_at(geometry, row, col, kernel_shape)
    products = contributions(image, delta_conv, geometry, kernel_shape, u, v)
    x = float(pad(image, geometry.padding)[rows[u], cols[v]])
    return GradientStep(row, col, rows, cols, (int(rows[u]), int(cols[v])), x,
                        float(delta_conv[row, col]), float(products[row, col]),
                        float(products.reshape(-1)[:index + 1].sum()))


# ---- the update -------------------------------------------------------------------------
def sgd_update(weight: np.ndarray, gradient: np.ndarray, learning_rate: float) -> np.ndarray:
    """One SGD step: ``w - lr · g`` (with momentum too, on the first step: its buffer
    starts as the gradient itself)."""
    return weight - learning_rate * gradient


@dataclass(frozen=True)
class AdamStep:
    """One Adam step: the moments, their bias-corrected values, and the new weight."""

    step: int
    first_moment: np.ndarray  # m: a running mean of the gradients
    second_moment: np.ndarray  # v: a running mean of their squares
    first_corrected: np.ndarray  # m / (1 - β1^t): m starts at 0, this undoes that pull
    second_corrected: np.ndarray
    change: np.ndarray  # - lr · m̂ / (√v̂ + ε)
    weight: np.ndarray


def adam_update(weight: np.ndarray, gradient: np.ndarray, learning_rate: float,
                previous: AdamStep | None = None, betas: tuple[float, float] = ADAM_BETAS,
                eps: float = ADAM_EPS) -> AdamStep:
    """Adam's step ``previous.step + 1`` (the first, from zero moments, without one), as
    ``torch.optim.Adam`` computes it."""
    beta1, beta2 = betas
    step = 1 if previous is None else previous.step + 1
    m0 = np.zeros_like(gradient) if previous is None else previous.first_moment
    v0 = np.zeros_like(gradient) if previous is None else previous.second_moment
    m = beta1 * m0 + (1 - beta1) * gradient
    v = beta2 * v0 + (1 - beta2) * gradient * gradient
    m_hat, v_hat = m / (1 - beta1 ** step), v / (1 - beta2 ** step)
    change = -learning_rate * m_hat / (np.sqrt(v_hat) + eps)
    return AdamStep(step, m, v, m_hat, v_hat, change, weight + change)
