"""Design: stack layers and see every layer's output shape, the formula behind it, and errors."""

from __future__ import annotations

from ui.page_guard import require_frame

require_frame()  # first, before the imports below load torch (see page_guard)

import math
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from cnn_core.data.datasets import outputs_note
from cnn_core.design.codegen import keras_code, keras_refusals, pytorch_code
from cnn_core.design.formatting import format_shape, summary_rows
from cnn_core.design.layers import LAYERS, FieldSpec, layer_type
from cnn_core.design.parse import MAX_TEXT_CHARS, SpecFormatError, spec_from_json_text
from cnn_core.design.presets import PRESET_TABLE, PRESETS
from cnn_core.design.report import LayerReport, NetworkReport
from cnn_core.design.shapes import FIX_INSERT_FLATTEN, OUTPUT_SIZE_FORMULA, analyze
from cnn_core.design.spec import MAX_LAYERS, ArchitectureSpec
from cnn_core.design.url_state import design_link
from cnn_core.explain.svg import volume_svg
from cnn_core.training.budget import (
    DEFAULT_BATCH_SIZE,
    FULL_TRAIN_IMAGES,
    MAX_BATCH_SIZE,
    Limits,
    expected_seconds,
    format_bytes,
    format_seconds,
    is_calibrated,
    largest_fitting_batch,
    max_epochs,
    memory_refusal,
    training_memory,
)
from ui import predict
from ui.design_state import (
    current_spec,
    design_layers,
    design_name,
    load_design,
    mark_design_edited,
    new_uid,
)
from ui.lesson import shows
from ui.predict.design import hide_until_answered

BLANK = "Blank (start from the input)"


# ---- callbacks: they edit the session's design before the page reruns ------------------
def _index_of(uid: int) -> int:
    return next(i for i, d in enumerate(design_layers()) if d["uid"] == uid)


def _set_param(uid: int, name: str, widget_key: str, second_key: str | None = None) -> None:
    value = st.session_state.get(widget_key)
    entry = design_layers()[_index_of(uid)]
    params = entry["params"]
    if second_key is not None and st.session_state.get(f"{second_key}.on"):
        width = st.session_state.get(second_key, value)
        value = None if value is None or width is None else [value, width]
    kind = layer_type(entry["type"]).field_named(name).kind
    if isinstance(value, float) and value.is_integer() and kind != "float":
        value = int(value)
    if value is None:
        params.pop(name, None)
    else:
        params[name] = value
    mark_design_edited()


def _set_padding_mode(uid: int, key: str) -> None:
    mode = st.session_state[key]
    params = design_layers()[_index_of(uid)]["params"]
    params["padding"] = 0 if mode == "number" else mode
    st.session_state.pop(f"{uid}.padding", None)
    mark_design_edited()


def _change_type(uid: int, key: str) -> None:
    layers = design_layers()
    i = _index_of(uid)
    new_type = st.session_state[key]
    layers[i] = {"uid": new_uid(), "type": new_type,
                 "params": dict(layer_type(new_type).new_layer)}
    st.session_state["selected_uid"] = layers[i]["uid"]
    mark_design_edited()


def _move(uid: int, offset: int) -> None:
    layers = design_layers()
    i = _index_of(uid)
    j = i + offset
    if 0 <= j < len(layers):
        layers[i], layers[j] = layers[j], layers[i]
        mark_design_edited()


def _remove(uid: int) -> None:
    layers = design_layers()
    i = _index_of(uid)
    layers.pop(i)
    if layers:
        st.session_state["selected_uid"] = layers[min(i, len(layers) - 1)]["uid"]
    mark_design_edited()


def _insert(position: int, type_: str) -> None:
    layers = design_layers()
    if len(layers) >= MAX_LAYERS:
        return
    new = {"uid": new_uid(), "type": type_, "params": dict(layer_type(type_).new_layer)}
    layers.insert(position, new)
    st.session_state["selected_uid"] = new["uid"]
    mark_design_edited()


def _load_preset() -> None:
    choice = st.session_state["preset_choice"]
    spec = ArchitectureSpec(()) if choice == BLANK else PRESETS[choice]
    load_design(spec, "Custom" if choice == BLANK else choice)
    st.session_state.pop("selected_uid", None)


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
    i = _index_of(uid)
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
    explain_layer(r)
    c1, c2, c3 = st.columns(3, gap="small")
    c1.button("↑ Up", on_click=_move, args=(uid, -1), disabled=i == 0, width="stretch",
              help="move this layer up")
    c2.button("↓ Down", on_click=_move, args=(uid, 1), disabled=i == len(layers) - 1,
              width="stretch", help="move this layer down")
    c3.button("✕ Remove", on_click=_remove, args=(uid,), width="stretch")


