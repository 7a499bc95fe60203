"""Every use of Streamlit's private APIs and of its page's DOM, in one place, each with its
reason and, where there is one, the upstream issue it works around.

When Streamlit changes, this is the module to check (and ``TESTED_WITH``); the rest of the
app uses public APIs. The server log says so at start when another version is installed.
"""

from __future__ import annotations

import ast
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import streamlit

TESTED_WITH = "1.67.0"  # requirements.txt pins it; every use below was checked against it
LOG = logging.getLogger("cnn_explainer")
if streamlit.__version__ != TESTED_WITH:
    LOG.warning("Streamlit %s is installed; ui/streamlit_internals.py was checked against %s: "
                "check each private use in it", streamlit.__version__, TESTED_WITH)


# ---- the page's DOM: classes and test ids Streamlit gives its elements ------------------
# Not an API: Streamlit gives a keyed element the class st-key-<key>, and its elements
# data-testid names; CSS and the live chart's script find elements by them.
def keyed(key: str) -> str:
    """The CSS selector of the element made with ``key=key``."""
    return f".st-key-{key}"


def component_frame(key: str) -> str:
    """The CSS selector of the iframe a component made with ``key=key`` renders in."""
    return f"{keyed(key)} iframe"


def quiet_animations_css(key_prefix: str) -> str:
    """No progress bars' slide, and no stale fade of elements keyed ``key_prefix…``."""
    live = f"[class*='st-key-{key_prefix}']"
    return ("<style>[data-testid='stProgress'] * { transition: none !important; } "
            f"{live}, {live} [data-testid='stElementContainer'] "
            "{ opacity: 1 !important; transition: none !important; }</style>")


def hidden_css(key: str) -> str:
    """Takes the keyed element out of the layout (no gap where it would be)."""
    return f"<style>{keyed(key)} {{ display: none; }}</style>"


# ---- sessions and script runs -------------------------------------------------------------
# Private: get_script_run_ctx and Runtime.instance(). Streamlit has no public way to ask,
# from any thread, whether a session's tab is still connected, or whether code runs inside a
# session's script run (bare mode: a process torch spawns imports app.py).
def in_script_run() -> bool:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    return get_script_run_ctx() is not None


def session_connection() -> Callable[[], bool] | None:
    """A check, safe from any thread, that this session's tab is connected; None where no
    server runs (AppTest)."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not Runtime.exists():
        return None
    runtime, session_id = Runtime.instance(), ctx.session_id
    return lambda: runtime.is_active_session(session_id)


# ---- the pages/ folder -----------------------------------------------------------------------
def end_pages_folder_mode() -> bool:
    """End Streamlit's legacy multipage mode, which a folder named ``pages/`` starts and only
    a run of ``st.navigation`` ends (so a page URL opened on a fresh server runs that file
    alone). True when it was on: the caller reruns, through ``app.py``."""
    # Private flag PagesManager.uses_pages_directory: no public switch (streamlit/streamlit
    # PR #10276 keeps it "for apps created with the pages directory feature").
    from streamlit.runtime.pages_manager import PagesManager

    if not PagesManager.uses_pages_directory:
        return False
    PagesManager.uses_pages_directory = False
    return True


# ---- ast.parse, shared by torch's import and Streamlit's magic ----------------------------
def serialize_ast_parse() -> None:
    """One thread at a time in ``ast.parse``. Python 3.11's AST builder counts its recursion
    depth per interpreter, not per thread, and torch's import parses source (``inspect``,
    ``torch.jit``) while a session's first run of a page parses that page (Streamlit's
    magic): one of the two then fails with "SystemError: AST constructor recursion depth
    mismatch" (CPython gh-106905)."""
    if getattr(ast.parse, "serialized", False):
        return
    original, lock = ast.parse, threading.Lock()

    def parse(*args, **kwargs):
        with lock:
            return original(*args, **kwargs)

    parse.serialized = True
    ast.parse = parse

# ---- uploads: what one session (and the server) can park in memory ------------------------
# Streamlit keeps every file sent to /_stcore/upload_file/<session>/<file> in memory, in a
# MemoryUploadedFileManager, until that session ends: any client with a session could park any
# amount there. The manager is private; the runtime, each session and the upload route all
# hold the one instance, so it is given a bounded subclass in place (its __class__), once.

UPLOAD_KEEP_S = 120.0  # a file younger than this is not evicted for another session's


def _limits() -> tuple[int, int]:
    """Per session: one largest upload (78 MiB); the server: three of them."""
    from cnn_core.storage.uploads import MAX_UPLOAD_BYTES

    return MAX_UPLOAD_BYTES, 3 * MAX_UPLOAD_BYTES


