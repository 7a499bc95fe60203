"""Design: stack layers and see every layer's output shape, the formula behind it, and errors."""

from __future__ import annotations

from ui.page_guard import require_frame

require_frame()  # first, before the imports below load torch (see page_guard)

import math
from typing import Any

import streamlit as st

from cnn_core.data.datasets import outputs_note
from cnn_core.design import editing
from cnn_core.design.formatting import format_shape
from cnn_core.design.layers import LAYERS, FieldSpec, layer_type
from cnn_core.design.presets import PRESET_TABLE, PRESETS
from cnn_core.design.report import NetworkReport
from cnn_core.design.shapes import FIX_INSERT_FLATTEN, analyze
from cnn_core.design.spec import MAX_LAYERS, ArchitectureSpec
from cnn_core.explain.svg import volume_svg
from ui import predict
from ui.design_export import import_export
from ui.design_report import budget_text, layer_explanation, layer_table
from ui.design_state import (
    current_spec,
    design_layers,
    load_design,
    mark_design_edited,
    new_uid,
)
from ui.lesson import shows
from ui.predict.design import hide_until_answered

BLANK = "Blank (start from the input)"


# ---- callbacks: they edit the session's design (cnn_core.design.editing) before the rerun --
def _edited(changed: object) -> None:
    if changed:
        mark_design_edited()


def _select(uid: int | None) -> None:
    if uid is not None:
        st.session_state["selected_uid"] = uid
        mark_design_edited()


def _set_param(uid: int, name: str, widget_key: str, second_key: str | None = None) -> None:
    split = second_key is not None and bool(st.session_state.get(f"{second_key}.on"))
    first = st.session_state.get(widget_key)
    second = st.session_state.get(second_key, first) if split else None
    _edited(editing.set_param(design_layers(), uid, name,
                              editing.field_value(first, second, split)))


def _set_padding_mode(uid: int, key: str) -> None:
    st.session_state.pop(f"{uid}.padding", None)  # the number widget starts again at 0
    _edited(editing.set_padding_mode(design_layers(), uid, st.session_state[key]))


def _change_type(uid: int, key: str) -> None:
    _select(editing.change_type(design_layers(), uid, st.session_state[key], new_uid))


def _move(uid: int, offset: int) -> None:
    _edited(editing.move(design_layers(), uid, offset))


def _remove(uid: int) -> None:
    layers = design_layers()
    before = len(layers)
    _select(editing.remove(layers, uid))
    _edited(len(layers) < before)


def _insert(position: int, type_: str) -> None:
    _select(editing.insert(design_layers(), position, type_, new_uid))


def _load_preset() -> None:
    choice = st.session_state["preset_choice"]
    spec = ArchitectureSpec(()) if choice == BLANK else PRESETS[choice]
    from ui.training_form import use_recipe  # here: the form loads torch, this page need not

    load_design(spec, "Custom" if choice == BLANK else choice)
    use_recipe(spec)  # the Train page starts from the preset's quickest measured settings
    st.session_state.pop("selected_uid", None)


# ---- widgets ------------------------------------------------------------------------------
def _number(raw: Any) -> float | None:
    ok = isinstance(raw, (int, float)) and not isinstance(raw, bool) and math.isfinite(raw)
    return raw if ok else None


def field_widget(uid: int, spec_field: FieldSpec, raw: Any) -> None:
    """The widget for one field. Values are not clamped: an out-of-range value is kept and
    reported on the layer, as the shape engine explains why it cannot work."""
    key = f"{uid}.{spec_field.name}"
    name = spec_field.name
    if spec_field.kind == "float":
        st.number_input(name, value=_number(raw) if raw is not None else spec_field.default,
                        step=0.05, format="%.2f", key=key, help=spec_field.help,
                        on_change=_set_param, args=(uid, name, key))
        return
    if spec_field.kind == "padding":
        mode_key = f"{uid}.padding.mode"
        mode = raw if raw in ("same", "valid") else "number"
        st.selectbox("padding mode", ["number", "same", "valid"],
                     index=["number", "same", "valid"].index(mode), key=mode_key,
                     help=spec_field.help, on_change=_set_padding_mode, args=(uid, mode_key))
        if mode != "number":
            return
    pair = isinstance(raw, list)
    first = _number(raw[0]) if pair and raw else _number(raw)
    if raw is None and spec_field.default is not None:
        first = spec_field.default
    placeholder = f"= {spec_field.same_as}" if spec_field.same_as else None
    if spec_field.kind == "int":
        st.number_input(name, value=first, step=1, key=key, help=spec_field.help,
                        placeholder=placeholder, on_change=_set_param, args=(uid, name, key))
        return
    second_key = f"{uid}.{name}.w"
    split = st.session_state.get(f"{second_key}.on", pair and len(raw) == 2 and raw[0] != raw[1])
    cols = st.columns(3) if split else st.columns([5, 3])  # room for "h ≠ w" on a projector
    label = f"{name} (height)" if split else name
    cols[0].number_input(label, value=first, step=1, key=key, help=spec_field.help,
                         placeholder=placeholder, on_change=_set_param,
                         args=(uid, name, key, second_key))
    if split:
        second = _number(raw[1]) if pair and len(raw) > 1 else first
        cols[1].number_input(f"{name} (width)", value=second, step=1, key=second_key,
                             on_change=_set_param, args=(uid, name, key, second_key))
    cols[-1].checkbox("h ≠ w", value=split, key=f"{second_key}.on",
                      help="different height and width",
                      on_change=_set_param, args=(uid, name, key, second_key))


