"""The design this session is editing, kept in ``st.session_state``: loaded from a preset, a
link, a run or an import; edited on the Design page (``cnn_core.design.editing``); read by
every page that trains or draws with it."""

from __future__ import annotations

import itertools

import streamlit as st

from cnn_core.design.editing import Entry, edited_name, to_spec, with_uids
from cnn_core.design.presets import DEFAULT_PRESET, PRESETS
from cnn_core.design.report import NetworkReport
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec

_uids = itertools.count(1)


def new_uid() -> int:
    """A fresh id for a layer: widget keys derive from it, so a new id means fresh widgets."""
    return next(_uids)


def load_design(spec: ArchitectureSpec, name: str) -> None:
    """Replace the session's design (every layer gets a fresh id, so widgets start fresh)."""
    st.session_state["design_layers"] = with_uids(spec, new_uid)
    st.session_state["design_input_shape"] = tuple(spec.input_shape)
    st.session_state["design_name"] = name


def design_layers() -> list[Entry]:
    if "design_layers" not in st.session_state:
        load_design(PRESETS[DEFAULT_PRESET], DEFAULT_PRESET)
    return st.session_state["design_layers"]


def current_spec() -> ArchitectureSpec:
    return to_spec(design_layers(), st.session_state["design_input_shape"])


def design_name() -> str:
    design_layers()
    return st.session_state["design_name"]


def current_report() -> NetworkReport:
    return analyze(current_spec())


def mark_design_edited() -> None:
    st.session_state["design_name"] = edited_name(st.session_state.get("design_name", "Custom"))
