"""Runs: every training on this server, compared side by side, kept, downloaded, reused."""

from __future__ import annotations

from ui.page_guard import require_frame

require_frame()  # first, before the imports below load torch (see page_guard)

import pandas as pd
import plotly.express as px
import streamlit as st
from torch import nn

from cnn_core.data.class_data import ClassDataError
from cnn_core.data.mixing import describe_run_data
from cnn_core.passes import check_uploaded
from cnn_core.runs.compare import (
    MAX_COMPARED,
    MIN_COMPARED,
    curve_rows,
    design_diff,
    run_label,
    table_rows,
)
from cnn_core.runs.files import NoWeights, downloads, run_model, run_spec
from cnn_core.runs.records import NotAllowed, RunNotFound, StoreError
from cnn_core.runs.shares import requested_by
from cnn_core.runs.store import PAGE_SIZE, SORT_COLUMNS, RunStore
from cnn_core.runs.weights import WeightsError, load_weights
from cnn_core.training.admission import NotAdmitted, Way
from ui.app_state import (
    TrainedModel,
    class_data,
    owner_token,
    run_store,
    teacher_key,
    use_model,
)
from ui.confusion_view import open_confusion
from ui.design_state import current_spec, load_design
from ui.streamlit_internals import drop_uploads, readable_uploads
from ui.training_form import restore_settings

SORT_NAMES = {"time": "newest", "test_accuracy": "test accuracy", "params": "parameters",
              "macs": "MACs", "duration": "training time"}
MIME = {"weights": "application/octet-stream", "design": "application/json",
        "script": "text/x-python", "metrics": "text/csv"}


