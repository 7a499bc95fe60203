"""Predict first on the Train page: before a learning-rate change takes effect, "will the
loss go up or down over the next 50 steps?"; the curve answers (the mean loss of the 50
steps before the change against the 50 after it, ``step_answers.loss_trend``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from cnn_core.teaching.step_answers import LOSS_WINDOW, check_direction, loss_trend
from ui.predict import enabled, keep, verdict

ASKING = "predict_lr_asking"  # the job whose change waits for a guess
PENDING = "predict_lr_pending"  # a guess waiting for its 50 steps
LAST = "predict_lr_last"  # the last verdict: (right, message)


@dataclass(frozen=True)
class Pending:
    job_id: int
    old_rate: float
    new_rate: float
    guess: str  # "up" or "down"
    asked_at_step: int  # the change is the first one at or after this step

    @property
    def question(self) -> str:
        return (f"train: learning rate {self.old_rate:g} → {self.new_rate:g}: loss up or "
                f"down over the next {LOSS_WINDOW} steps?")


def before_apply(apply: Callable[[Any], None]) -> Callable[[Any], None]:
    """The Apply button's callback: ``apply`` itself, or with predict-first on, one that
    asks first (``question`` draws the question; a guess applies the change)."""
    if not enabled():
        return apply

    def ask(job: Any) -> None:
        st.session_state[ASKING] = id(job)

    return ask


def _guess(job: Any, rate_key: str, guess: str, apply: Callable[[Any], None]) -> None:
    st.session_state.pop(ASKING, None)
    pending = Pending(id(job), job.learning_rate, float(st.session_state[rate_key]), guess,
                      job.snapshot().step)
    apply(job)
    if job.learning_rate == pending.new_rate != pending.old_rate:  # the change was taken
        st.session_state[PENDING] = pending
        st.session_state.pop(LAST, None)


def question(job: Any, rate_key: str, apply: Callable[[Any], None]) -> None:
    """The question, while the student has pressed Apply and not yet guessed."""
    if st.session_state.get(ASKING) != id(job) or not enabled():
        return
    with st.container(border=True, key="predict_lr"):
        st.markdown(f"**Predict first:** the learning rate goes from "
                    f"{job.learning_rate:g} to {st.session_state[rate_key]:g}. Over the "
                    f"next {LOSS_WINDOW} steps, will the loss go up or down?")
        c = st.columns([1, 1, 3])
        c[0].button("Up", icon=":material/trending_up:", width="stretch", key="predict_up",
                    on_click=_guess, args=(job, rate_key, "up", apply))
        c[1].button("Down", icon=":material/trending_down:", width="stretch",
                    key="predict_down", on_click=_guess, args=(job, rate_key, "down", apply))


def answer(job: Any, snap: Any) -> None:
    """Under the curves (also from the live panel): waiting for the 50 steps, then the
    curve's verdict, kept once."""
    pending: Pending | None = st.session_state.get(PENDING)
    if pending is not None and job is not None and pending.job_id == id(job):
        change = next((c for c in snap.lr_changes if c.step >= pending.asked_at_step
                       and c.learning_rate == pending.new_rate), None)
        trend = loss_trend(snap.steps, change.step) if change is not None else None
        if trend is not None:
            result = check_direction(pending.guess, trend)
            keep(pending.question, result.answer, result.right, result.cause)
            st.session_state[LAST] = (result.right, f"You said {pending.guess}. "
                                                    f"{result.message}")
            st.session_state.pop(PENDING)
        elif not snap.active:
            st.session_state.pop(PENDING)
            st.session_state[LAST] = (None, f"The training ended before {LOSS_WINDOW} "
                                            "steps had passed after the change: no verdict.")
        else:
            st.info(f"You said the loss will go **{pending.guess}**: waiting for "
                    f"{LOSS_WINDOW} steps at the new rate…", icon=":material/hourglass_top:")
            return
    if (last := st.session_state.get(LAST)) and enabled():
        if last[0] is None:  # no answer to judge
            st.info(last[1])
        else:
            verdict(*last)
