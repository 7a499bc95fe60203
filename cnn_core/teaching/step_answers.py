"""The other three predictions: a window's value (Explain), the net's digit (Draw) and where
the loss goes after a learning-rate change (Train); each checked, a wrong one given a cause.

Plain numbers in, a ``Checked`` out; the pages draw the questions (``ui/predict``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

MAX_VALUE_CHARS = 24  # "-12.3456" and then some: a typed value is short
LOSS_WINDOW = 50  # steps before and after a learning-rate change that are compared

# Causes a wrong window value is grouped under on the board.
FORGOT_WEIGHTS = "forgot the weights"
ONLY_CENTRE = "only the centre"
DROPPED_SIGNS = "dropped the minus signs"
VALUE_SLIP = "arithmetic slip"
WRONG_WAY = "wrong direction"


@dataclass(frozen=True)
class Checked:
    """An answer as the board keeps it: the text, right or not, the cause and a sentence."""

    answer: str
    right: bool
    cause: str
    message: str


# ---- Explain: the next window's value -------------------------------------------------------
def close_enough(answer: float, value: float) -> bool:
    """A typed value counts when it is within 2% (or 0.05): the grid shows two decimals."""
    return abs(answer - value) <= max(0.05, 0.02 * abs(value))


def window_mistakes(window: np.ndarray, kernel: np.ndarray) -> dict[str, float]:
    """What a window's sum comes to under each likely mistake."""
    centre = tuple(s // 2 for s in kernel.shape)
    return {FORGOT_WEIGHTS: float(window.sum()),
            ONLY_CENTRE: float(window[centre] * kernel[centre]),
            DROPPED_SIGNS: float((window * np.abs(kernel)).sum())}


def value_choices(window: np.ndarray, kernel: np.ndarray, value: float,
                  seed: int = 0) -> list[float]:
    """Three values to pick from: the right one and two likely mistakes, in a fixed shuffle
    (by ``seed``), rounded as shown; distinct however degenerate the window."""
    shown = [round(value, 2)]
    candidates = [*window_mistakes(window, kernel).values(), value + 1.0, -value - 1.0,
                  value - 1.0]
    for candidate in candidates:
        rounded = round(candidate, 2)
        if all(not close_enough(rounded, c) and not close_enough(c, rounded) for c in shown):
            shown.append(rounded)
        if len(shown) == 3:
            break
    order = np.random.default_rng(seed).permutation(3)
    return [shown[i] for i in order]


def parse_value(text: str) -> float:
    """A typed number ("0.53", "-1,2", "  3 "); ``ValueError`` with one sentence otherwise.
    Bounded before it is read; ``float`` is linear in what is left."""
    if len(text) > MAX_VALUE_CHARS:
        raise ValueError(f"a value is a short number, not {len(text):,} characters")
    cleaned = text.strip().replace(",", ".").replace("−", "-")
    try:
        number = float(cleaned)
    except ValueError:
        raise ValueError(f"{text.strip()[:MAX_VALUE_CHARS]!r} is not a number: type e.g. "
                         "0.53 or -1.2") from None
    if not math.isfinite(number):
        raise ValueError("type a finite number, e.g. 0.53")
    return number


def check_value(answer: float, window: np.ndarray, kernel: np.ndarray,
                value: float) -> Checked:
    """A window's value as predicted, against the real sum of products."""
    text = f"{answer:.2f}"
    if close_enough(answer, value):
        return Checked(text, True, "", f"Right: the sum of the {kernel.size} products is "
                                       f"{value:.4f}.")
    for cause, mistaken in window_mistakes(window, kernel).items():
        if close_enough(answer, mistaken) and not close_enough(mistaken, value):
            why = {FORGOT_WEIGHTS: "you added up the pixels; each is multiplied by its "
                                   "weight first",
                   ONLY_CENTRE: "you took the centre pixel times the centre weight; every "
                                "weight of the kernel counts",
                   DROPPED_SIGNS: "you treated every weight as positive; a negative weight "
                                  "subtracts"}[cause]
            return Checked(text, False, cause, f"Not quite: {why}. It is {value:.4f}.")
    return Checked(text, False, VALUE_SLIP, f"Not quite: it is {value:.4f}; check the "
                                            "products below one by one.")


# ---- Draw: which digit the net will say ----------------------------------------------------
def check_digit(picked: int, said: int, names: Sequence[str]) -> Checked:
    """The digit a student expected the net to say, against what it said."""
    if picked == said:
        return Checked(names[picked], True, "", f"Right: the net says {names[said]}.")
    return Checked(names[picked], False, f"the net said {names[said]}",
                   f"Not this time: you expected {names[picked]}, the net says "
                   f"{names[said]}. See why below.")


@dataclass(frozen=True)
class Flip:
    """A drawing edited until the net changed its mind: how many pixels changed, and how
    many of them the attribution had marked as pushing towards the old answer."""

    before: int
    after: int
    changed: int
    marked_changed: int
    changed_mask: np.ndarray  # (28, 28) bool

    @property
    def marked_share(self) -> float:
        return self.marked_changed / self.changed if self.changed else 0.0


MARKED_TOP = 0.1  # the attribution "marked" a pixel: among the 10% pushing hardest towards
CHANGED_BY = 0.2  # a pixel changed when its brightness (0 to 1) moved by more than this


def flip(before_image: np.ndarray, after_image: np.ndarray, before: int, after: int,
         heatmap: np.ndarray | None) -> Flip:
    """Compare the drawing the challenge started from with the one that flipped the answer."""
    changed = np.abs(after_image.astype(np.float64) - before_image) > CHANGED_BY
    marked = marked_pixels(heatmap) if heatmap is not None else np.zeros_like(changed)
    return Flip(before, after, int(changed.sum()), int((changed & marked).sum()), changed)


def marked_pixels(heatmap: np.ndarray) -> np.ndarray:
    """The pixels an attribution marked as pushing towards its digit: the top tenth of the
    positive ones (all of them for a non-negative map, such as saliency)."""
    positive = heatmap[heatmap > 0]
    if positive.size == 0:
        return np.zeros(heatmap.shape, dtype=bool)
    cut = np.quantile(positive, 1 - MARKED_TOP)
    return heatmap >= max(cut, np.finfo(np.float64).tiny)


# ---- Train: will the loss go up or down? -----------------------------------------------------
class LossPoint(Protocol):
    step: int
    loss: float


@dataclass(frozen=True)
class Trend:
    """The mean loss over the steps before a change and the steps after it."""

    before: float
    after: float
    points_before: int
    points_after: int
    steps_before: int = LOSS_WINDOW  # fewer when the change came within the first steps

    @property
    def direction(self) -> str:
        return "up" if self.after > self.before else "down"


def loss_trend(points: Sequence[LossPoint], change_step: int,
               window: int = LOSS_WINDOW) -> Trend | None:
    """The mean loss of the ``window`` steps before ``change_step`` and of the ``window``
    from it on, or None until a point at or past ``change_step + window - 1`` is in (the
    curve may be thinned: every point of each range counts)."""
    if not points or points[-1].step < change_step + window - 1:
        return None
    before = [p.loss for p in points if change_step - window <= p.step < change_step]
    after = [p.loss for p in points if change_step <= p.step < change_step + window]
    if not before or not after:
        return None
    return Trend(float(np.mean(before)), float(np.mean(after)), len(before), len(after),
                 min(window, change_step))


def check_direction(guess: str, trend: Trend, window: int = LOSS_WINDOW) -> Checked:
    """'up' or 'down' against the curve."""
    said = (f"the mean loss went from {trend.before:.3f} ({trend.steps_before} steps before) to "
            f"{trend.after:.3f} ({window} steps after)")
    if guess == trend.direction:
        return Checked(guess, True, "", f"Right: {said}.")
    return Checked(guess, False, WRONG_WAY, f"Not this time: {said}.")
