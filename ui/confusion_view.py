"""A confusion matrix you can open, for the Train page's results and the Runs page's test on
our handwriting: click a cell (or pick it from the list, by keyboard) to see exactly its
images, each with its most likely classes and a "why" button (``attribution_view``). Which
images fall in a cell is ``cnn_core.explain.confusion``'s."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import streamlit as st
import torch
from torch import nn

from cnn_core.design.spec import ArchitectureSpec
from cnn_core.explain.confusion import (
    PAGE_SIZE,
    Cell,
    cell_indices,
    cells,
    page_of,
    pages,
    top_classes,
)
from cnn_core.explain.svg import BLUES, along, hex_colour, ink_on
from cnn_core.training.admission import Way
from ui.app_state import digit_image_bytes
from ui.attribution_view import why_panel

COLUMNS = 8  # thumbnails per row
CELL_PX, ROW_PX, INDEX_PX = 48, 32, 110  # the table's columns, rows and row names


def open_confusion(matrix: Sequence[Sequence[int]], names: Sequence[str], images: torch.Tensor,
                   labels: torch.Tensor, predictions: torch.Tensor,
                   probabilities: torch.Tensor, *, key: str, way: Way,
                   model: Callable[[], nn.Module | None] | None = None,
                   spec: ArchitectureSpec | None = None) -> None:
    """The clickable matrix, the cell list, and the open cell's thumbnails. ``images`` are
    the evaluated (N, 28, 28) uint8 images; ``model()`` gives the network for "why" (None:
    no "why"; it explains 10 classes only)."""
    names = [str(n) for n in names]
    st.markdown("**Open a cell**: click a cell of the matrix, or choose it from the list "
                "below (by keyboard too), to see the images in it.")
    # Fixed widths: a cell is where a student (or a browser test) expects it, and 10 columns
    # fit a projector's half page.
    widths = {name: st.column_config.NumberColumn(width=CELL_PX) for name in names}
    event = st.dataframe(_styled(matrix, names), key=f"{key}_table", on_select="rerun",
                         selection_mode="single-cell", width="content", row_height=ROW_PX,
                         column_config={"_index": st.column_config.TextColumn(width=INDEX_PX),
                                        **widths})
    offered = cells(matrix)
    chosen_key = f"{key}_cell"
    clicked = _clicked(event, names)
    if clicked is not None and clicked != st.session_state.get(f"{key}_last_click"):
        st.session_state[f"{key}_last_click"] = clicked  # a new click: it opens that cell
        known = {(c.true, c.predicted): c for c in offered}
        if clicked in known:
            st.session_state[chosen_key] = known[clicked]
        else:
            st.session_state.pop(chosen_key, None)
            st.info(f"No image was a {names[clicked[0]]} that it called a "
                    f"{names[clicked[1]]}: that cell is empty.")
    if st.session_state.get(chosen_key) not in offered:  # another matrix since
        st.session_state.pop(chosen_key, None)
    cell: Cell | None = st.selectbox(
        "The cell to open", offered, index=None, key=chosen_key,
        placeholder="Choose a cell (the mistakes come first)",
        format_func=lambda c: c.describe(names))
    if cell is None:
        return
    indices = cell_indices(labels.numpy(), predictions.numpy(), cell.true, cell.predicted)
    show_cell(cell, indices, names, images, probabilities, key=key, way=way, model=model,
              spec=spec, labels=labels, predictions=predictions)


def _styled(matrix: Sequence[Sequence[int]], names: list[str]) -> pd.io.formats.style.Styler:
    """The counts coloured as the picture colours them (white to dark blue)."""
    grid = np.asarray(matrix, dtype=np.int64)
    frame = pd.DataFrame(grid, index=pd.Index(names, name="true ↓ · said →"), columns=names)
    most = grid.max(initial=0) or 1
    colours = np.rint(along(np.clip(grid / most, 0, 1), BLUES)).astype(int)
    css = pd.DataFrame([[f"background-color: {hex_colour(*colours[r, c])}; "
                         f"color: {ink_on(*colours[r, c])}"
                         for c in range(grid.shape[1])] for r in range(grid.shape[0])],
                       index=frame.index, columns=frame.columns)
    return frame.style.apply(lambda _: css, axis=None)


def _clicked(event: object, names: list[str]) -> tuple[int, int] | None:
    """The (true, predicted) cell the table's selection holds, or None."""
    chosen = getattr(getattr(event, "selection", None), "cells", None) or []
    if not chosen:
        return None
    row, column = chosen[0]
    return (int(row), names.index(column)) if column in names else None


def show_cell(cell: Cell, indices: np.ndarray, names: list[str], images: torch.Tensor,
              probabilities: torch.Tensor, *, key: str, way: Way,
              model: Callable[[], nn.Module | None] | None, spec: ArchitectureSpec | None,
              labels: torch.Tensor, predictions: torch.Tensor) -> None:
    """The cell's thumbnails, a page of them at a time, and the "why" of the one asked."""
    count = len(indices)
    last = pages(count)
    page = 0
    if last > 1:
        page = int(st.number_input(f"Page (of {last})", 1, last, 1,
                                   key=f"{key}_page_{cell.true}_{cell.predicted}")) - 1
    shown = page_of(indices, page)
    st.caption(f"{cell.describe(names)}; images {page * PAGE_SIZE + 1:,} to "
               f"{page * PAGE_SIZE + len(shown):,} of {count:,}, each with its most likely "
               "classes")
    explainable = model is not None and spec is not None and len(names) == 10
    with st.container(key=f"{key}_gallery"):
        columns = st.columns(COLUMNS)
        for n, index in enumerate(shown):
            with columns[n % COLUMNS]:
                st.image(digit_image_bytes(images[int(index)]),
                         caption=f"#{int(index)} · {top_classes(probabilities[int(index)], names)}")
                if explainable:
                    st.button("Why?", key=f"{key}_why_{int(index)}", width="stretch",
                              on_click=_ask_why, args=(key, int(index)))
    asked = st.session_state.get(f"{key}_why")
    if explainable and asked is not None and asked in indices.tolist():
        network = model()
        if network is None:
            return
        st.markdown(f"**Why did it say {names[int(predictions[asked])]} for #{asked}?**")
        why_panel(network, spec, images[asked].numpy() / 255.0, int(predictions[asked]),
                  key=f"{key}_why_panel", way=way, true_label=int(labels[asked]))


def _ask_why(key: str, index: int) -> None:
    st.session_state[f"{key}_why"] = index
