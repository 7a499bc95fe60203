"""The class's predictions, kept beside the runs for the teacher's board.

``Predictions(root)`` opens ``predictions.sqlite3`` in ``root`` (the runs folder,
``$CNN_EXPLAINER_RUNS``) through ``storage.sqlite_db``. One row per answer: the question, the
answer, right or wrong, the cause of a wrong one, the nickname and the time, plus the hash of
the browser's owner secret (as runs keep it) so a student can take back their own answers;
nothing else. Each answer is one transaction, bounded per owner and in total. The board, its
CSV and clearing it need the teacher key (``open_board``, ``clear``), by the rule the run
store and the class set share (``storage.owners``).
"""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from cnn_core.storage.owners import kept_hash, key_refusal, owner_hash
from cnn_core.storage.places import runs_dir
from cnn_core.storage.sqlite_db import Database, Names
from cnn_core.storage.teacher_key import TeacherKey

DB_NAME = "predictions.sqlite3"
MAX_ROWS = 50_000  # a term of classes; a flood is refused
MAX_PER_OWNER = 2_000  # one browser's share, so one script cannot fill the board
MAX_QUESTION_CHARS = 120
MAX_ANSWER_CHARS = 40
MAX_CAUSE_CHARS = 60
MAX_NICKNAME_CHARS = 40  # as the class set keeps it
BOARD_QUESTIONS = 12  # the most recently answered questions a board shows
BOARD_ANSWERS = 3  # the most common wrong answers shown per cause
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula


class PredictionsError(RuntimeError):
    """The store cannot be read or written (one sentence saying why)."""


class Refused(ValueError):
    """An answer was not kept; the message says why."""


class NotAllowed(PermissionError):
    """The teacher key was needed and not given (the message says why)."""


@dataclass(frozen=True)
class Answer:
    """One student's answer to one question, as the board keeps it."""

    question: str
    answer: str
    right: bool
    cause: str = ""  # why a wrong answer was wrong ("forgot padding"); "" when right
    nickname: str = ""


@dataclass(frozen=True)
class CauseGroup:
    """The wrong answers of one cause: how many, and the commonest answers with counts."""

    cause: str
    count: int
    answers: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class QuestionSummary:
    question: str
    answered: int
    right: int
    wrong_by_cause: tuple[CauseGroup, ...]  # most frequent cause first

    @property
    def share_right(self) -> float:
        return self.right / self.answered if self.answered else 0.0


# MIGRATIONS[n] takes the file from schema version n to n + 1 (only ever append).
SCHEMA = f"""
CREATE TABLE predictions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    question TEXT NOT NULL CHECK (length(question) <= {MAX_QUESTION_CHARS}),
    answer TEXT NOT NULL CHECK (length(answer) <= {MAX_ANSWER_CHARS}),
    is_right INTEGER NOT NULL CHECK (is_right IN (0, 1)),
    cause TEXT NOT NULL DEFAULT '' CHECK (length(cause) <= {MAX_CAUSE_CHARS}),
    nickname TEXT NOT NULL DEFAULT '' CHECK (length(nickname) <= {MAX_NICKNAME_CHARS}),
    owner_hash TEXT
);
CREATE INDEX predictions_by_owner ON predictions (owner_hash);
CREATE INDEX predictions_by_question ON predictions (question, id)"""
MIGRATIONS = (SCHEMA,)


def _clip(text: str, limit: int) -> str:
    return " ".join(str(text).split())[:limit]  # one line, bounded


