"""Lessons in AppTest: each shipped lesson opens from its link with only its pages, only its
controls, predict first on and its question on each page; a reload keeps it; the Start page
lists the three; the teacher's panel writes a link that opens the same way; a broken link
says why and opens the app as usual."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import by_label, wait_data
from streamlit.testing.v1 import AppTest

from cnn_core.design.design_code import encode_design
from cnn_core.teaching.lessons import STEP_PAGES, format_lesson, parse_lesson
from cnn_core.teaching.shipped_lessons import FIRST_LAYER, LESSONS, OUR_HANDWRITING, SHAPES
from ui.lesson import plain


def open_link(query: dict[str, str]) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=60)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    return at


def open_lesson(code: str) -> AppTest:
    return open_link({"lesson": code})


def menu(at: AppTest) -> list[str] | None:
    """The pages the sidebar lists in a lesson, by file name; None outside one (the
    navigation's own menu, every page)."""
    links = [link.proto.page for link in at.sidebar.get("page_link")]
    return [Path(page).stem for page in links] if links else None


def labels(at: AppTest) -> set[str]:
    """Every control's label on the page (and the sidebar), expanders and subheaders too."""
    widgets = (*at.toggle, *at.selectbox, *at.checkbox, *at.button, *at.number_input,
               *at.expander, *at.multiselect, *at.text_input, *at.slider, *at.radio)
    return {w.label for w in widgets} | {s.value for s in at.subheader}


# Per lesson and page: labels that must show, and labels of hidden controls that must not.
CONTROLS = {
    (SHAPES.title, "architecture"): ({"Layer to edit", "New layer type"},
                               {"Predict first", "Start from", "Copy a link to this design",
                                "Import / export the design as JSON"}),
    (SHAPES.title, "explain"): ({"stride", "padding (zeros on each side)",
                           "Then ReLU, then pooling"}, {"Predict first"}),
    (FIRST_LAYER.title, "train"): ({"Epochs", "Train"},
                             {"Predict first", "Dataset", "Augment the digits",
                              "Teacher: every training on this server"}),
    (FIRST_LAYER.title, "draw"): ({"Pen width"}, {"Predict first", "Add to the class set"}),
    (FIRST_LAYER.title, "explain"): ({"Kernel", "stride"}, {"Predict first",
                                                      "Then ReLU, then pooling"}),
    (OUR_HANDWRITING.title, "draw"): ({"Pen width", "Add to the class set"}, {"Predict first"}),
    (OUR_HANDWRITING.title, "class_data"): (set(), {"Predict first"}),
    (OUR_HANDWRITING.title, "train"): ({"Dataset", "Train on", "Test on", "Augment the digits"},
                                 {"Predict first", "Teacher: every training on this server"}),
}


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.title)
def test_each_lesson_opens_with_its_pages_controls_and_questions(lesson):
    at = open_lesson(format_lesson(lesson))
    assert at.session_state["predict_first"] is True
    assert encode_design(lesson.design) == at.query_params["design"]
    assert "lesson" in at.query_params and at.query_params["predict"] == "1"
    assert menu(at) == lesson.pages()
    first = f"**{plain(lesson.steps[0].question)}**"
    assert first in [m.value for m in at.markdown]  # the bare link opens the first step
    for n, step in enumerate(lesson.steps):
        at.switch_page(f"pages/{step.page}.py")
        at.run()
        if step.page == "train":
            wait_data(at)
        assert f"**{plain(step.question)}**" in [m.value for m in at.markdown], step.page
        assert any(f"step {n + 1} of {len(lesson.steps)}" in c.value for c in at.caption)
        shown, hidden = CONTROLS[lesson.title, step.page]
        present = labels(at)
        assert shown <= present, (step.page, shown - present)
        assert not hidden & present, (step.page, hidden & present)
        following = [link.label for link in at.get("page_link")]
        if n + 1 < len(lesson.steps):
            nxt = lesson.steps[n + 1].page
            assert f"Next: step {n + 2} · {STEP_PAGES[nxt]}" in following