def explain_layer(r: LayerReport) -> None:
    """The formula with the user's numbers, and what the layer does to the shape."""
    if r.error or r.output_shape is None:
        return
    lines = [f"`{format_shape(r.input_shape)}` → `{format_shape(r.output_shape)}`"]
    if r.formulas:
        lines.append(f"Output size, `{OUTPUT_SIZE_FORMULA}`:")
        lines.extend(f"- `{f}`" for f in r.formulas)
    lines.extend(f"- ✂️ {note}" for note in r.notes)
    rule = layer_type(r.type).rule
    if rule == "conv":
        s = r.settings
        kh, kw = s["kernel_size"]
        lines.append(f"- params = {s['out_channels']} kernels × ({s['in_channels']} × {kh} × "
                     f"{kw} weights + 1 bias) = **{r.params:,}**")
    elif rule == "dense":
        s = r.settings
        lines.append(f"- params = {s['in_features']} × {s['out_features']} weights + "
                     f"{s['out_features']} biases = **{r.params:,}**")
    if r.receptive_field:
        lines.append(f"- each output value sees a {r.receptive_field[0]}×"
                     f"{r.receptive_field[1]} patch of the input (receptive field)")
    st.markdown("\n".join(lines))


def add_layer_controls() -> None:
    layers = design_layers()
    new_type = st.selectbox("New layer type", list(LAYERS), key="new_layer_type")
    position = len(layers)
    if "selected_uid" in st.session_state and layers:
        position = _index_of(st.session_state["selected_uid"]) + 1
    full = len(layers) >= MAX_LAYERS
    st.button("＋ Add it after the selected layer", on_click=_insert,
              args=(position, new_type), disabled=full, width="stretch")
    if full:
        st.caption(f"A design has at most {MAX_LAYERS} layers.")


# ---- the report ---------------------------------------------------------------------------
def layer_table(report: NetworkReport) -> pd.DataFrame:
    """The per-layer table (``shapes.summary_rows``), after a row for the input."""
    rows = [{"#": 0, "layer": "input", "settings": "", "output": format_shape(report.input_shape),
             "params": 0, "MACs": 0, "receptive field": "1x1", "status": ""}]
    rows += [{"#": r.index, "layer": r.layer, "settings": r.settings, "output": r.output,
              "params": r.params, "MACs": r.macs, "receptive field": r.receptive_field,
              "status": f"✗ {r.error}" if r.error else "✓"} for r in summary_rows(report)]
    return pd.DataFrame(rows)


def totals(report: NetworkReport) -> None:
    c = st.columns(5)
    c[0].metric("Layers", len(report.layers))
    c[1].metric("Parameters", f"{report.total_params:,}")
    c[2].metric("MACs per image", f"{report.total_macs:,}")
    c[3].metric("Activations per image", f"{report.activation_bytes / 1024:,.0f} KiB")
    c[4].metric("Output", format_shape(report.output_shape))


def budget_note(report: NetworkReport) -> None:
    """The server's limits for one training, shown before Train is pressed."""
    limits = Limits.from_env()
    batch, optimizer = DEFAULT_BATCH_SIZE, "adam"
    memory = training_memory(report, batch, optimizer).total
    fits = largest_fitting_batch(report, optimizer, limits.memory_bytes)
    epoch_s = expected_seconds(report, FULL_TRAIN_IMAGES, 1, limits)
    measured = " as measured on this server" if is_calibrated(report) else ""
    epochs = max_epochs(report, FULL_TRAIN_IMAGES, limits)
    batches = ("any batch size fits" if fits >= MAX_BATCH_SIZE
               else f"batch sizes up to {fits:,} fit")
    text = (f"**Limits for one training on this server:** {format_bytes(limits.memory_bytes)} "
            f"of memory and {format_seconds(limits.seconds)}. This design at batch {batch} "
            f"with Adam needs about {format_bytes(memory)} ({batches}); an epoch over "
            f"{FULL_TRAIN_IMAGES:,} digits takes about {format_seconds(epoch_s)}{measured} "
            f"(at most {epochs:,} epochs).")
    refused = memory_refusal(report, batch, optimizer, limits)
    if refused or fits == 0 or epochs == 0:
        st.warning(f"{text} Too big to train at these settings: {refused or 'see above'}.",
                   icon=":material/memory:")
    else:
        st.caption(f":material/memory: {text}")


# The three expanders draw their contents only while open: closed, their code blocks still
# cost each visit's browser about 0.1 s of highlighting, and the server the generated code.
LINK_OPEN, JSON_OPEN, CODE_OPEN = "design_link_open", "design_json_open", "design_code_open"


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
editing = shows("editor")  # a lesson may keep the design as it is
left, right = st.columns([3, 2], gap="large") if editing else (st.container(), None)
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
