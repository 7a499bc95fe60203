"""The Train page's part in sharing identical trainings: "Train it anyway", the one-line note
for a student given another's training, and "Skip to the end" for a replayed run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from cnn_core.training.runner import Training

ANYWAY_KEY = "train_anyway"


def train_anyway() -> bool:
    """Whether this session asked to train even when an identical training exists."""
    return bool(st.session_state.get(ANYWAY_KEY, False))


def sharing_row(job: Training | None, active: bool) -> None:
    """Below the Train button: the note when this training is another's, else the choice."""
    note = getattr(job, "note", None) if job is not None else None
    if note:
        c = st.columns([9, 3], vertical_alignment="center")
        c[0].info(note, icon=":material/content_copy:")
        skip = getattr(job, "skip_to_end", None)
        if skip is not None and active:
            c[1].button("Skip to the end", icon=":material/skip_next:", width="stretch",
                        on_click=skip, key="train_skip_to_end")
    if not active:
        st.checkbox("Train it anyway", key=ANYWAY_KEY, persist_state="session",
                    help="The same design, settings, seed and data train to the same net, so "
                         "an identical training that ran or runs on this server is shared "
                         "instead of trained again. Tick this to train your own all the same.")


def shared(job: Training | None) -> bool:
    """A training this session was given (not one it may steer)."""
    return bool(getattr(job, "note", None)) if job is not None else False
