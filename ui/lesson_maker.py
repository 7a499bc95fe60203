"""The Start page's lessons: the three shipped ones, each with its link, and the teacher's
"Make a lesson" panel, which writes a new one's link from the pages, controls, design and
questions the teacher picks."""

from __future__ import annotations

import streamlit as st

from cnn_core.design.presets import PRESETS
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.teaching.lessons import (
    CONTROLS,
    MAX_QUESTION_CHARS,
    MAX_TITLE_CHARS,
    STEP_PAGES,
    Lesson,
    LessonError,
    format_lesson,
    make_lesson,
)
from cnn_core.teaching.shipped_lessons import LESSONS
from ui.design_state import current_spec, design_name
from ui.lesson import lesson_link, plain

KEEP_DESIGN = "Whatever design the student has"


def _link(lesson: Lesson) -> str:
    return lesson_link(st.context.url or "", format_lesson(lesson))


def _route(lesson: Lesson) -> str:
    return " → ".join(STEP_PAGES[page] for page in lesson.pages())


def shipped_lessons() -> None:
    """The three lessons, each a card with its pages and its link."""
    for n, (column, lesson) in enumerate(zip(st.columns(len(LESSONS)), LESSONS)):
        with column, st.container(border=True, key=f"lesson_card_{n}"):
            st.markdown(f"**{plain(lesson.title)}**")
            st.caption(f":material/route: {_route(lesson)}")
            link = _link(lesson)
            st.link_button("Open the lesson", link, icon=":material/school:")
            with st.expander("Its link, to copy"):
                st.code(link, language=None, wrap_lines=True)


def make_panel() -> None:
    """For a teacher: pick the pages (in order), a question for each, the controls that show
    and the design to start from; the link is written as the choices change."""
    title = st.text_input("Title", max_chars=MAX_TITLE_CHARS, key="maker_title",
                          placeholder="e.g. Pooling and the receptive field")
    pages = st.multiselect("Pages, in the order the class takes them", list(STEP_PAGES),
                           format_func=STEP_PAGES.get, key="maker_pages",
                           max_selections=len(STEP_PAGES))
    questions = [st.text_area(f"Question on {STEP_PAGES[page]}", key=f"maker_q_{page}",
                              max_chars=MAX_QUESTION_CHARS, height=80) for page in pages]
    offered = [c for c, (page, _) in CONTROLS.items() if page is None or page in pages]
    before = st.session_state.get("maker_offered", [])
    if offered != before:  # a page added: its controls start shown (the switch hidden)
        kept = st.session_state.get("maker_controls", [])
        st.session_state["maker_controls"] = [
            c for c in offered if c in kept or (c not in before and c != "switch")]
        st.session_state["maker_offered"] = offered
    controls = st.multiselect(
        "Controls that show (the others are hidden)", offered, key="maker_controls",
        help="Predict first is on in every lesson; with its switch shown, a student can "
             "turn it off",
        format_func=lambda c: f"{STEP_PAGES.get(CONTROLS[c][0] or '', 'Every page')}: "
                              f"{CONTROLS[c][1]}")
    designs = [f"The current design ({design_name()})", *PRESETS, KEEP_DESIGN]
    choice = st.selectbox("Design to start from", designs, key="maker_design")
    design: ArchitectureSpec | None = current_spec() if choice == designs[0] else \
        PRESETS.get(choice)
    if not title.strip() or not pages:
        st.caption(":material/info: A title and at least one page make a lesson.")
        return
    try:
        lesson = make_lesson(title, zip(pages, questions), design,
                             None if set(controls) == set(offered) else controls)
    except LessonError as exc:
        st.error(f"Not a lesson yet: {exc}.", icon=":material/edit:")
        return
    link = _link(lesson)
    st.caption("The lesson's link: predict first is on in it. Copy it with the button at "
               "the code's corner.")
    st.code(link, language=None, wrap_lines=True)
    st.link_button("Try it", link, icon=":material/open_in_new:")