def runs_table(store: RunStore) -> list:
    c = st.columns([2, 1, 2, 2])
    sort = c[0].selectbox("Sort by", list(SORT_COLUMNS), format_func=SORT_NAMES.get,
                          key="runs_sort")
    ascending = c[1].toggle("Ascending", key="runs_ascending")
    show = c[2].segmented_control("Show", ["all", "mine"], default="all", key="runs_show",
                                  format_func={"all": "All runs", "mine": "Mine"}.get)
    owner = owner_token() if show == "mine" else None
    total = store.count(owner)
    pages = max(1, -(-total // PAGE_SIZE))
    page = c[3].number_input(f"Page (of {pages})", 1, pages, 1, key="runs_page")
    runs = store.list_runs(sort, not ascending, owner, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    if not runs:
        st.info("No runs yet: every training (Train page, quick model, command line) appears "
                "here.", icon=":material/history:")
        return []
    rows = pd.DataFrame(table_rows(runs, owner_token(), requested_by(store, owner_token())))
    narrow = {name: st.column_config.Column(width="small")
              for name in ("run", "nickname", "mine", "shared", "pinned", "status")}
    # device and weights are in the one-run panel below, and "shared" shows once a run was:
    # so the table fits a 1280 px projector
    hidden = {"device", "weights"} | ({"shared"} if not rows["shared"].any() else set())
    shown = [c for c in rows.columns if c not in hidden]
    st.dataframe(rows, hide_index=True, column_order=shown,
                 column_config={**narrow, "test accuracy": st.column_config.NumberColumn(
                     format="percent"), "seconds": st.column_config.NumberColumn(
                     format="%.0f", width="small")})
    st.caption(f"{total:,} runs · page {page} of {pages}")
    return runs


def compare(store: RunStore, runs: list) -> None:
    st.subheader("Compare")
    options = list(dict.fromkeys([*st.session_state.get("runs_compare", []),
                                  *(r.id for r in runs)]))
    labels = {r.id: run_label(r) for r in runs}
    picked = st.multiselect(f"Pick {MIN_COMPARED} to {MAX_COMPARED} runs", options,
                            max_selections=MAX_COMPARED, key="runs_compare",
                            format_func=lambda i: labels.get(i, f"#{i}"))
    if len(picked) < MIN_COMPARED:
        st.caption("Pick two runs or more to see their curves and designs side by side.")
        return
    try:
        records = [store.get(i) for i in picked]
    except (RunNotFound, StoreError) as exc:  # gone, or damaged in the database
        st.warning(str(exc))
        return
    curves = pd.DataFrame(curve_rows(records))
    if not curves.empty:
        c = st.columns(2)
        x = c[0].segmented_control("Against", ["epoch", "seconds"], default="epoch",
                                   key="runs_curve_x") or "epoch"
        for col, metric in zip(st.columns(2), ("validation accuracy", "validation loss")):
            figure = px.line(curves, x=x, y=metric, color="run", markers=True, height=320)
            col.plotly_chart(figure, key=f"runs_curve_{metric}")
    diff = design_diff(records)
    table = pd.DataFrame(diff.rows, columns=diff.labels,
                         index=[f"{i + 1}{' ≠' if d else ''}" for i, d in
                                enumerate(diff.differs)])
    st.caption(f"Designs layer by layer: {sum(diff.differs)} of {len(diff.rows)} layers "
               "differ (marked ≠).")
    st.dataframe(table.style.apply(lambda row: ["background-color: rgba(255, 170, 0, 0.25)"
                                                if d else "" for d in diff.differs],
                                   axis=0) if len(diff.rows) else table)


def scatter(store: RunStore) -> None:
    points = store.scatter_points()
    if len(points) < 2:
        return
    frame = pd.DataFrame(points, columns=["run", "parameters", "test accuracy", "design"])
    figure = px.scatter(frame, x="parameters", y="test accuracy", hover_name="design",
                        hover_data={"run": True}, log_x=True, height=380,
                        title="Accuracy against parameters")
    st.caption("Every run on this server: bigger is not always better.")
    figure.update_yaxes(tickformat=".0%")
    st.plotly_chart(figure, key="runs_scatter")


def one_run(store: RunStore, runs: list) -> None:
    st.subheader("One run")
    labels = {r.id: run_label(r) for r in runs}
    run_id = st.selectbox("Run", list(labels), format_func=labels.get, key="runs_one")
    if run_id is None:
        return
    try:
        record = store.get(run_id)
    except (RunNotFound, StoreError) as exc:  # gone, or damaged in the database
        st.warning(str(exc))
        return
    # Actions are callbacks: they run before the page, so their result survives any rerun.
    c = st.columns(5)
    c[0].button("Use to draw", icon=":material/draw:", disabled=not record.has_weights,
                key="runs_use", on_click=use_run, args=(store, record))
    c[1].button("Open in Design", icon=":material/account_tree:", key="runs_open",
                on_click=open_design, args=(record,))
    c[2].button("Train again", icon=":material/replay:", key="runs_again",
                help="the same design and settings, on the Train page",
                on_click=train_again, args=(record,))
    mine = record.owned_by(owner_token())
    c[3].button("Unpin" if record.pinned else "Pin", icon=":material/push_pin:",
                key="runs_pin", disabled=not mine,
                help="a pinned run keeps its weights past the size limit" if mine else
                "only the browser that started this run can pin it",
                on_click=pin, args=(store, record))
    with c[4].popover("Delete", icon=":material/delete:"):
        if not mine:
            st.text_input("Teacher key", type="password", key="runs_teacher_key")
        st.button("Delete this run", type="primary", key="runs_delete", on_click=delete,
                  args=(store, record))
    st.caption(f"{record.status}: {record.message} · "
               f"{describe_run_data(record.settings, record.data_source)} "
               f"({record.train_size:,} train) · {record.device} · seed {record.seed}"
               + (f" · given to {record.shared} more who asked for the same training"
                  if record.shared else ""))
    cols = st.columns(4)
    for col, (kind, (name, data)) in zip(cols, downloads(store, record.id).items()):
        col.download_button(f"{kind.capitalize()}", data, file_name=name, mime=MIME[kind],
                            icon=":material/download:", key=f"runs_download_{kind}")
    handwriting(store, record)


def handwriting(store: RunStore, record) -> None:
    """One click: this run's net, trained on MNIST, tested on the class's own drawings."""
    mnist_digits = (record.settings.get("data") or {}).get("dataset", "mnist") == "mnist"
    st.button("Trained on MNIST, tested on our handwriting", icon=":material/groups:",
              key="runs_handwriting", disabled=not (record.has_weights and mnist_digits),
              help="This run's network answers every drawing on the Class data page",
              on_click=test_on_handwriting, args=(store, record))
    result = st.session_state.get("runs_handwriting_result")
    if not result or result[0] != record.id:
        return
    _, evaluation, images, labels = result
    drawings = len(images)
    c = st.columns(3)
    c[0].metric("On its own test set", f"{record.test_accuracy:.1%}"
                if record.test_accuracy is not None else "—")
    c[1].metric(f"On our {drawings:,} drawings", f"{evaluation.accuracy:.1%}",
                delta=f"{(evaluation.accuracy - record.test_accuracy) * 100:+.1f} points"
                if record.test_accuracy is not None else None)
    c[2].metric("Our drawings it got wrong", f"{len(evaluation.misclassified):,}")
    drawn = [d for d, row in enumerate(evaluation.confusion) if sum(row)]  # digits drawn
    frame = pd.DataFrame({"digit": [str(d) for d in drawn], "accuracy on our drawings":
                          [evaluation.per_class_accuracy[d] for d in drawn]})
    st.bar_chart(frame, x="digit", y="accuracy on our drawings", height=220)
    open_confusion(evaluation.confusion, [str(d) for d in range(10)], images, labels,
                   evaluation.predictions, evaluation.probabilities, key="runs_cells",
                   way=Way.RUNS_WHY, model=lambda: handwriting_model(store, record),
                   spec=run_spec(record))


def handwriting_model(store: RunStore, record) -> nn.Module | None:
    """The run's network for a "why", or None with the reason shown."""
    try:
        return run_model(store, record.id)
    except (NoWeights, WeightsError, StoreError) as exc:
        st.warning(str(exc))
        return None


def test_on_handwriting(store: RunStore, record) -> None:
    import torch

    from cnn_core.passes import test_on_drawings

    drawings, problem = class_data()
    if drawings is None:
        return notify("warning", problem)
    try:
        images, labels = drawings.arrays()
    except ClassDataError as exc:
        return notify("warning", str(exc))
    if not len(images):
        return notify("info", "The class set is empty: add drawings on the Draw page first.")
    try:
        model = run_model(store, record.id)
    except (NoWeights, WeightsError, StoreError) as exc:
        return notify("warning", str(exc))
    images, labels = torch.from_numpy(images), torch.from_numpy(labels)
    try:
        evaluation = test_on_drawings(model, run_spec(record), images, labels)
    except NotAdmitted as exc:
        return notify("warning", f"Not tested: {exc}.")
    st.session_state["runs_handwriting_result"] = (record.id, evaluation, images, labels)


def notify(kind: str, message: str) -> None:
    """A message for the page to show once, set by a callback."""
    st.session_state["runs_notice"] = (kind, message)


def use_run(store: RunStore, record) -> None:
    try:
        model = run_model(store, record.id)
    except (NoWeights, WeightsError, StoreError) as exc:
        return notify("warning", str(exc))
    use_model(TrainedModel(model, run_label(record), run_spec(record), record.test_accuracy,
                           f"run {record.id}", record.id))
    notify("success", f"The Draw page now answers with {run_label(record)}.")


def open_design(record) -> None:
    load_design(run_spec(record), record.name)
    st.session_state["runs_go"] = "pages/architecture.py"


def train_again(record) -> None:
    load_design(run_spec(record), record.name)
    restore_settings({**record.settings, "seed": record.seed})
    st.session_state["runs_go"] = "pages/train.py"


def pin(store: RunStore, record) -> None:
    if not record.owned_by(owner_token()):  # checked again: the button was drawn earlier
        return notify("error", f"{run_label(record)} was started in another browser: only "
                               "its owner can pin it.")
    try:
        store.set_pinned(record.id, not record.pinned)
    except RunNotFound as exc:
        notify("warning", str(exc))


def delete(store: RunStore, record) -> None:
    key = st.session_state.pop("runs_teacher_key", None)  # never kept past this try
    try:
        store.delete(record.id, owner_token(), teacher_key(), key)
    except (NotAllowed, RunNotFound) as exc:
        notify("error", str(exc))
    else:
        notify("success", f"Deleted {run_label(record)}.")


def clear(store: RunStore) -> None:
    key = st.session_state.pop("runs_clear_key", None) or ""
    try:
        notify("success", f"Deleted {store.clear(teacher_key(), key)} runs.")
    except NotAllowed as exc:
        notify("error", str(exc))


def upload_weights() -> None:
    st.subheader("Load weights for the current design")
    upload = st.file_uploader("A .safetensors file, or a .pt / .pth state dict",
                              type=["safetensors", "pt", "pth"], key="runs_upload")
    # The uploader keeps its file across reruns: read each file once, so a run chosen later
    # on this page is not replaced by the same upload again.
    if not readable_uploads(upload) or st.session_state.get("runs_upload_read") == upload.file_id:
        return
    st.session_state["runs_upload_read"] = upload.file_id
    data = upload.getvalue()
    drop_uploads([upload])  # handled: the server lets go of its copy now, not at session end
    try:
        check_uploaded(current_spec())  # admitted before torch reads a byte of it
        model = load_weights(current_spec(), data, upload.name)
    except (WeightsError, NotAdmitted) as exc:
        st.error(f"Not loaded: {exc}" if isinstance(exc, NotAdmitted) else str(exc))
        return
    use_model(TrainedModel(model, upload.name, current_spec(), None, "uploaded weights"))
    st.success(f"The Draw page now answers with {upload.name}.")


def clear_board(store: RunStore) -> None:
    with st.expander("Teacher: clear the board for the next class"):
        st.text_input("Teacher key", type="password", key="runs_clear_key")
        st.button("Delete every run except pinned ones", key="runs_clear", on_click=clear,
                  args=(store,))


if go := st.session_state.pop("runs_go", None):
    st.switch_page(go)
st.title("Runs")
st.caption("Every training on this server: compare them, keep the good ones, take them away.")
st.text_input("Your nickname, shown with the runs you start from now on", max_chars=40,
              key="nickname", persist_state="session")
if notice := st.session_state.pop("runs_notice", None):
    getattr(st, notice[0])(notice[1])
store, problem = run_store()
if store is None:
    st.warning(problem, icon=":material/history:")
else:
    try:
        runs = runs_table(store)
        if runs:
            compare(store, runs)
            scatter(store)
            one_run(store, runs)
        clear_board(store)
    except StoreError as exc:
        st.warning(f"Runs are not available: {exc}", icon=":material/history:")
upload_weights()
