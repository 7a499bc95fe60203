"""The lesson code: the shipped lessons read back exactly, every valid lesson round-trips,
garbage gets one line, and reading stays linear on hostile input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnn_core.design.design_code import decode_design
from cnn_core.design.presets import PRESETS
from cnn_core.teaching.lessons import (
    CONTROLS,
    MAX_LESSON_CHARS,
    MAX_QUESTION_CHARS,
    MAX_STEPS,
    MAX_TITLE_CHARS,
    STEP_PAGES,
    Lesson,
    LessonError,
    Step,
    format_lesson,
    make_lesson,
    parse_lesson,
)
from cnn_core.teaching.shipped_lessons import LESSONS, SHAPES

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_lessons_read_back_and_fit_a_link():
    assert [lesson.title for lesson in LESSONS] == [
        "Shapes, padding and stride", "What the first layer learns",
        "Why the net fails on our handwriting"]
    for lesson in LESSONS:
        code = format_lesson(lesson)
        assert parse_lesson(code) == lesson
        link = urlencode({"lesson": code})
        assert len(link) < 1000, lesson.title
        assert parse_qs(link)["lesson"] == [code]  # what the browser sends back


def test_a_code_reads_as_written():
    code = ("t.Shapes~d.c8k5-relu-max2-flat-fc10~c.editor.pooling"
            "~s.architecture.What shape?~s.explain.And with stride 2?")
    lesson = parse_lesson(code)
    assert lesson == Lesson("Shapes", (Step("architecture", "What shape?"),
                                       Step("explain", "And with stride 2?")),
                            decode_design("c8k5-relu-max2-flat-fc10"),
                            frozenset({"editor", "pooling"}))
    assert format_lesson(lesson) == code
    assert lesson.shows("editor") and not lesson.shows("export")
    assert lesson.pages() == ["architecture", "explain"] and lesson.step_on("explain") == 1
    assert lesson.step_on("train") is None


def test_tildes_and_dots_in_text_survive():
    lesson = make_lesson("a ~ b~~", [("draw", "~Why? 1.5 ~ 2. ~")])
    code = format_lesson(lesson)
    assert code == "t.a ~~ b~~~~~s.draw.~~Why? 1.5 ~~ 2. ~~"
    assert parse_lesson(code) == lesson


def test_without_c_every_control_shows_and_an_empty_c_hides_them_all():
    every = parse_lesson("t.x~s.draw.q")
    none = parse_lesson("t.x~c.~s.draw.q")
    assert all(every.shows(c) for c in CONTROLS) and not any(none.shows(c) for c in CONTROLS)
    assert format_lesson(none) == "t.x~c.~s.draw.q"


def test_every_control_is_on_a_step_page_and_every_step_page_is_a_page():
    pages = {p.stem for p in (ROOT / "pages").glob("*.py")}
    assert set(STEP_PAGES) <= pages
    assert {page for page, _ in CONTROLS.values()} <= set(STEP_PAGES) | {None}


@pytest.mark.parametrize(("code", "message"), [
    ("", "empty"),
    ("   ", "empty"),
    ("t.x", "no step"),
    ("s.draw.q", "no title"),
    ("t.x~s.draw.q~t.y", "field 't' twice"),
    ("t.x~s.draw.q~s.draw.r", "visits a page twice"),
    ("t.x~s.board.q", "does not start with a page"),
    ("t.x~s.draw", "does not start with a page"),
    ("t.x~s.draw.", "question on Draw & test is empty"),
    ("t.x~s.draw. ", "question on Draw & test is empty"),
    ("t.~s.draw.q", "title is empty"),
    ("t.x~s.draw.a\nb", "cannot be shown"),
    ("t.x~s.draw.q~c.why.nope", "no control 'nope'"),
    ("t.x~s.draw.q~c.why.why", "a control twice"),
    ("t.x~s.draw.q~d.c8k99-flat-fc10", "design does not work"),
    ("t.x~s.draw.q~d.zzz", "the lesson's design:"),
    ("t.x~s.draw.q~", "field 3 ('') is not a letter"),
    ("x.x~s.draw.q", "field 1 ('x.x') is not a letter"),
    ("tx~s.draw.q", "is not a letter"),
    ("t.x" + "".join(f"~s.{p}.q" for p in STEP_PAGES) + "~s.runs.q", "steps; the limit"),
    ("t." + "x" * (MAX_TITLE_CHARS + 1) + "~s.draw.q", "title has 81 characters"),
    ("t.x~s.draw." + "q" * (MAX_QUESTION_CHARS + 1), "the limit is 300"),
    ("t." + "x" * MAX_LESSON_CHARS, "the lesson code has 2,002 characters"),
])
def test_garbage_gets_one_line(code, message):
    with pytest.raises(LessonError) as refused:
        parse_lesson(code)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_a_lesson_that_cannot_be_written_is_refused():
    with pytest.raises(LessonError):
        make_lesson("x", [("draw", "q")], controls=["nope"])
    with pytest.raises(LessonError):
        make_lesson("x", [])
    assert len(STEP_PAGES) == MAX_STEPS  # every page once is the longest lesson


# ---- fuzz: arbitrary text, and valid lessons ----------------------------------------------
text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40).filter(
    lambda t: t.strip() and t.isprintable())
lessons = st.builds(
    Lesson, title=text,
    steps=st.lists(st.tuples(st.sampled_from(list(STEP_PAGES)), text), min_size=1,
                   max_size=MAX_STEPS, unique_by=lambda s: s[0]).map(
        lambda steps: tuple(Step(p, q) for p, q in steps)),
    design=st.one_of(st.none(), st.sampled_from(list(PRESETS.values()))),
    controls=st.one_of(st.none(), st.frozensets(st.sampled_from(list(CONTROLS)))))


@settings(max_examples=500, deadline=None)
@given(lesson=lessons)
def test_every_valid_lesson_round_trips(lesson):
    code = format_lesson(lesson)
    assert parse_lesson(code) == lesson
    assert parse_qs(urlencode({"lesson": code}))["lesson"] == [code]


LESSON_CHARS = "tdcs.~-~drawexplain q\n\u00a0\u0663c8k5relu"
arbitrary = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=LESSON_CHARS, max_size=120),
    st.builds(lambda head, piece, times: head + piece * times,
              st.sampled_from(["t.x~s.draw.", "t.", "t.x~d.c", "t.x~c.", "~"]),
              st.text(alphabet=LESSON_CHARS, min_size=1, max_size=6), st.integers(1, 800)),
    lessons.map(format_lesson).flatmap(  # a valid code with a few characters changed
        lambda code: st.tuples(st.integers(0, len(code)), st.text(alphabet=LESSON_CHARS,
                                                                  max_size=3)).map(
            lambda cut: code[:cut[0]] + cut[1] + code[cut[0] + 1:])))


@settings(max_examples=1000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(code=arbitrary)
def test_any_text_is_a_lesson_or_one_lesson_error(code):
    try:
        lesson = parse_lesson(code)
    except LessonError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert parse_lesson(format_lesson(lesson)) == lesson
        assert len(code) <= MAX_LESSON_CHARS


HOSTILE = ["~" * MAX_LESSON_CHARS, "t.x~s.draw." + "~~" * 994, "t.x~c." + "." * 1990,
           "t.x~s.draw.q~d.c1" + "x1e1" * 495 + "Z", "t." + "~x" * 999,
           "~".join(["s.draw.q"] * 222)]
CHILD = """
import json, sys
from cnn_core.teaching.lessons import LessonError, parse_lesson
for code in json.load(sys.stdin):
    try:
        parse_lesson(code)
        print("read")
    except LessonError:
        print("refused")
"""


def test_hostile_codes_are_refused_in_one_pass():
    """In a child process with a timeout: a regex in the design code runs in C and holds the
    interpreter, so only killing the child could stop a backtracking reader."""
    assert all(len(code) <= MAX_LESSON_CHARS for code in HOSTILE)
    child = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(HOSTILE),
                           capture_output=True, text=True, timeout=20, cwd=ROOT, check=True)
    assert child.stdout.split() == ["refused"] * len(HOSTILE)


def test_shapes_lesson_starts_from_a_working_design():
    from cnn_core.design.shapes import analyze

    assert analyze(SHAPES.design).ok and SHAPES.pages() == ["architecture", "explain"]
