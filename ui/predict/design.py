"""Predict first on the Design page: after a change to one layer, its output shape (and every
shape after it) stays hidden until the student has entered it; a wrong answer is told which
part is off and why, with the formula (``cnn_core.teaching.shape_answers``)."""

from __future__ import annotations

import dataclasses
import json

import streamlit as st

from cnn_core.design.formatting import format_settings, format_shape
from cnn_core.design.report import LayerReport, NetworkReport
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.teaching.shape_answers import AnswerError, check_answer
from ui.predict import enabled, keep, verdict

SEEN = "predict_design_seen"  # the layers as the student last saw their shapes
LAST = "predict_design_last"  # the last verdict: (right, message)
REFUSED = "predict_design_refused"  # why the last text was no shape
ANSWER_KEY = "predict_design_answer"


def _signature(spec: ArchitectureSpec) -> list[str]:
    """Each layer as the student set it (not as resolved: an upstream change alters a
    layer's in_channels, which is no change the student made to it)."""
    return [json.dumps(layer.to_json(), sort_keys=True, default=str) for layer in spec.layers]


def changed_layer(seen: list[str], now: list[str]) -> int | None:
    """The index of the one layer edited or inserted since ``seen``; None for anything else
    (nothing, a removal, a preset or import that changed many)."""
    if len(now) == len(seen):
        differ = [i for i, (a, b) in enumerate(zip(seen, now)) if a != b]
        return differ[0] if len(differ) == 1 else None
    if len(now) == len(seen) + 1:
        i = next((i for i, (a, b) in enumerate(zip(seen, now)) if a != b), len(seen))
        return i if now[:i] + now[i + 1:] == seen else None
    return None


def question(report: LayerReport) -> str:
    """The board's name for the question: the layer and what it gets."""
    settings = format_settings(report)
    return (f"design: {report.type}{f' ({settings})' if settings else ''} on "
            f"{format_shape(report.input_shape)}")


def _check(report: LayerReport, seen: list[str]) -> None:
    text = st.session_state.get(ANSWER_KEY, "")
    try:
        result = check_answer(report, text)
    except AnswerError as exc:
        st.session_state[REFUSED] = str(exc)  # not an answer: asked again, nothing kept
        return
    st.session_state[LAST] = (result.right, result.message)
    st.session_state[SEEN] = seen
    st.session_state[ANSWER_KEY] = ""
    keep(question(report), format_shape(result.answer), result.right, result.cause)


def hide_until_answered(spec: ArchitectureSpec, report: NetworkReport) -> NetworkReport:
    """Ask for the output shape of the layer just changed, and return the report with that
    layer's shape and every later one hidden until it is answered (the report itself when
    predict-first is off or nothing is asked). Draws the question, or the last verdict."""
    now = _signature(spec)
    if not enabled():
        st.session_state[SEEN] = now  # switched on later: only changes from then on count
        return report
    seen = st.session_state.setdefault(SEEN, now)
    index = changed_layer(seen, now) if seen != now else None
    layer = report.layers[index] if index is not None else None
    if layer is None or layer.output_shape is None or layer.input_shape is None:
        st.session_state[SEEN] = now  # nothing to ask (or the layer fails: its error shows)
        if last := st.session_state.get(LAST):
            verdict(*last)
        return report
    st.session_state.pop(LAST, None)
    with st.container(border=True, key="predict_design"):
        st.markdown(f"**Predict first:** layer {layer.index} ({layer.type}"
                    f"{', ' + format_settings(layer) if format_settings(layer) else ''}) gets "
                    f"`{format_shape(layer.input_shape)}`. What shape does it output?")
        with st.form("predict_design_form", border=False):
            st.text_input("Output shape (channels × height × width)", key=ANSWER_KEY,
                          placeholder="e.g. 16x24x24", max_chars=40)
            st.form_submit_button("Check", on_click=_check, args=(layer, now))
        if refused := st.session_state.pop(REFUSED, None):
            st.warning(f"Not an answer: {refused}.")
        st.caption("The table shows this layer's shape, and the ones after it, once you "
                   "have answered.")
    return _hidden_from(report, layer.index - 1)


def _hidden_from(report: NetworkReport, index: int) -> NetworkReport:
    hidden = [dataclasses.replace(r, output_shape=None, formulas=(), notes=())
              if i >= index else r for i, r in enumerate(report.layers)]
    return dataclasses.replace(report, layers=tuple(hidden), output_shape=None)
