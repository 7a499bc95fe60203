"""The "why this answer?" panel the Draw and Train pages share: a method choice, a digit
picker and the attribution heatmap over the digit (the maths is in
``cnn_core.explain.attribution``)."""

from __future__ import annotations

import numpy as np
import streamlit as st
from torch import nn

from cnn_core.design.spec import ArchitectureSpec
from cnn_core.explain.attribution import BASELINE_NOTE, METHODS, Attribution, Method, overlay
from cnn_core.explain.learning_view import enlarge
from cnn_core.passes import explain
from cnn_core.training.admission import NotAdmitted, Way

ANSWER = "answer"  # the picker's first option: whatever digit the network answered
OVERLAY_SCALE = 10  # 28 px -> 280 px, each pixel a square block


def why_panel(model: nn.Module, spec: ArchitectureSpec, image: np.ndarray, answer: int,
              key: str, way: Way, true_label: int | None = None) -> Attribution | None:
    """Method and digit pickers, the heatmap and one line of figures. ``image`` is the
    28x28 input in [0, 1]; ``answer`` the digit the network gave. None when the server
    refused the pass (the reason is shown)."""
    left, right = st.columns([2, 3], gap="medium")
    with left:
        method: Method = st.radio(
            "Method", list(METHODS), key=f"{key}_method", format_func=lambda m: METHODS[m][0],
            captions=[sentence for _, sentence in METHODS.values()])
        options = [ANSWER, *range(10)]
        target_choice = st.selectbox(
            "Explain the score of", options, key=f"{key}_target",
            format_func=lambda d: f"its answer, {answer}" if d == ANSWER else (
                f"{d} (the true digit)" if d == true_label else f"{d}: why not a {d}?"))
    target = answer if target_choice == ANSWER else int(target_choice)
    try:
        result = explain(model, spec, image, target, method, way)
    except NotAdmitted as exc:
        right.error(f"Not explained: {exc}.", icon=":material/block:")
        return None
    with right:
        if result.heatmap is None:
            st.info(result.message)
            return result
        # An image, not a plotly heatmap: redrawn on every drawing, it cost the browser more.
        with st.container(key=f"{key}_heatmap"):
            st.image(enlarge(overlay(image, result), OVERLAY_SCALE), caption=(
                f"Red: pushed towards {target} · blue: pushed away" if result.signed
                else f"Orange: where the score of {target} is sensitive"))
    if result.signed:
        st.caption(f"Score for {target}: {result.score:.2f}, for a blank canvas "
                   f"{result.baseline_score:.2f}; the colours add up to the difference "
                   f"within {abs(result.convergence_delta):.3f}. {BASELINE_NOTE}")
    else:
        st.caption(f"Score for {target}: {result.score:.2f}. A small change to the "
                   "brightest orange pixels would move that score most.")
    return result
