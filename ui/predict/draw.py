"""Predict first on the Draw page: before the probabilities, the student picks the digit the
net will say; then the verdict and "why". And a challenge: edit the drawing until the net
changes its mind, then see which of the changed pixels the attribution had marked."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import streamlit as st

from cnn_core.explain.attribution import Attribution
from cnn_core.explain.learning_view import enlarge
from cnn_core.teaching.step_answers import Checked, check_digit, flip, marked_pixels
from ui.predict import enabled, keep, verdict

ANSWERED = "predict_digit_answered"  # {drawing's id: Checked}
CHALLENGE = "predict_challenge"  # the drawing the challenge started from
MAX_REMEMBERED = 50
QUESTION = "draw: which digit will the net say?"
PICK_KEY = "predict_digit_pick"
SCALE = 8  # 28 px -> 224 px


@dataclass(frozen=True)
class Challenge:
    image: np.ndarray  # (28, 28) in [0, 1], as the net saw it
    digit: int
    heatmap: np.ndarray | None  # the attribution towards ``digit`` when it started


def _drawing_id(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image, np.float32).tobytes()).hexdigest()[:16]


def _pick(drawing: str, said: int, names: Sequence[str]) -> None:
    picked = st.session_state.get(f"{PICK_KEY}_{drawing}")
    if picked is None:
        return
    result = check_digit(int(picked), said, names)
    answered: dict[str, Checked] = st.session_state.setdefault(ANSWERED, {})
    answered[drawing] = result
    while len(answered) > MAX_REMEMBERED:
        answered.pop(next(iter(answered)))
    keep(QUESTION, result.answer, result.right, result.cause)


def ask_digit(image: np.ndarray, said: int, names: Sequence[str]) -> bool:
    """Whether the verdict may show: yes when predict-first is off, during the challenge, or
    once this drawing has been answered (the verdict is drawn then); otherwise draws the
    question and says no."""
    if not enabled() or st.session_state.get(CHALLENGE) is not None:
        return True
    drawing = _drawing_id(image)
    answered = st.session_state.get(ANSWERED, {})
    if drawing in answered:
        result = answered[drawing]
        verdict(result.right, result.message)
        return True
    with st.container(border=True, key="predict_digit"):
        st.markdown("**Predict first:** which digit will the net say?")
        st.pills("The net will say", range(len(names)), format_func=lambda d: names[d],
                 key=f"{PICK_KEY}_{drawing}", on_change=_pick, args=(drawing, said, names),
                 label_visibility="collapsed")
    return False


def _start(image: np.ndarray, digit: int, heatmap: np.ndarray | None) -> None:
    st.session_state[CHALLENGE] = Challenge(image.copy(), digit, heatmap)


def _stop() -> None:
    st.session_state.pop(CHALLENGE, None)


def challenge(image: np.ndarray, said: int, attribution: Attribution | None) -> None:
    """The "make it change its mind" challenge, under the "why" panel."""
    if not enabled():
        return
    heatmap = (attribution.heatmap if attribution is not None and attribution.target == said
               else None)
    started: Challenge | None = st.session_state.get(CHALLENGE)
    st.subheader("Challenge: make it change its mind")
    if started is None:
        st.caption(f"Edit your drawing (draw over it, or undo strokes) until the net no "
                   f"longer says {said}. Then see whether you changed the pixels the heatmap "
                   "above had marked.")
        st.button("Start the challenge", icon=":material/flag:", on_click=_start,
                  args=(image, said, heatmap))
        return
    if said == started.digit:
        st.info(f"It still says {started.digit}: keep editing the drawing.",
                icon=":material/edit:")
    else:
        result = flip(started.image, image, started.digit, said, started.heatmap)
        marked = (f"{result.marked_changed} of them ({result.marked_share:.0%}) were among "
                  f"the pixels the heatmap had marked as pushing towards {started.digit}"
                  if started.heatmap is not None else "no heatmap was shown when you started")
        st.success(f"It changed its mind: {started.digit} → {said}. You changed "
                   f"{result.changed} pixels; {marked}.", icon=":material/celebration:")
        left, right = st.columns(2)
        if started.heatmap is not None:
            left.image(enlarge(_mask_over(started.image, marked_pixels(started.heatmap)),
                               SCALE), caption=f"Marked for {started.digit} (red)")
        right.image(enlarge(_mask_over(image, result.changed_mask), SCALE),
                    caption="What you changed (red)")
    st.button("End the challenge", icon=":material/close:", on_click=_stop)


def _mask_over(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The digit in grey with ``mask``'s pixels in red, as (28, 28, 3) floats in [0, 1]."""
    grey = np.clip(image, 0, 1) * 0.6
    rgb = np.stack([grey, grey, grey], axis=-1)
    rgb[mask] = (1.0, 0.15, 0.15)
    return rgb