def test_a_reload_keeps_the_lesson_and_the_students_design():
    at = open_lesson(format_lesson(SHAPES))
    untouched = open_link({name: at.query_params[name] for name in at.query_params})
    assert untouched.sidebar.markdown[0].value == f"**Design:** {SHAPES.title}"
    by_label(at.number_input, "padding").set_value(2).run()
    query = {name: at.query_params[name] for name in at.query_params}
    assert query["design"] == "c8k5p2-relu-max2-flat-fc10"
    again = open_link(query)  # what a reload sends
    assert menu(again) == ["architecture", "explain"]
    assert again.query_params["design"] == "c8k5p2-relu-max2-flat-fc10"
    assert plain(SHAPES.steps[0].question) in again.markdown[0].value


def test_leaving_the_lesson_brings_every_page_and_control_back():
    at = open_lesson(format_lesson(SHAPES))
    by_label(at.button, "Leave the lesson").click().run()
    assert menu(at) is None
    assert {"Predict first", "Start from", "Layer to edit"} <= labels(at)
    assert "lesson" not in at.query_params


def test_a_broken_lesson_link_says_why_and_opens_the_app():
    at = open_lesson("t.Pooling~s.board.What now?")
    assert "This lesson link could not be read" in at.warning[0].value
    assert "does not start with a page" in at.warning[0].value
    assert menu(at) is None and "lesson" not in at.query_params


def test_the_start_page_lists_the_three_lessons_with_their_links():
    at = open_link({})
    buttons = [b for b in at.get("link_button") if b.proto.label == "Open the lesson"]
    codes = [parse_qs(urlsplit(b.proto.url).query)["lesson"][0] for b in buttons]
    assert [parse_lesson(code) for code in codes] == list(LESSONS)
    assert [c.value for c in at.code if "lesson=" in c.value] == [b.proto.url for b in buttons]


def test_a_teacher_makes_a_lesson_and_its_link_opens_it():
    at = open_link({})
    at.text_input(key="maker_title").set_value("Pooling").run()
    at.multiselect(key="maker_pages").set_value(["explain", "draw"]).run()
    assert "Not a lesson yet" in at.error[0].value  # the questions are still empty
    at.text_area(key="maker_q_explain").set_value("What does max pooling keep?")
    at.text_area(key="maker_q_draw").set_value("Which maps light up?")
    # the chosen pages' controls start shown, the predict-first switch hidden
    assert at.multiselect(key="maker_controls").value == ["class-set", "why", "maps", "pooling"]
    at.multiselect(key="maker_controls").set_value(["why"])
    at.selectbox(key="maker_design").set_value("LeNet-5").run()
    link = next(c.value for c in at.code if "lesson=" in c.value and "Pooling" in c.value)
    code = parse_qs(urlsplit(link).query)["lesson"][0]
    lesson = parse_lesson(code)
    assert lesson.title == "Pooling" and lesson.pages() == ["explain", "draw"]
    assert lesson.controls == {"why"} and lesson.design is not None
    opened = open_lesson(code)
    assert menu(opened) == ["explain", "draw"]
    assert plain("What does max pooling keep?") in opened.markdown[0].value
    assert "Then ReLU, then pooling" not in labels(opened)  # pooling was not picked


def test_a_lessons_text_shows_as_written_never_as_a_link_or_markup():
    at = open_lesson("t.My :red[lesson]~s.draw.See [this](https://example.com) "
                     "![x](https://e.x/i.png) **now**")
    question = at.markdown[0].value
    assert question == ("**See \\[this\\]\\(https\\:\\/\\/example\\.com\\) \\!\\[x\\]"
                        "\\(https\\:\\/\\/e\\.x\\/i\\.png\\) \\*\\*now\\*\\***")
    assert any("\\:red\\[lesson\\]" in caption.value for caption in at.caption)
