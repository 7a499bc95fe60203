"""The predictions store (one transaction each, bounded, the board behind the teacher key) and
the other three checks: a window's value, the net's digit, a loss's trend."""

from __future__ import annotations

import csv
import io
import threading
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnn_core.storage.teacher_key import TeacherKey
from cnn_core.teaching import predictions as pr
from cnn_core.teaching import shape_answers as sa
from cnn_core.teaching import step_answers as sta
from cnn_core.teaching.predictions import Answer, NotAllowed, Predictions, PredictionsError, Refused

KEY = "owl-7"


@pytest.fixture
def store(tmp_path):
    s = Predictions(tmp_path)
    yield s
    s.close()


def teacher() -> TeacherKey:
    return TeacherKey(KEY).asked_by("teacher")


def test_the_board_groups_wrong_answers_by_cause_and_needs_the_key(store):
    q = "design: conv2d (16, k5, s2, p2) on 1x28x28"
    store.add(Answer(q, "16x14x14", True, nickname="ada"), "a")
    store.add(Answer(q, "16x12x12", False, sa.FORGOT_PADDING), "b")
    store.add(Answer(q, "16x12x12", False, sa.FORGOT_PADDING), "c")
    store.add(Answer(q, "16x28x28", False, sa.IGNORED_STRIDE), "d")
    store.add(Answer("draw: which digit will the net say?", "3", False, "the net said 8"), "a")
    with pytest.raises(NotAllowed):
        store.open_board(TeacherKey(KEY).asked_by("student"), "guess")
    with pytest.raises(NotAllowed):
        store.open_board(teacher(), "")
    board = store.open_board(teacher(), KEY)
    draw, design = board.questions()  # the most recently answered first
    assert (draw.answered, draw.right) == (1, 0)
    assert (design.question, design.answered, design.right) == (q, 4, 1)
    assert design.share_right == 0.25
    assert [(g.cause, g.count, g.answers) for g in design.wrong_by_cause] == [
        (sa.FORGOT_PADDING, 2, (("16x12x12", 2),)), (sa.IGNORED_STRIDE, 1, (("16x28x28", 1),))]


def test_clearing_needs_the_key_and_a_student_takes_back_only_their_own(store):
    store.add(Answer("q", "1", True), "mine")
    store.add(Answer("q", "2", False, "slip"), "theirs")
    assert store.delete_mine("mine") == 1 and store.count() == 1
    assert store.mine("theirs") == [Answer("q", "2", False, "slip")]
    with pytest.raises(NotAllowed, match="not the teacher key"):
        store.clear(teacher(), "guess")
    assert store.count() == 1
    assert store.clear(teacher(), KEY) == 1 and store.count() == 0
    nobody = TeacherKey("")
    with pytest.raises(NotAllowed, match="no teacher key is set"):
        store.clear(nobody, KEY)


def test_answers_are_bounded_per_browser_and_in_total(store, monkeypatch):
    monkeypatch.setattr(pr, "MAX_PER_OWNER", 3)
    monkeypatch.setattr(pr, "MAX_ROWS", 5)
    for _ in range(3):
        store.add(Answer("q", "a", True), "keen")
    with pytest.raises(Refused, match="this browser has given 3 answers"):
        store.add(Answer("q", "a", True), "keen")
    store.add(Answer("q", "a", True), "other")
    store.add(Answer("q", "a", True), "third")
    with pytest.raises(Refused, match="the board is full"):
        store.add(Answer("q", "a", True), "fourth")
    assert store.count() == 5


def test_a_right_answer_keeps_no_cause_and_long_text_is_clipped(store):
    store.add(Answer("q" * 500, "a" * 500, True, "a cause", "n" * 500), "x")
    [kept] = store.mine("x")
    assert kept == Answer("q" * pr.MAX_QUESTION_CHARS, "a" * pr.MAX_ANSWER_CHARS, True, "",
                          "n" * pr.MAX_NICKNAME_CHARS)
    with pytest.raises(Refused, match="needs its question"):
        store.add(Answer("  ", "1", True), "x")


def test_students_answering_at_once_all_keep_their_answers(tmp_path):
    together = threading.Barrier(8)

    def answer(n: int) -> None:
        s = Predictions(tmp_path)  # each its own connection, as sessions have
        together.wait()
        for i in range(10):
            s.add(Answer("q", str(i), i % 2 == 0, "slip"), f"student-{n}")
        s.close()

    students = [threading.Thread(target=answer, args=(n,)) for n in range(8)]
    for s in students:
        s.start()
    for s in students:
        s.join(60)
    assert Predictions(tmp_path).count() == 80


def test_the_csv_has_every_answer_no_owner_and_no_formulas(store):
    store.add(Answer("q", "=HYPERLINK(1)", False, "+cmd", "@ada"), "secret-owner")
    store.add(Answer("explain", "-0.53", True), "x")
    text = store.open_board(teacher(), KEY).csv().decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["question", "answer", "right", "cause", "nickname", "answered_utc"]
    assert rows[1][:5] == ["q", "'=HYPERLINK(1)", "no", "'+cmd", "'@ada"]
    assert rows[2][:3] == ["explain", "-0.53", "yes"]  # a negative number stays a number
    assert "secret-owner" not in text and pr.owner_hash("secret-owner") not in text


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200), st.text(max_size=80), st.booleans(), st.text(max_size=80),
       st.text(max_size=60))
