"""The teacher key: wrong keys slow down the session that typed them, never the teacher's.

The logic runs on an injected clock (no sleeps); the Runs page's path runs in two AppTest
sessions, a student's and the teacher's, sharing the server's one key."""

from __future__ import annotations

import pytest
from helpers import runs_page
from streamlit.testing.v1 import AppTest

from cnn_core.storage.teacher_key import (
    FORGET_AFTER_S,
    MAX_KEY_LOCKOUT_S,
    SERVER_WRONG_PER_MIN,
    TeacherKey,
)

KEY = "owl-7"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def key(clock) -> TeacherKey:
    return TeacherKey(KEY, clock=clock)


def test_a_guessing_student_does_not_lock_out_the_teacher(key, clock):
    student, teacher = key.asked_by("student"), key.asked_by("teacher")
    for _ in range(3):
        assert not student.check("guess")
    assert student.refusal() == "that is not the teacher key; wait 1 s before the next try"
    assert not student.check(KEY)  # the student's own tries wait, even a right one
    assert student.refusal() == "too many wrong teacher keys: try again in 1 s"
    assert teacher.check(KEY)  # the teacher, who guessed nothing, is not slowed down
    assert teacher.refusal() == ""  # and reads no refusal meant for someone else
    # one guess a minute for two minutes (the case): the teacher's key goes through
    for _ in range(2):
        clock.now += 60
        assert not student.check("guess")
        assert teacher.check(KEY)
    clock.now += MAX_KEY_LOCKOUT_S
    assert student.check(KEY)  # the student's wait passed: a right key is taken


def test_each_wrong_key_past_three_doubles_the_wait_up_to_a_minute(key, clock):
    student = key.asked_by("student")
    waits = []
    for _ in range(12):
        assert not student.check("guess")
        refusal = student.refusal()
        waits.append(int(refusal.split("wait ")[1].split(" s")[0]) if "wait" in refusal else 0)
        if waits[-1]:  # half a second early: refused unchecked, and not counted
            clock.now += waits[-1] - 0.5
            assert not student.check(KEY)
            assert student.refusal().startswith("too many wrong teacher keys: try again in")
            clock.now += 0.5
    assert waits == [0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60, 60]


def test_a_right_key_resets_a_session_and_an_hour_forgets_it(key, clock):
    student = key.asked_by("student")
    for _ in range(3):
        student.check("guess")
    clock.now += 1
    assert student.check(KEY)
    assert not student.check("guess") and "wait" not in student.refusal()  # counted afresh
    student.check("guess")
    clock.now += FORGET_AFTER_S
    assert not student.check("guess") and "wait" not in student.refusal()  # forgotten


def test_a_flood_of_wrong_keys_stops_the_guessers_not_a_fresh_session(key, clock):
    # a brute force through many sessions, each within its three free tries
    for i in range(SERVER_WRONG_PER_MIN):
        assert not key.asked_by(f"bot-{i}").check("guess")
        clock.now += 0.5
    bot = key.asked_by("bot-0")
    assert not bot.check(KEY)  # a session that guessed wrong waits while the flood lasts
    assert bot.refusal().startswith("too many wrong teacher keys on this server")
    assert key.asked_by("teacher").check(KEY)  # one that never guessed is still checked
    clock.now += 60
    assert bot.check(KEY)  # the flood is over


def test_no_key_set_refuses_everyone_with_one_line(clock):
    nobody = TeacherKey("", clock=clock).asked_by("anyone")
    assert not nobody.check("")
    assert nobody.refusal() == "no teacher key is set on this server (CNN_EXPLAINER_TEACHER_KEY)"


# ---- the page path: two sessions of one server -------------------------------------------
@pytest.fixture
def empty_store(tmp_path, monkeypatch):
    from ui.app_state import run_store
    from ui.ownership import teacher_keys

    monkeypatch.setenv("CNN_EXPLAINER_RUNS", str(tmp_path))
    monkeypatch.setenv("CNN_EXPLAINER_TEACHER_KEY", KEY)
    run_store.clear()
    teacher_keys.clear()
    yield
    monkeypatch.undo()
    run_store.clear()
    teacher_keys.clear()


def clear_board(at: AppTest, key: str) -> str:
    at.text_input(key="runs_clear_key").set_value(key)
    at.button(key="runs_clear").click().run()
    assert not at.exception, at.exception
    [said] = [*at.error, *at.success]
    return said.value


def test_the_teacher_clears_the_board_while_a_student_guesses(empty_store):
    student, teacher = runs_page(), runs_page()
    for _ in range(3):
        assert clear_board(student, "guess").startswith("that is not the teacher key")
    assert clear_board(student, KEY).startswith("too many wrong teacher keys: try again in")
    assert clear_board(teacher, KEY) == "Deleted 0 runs."
