"""The design this session is editing, kept in ``st.session_state``: loaded from a preset, a
link, a run or an import; edited on the Design page (``cnn_core.design.editing``); read by
every page that trains or draws with it."""

from __future__ import annotations

import itertools
from typing import Any

import streamlit as st

from cnn_core.design.presets import DEFAULT_PRESET, PRESETS
from cnn_core.design.report import NetworkReport
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec, Layer

_uids = itertools.count(1)


def new_uid() -> int:
    """A fresh id for a layer: widget keys derive from it, so a new id means fresh widgets."""
    return next(_uids)


def _with_uids(spec: ArchitectureSpec) -> list[dict[str, Any]]:
    return [{"uid": new_uid(), "type": ly.type, "params": dict(ly.params)} for ly in spec.layers]


def load_design(spec: ArchitectureSpec, name: str) -> None:
    """Replace the session's design (every layer gets a fresh id, so widgets start fresh)."""
    st.session_state["design_layers"] = _with_uids(spec)
    st.session_state["design_input_shape"] = tuple(spec.input_shape)
    st.session_state["design_name"] = name


def design_layers() -> list[dict[str, Any]]:
    if "design_layers" not in st.session_state:
        load_design(PRESETS[DEFAULT_PRESET], DEFAULT_PRESET)
    return st.session_state["design_layers"]


def current_spec() -> ArchitectureSpec:
    layers = design_layers()
    return ArchitectureSpec(tuple(Layer(d["type"], dict(d["params"])) for d in layers),
                            st.session_state["design_input_shape"])


def design_name() -> str:
    design_layers()
    return st.session_state["design_name"]


def current_report() -> NetworkReport:
    return analyze(current_spec())


def mark_design_edited() -> None:
    name = st.session_state.get("design_name", "Custom")
    if not name.endswith("(edited)") and name != "Custom":
        st.session_state["design_name"] = f"{name} (edited)"