def _bounded_manager_class() -> type:
    # Private: MemoryUploadedFileManager and its fields (file_storage, _lock, _total_bytes,
    # _file_count) are not public API; the bound has to sit where the bytes are kept.
    from starlette.exceptions import HTTPException
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager

    class BoundedUploadedFileManager(MemoryUploadedFileManager):
        """A session keeps at most one largest upload's worth (its own oldest files go
        first); the server keeps at most three (files of sessions that are
        gone, then files older than ``UPLOAD_KEEP_S``, go first; else the upload is refused
        with 503)."""

        def add_file(self, session_id: str, file: Any) -> None:
            per_session, per_server = _limits()
            with self._lock:
                added = self.__dict__.setdefault("_added_at", {})
                self._drop(session_id, file.file_id)
                self.file_storage[session_id][file.file_id] = file
                self._total_bytes += len(file.data)
                self._file_count += 1
                added[(session_id, file.file_id)] = time.monotonic()
                mine = sorted(self.file_storage[session_id], key=lambda f: added.get(
                    (session_id, f), 0.0))
                while self._bytes(session_id) > per_session and len(mine) > 1:
                    self._drop(session_id, mine.pop(0))
                for sid, fid in self._eviction_order(session_id):
                    if self._total_bytes <= per_server:
                        break
                    self._drop(sid, fid)
                if self._total_bytes > per_server:
                    self._drop(session_id, file.file_id)
                    raise HTTPException(503, "The server holds too many uploads right now: "
                                             "try again in a minute.")

        def remove_file(self, session_id: str, file_id: str) -> None:
            with self._lock:
                self._drop(session_id, file_id)

        def remove_session_files(self, session_id: str) -> None:
            with self._lock:
                for file_id in list(self.file_storage.get(session_id, {})):
                    self._drop(session_id, file_id)

        def _bytes(self, session_id: str) -> int:
            return sum(len(f.data) for f in self.file_storage.get(session_id, {}).values())

        def _drop(self, session_id: str, file_id: str) -> None:
            storage = self.file_storage.get(session_id)
            file = storage.pop(file_id, None) if storage is not None else None
            if file is not None:
                self._total_bytes -= len(file.data)
                self._file_count -= 1
            self.__dict__.setdefault("_added_at", {}).pop((session_id, file_id), None)
            if storage is not None and not storage:
                del self.file_storage[session_id]

        def _eviction_order(self, keep: str) -> list[tuple[str, str]]:
            """Other sessions' files: those whose session is gone first, then those parked
            longer than UPLOAD_KEEP_S, oldest first; then, however young, those of sessions
            holding at least as much as ``keep`` (largest first), so that sessions that keep
            re-sending cannot hold the store full for everyone else."""
            added, now = self.__dict__.get("_added_at", {}), time.monotonic()
            gone = [(s, f) for s in self.file_storage if s != keep and not _connected(s)
                    for f in self.file_storage[s]]
            old = sorted(((s, f) for (s, f), t in added.items()
                          if s != keep and now - t > UPLOAD_KEEP_S and (s, f) not in gone),
                         key=lambda k: added[k])
            mine = self._bytes(keep)
            bigger = sorted((s for s in self.file_storage if s != keep and self._bytes(s) >= mine),
                            key=self._bytes, reverse=True)
            young = [(s, f) for s in bigger
                     for f in sorted(self.file_storage[s], key=lambda f, s=s: added.get((s, f), 0))
                     if (s, f) not in gone and (s, f) not in old]
            return gone + old + young

    return BoundedUploadedFileManager


def _connected(session_id: str) -> bool:
    # Private: Runtime.instance() and is_active_session (a session whose tab is connected).
    from streamlit.runtime import Runtime

    return Runtime.exists() and Runtime.instance().is_active_session(session_id)


_install_lock = threading.Lock()


def install_upload_bounds() -> bool:
    """Bound the server's upload store (once; later calls return at once). False where
    there is no server runtime (AppTest) or its store is not the in-memory one."""
    # Private: Runtime.instance().uploaded_file_mgr is the store the upload route writes to.
    from streamlit.runtime import Runtime
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager

    if not Runtime.exists():
        return False
    manager = Runtime.instance().uploaded_file_mgr
    with _install_lock:
        if type(manager) is MemoryUploadedFileManager:
            with manager._lock:  # no upload lands half-counted while the class changes
                manager.__class__ = _bounded_manager_class()
    return type(manager).__name__ == "BoundedUploadedFileManager"


def readable_uploads(value: Any) -> list[Any]:
    """The files of a file_uploader's value that can still be read (a file dropped after it
    was handled comes back as a DeletedFile, which has no bytes)."""
    from streamlit.runtime.uploaded_file_manager import UploadedFile

    files = value if isinstance(value, list) else [value]
    return [f for f in files if isinstance(f, UploadedFile)]


def drop_uploads(files: Iterable[Any]) -> None:
    """Let go of uploaded files once they are handled: Streamlit would keep their bytes until
    the session ends."""
    # Private: the script run context holds the session's upload store and id (st.chat_input
    # drops its own files the same way).
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return
    for f in files:
        ctx.uploaded_file_mgr.remove_file(ctx.session_id, f.file_id)
