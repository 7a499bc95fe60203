"""A confusion matrix you can open: which images fall in each cell (true class, predicted
class), the cells worth opening, and each image's most likely classes.

The matrix counts pairs of labels and predictions; a cell's images are the indices where
that pair occurs, in order, so a cell shows exactly as many images as it counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PAGE_SIZE = 24  # thumbnails per page of a cell


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix and how many images it holds."""

    true: int
    predicted: int
    count: int

    @property
    def correct(self) -> bool:
        return self.true == self.predicted

    def describe(self, names: Sequence[str]) -> str:
        """``true 4 → said 9: 12 images``."""
        noun = "image" if self.count == 1 else "images"
        return f"true {names[self.true]} → said {names[self.predicted]}: {self.count:,} {noun}"


def _flat(values: object) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).reshape(-1)


def counts(labels: object, predictions: object, classes: int) -> np.ndarray:
    """The (classes, classes) matrix: row the true class, column the predicted one."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (_flat(labels), _flat(predictions)), 1)
    return matrix


def cell_indices(labels: object, predictions: object, true: int, predicted: int) -> np.ndarray:
    """The indices of the images whose label is ``true`` and prediction ``predicted``."""
    labels, predictions = _flat(labels), _flat(predictions)
    if labels.shape != predictions.shape:
        raise ValueError(f"{labels.size} labels but {predictions.size} predictions")
    return np.flatnonzero((labels == true) & (predictions == predicted))


def cells(matrix: Sequence[Sequence[int]]) -> list[Cell]:
    """The cells that hold an image: the mistakes first, most images first, then the
    correct ones (the diagonal), so the first cells offered are the ones worth opening."""
    grid = np.asarray(matrix, dtype=np.int64)
    found = [Cell(t, p, int(grid[t, p])) for t, p in zip(*np.nonzero(grid))]
    return sorted(found, key=lambda c: (c.correct, -c.count, c.true, c.predicted))


def pages(count: int, size: int = PAGE_SIZE) -> int:
    """How many pages ``count`` thumbnails fill (one at least, even when empty)."""
    return max(1, -(-count // size))


def page_of(indices: np.ndarray, page: int, size: int = PAGE_SIZE) -> np.ndarray:
    """The ``page``-th (from 0) slice of ``size`` indices; out-of-range pages are clamped."""
    page = min(max(page, 0), pages(len(indices), size) - 1)
    return indices[page * size:(page + 1) * size]


def top_classes(probabilities: Sequence[float], names: Sequence[str], shown: int = 3) -> str:
    """``9: 71% · 4: 25% · 7: 2%``: an image's most likely classes, most likely first."""
    values = np.asarray(probabilities, dtype=np.float64)
    order = np.argsort(-values, kind="stable")[:shown]
    return " · ".join(f"{names[i]}: {values[i]:.0%}" for i in order)
