"""One drawing of the class set: what it keeps, the checks it must pass to be added (a label,
ink, more than a speck) and its fixed side of the held-out split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from cnn_core.storage.owners import owns

CLASSES = 10  # the class draws digits
MAX_DRAWINGS = 20_000  # a class set stays a class set: a flood is refused
MIN_SPAN_PX = 40  # ink spanning less than this (of the 280-pixel canvas) is a speck
MIN_INK_FRACTION = 0.003  # less ink than this share of the canvas is a speck too
THIN_BELOW = 10  # fewer drawings of a digit than this: training warns
HOLD_OUT_EVERY = 5  # one drawing in five is held out for testing (by its id: fixed)
INK = 255 * 0.1  # a pixel brighter than this counts as ink (as in preprocess)
EMPTY = "the canvas is empty: draw a digit first"


class Refused(ValueError):
    """A drawing or an import was refused; the message says why, and nothing was stored."""


@dataclass(frozen=True)
class Drawing:
    id: int
    label: int
    image: np.ndarray  # (28, 28) uint8, as the network sees it
    created_at: float
    nickname: str
    owner_hash: str | None
    has_canvas: bool

    def owned_by(self, owner_token: str | None) -> bool:
        return owns(self.owner_hash, owner_token)

    @property
    def held_out(self) -> bool:
        return is_held_out(self.id)


def is_held_out(drawing_id: int) -> bool:
    """The fixed split: a drawing keeps its side however many are added or removed."""
    return int(hashlib.sha256(str(drawing_id).encode()).hexdigest(), 16) % HOLD_OUT_EVERY == 0


def drawing_refusal(canvas_rgba: np.ndarray | None) -> str | None:
    """Why a canvas cannot be added (empty, or a speck), or None when it can."""
    if canvas_rgba is None:
        return EMPTY
    gray = canvas_rgba[..., :3].astype(np.float32).mean(axis=2)
    if canvas_rgba.shape[2] == 4:
        gray = gray * canvas_rgba[..., 3] / 255.0
    ink = gray > INK
    if not ink.any():
        return EMPTY
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    span = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
    if span < MIN_SPAN_PX or ink.mean() < MIN_INK_FRACTION:
        return (f"that is a speck ({span} pixels across), not a digit: draw it at least "
                f"{MIN_SPAN_PX} pixels tall")
    return None


def label_refusal(label: object) -> str | None:
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or \
            not 0 <= int(label) < CLASSES:
        return "pick the digit it shows (0 to 9) before adding it"
    return None


def thin_digits(counts: list[int], below: int = THIN_BELOW) -> list[int]:
    """The digits with fewer than ``below`` drawings."""
    return [d for d, n in enumerate(counts) if n < below]


def stacked(drawings: list[Drawing]) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of ``drawings``, in their order."""
    images = np.stack([d.image for d in drawings]) if drawings else \
        np.zeros((0, 28, 28), np.uint8)
    return images, np.array([d.label for d in drawings], dtype=np.int64)
