"""A lesson from its link: the pages the navigation lists, the controls that draw, and the
step's question above each page.

``restore_from_url`` reads the link once per session (``url_sync.restore_from_url`` calls
it, loads the lesson's design unless the link carries one, and turns predict-first on);
``url_params`` keeps the lesson in the URL, so a reload or the same link on another device
comes back to it. Pages ask ``shows(control)`` before drawing an optional control.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import streamlit as st

from cnn_core.teaching.lessons import STEP_PAGES, Lesson, LessonError, parse_lesson

if TYPE_CHECKING:
    from streamlit.navigation.page import StreamlitPage  # what st.Page returns

LESSON_PARAM = "lesson"
# Every ASCII punctuation mark, which Markdown lets a backslash escape: a lesson's text is
# anyone's, so it shows as typed, never as a link, an image or Streamlit's :colour[...].
_MARKDOWN_MARK = re.compile(r"([!-/:-@\[-`{-~])")
STATE, CODE, NOTE = "lesson", "lesson_code", "lesson_note"


def plain(text: str) -> str:
    """Text for ``st.markdown`` that shows exactly as written."""
    return _MARKDOWN_MARK.sub(r"\\\1", text)


def current() -> Lesson | None:
    """The lesson this session follows, or None."""
    return st.session_state.get(STATE)


def shows(control: str) -> bool:
    """Whether an optional control (``lessons.CONTROLS``) draws: always, outside a lesson."""
    lesson = current()
    return lesson is None or lesson.shows(control)


def restore_from_url(params: Mapping[str, str]) -> Lesson | None:
    """Once per session: the lesson the link names, now this session's; a link whose lesson
    cannot be read is told on the page (``step_box``) and opens the app as usual."""
    code = params.get(LESSON_PARAM)
    if not code:
        return None
    try:
        lesson = parse_lesson(code)
    except LessonError as exc:
        st.session_state[NOTE] = f"This lesson link could not be read: {exc}."
        return None
    st.session_state[STATE], st.session_state[CODE] = lesson, code
    return lesson


def url_params() -> dict[str, str]:
    """What the URL carries for the lesson: its code while one is followed."""
    return {LESSON_PARAM: st.session_state[CODE]} if current() is not None else {}


def lesson_link(base_url: str, code: str) -> str:
    return f"{base_url.split('?')[0]}?{urlencode({LESSON_PARAM: code})}"


def leave() -> None:
    st.session_state.pop(STATE, None)
    st.session_state.pop(CODE, None)


def menu_position() -> str:
    """Where the navigation's own menu goes: in a lesson nowhere, for ``sidebar_note``
    lists the lesson's steps instead. Every page stays registered, so that a page's link
    to another (Train's "Change the design") still works inside a lesson."""
    return "hidden" if current() is not None else "sidebar"


def open_first_step(url_path: str) -> None:
    """A bare lesson link lands on the app's root: go on to the lesson's first step."""
    lesson = current()
    if lesson is not None and url_path == "":
        st.switch_page(f"pages/{lesson.steps[0].page}.py")


def step_box(url_path: str) -> None:
    """Above the page: the lesson's question for this page and the way to the next step."""
    if note := st.session_state.pop(NOTE, None):
        st.warning(note, icon=":material/link_off:")
    lesson = current()
    if lesson is None:
        return
    n = lesson.step_on(url_path)
    if n is None:
        return
    with st.container(border=True, key="lesson_step"):
        st.caption(f":material/school: {plain(lesson.title)} · step {n + 1} of "
                   f"{len(lesson.steps)}")
        st.markdown(f"**{plain(lesson.steps[n].question)}**")
        if n + 1 < len(lesson.steps):
            page = lesson.steps[n + 1].page
            st.page_link(f"pages/{page}.py", label=f"Next: step {n + 2} · {STEP_PAGES[page]}",
                         icon=":material/arrow_forward:")


def sidebar_note(all_pages: Sequence[StreamlitPage]) -> None:
    """In the sidebar, in a lesson: its steps, in its order (the navigation's menu is
    hidden), and a way out of it (every page back)."""
    lesson = current()
    if lesson is None:
        return
    icons = {page.url_path: page.icon for page in all_pages}
    with st.container(key="lesson_menu"):
        st.caption(f":material/school: Lesson: **{plain(lesson.title)}**")
        for n, step in enumerate(lesson.steps, 1):
            st.page_link(f"pages/{step.page}.py", label=f"Step {n} · {STEP_PAGES[step.page]}",
                         icon=icons.get(step.page) or None)
        st.button("Leave the lesson", icon=":material/logout:", on_click=leave,
                  help="Every page and control again; predict first stays as it is")
