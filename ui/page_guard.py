"""The first thing every page runs, before its heavy imports (torch takes seconds to load).

Kept apart from ``app_state`` so that importing it costs nothing: see ``require_frame``. It also
loads PyTorch in the background (``preload_torch``), so that the pages that do not need it
(Start here, Design, the sidebar) draw at once on a fresh server, and the ones that do
(``need_torch``) wait for it with a short loading state.
"""

from __future__ import annotations

import importlib
import threading

import streamlit as st

from ui.streamlit_internals import end_pages_folder_mode, serialize_ast_parse

# Everything heavy the pages import, in the order they are needed: what the Design page's
# table and plots use first (a student opening it meanwhile waits for these, not for torch),
# then torch, torchvision (via the data module) and the trainer.
HEAVY_MODULES = ("pandas", "pyarrow", "plotly.graph_objects", "torch", "cnn_core.data.mnist",
                 "cnn_core.training.trainer", "cnn_core.training.job",
                 "cnn_core.explain.activations", "cnn_core.design.build",
                 "cnn_core.training.devices")
# Loaded after those, without anyone waiting: the Draw page's "why this answer" panel (Captum
# loads matplotlib, ~1.2 s), which would otherwise hold up the server's first drawing.
LATER_MODULES = ("captum.attr",)
_loader: threading.Thread | None = None
_loader_lock = threading.Lock()
_loaded = threading.Event()


def require_frame() -> None:
    """Make sure this page runs inside ``app.py``'s frame (router, sidebar, heartbeat).

    With a folder named ``pages/``, a fresh server starts in Streamlit's legacy multipage mode,
    in which a page URL opened directly runs that file alone; ``st.navigation`` ends the mode
    only once some session has run ``app.py``. So a page that finds the mode still on ends it
    and reruns, through ``app.py``: before loading torch, so the raw file list shows only for
    milliseconds.
    """
    if end_pages_folder_mode():  # the folder's name is part of the product's layout
        st.rerun()


def _import_heavy() -> None:
    for name in HEAVY_MODULES:
        importlib.import_module(name)
    _loaded.set()


def _preload() -> None:
    _import_heavy()
    for name in LATER_MODULES:
        importlib.import_module(name)


def preload_torch() -> None:
    """Start importing PyTorch in a background thread, once per server process. ``app.py``
    calls it after drawing the first page: Streamlit runs no app code before the first
    visit, and an import racing the first page's own run would slow it down."""
    global _loader
    with _loader_lock:
        if _loader is None:
            serialize_ast_parse()
            _loader = threading.Thread(target=_preload, name="preload-torch", daemon=True)
            _loader.start()


def torch_ready() -> bool:
    return _loaded.is_set()


def need_torch() -> None:
    """For pages that use PyTorch, before their imports: wait for it, with a loading state."""
    if _loaded.is_set():
        return
    preload_torch()
    with st.spinner("Loading PyTorch: a few seconds, once after the server starts…"):
        _import_heavy()  # waits for the background import where it is under way
