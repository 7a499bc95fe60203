"""Predict first: the switch each page shows, and where every answer goes.

``enabled()`` is the one place that says whether this session predicts first: session state,
set by the switch (``switch``) or a link with ``predict=1`` (``restore_from_url``, called once
by ``url_sync.sync_url``, which keeps the flag in the URL while it is on: ``url_params``).
A lesson turns it on with ``set_enabled(True)``. ``keep`` stores one answer for the board;
the pages' questions are in ``design``, ``explain``, ``draw`` and ``train`` beside this.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from cnn_core.teaching.predictions import Answer, Predictions, PredictionsError, Refused
from ui.lesson import shows
from ui.ownership import owner_token

PREDICT_PARAM = "predict"  # ?predict=1: a link that starts with predict-first on
STATE = "predict_first"
NOT_KEPT = "predict_not_kept"  # why the last answer did not reach the board, shown once


def enabled() -> bool:
    """Whether this session predicts before it sees (off unless switched or linked on)."""
    return bool(st.session_state.get(STATE, False))


def set_enabled(on: bool) -> None:
    st.session_state[STATE] = bool(on)


def restore_from_url(params: Mapping[str, str]) -> None:
    """Once per session, from the URL it opened with."""
    if params.get(PREDICT_PARAM) == "1":
        set_enabled(True)


def url_params() -> dict[str, str]:
    """What the URL carries for predict-first: the flag while it is on, nothing otherwise."""
    return {PREDICT_PARAM: "1"} if enabled() else {}


def _flip(key: str) -> None:
    set_enabled(st.session_state[key])


def switch(page: str) -> bool:
    """The "Predict first" toggle (one per page, all sharing one setting); whether it is on."""
    key = f"predict_switch_{page}"
    if not shows("switch"):  # a lesson that keeps predict-first on
        return enabled()
    st.session_state[key] = enabled()  # the other pages' toggles may have moved it
    st.toggle("Predict first", key=key, on_change=_flip, args=(key,),
              help="Guess before the app shows the answer; your answers (not your name "
                   "unless you gave a nickname) go to the teacher's board")
    return enabled()


@st.cache_resource(show_spinner=False)
def prediction_store() -> tuple[Predictions | None, str | None]:
    """The class's predictions, kept beside the runs, or None and why not."""
    try:
        return Predictions(), None
    except PredictionsError as exc:
        return None, f"answers are not kept: {exc}"


def keep(question: str, answer: str, right: bool, cause: str = "") -> None:
    """Store one answer for the board; a problem is told once (``not_kept_note``), never
    raised: the student's own verdict does not depend on the board."""
    store, problem = prediction_store()
    if store is not None:
        try:
            store.add(Answer(question, answer, right, cause,
                             st.session_state.get("nickname", "")), owner_token())
            return
        except (Refused, PredictionsError) as exc:
            problem = f"not on the teacher's board: {exc}"
    st.session_state[NOT_KEPT] = problem


def not_kept_note() -> None:
    if problem := st.session_state.pop(NOT_KEPT, None):
        st.caption(f":material/cloud_off: Your answer is {problem}.")


def verdict(right: bool, message: str) -> None:
    """A checked answer, as every page shows it."""
    if right:
        st.success(message, icon=":material/check_circle:")
    else:
        st.error(message, icon=":material/lightbulb:")
    not_kept_note()
