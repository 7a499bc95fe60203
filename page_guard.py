"""The first thing every page runs, before its heavy imports (torch takes seconds to load).

Kept apart from ``app_state`` so that importing it costs nothing: see ``require_frame``.
"""

from __future__ import annotations

import streamlit as st


def require_frame() -> None:
    """Make sure this page runs inside ``app.py``'s frame.

    Because the pages live in a folder named ``pages/``, a fresh Streamlit server starts in
    its legacy multipage mode: a page URL opened directly (``/train``), before any session has
    run ``app.py``, runs that page file alone, without the router, sidebar and heartbeat, and
    the sidebar lists the raw file names. ``st.navigation`` turns that mode off for good, but
    only once ``app.py`` runs, so a page that finds it still on turns it off and reruns; the
    rerun goes through ``app.py``. Called before the page loads torch, the raw file list shows
    for milliseconds instead of the seconds the first import of torch takes.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
