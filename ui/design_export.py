"""The Design page's three panels for taking a design away and bringing one in: a link, its
JSON (with the import box) and the same network as PyTorch and Keras code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from cnn_core.design.codegen import keras_code, keras_refusals, pytorch_code
from cnn_core.design.parse import MAX_TEXT_CHARS, SpecFormatError, spec_from_json_text
from cnn_core.design.report import NetworkReport
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.design.url_state import design_link
from ui.design_state import design_name, load_design

# The three expanders draw their contents only while open: closed, their code blocks still
# cost each visit's browser about 0.1 s of highlighting, and the server the generated code.
LINK_OPEN, JSON_OPEN, CODE_OPEN = "design_link_open", "design_json_open", "design_code_open"


def _import_design() -> None:
    text = st.session_state.get("import_text", "")
    try:  # the one parser: every value comes out as the type its widget expects
        spec = spec_from_json_text(text)
    except SpecFormatError as exc:
        st.session_state["import_error"] = str(exc)
        if len(text) > MAX_TEXT_CHARS:  # not kept in the session: it may be megabytes
            st.session_state["import_text"] = ""
        return
    load_design(spec, "Imported design")
    st.session_state.pop("selected_uid", None)
    st.session_state["import_error"] = None
    st.session_state["import_ok"] = f"Imported a design with {len(spec.layers)} layers."


def lazy_expander(label: str, key: str, draw: Callable[[], None], **kwargs: Any) -> None:
    """An expander that reruns the page when opened or closed and calls ``draw`` for its
    contents only while it is open."""
    box = st.expander(label, key=key, on_change="rerun", **kwargs)
    if box.open:
        with box:
            draw()


def link_panel(spec: ArchitectureSpec) -> None:
    link = design_link(st.context.url or "", spec)
    if link is None:
        st.info("This design is too long to travel in a link: download its JSON instead.")
    else:  # the design alone: no run, no training
        st.caption("Anyone who opens it gets this design (their own copy to edit).")
        st.code(link, language=None, wrap_lines=True)


def json_panel(spec: ArchitectureSpec) -> None:
    st.text_area("Paste a design's JSON", key="import_text", height=150,
                 placeholder='{"input_shape": [1, 28, 28], "layers": [...]}')
    st.button("Import", on_click=_import_design)
    if st.session_state.get("import_error"):
        st.error(f"Not imported: {st.session_state['import_error']}. Your design is "
                 "unchanged.")
    elif st.session_state.pop("import_ok", None):
        st.success("Imported.")
    st.download_button("⬇ Download this design (JSON)", spec.to_json_text(),
                       file_name="design.json", mime="application/json")
    st.code(spec.to_json_text(), language="json")


def code_panel(report: NetworkReport) -> None:
    if not report.ok:
        st.info("Fix the errors above to generate code.")
        return
    torch_tab, keras_tab = st.tabs(["PyTorch", "Keras"])
    with torch_tab:
        code = pytorch_code(report, design_name())
        st.code(code, language="python")
        st.download_button("⬇ Download net.py", code, file_name="net.py",
                           mime="text/x-python")
    with keras_tab:
        if refusals := keras_refusals(report):
            st.warning("Keras cannot build this design, so there is no Keras code for it: "
                       + "; ".join(refusals) + ".", icon=":material/block:")
            return
        code = keras_code(report, design_name())
        st.code(code, language="python")
        st.download_button("⬇ Download net_keras.py", code, file_name="net_keras.py",
                           mime="text/x-python")


def import_export(spec: ArchitectureSpec, report: NetworkReport) -> None:
    lazy_expander("Copy a link to this design", LINK_OPEN, lambda: link_panel(spec),
                  icon=":material/link:")
    # A draft typed into the import box outlives the expander being closed (a widget that is
    # not drawn loses its value); while it is open, the box keeps it, and what is being typed
    # is never sent back over.
    if "import_text" in st.session_state and not st.session_state.get(JSON_OPEN):
        st.session_state["import_text"] = st.session_state["import_text"]
    lazy_expander("Import / export the design as JSON", JSON_OPEN, lambda: json_panel(spec))
    lazy_expander("Code: the same network in PyTorch and Keras", CODE_OPEN,
                  lambda: code_panel(report))