def layer_editor(report: NetworkReport) -> None:
    layers = design_layers()
    if not layers:
        st.info("The design is empty. Add a first layer below, or load a preset.")
        return
    uids = [d["uid"] for d in layers]
    if st.session_state.get("selected_uid") not in uids:
        st.session_state["selected_uid"] = uids[0]
    by_uid = {d["uid"]: r for d, r in zip(layers, report.layers)}

    def label(uid: int) -> str:  # no shapes here: the combobox keeps its old text
        r = by_uid[uid]
        return f"{r.index} · {r.type}"

    uid = st.selectbox("Layer to edit", uids, format_func=label, key="selected_uid")
    i = editing.index_of(layers, uid) or 0
    entry, r = layers[i], by_uid[uid]
    type_key = f"{uid}.type"
    types = list(LAYERS)
    st.selectbox("type", types, index=types.index(entry["type"]), key=type_key,
                 on_change=_change_type, args=(uid, type_key))
    for spec_field in layer_type(entry["type"]).fields:
        field_widget(uid, spec_field, entry["params"].get(spec_field.name))
    if r.error:
        st.error(f"**{r.label}**: {r.error}", icon=":material/error:")
        if r.fix == FIX_INSERT_FLATTEN:
            st.button("Insert a flatten layer before it", on_click=_insert,
                      args=(i, "flatten"), key=f"fix.{uid}")
    if explanation := layer_explanation(r):
        st.markdown(explanation)
    c1, c2, c3 = st.columns(3, gap="small")
    c1.button("↑ Up", on_click=_move, args=(uid, -1), disabled=i == 0, width="stretch",
              help="move this layer up")
    c2.button("↓ Down", on_click=_move, args=(uid, 1), disabled=i == len(layers) - 1,
              width="stretch", help="move this layer down")
    c3.button("✕ Remove", on_click=_remove, args=(uid,), width="stretch")


def add_layer_controls() -> None:
    layers = design_layers()
    new_type = st.selectbox("New layer type", list(LAYERS), key="new_layer_type")
    selected = editing.index_of(layers, st.session_state.get("selected_uid"))
    position = len(layers) if selected is None else selected + 1
    full = len(layers) >= MAX_LAYERS
    st.button("＋ Add it after the selected layer", on_click=_insert,
              args=(position, new_type), disabled=full, width="stretch")
    if full:
        st.caption(f"A design has at most {MAX_LAYERS} layers.")


# ---- the report ---------------------------------------------------------------------------
def totals(report: NetworkReport) -> None:
    c = st.columns(5)
    c[0].metric("Layers", len(report.layers))
    c[1].metric("Parameters", f"{report.total_params:,}")
    c[2].metric("MACs per image", f"{report.total_macs:,}")
    c[3].metric("Activations per image", f"{report.activation_bytes / 1024:,.0f} KiB")
    c[4].metric("Output", format_shape(report.output_shape))


def budget_note(report: NetworkReport) -> None:
    """The server's limits for one training, shown before Train is pressed."""
    text, too_big = budget_text(current_spec(), report)
    if too_big:
        st.warning(f"{text} Too big to train at these settings: {too_big}.",
                   icon=":material/memory:")
    else:
        st.caption(f":material/memory: {text}")


# ---- the page -----------------------------------------------------------------------------
st.title("Design a CNN")
st.caption("Stack layers; every output shape, parameter count and formula updates as you "
           "edit. A layer that cannot work says why.")
notes = {p.name: p.note for p in PRESET_TABLE}
options = [*notes, BLANK]
pc = st.columns([4, 1, 5]) if shows("presets") else None
if pc is not None:
    pc[0].selectbox("Start from", options, key="preset_choice",
                    help="a preset replaces the current design")
    pc[1].button("Load", on_click=_load_preset, width="stretch", type="primary")
    pc[2].caption(notes.get(st.session_state.get("preset_choice", ""), ""))

predict.switch("design")
spec = current_spec()
report = analyze(spec)
shown = hide_until_answered(spec, report)  # predict first: the changed layer's shape waits
totals(shown)
for error in report.errors:
    st.error(error, icon=":material/error:")
for warning in report.training_warnings:
    st.warning(f"Can be built, but not trained on MNIST: {warning}.", icon=":material/block:")
if report.ok:
    st.caption(f":material/dataset: {outputs_note(report)}")
if report.trainable:
    budget_note(report)

# The table spans the page: in a column, a projector's width hid its last columns.
st.subheader("Layers")
# A static table, not st.dataframe: the data grid cost a browser ~0.4 s each time it drew
# the page (of ~0.7 s in all), and a design's table is short.
# Its cells are Markdown: a bare "#" heading would be an empty title.
st.table(layer_table(shown).rename(columns={"#": "\\#"})
         .style.format({"params": "{:,}", "MACs": "{:,}"}),
         hide_index=True, alt="Each layer's output shape, parameters and MACs")
editable = shows("editor")  # a lesson may keep the design as it is
left, right = st.columns([3, 2], gap="large") if editable else (st.container(), None)
with left:
    st.subheader("Feature-map volume through the net")
    st.image(volume_svg(shown))
if right is not None:
    with right:
        st.subheader("Edit a layer")
        layer_editor(shown)
        st.divider()
        add_layer_controls()
if shows("export"):
    import_export(spec, report)
