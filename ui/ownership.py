"""Ownership: whose runs and drawings are "mine", and the teacher key as a session sees it.

A session's owner secret is its browser's (a cookie), never a link's: a reload keeps it, a
copied address does not carry it. The teacher key counts wrong tries per browser, so one
student's guesses slow down that student and not the teacher.
"""

from __future__ import annotations

import contextlib
import hmac
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

import streamlit as st

from cnn_core.storage.owners import new_owner_token, owner_hash
from cnn_core.storage.teacher_key import TeacherKey
from ui.streamlit_internals import hidden_css

if TYPE_CHECKING:
    from cnn_core.training.runner import Training


@st.cache_resource(show_spinner=False)
def teacher_keys() -> TeacherKey:
    """The server's one teacher key and every session's wrong tries at it:
    ``$CNN_EXPLAINER_TEACHER_KEY``, else ``teacher_key`` in Streamlit secrets."""
    key = None
    with contextlib.suppress(Exception):  # no secrets file: the environment decides
        key = st.secrets.get("teacher_key")
    return TeacherKey(key or None)


def teacher_key() -> TeacherKey:
    """The teacher key as this session sees it: its wrong tries slow down this browser only
    (named by its owner secret's hash, so a reload does not start the count again)."""
    return teacher_keys().asked_by(owner_hash(owner_token()))


# ---- ownership: the browser's own secret, never a link's ---------------------------------
OWNER_COOKIE = "cnn_explainer_owner"
OWNER_COOKIE_MAX_AGE_S = 12 * 3600  # a school day: not the next class on a shared computer
_OWNER_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32}")  # new_owner_token()'s, fixed length


def owner_token() -> str:
    """This session's secret: it marks the runs and drawings it makes as "mine" (to delete,
    pin, remove them). It is the browser's: a cookie that a reload of the same browser sends
    back (see ``remember_owner_in_browser``), so a reload keeps ownership; it never travels
    in a URL, so a copied link does not hand it over."""
    if "owner_token" not in st.session_state:
        kept = _owner_cookie()
        st.session_state["owner_token"] = kept or new_owner_token()
        st.session_state["owner_token_kept"] = kept is not None
    return st.session_state["owner_token"]


def _owner_cookie() -> str | None:
    """The owner secret this browser sent when the session connected, if it is one."""
    value = _sent_cookies().get(OWNER_COOKIE)
    return value if isinstance(value, str) and _OWNER_TOKEN_SHAPE.fullmatch(value) else None


def _sent_cookies() -> Mapping[str, str]:
    try:
        return st.context.cookies
    except Exception:  # no browser (a bare import): nothing was sent
        return {}


def remember_owner_in_browser() -> None:
    """Call on every run. Streamlit can read cookies but not set them: a session whose
    browser sent no owner cookie writes its new secret into one with a line of JavaScript
    (``st.html``'s public ``unsafe_allow_javascript``), for the browser's next session."""
    token = owner_token()
    if st.session_state.get("owner_token_kept"):
        return
    secure = '(location.protocol === "https:" ? "; Secure" : "")'
    with st.container(key="owner_cookie"):  # hidden: no gap at the top of the page
        st.html(hidden_css("owner_cookie"))
        st.html(f'<script>document.cookie = "{OWNER_COOKIE}={token}; path=/; '
                f'max-age={OWNER_COOKIE_MAX_AGE_S}; SameSite=Strict" + {secure};</script>',
                unsafe_allow_javascript=True)


def owns_training(job: Training) -> bool:
    """Whether this session started ``job`` (a tab that follows it from a link only watches)."""
    started_by = getattr(job.recorder, "owner_token", None) if job.recorder else None
    return started_by is not None and hmac.compare_digest(started_by, owner_token())
