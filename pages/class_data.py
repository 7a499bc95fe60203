"""Class data: the digits this class drew and labelled, to train and test on."""

from __future__ import annotations

from ui.page_guard import need_torch, require_frame

require_frame()  # first, before the imports below load torch (see page_guard)
need_torch()

import plotly.graph_objects as go
import streamlit as st
import torch

from cnn_core.data.class_data import MAX_SHARE, ClassData, ClassDataError
from cnn_core.data.class_files import files_from_upload
from cnn_core.data.drawings import CLASSES, THIN_BELOW, Refused, thin_digits
from ui.app_state import class_data, digit_image_bytes, owner_token, teacher_key
from ui.streamlit_internals import drop_uploads, readable_uploads

SHOWN_PER_DIGIT = 120  # a grid this long is already more than a page


def counts_chart(counts: list[int]) -> go.Figure:
    colors = ["#d1242f" if n < THIN_BELOW else "#1f6feb" for n in counts]
    fig = go.Figure(go.Bar(x=[str(d) for d in range(CLASSES)], y=counts, text=counts,
                           marker_color=colors,
                           hovertemplate="digit %{x}: %{y} drawings<extra></extra>"))
    fig.update_layout(height=240, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      xaxis={"type": "category", "title": "digit"},
                      yaxis={"title": "drawings", "rangemode": "tozero"})
    return fig


def grids(store: ClassData, counts: list[int]) -> None:
    """One tab per digit: its drawings as the network sees them, with who drew them."""
    mine = owner_token()
    tabs = st.tabs([f"{d} ({n})" for d, n in enumerate(counts)])
    for digit, tab in enumerate(tabs):
        with tab:
            drawings = store.drawings(digit)
            if not drawings:
                st.caption(f"No {digit}s yet.")
                continue
            shown = drawings[:SHOWN_PER_DIGIT]
            st.image([digit_image_bytes(torch.from_numpy(d.image)) for d in shown], width=84,
                     caption=[f"#{d.id}{' · ' + d.nickname if d.nickname else ''}"
                              f"{' (you)' if d.owned_by(mine) else ''}" for d in shown])
            if len(drawings) > len(shown):
                st.caption(f"The first {len(shown)} of {len(drawings)}.")


def remove(store: ClassData) -> None:
    drawing_id = st.session_state.get("class_remove_id")
    key = st.session_state.pop("class_teacher_key", None)  # never kept past this try
    try:
        store.remove(int(drawing_id), owner_token(), teacher_key(), key)
    except (Refused, ClassDataError, TypeError) as exc:
        st.session_state["class_page_notice"] = ("error", f"Not removed: {exc}.")
    else:
        st.session_state["class_page_notice"] = ("success", f"Removed drawing #{drawing_id}.")


def remove_panel(store: ClassData) -> None:
    st.subheader("Remove a drawing")
    st.caption("You can remove the drawings you added; the teacher key removes any.")
    c = st.columns([2, 2, 1], vertical_alignment="bottom")
    c[0].number_input("Drawing number (#)", min_value=1, step=1, value=None,
                      key="class_remove_id")
    c[1].text_input("Teacher key (for someone else's)", type="password",
                    key="class_teacher_key")
    c[2].button("Remove", icon=":material/delete:", on_click=remove, args=(store,),
                disabled=st.session_state.get("class_remove_id") is None)


def import_files(store: ClassData) -> None:
    uploads = readable_uploads(st.session_state.get(import_key()) or [])
    files = {u.name: u.getvalue() for u in uploads}
    drop_uploads(uploads)  # handled: the server lets go of its copy now, not at session end
    st.session_state["class_import_round"] = st.session_state.get("class_import_round", 0) + 1
    key = st.session_state.pop("class_import_key", None)  # never kept past this try
    try:
        images, labels = files_from_upload(files)
        added = store.import_idx(images, labels, owner_token=owner_token(),
                                 teacher=teacher_key(), key=key)
    except (Refused, ClassDataError) as exc:
        st.session_state["class_page_notice"] = ("error", f"Nothing imported: {exc}.")
    else:
        st.session_state["class_page_notice"] = ("success", f"Imported {added:,} drawings.")


def out_and_in(store: ClassData, total: int) -> None:
    st.subheader("Download, import")
    left, right = st.columns(2, gap="large")
    with left:
        st.caption("The whole set in MNIST's own format: two IDX files (images, labels) and a "
                   "CSV of the labels, in one zip.")
        st.download_button("Download the class set", store.export_zip(),
                           file_name="class-set.zip", mime="application/zip",
                           icon=":material/download:", disabled=total == 0)
    with right:
        st.file_uploader("Import: the zip from here, or an images and a labels IDX file",
                         accept_multiple_files=True, key=import_key())
        st.text_input(f"Teacher key (to import more than {MAX_SHARE:,} drawings)",
                      type="password", key="class_import_key")
        st.button("Import", icon=":material/upload:", on_click=import_files, args=(store,),
                  disabled=not readable_uploads(st.session_state.get(import_key()) or []))


def import_key() -> str:
    """The uploader's key: a new one after each import empties it (its files are dropped)."""
    return f"class_import{st.session_state.get('class_import_round') or ''}"


st.title("Class data")
st.caption("The digits this class drew on the Draw page and labelled: train on them, test on "
           "them, and see whether a net trained on 1980s census forms reads your handwriting.")
if notice := st.session_state.pop("class_page_notice", None):
    getattr(st, notice[0])(notice[1])
store, problem = class_data()
if store is None:
    st.warning(problem)
    st.stop()
try:
    counts = store.counts()
    total = sum(counts)
    st.markdown(f"**{total:,} drawing{'' if total == 1 else 's'}.** Add more on the Draw "
                "page: draw, pick the digit, press **Add to the class set**.")
    st.page_link("pages/draw.py", label="Draw & add", icon=":material/draw:")
    if total:
        if thin := thin_digits(counts):
            st.caption(f"Fewer than {THIN_BELOW} drawings of {', '.join(map(str, thin))} (in "
                       "red): training on them is allowed, with a warning.")
        st.plotly_chart(counts_chart(counts), width="stretch", config={"displayModeBar": False})
        grids(store, counts)
        remove_panel(store)
    out_and_in(store, total)
except ClassDataError as exc:
    st.warning(str(exc))