def test_any_text_is_kept_clipped_to_one_line_and_read_back(tmp_path_factory, question,
                                                            answer, right, cause, nickname):
    store = Predictions(tmp_path_factory.mktemp("p"))
    clip = lambda t, n: " ".join(t.split())[:n]  # noqa: E731
    try:
        store.add(Answer(question, answer, right, cause, nickname), "x")
    except Refused:
        assert not clip(question, pr.MAX_QUESTION_CHARS)
        return
    [kept] = store.mine("x")
    assert kept == Answer(clip(question, pr.MAX_QUESTION_CHARS),
                          clip(answer, pr.MAX_ANSWER_CHARS), right,
                          "" if right else clip(cause, pr.MAX_CAUSE_CHARS),
                          clip(nickname, pr.MAX_NICKNAME_CHARS))
    rows = list(csv.reader(io.StringIO(store.open_board(teacher(), KEY).csv().decode())))
    assert len(rows) == 2 and len(rows[1]) == 6
    store.close()


def test_a_file_that_is_not_a_database_is_refused_in_a_sentence(tmp_path):
    (tmp_path / pr.DB_NAME).write_bytes(b"not sqlite at all, just a file")
    with pytest.raises(PredictionsError, match="file is not a database"):
        Predictions(tmp_path).count()


# ---- Explain: a window's value ---------------------------------------------------------------
WINDOW = np.array([[0.0, 0.5, 1.0], [0.2, 0.9, 0.3], [0.0, 0.4, 0.8]])
KERNEL = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def test_a_window_value_is_checked_and_each_mistake_named():
    value = float((WINDOW * KERNEL).sum())
    assert sta.check_value(value + 0.01, WINDOW, KERNEL, value).right
    mistakes = sta.window_mistakes(WINDOW, KERNEL)
    for cause, mistaken in mistakes.items():
        checked = sta.check_value(mistaken, WINDOW, KERNEL, value)
        assert (checked.right, checked.cause) == (False, cause)
    assert sta.check_value(42.0, WINDOW, KERNEL, value).cause == sta.VALUE_SLIP


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 3).map(lambda k: 2 * k - 1).flatmap(lambda k: st.tuples(
    st.lists(st.floats(-3, 3), min_size=k * k, max_size=k * k),
    st.lists(st.floats(0, 1), min_size=k * k, max_size=k * k))), st.integers(0, 2**31))
def test_three_distinct_choices_with_exactly_one_right(arrays, seed):
    kernel_values, window_values = arrays
    k = int(len(kernel_values) ** 0.5)
    kernel = np.array(kernel_values).reshape(k, k)
    window = np.array(window_values).reshape(k, k)
    value = float((window * kernel).sum())
    choices = sta.value_choices(window, kernel, value, seed)
    assert len(choices) == 3
    assert sum(sta.check_value(c, window, kernel, value).right for c in choices) == 1


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_a_typed_value_is_a_number_or_a_sentence(text):
    try:
        number = sta.parse_value(text)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert np.isfinite(number)


def test_typed_values_in_the_usual_forms():
    assert sta.parse_value(" -1,25 ") == -1.25 and sta.parse_value("−0.5") == -0.5
    with pytest.raises(ValueError, match="not a number"):
        sta.parse_value("half")
    with pytest.raises(ValueError, match="short number"):
        sta.parse_value("1" * 10_000)


# ---- Draw and Train --------------------------------------------------------------------------
def test_the_digit_guess_names_what_the_net_said():
    names = [str(d) for d in range(10)]
    assert sta.check_digit(7, 7, names).right
    wrong = sta.check_digit(1, 7, names)
    assert (wrong.right, wrong.answer, wrong.cause) == (False, "1", "the net said 7")


def test_a_flip_counts_the_changed_pixels_the_attribution_had_marked():
    before = np.zeros((28, 28))
    before[5:20, 14] = 1.0
    heat = np.zeros((28, 28))
    heat[5:20, 14] = np.linspace(0.1, 1.0, 15)  # the top tenth: the two strongest
    after = before.copy()
    after[18:20, 14] = 0.0  # erased the two most marked pixels
    after[25, 25] = 1.0  # and added a speck elsewhere
    result = sta.flip(before, after, 1, 7, heat)
    assert (result.changed, result.marked_changed) == (3, 2)
    assert result.marked_share == pytest.approx(2 / 3)


@dataclass
class Point:
    step: int
    loss: float


def test_the_loss_trend_compares_fifty_steps_before_and_after():
    points = [Point(s, 2.0) for s in range(100)] + [Point(s, 1.0) for s in range(100, 149)]
    assert sta.loss_trend(points, 100) is None  # the 50th step after is not in yet
    points.append(Point(149, 1.0))
    trend = sta.loss_trend(points, 100)
    assert (trend.before, trend.after, trend.direction) == (2.0, 1.0, "down")
    assert sta.check_direction("down", trend).right
    wrong = sta.check_direction("up", trend)
    assert (wrong.right, wrong.cause) == (False, sta.WRONG_WAY)
    assert "from 2.000 (50 steps before) to 1.000 (50 steps after)" in wrong.message
    early = sta.loss_trend(points, 20)  # a change in the first steps: what there is before
    assert early.steps_before == 20 and "(20 steps before)" in sta.check_direction(
        "up", early).message
    thinned = [p for p in points if p.step % 4 == 0] + [Point(151, 3.0)]
    assert sta.loss_trend(thinned, 100).points_after == 13  # every kept point counts
