"""Predict first on the Explain page: before a window's value shows, the student types it or
picks one of three (the right one and two likely mistakes); then the multiply-adds show."""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from cnn_core.explain.stepping import Step
from cnn_core.explain.svg import grid_svg
from cnn_core.teaching.step_answers import Checked, check_value, parse_value, value_choices
from ui.predict import enabled, keep, verdict

ANSWERED = "predict_window_answered"  # {cell's id: Checked}, this session's answers
MAX_REMEMBERED = 200  # answered cells remembered (oldest forgotten first)
QUESTION = "explain: the value of one output cell (window × kernel)"
PIXELS = (0.0, 1.0)


def _cell_id(step: Step, kernel: np.ndarray) -> str:
    """One question per window and kernel: a new kernel or input asks again."""
    digest = hashlib.sha256(np.ascontiguousarray(step.window, np.float64).tobytes() +
                            np.ascontiguousarray(kernel, np.float64).tobytes())
    return f"{step.row},{step.col}:{digest.hexdigest()[:16]}"


def _check(cell: str, step: Step, kernel: np.ndarray, choices: list[float]) -> None:
    typed = (st.session_state.get(f"predict_window_typed_{cell}") or "").strip()
    picked = st.session_state.get(f"predict_window_pick_{cell}")
    try:
        answer = parse_value(typed) if typed else picked
    except ValueError as exc:
        st.session_state[f"predict_window_refused_{cell}"] = str(exc)
        return
    if answer is None:
        st.session_state[f"predict_window_refused_{cell}"] = "pick a value or type one"
        return
    result = check_value(float(answer), step.window, kernel, step.value)
    answered: dict[str, Checked] = st.session_state.setdefault(ANSWERED, {})
    answered[cell] = result
    while len(answered) > MAX_REMEMBERED:
        answered.pop(next(iter(answered)))
    keep(QUESTION, result.answer, result.right, result.cause)


def ask_window_value(step: Step, kernel: np.ndarray, skip: bool = False) -> bool:
    """Whether the step's value may show: yes when predict-first is off, when ``skip``
    (Play is stepping through), or once this window has been answered (the verdict is
    drawn then). Otherwise draws the question, the window and the kernel, and says no."""
    if not enabled() or skip:
        return True
    cell = _cell_id(step, kernel)
    answered = st.session_state.get(ANSWERED, {})
    if cell in answered:
        result = answered[cell]
        verdict(result.right, f"You said {result.answer}. {result.message}")
        return True
    choices = value_choices(step.window, kernel, step.value,
                            seed=int(cell.split(":")[1], 16) % 2**32)
    with st.container(border=True, key="predict_window"):
        st.markdown(f"**Predict first:** output cell **(row {step.row}, column {step.col})**"
                    " is the sum of window × kernel, element by element. What is it?")
        a, b = st.columns(2)
        a.image(grid_svg(step.window, numbers=True, limits=PIXELS, cell_px=40),
                caption="The window (the input under the kernel)")
        b.image(grid_svg(kernel, numbers=True, diverging=True, cell_px=40),
                caption="The kernel's weights")
        with st.form(f"predict_window_form_{cell}", border=False):
            st.radio("Pick one", choices, index=None, horizontal=True,
                     format_func=lambda v: f"{v:.2f}", key=f"predict_window_pick_{cell}")
            st.text_input("…or type it", key=f"predict_window_typed_{cell}",
                          placeholder="e.g. 0.53", max_chars=24)
            st.form_submit_button("Check", on_click=_check, args=(cell, step, kernel, choices))
        if refused := st.session_state.pop(f"predict_window_refused_{cell}", None):
            st.warning(f"Not an answer: {refused}.")
    return False
