"""The teacher's board: the class's predictions per question, live, behind the teacher key."""

from __future__ import annotations

from ui.page_guard import require_frame

require_frame()  # first (see page_guard)

import streamlit as st

from cnn_core.teaching.predictions import Board, NotAllowed, PredictionsError, QuestionSummary
from ui.app_state import teacher_key
from ui.predict import prediction_store

BOARD = "teacher_board"  # the unlocked board (never the key) for this session
REFRESH_S = 2.0
KEY_INPUT, CLEAR_KEY_INPUT = "board_key", "board_clear_key"


def unlock() -> None:
    key = st.session_state.pop(KEY_INPUT, None) or ""  # never kept past this try
    store, problem = prediction_store()
    if store is None:
        st.session_state["board_notice"] = ("error", problem)
        return
    try:
        st.session_state[BOARD] = store.open_board(teacher_key(), key)
    except NotAllowed as exc:
        st.session_state["board_notice"] = ("error", str(exc))


def clear() -> None:
    key = st.session_state.pop(CLEAR_KEY_INPUT, None) or ""
    store, problem = prediction_store()
    try:
        if store is None:
            raise PredictionsError(problem)
        gone = store.clear(teacher_key(), key)
    except (NotAllowed, PredictionsError) as exc:
        st.session_state["board_notice"] = ("error", str(exc))
        return
    st.session_state["board_notice"] = ("success", f"Cleared {gone:,} answers: the board is "
                                                   "ready for the next class.")


def show_question(n: int, summary: QuestionSummary) -> None:
    with st.container(border=True, key=f"board_question_{n}"):
        st.markdown(f"### {summary.question}")
        c = st.columns([1, 1, 3])
        c[0].metric("Answered", f"{summary.answered:,}")
        c[1].metric("Right", f"{summary.share_right:.0%}")
        c[2].progress(summary.share_right, text=f"{summary.right:,} right, "
                                                f"{summary.answered - summary.right:,} wrong")
        for group in summary.wrong_by_cause:
            answers = ", ".join(f"**{a}** ×{n}" for a, n in group.answers)
            st.markdown(f"#### {group.cause}: {group.count:,}\n\n{answers}")


@st.fragment(run_every=REFRESH_S)
def live_board(board: Board) -> None:
    try:
        questions = board.questions()
    except PredictionsError as exc:
        st.error(str(exc))
        return
    if not questions:
        st.info("No answers yet. Turn **Predict first** on (a switch on the Design, Train, "
                "Draw and Explain pages), and the class's answers appear here as they come.")
    for n, summary in enumerate(questions):
        show_question(n, summary)


st.title("Teacher's board")
st.caption("What the class predicted, per question: how many answered, the share right, and "
           "the commonest wrong answers grouped by their cause. It updates by itself.")
if notice := st.session_state.pop("board_notice", None):
    getattr(st, notice[0])(notice[1])
board: Board | None = st.session_state.get(BOARD)
if board is None:
    st.text_input("Teacher key", type="password", key=KEY_INPUT)
    st.button("Show the board", icon=":material/co_present:", on_click=unlock)
    st.stop()
live_board(board)
with st.expander("Export or clear the board", icon=":material/school:"):
    try:
        st.download_button("⬇ Download every answer (CSV)", board.csv(),
                           file_name="predictions.csv", mime="text/csv")
    except PredictionsError as exc:
        st.error(str(exc))
    st.text_input("Teacher key, to clear", type="password", key=CLEAR_KEY_INPUT)
    st.button("Clear the board for the next class", key="board_clear", on_click=clear,
              type="primary")
