"""Stepping through a map's cells one at a time: a slider, a Play switch, and whatever the
caller draws for the cell, redrawn as a fragment. The Explain page's forward steps and its
backward steps (``ui.backward_view``) both use it."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

PLAY_EVERY_S = 0.6


def stepper(key: str, side: int, label: str, show: Callable[[int], None]) -> None:
    """Play, a slider over the ``side`` x ``side`` output cells (row by row, starting at the
    centre, where a digit has ink) and ``show(cell)`` below, as a fragment: a step reruns
    and redraws only these, not the whole page, whose other widgets a browser would
    otherwise draw again on every step. While Play is on, the fragment reruns every
    ``PLAY_EVERY_S``, one cell on each time."""
    if side == 1:  # one cell: nothing to step through (and a slider needs min < max)
        st.caption(f"{label}: the only cell")
        show(0)
        return
    total, centre = side * side, (side // 2) * side + side // 2
    # A map of another size (a new slider, which Streamlit would start at 0): its centre.
    if st.session_state.get(f"{key}.side") != side:
        st.session_state[f"{key}.side"], st.session_state[key] = side, centre
        st.session_state.pop(f"{key}.at", None)
    st.session_state.setdefault(key, centre)  # back on the page (a widget's state is let go)
    # Outside the fragment: toggling reruns the page, which starts or stops the timer.
    playing = st.toggle("▶ Play", key=f"{key}.play")
    if playing:
        st.session_state.setdefault(f"{key}.at", st.session_state[key])
    elif f"{key}.at" in st.session_state:  # stopped: the slider stays where Play was
        st.session_state[key] = st.session_state.pop(f"{key}.at") % total
    st.fragment(_step, run_every=PLAY_EVERY_S if playing else None)(key, total, label, show,
                                                                     playing)


def _step(key: str, total: int, label: str, show: Callable[[int], None],
          playing: bool) -> None:
    """The fragment's body. While playing, the cell is kept apart from the slider, and the
    slider only shows it (disabled): a slider a student had used could send its old value
    back with a tick and hold Play on one cell."""
    if playing:
        cell = (st.session_state[f"{key}.at"] + 1) % total
        st.session_state[f"{key}.at"] = st.session_state[f"{key}.shown"] = cell
        st.slider(label, 0, total - 1, key=f"{key}.shown", disabled=True,
                  help="output cells, row by row; stop Play to choose one")
    else:
        cell = st.slider(label, 0, total - 1, key=key, help="output cells, row by row")
    show(cell)
