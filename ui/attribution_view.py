"""The "why this answer?" panel the Draw and Train pages share: a method choice, a digit
picker and the attribution heatmap over the digit (the maths is in ``cnn_core.attribution``)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from torch import nn

from cnn_core.attribution import BASELINE_NOTE, METHODS, Attribution, Method, attribute

ANSWER = "answer"  # the picker's first option: whatever digit the network answered
# Zero is see-through, so the digit shows under the colours.
SIGNED_SCALE = [[0.0, "rgba(33, 102, 172, 0.95)"], [0.5, "rgba(255, 255, 255, 0)"],
                [1.0, "rgba(178, 24, 43, 0.95)"]]
MAGNITUDE_SCALE = [[0.0, "rgba(255, 140, 0, 0)"], [1.0, "rgba(255, 140, 0, 0.95)"]]


def attribution_figure(image: np.ndarray, result: Attribution, height: int = 300) -> go.Figure:
    """The 28x28 digit in grey with the heatmap over it (red for, blue against)."""
    heat = result.heatmap if result.heatmap is not None else np.zeros_like(image)
    limit = float(np.abs(heat).max()) or 1.0  # a zero map stays zero, never NaN
    fig = go.Figure(go.Heatmap(z=image, colorscale="gray", zmin=0, zmax=1, showscale=False,
                               hoverinfo="skip"))
    fig.add_trace(go.Heatmap(
        z=heat, colorscale=SIGNED_SCALE if result.signed else MAGNITUDE_SCALE,
        zmin=-limit if result.signed else 0, zmax=limit, showscale=False,
        hovertemplate="row %{y}, column %{x}: %{z:.3f}<extra></extra>"))
    fig.update_layout(height=height, margin={"l": 0, "r": 0, "t": 0, "b": 0})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    return fig


def why_panel(model: nn.Module, image: np.ndarray, answer: int, key: str,
              true_label: int | None = None) -> Attribution:
    """Method and digit pickers, the heatmap and one line of figures. ``image`` is the
    28x28 input in [0, 1]; ``answer`` the digit the network gave."""
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
    result = attribute(model, image, target, method)
    with right:
        if result.heatmap is None:
            st.info(result.message)
            return result
        st.plotly_chart(attribution_figure(image, result), width="stretch",
                        config={"displayModeBar": False}, key=f"{key}_heatmap")
    if result.signed:
        st.caption(f"Score for {target}: {result.score:.2f}, for a blank canvas "
                   f"{result.baseline_score:.2f}; the colours add up to the difference "
                   f"within {abs(result.convergence_delta):.3f}. {BASELINE_NOTE}")
    else:
        st.caption(f"Score for {target}: {result.score:.2f}. Orange: where a small change "
                   "would move that score most.")
    return result