class Predictions:
    """The predictions on disk under ``root``; shared between threads and processes."""

    def __init__(self, root: Path | str | None = None, busy_timeout_s: float = 10.0) -> None:
        self.root = Path(root) if root is not None else runs_dir()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PredictionsError(f"cannot create the folder {self.root}: "
                                   f"{exc.strerror or exc}") from None
        self._db = Database(self.root / DB_NAME, MIGRATIONS,
                            Names(PredictionsError, "the predictions database", "the folder"),
                            busy_timeout_s)

    # ---- students
    def add(self, answer: Answer, owner_token: str | None = None) -> int:
        """Keep one answer (one transaction) within the total and the owner's share; its id.
        ``Refused`` says why when it is not kept."""
        question = _clip(answer.question, MAX_QUESTION_CHARS)
        if not question:
            raise Refused("an answer needs its question")
        owner = kept_hash(owner_token)
        with self._db.transaction() as conn:
            have = conn.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
            if have >= MAX_ROWS:
                raise Refused(f"the board is full ({have:,} answers): the teacher can clear "
                              "it for the next class")
            mine = conn.execute("SELECT COUNT(*) FROM predictions WHERE owner_hash IS ?",
                                (owner,)).fetchone()[0]
            if mine >= MAX_PER_OWNER:
                raise Refused(f"this browser has given {mine:,} answers, the most one may "
                              "keep: the teacher can clear the board")
            return int(conn.execute(
                "INSERT INTO predictions (created_at, question, answer, is_right, cause, "
                "nickname, owner_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (time.time(), question, _clip(answer.answer, MAX_ANSWER_CHARS),
                 int(bool(answer.right)), "" if answer.right else
                 _clip(answer.cause, MAX_CAUSE_CHARS),
                 _clip(answer.nickname, MAX_NICKNAME_CHARS), owner)).lastrowid)

    def mine(self, owner_token: str) -> list[Answer]:
        """This browser's own answers, oldest first."""
        rows = self._db.read("SELECT question, answer, is_right, cause, nickname FROM "
                             "predictions WHERE owner_hash = ? ORDER BY id",
                             (owner_hash(owner_token),))
        return [Answer(q, a, bool(r), c, n) for q, a, r, c, n in rows]

    def delete_mine(self, owner_token: str) -> int:
        """Take back this browser's own answers; how many."""
        with self._db.transaction() as conn:
            return conn.execute("DELETE FROM predictions WHERE owner_hash = ?",
                                (owner_hash(owner_token),)).rowcount

    def count(self) -> int:
        return self._db.read("SELECT COUNT(*) FROM predictions")[0][0]

    # ---- the teacher
    def open_board(self, teacher: TeacherKey, key: str) -> Board:
        """The board, for whoever has the teacher key (``NotAllowed`` otherwise). The page
        keeps the ``Board`` for its live updates, never the key."""
        _require(teacher, key)
        return Board(self)

    def clear(self, teacher: TeacherKey, key: str) -> int:
        """Clear the board for the next class (teacher key only); how many answers went."""
        _require(teacher, key)
        with self._db.transaction() as conn:
            return conn.execute("DELETE FROM predictions").rowcount

    def close(self) -> None:
        self._db.close()


def _require(teacher: TeacherKey | None, key: str) -> None:
    """The stores' one teacher-key rule (``storage.owners.key_refusal``); an empty key is
    no try at all (it does not count against the browser)."""
    if not key:
        raise NotAllowed("the board needs the teacher key")
    if (refusal := key_refusal(teacher, key)) is not None:
        raise NotAllowed(refusal or "the board needs the teacher key")


class Board:
    """The teacher's view of the store (made only by ``Predictions.open_board``)."""

    def __init__(self, store: Predictions) -> None:
        self._read = store._db.read

    def questions(self, limit: int = BOARD_QUESTIONS) -> list[QuestionSummary]:
        """The ``limit`` most recently answered questions, newest first: how many answered,
        how many right, and the wrong answers by cause (commonest first, with their
        ``BOARD_ANSWERS`` commonest answers)."""
        heads = self._read("SELECT question, COUNT(*), SUM(is_right) FROM predictions "
                           "GROUP BY question ORDER BY MAX(id) DESC LIMIT ?", (int(limit),))
        if not heads:
            return []
        marks = ", ".join("?" for _ in heads)
        rows = self._read("SELECT question, cause, answer, COUNT(*) AS n FROM predictions "
                          f"WHERE is_right = 0 AND question IN ({marks}) "
                          "GROUP BY question, cause, answer ORDER BY n DESC, answer",
                          tuple(q for q, _, _ in heads))
        by_cause: dict[str, dict[str, list[tuple[str, int]]]] = defaultdict(
            lambda: defaultdict(list))
        for question, cause, answer, n in rows:
            by_cause[question][cause].append((answer, n))
        summaries = []
        for question, answered, right in heads:
            groups = [CauseGroup(cause or "no cause given", sum(n for _, n in answers),
                                 tuple(answers[:BOARD_ANSWERS]))
                      for cause, answers in by_cause[question].items()]
            groups.sort(key=lambda g: (-g.count, g.cause))
            summaries.append(QuestionSummary(question, answered, int(right or 0),
                                             tuple(groups)))
        return summaries

    def csv(self) -> bytes:
        """Every answer (at most ``MAX_ROWS``), oldest first, without the owner hashes; a
        cell a spreadsheet would run as a formula starts with an apostrophe."""
        table = io.StringIO()
        writer = csv.writer(table, lineterminator="\n")
        writer.writerow(["question", "answer", "right", "cause", "nickname", "answered_utc"])
        for question, answer, right, cause, nickname, created in self._read(
                "SELECT question, answer, is_right, cause, nickname, created_at FROM "
                "predictions ORDER BY id LIMIT ?", (MAX_ROWS,)):
            writer.writerow([_cell(question), _cell(answer), "yes" if right else "no",
                             _cell(cause), _cell(nickname),
                             time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))])
        return table.getvalue().encode()


def _cell(text: str) -> str:
    """A CSV cell that a spreadsheet shows as text (a leading '=' would run); a negative
    number stays a number."""
    if text.startswith(FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
