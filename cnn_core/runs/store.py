"""The run store: every training kept as a record (SQLite) and its weights (``.safetensors``).

``RunStore(root)`` opens ``runs.sqlite3`` in ``root`` (``$CNN_EXPLAINER_RUNS`` or ``runs/`` in
the project) through ``storage.sqlite_db`` (WAL, one connection per thread, schema versions).
A training calls ``begin(...)`` when it starts and ``finish(...)`` when it ends; both take plain
data (``records``), so the store knows nothing of the trainer. The tables are in ``schema``,
the stored curves' form in ``curves``, and the weights files and their shared cap in
``weights_folder``.

Every problem with the store itself (folder not writable, disk full, database locked or
damaged) raises ``StoreError`` with one sentence saying why; the store never deletes or
overwrites a file it did not write itself.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnn_core.runs.curves import columns, finite, finite_json, thin_curve
from cnn_core.runs.records import (
    STATUSES,
    NotAllowed,
    RunNotFound,
    RunRecord,
    RunStart,
    RunStatus,
    RunSummary,
    StoreError,
    record_from_row,
    summary_from_row,
)
from cnn_core.runs.schema import DB_NAME, DETAIL_COLUMNS, MIGRATIONS, MINE, SUMMARY_COLUMNS
from cnn_core.runs.weights_folder import WeightsFolder
from cnn_core.storage.owners import change_refusal, kept_hash, key_refusal, owner_hash
from cnn_core.storage.places import max_weights_bytes, runs_dir
from cnn_core.storage.processes import process_alive, process_id
from cnn_core.storage.sqlite_db import Database, Names, within_sqlite
from cnn_core.storage.teacher_key import TeacherKey

if TYPE_CHECKING:  # torch loads only when weights are written: `runs list` stays quick
    import torch

BUSY_TIMEOUT_S = 5.0
PAGE_SIZE = 25
SORT_COLUMNS = {"time": "id", "test_accuracy": "test_accuracy", "params": "params",
                "macs": "macs", "duration": "duration_s"}
MAX_ROWS = 2**63 - 1  # what SQLite's LIMIT and OFFSET take


class RunStore:
    """Runs on disk under ``root``; safe to share between threads (one connection each)."""

    def __init__(self, root: Path | str | None = None, max_bytes: int | None = None,
                 busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.root = Path(root) if root is not None else runs_dir()
        self.db_path = self.root / DB_NAME
        self._process = process_id()
        try:
            (self.root / "weights").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the runs folder {self.root}: "
                             f"{exc.strerror or exc}") from None
        self._db = Database(self.db_path, MIGRATIONS,
                            Names(StoreError, "the runs database", "the runs folder"),
                            busy_timeout_s)
        self.weights_folder = WeightsFolder(
            self.root, self._db, max_weights_bytes() if max_bytes is None else max_bytes)
        with self._db.errors():
            self._mark_interrupted()
            self.weights_folder.sweep()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._db.transaction()

    def _read(self, sql: str, args: tuple[Any, ...] | dict[str, Any] = ()) \
            -> list[tuple[Any, ...]]:
        return self._db.read(sql, args)

    def _mark_interrupted(self) -> None:
        """Runs left "running" by a process that is gone (a server restart) are interrupted."""
        rows = self._read("SELECT id, process FROM runs WHERE status = 'running'")
        dead = [run_id for run_id, process in rows if not process_alive(str(process))]
        if dead:
            with self._write() as conn:
                conn.executemany(
                    "UPDATE runs SET status = 'interrupted', ended_at = ?, message = "
                    "'interrupted: the server stopped during the training' "
                    "WHERE id = ? AND status = 'running'",
                    [(time.time(), run_id) for run_id in dead])

    # ---- recording a training
    def begin(self, start: RunStart) -> int:
        """Record a training that starts now; its run id."""
        owner = kept_hash(start.owner_token)
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO runs (started_at, status, name, label, source, owner_hash, process, "
                "seed, data_source, train_size, val_size, test_size, device, params, macs) "
                "VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (time.time(), start.name, start.label[:80], start.source, owner, self._process,
                 int(start.seed), start.data_source, int(start.train_size),
                 int(start.val_size), int(start.test_size), start.device, int(start.params),
                 int(start.macs)))
            run_id = int(cursor.lastrowid)
            conn.execute("INSERT INTO run_details (id, design, settings) VALUES (?, ?, ?)",
                         (run_id, json.dumps(start.design), json.dumps(start.settings)))
            return run_id

    def finish(self, run_id: int, status: RunStatus, message: str = "", *,
               duration_s: float | None = None, images_per_s: float | None = None,
               epochs: list[dict[str, float]] | None = None,
               steps: list[dict[str, float]] | None = None,
               test_accuracy: float | None = None,
               per_class_accuracy: list[float] | None = None,
               confusion: list[list[int]] | None = None,
               state_dict: dict[str, torch.Tensor] | None = None) -> None:
        """Record how a training ended, its metrics and (if given) its weights.

        The metrics are committed first: if the weights then cannot be written (disk full),
        the record stays and ``StoreError`` says why.
        """
        if status not in STATUSES or status == "running":
            raise ValueError(f"a run ends finished, stopped, failed or interrupted, not {status!r}")
        run_id = _row_id(run_id)
        metrics = json.dumps(finite_json(
            {"epochs": epochs or [], "steps": columns(thin_curve(steps or [])),
             "per_class_accuracy": per_class_accuracy, "confusion": confusion}), allow_nan=False)
        with self._write() as conn:
            updated = conn.execute(
                "UPDATE runs SET ended_at = ?, status = ?, message = ?, duration_s = ?, "
                "images_per_s = ?, test_accuracy = ? WHERE id = ?",
                (time.time(), status, message, finite(duration_s), finite(images_per_s),
                 finite(test_accuracy), run_id)).rowcount
            conn.execute("UPDATE run_details SET metrics = ? WHERE id = ?", (metrics, run_id))
        if not updated:
            raise RunNotFound(f"there is no run {run_id}")
        if state_dict is not None:
            self.weights_folder.save(run_id, state_dict)

    def enforce_cap(self, keep: int | None = None, owner_token: str | None = None) -> list[int]:
        """Past the cap, drop the weights of the oldest unpinned runs (never ``keep``'s), the
        owner's own first. Returns the runs that lost their weights."""
        return self.weights_folder.enforce_cap(
            keep, kept_hash(owner_token))

    # ---- reading
    def weights_path(self, run_id: int) -> Path:
        return self.weights_folder.path(run_id)

    def weights(self, run_id: int) -> bytes | None:
        """The run's ``.safetensors`` file, or None when it has none (failed, or capped)."""
        if not self.get_summary(run_id).has_weights:
            return None
        return self.weights_folder.read(run_id)

    def count(self, owner_token: str | None = None) -> int:
        if owner_token is None:
            return self._read("SELECT COUNT(*) FROM runs")[0][0]
        return self._read(f"SELECT COUNT(*) FROM runs WHERE {MINE}",
                          {"owner": owner_hash(owner_token)})[0][0]

    def list_runs(self, sort: str = "time", descending: bool = True,
                  owner_token: str | None = None, limit: int = PAGE_SIZE,
                  offset: int = 0) -> list[RunSummary]:
        """One page of runs, newest first unless sorted otherwise; ``owner_token``: only mine.
        Runs without a value for the sort column (no test accuracy yet) come last."""
        if sort not in SORT_COLUMNS:
            raise ValueError(f"sort by one of {', '.join(SORT_COLUMNS)}, not {sort!r}")
        column, order = SORT_COLUMNS[sort], "DESC" if descending else "ASC"
        where, args = (f"WHERE {MINE}", {"owner": owner_hash(owner_token)}) \
            if owner_token is not None else ("", {})
        # SQLite sorts NULL lowest: descending, they come last anyway (and the index serves)
        nulls = f"{column} IS NULL, " if column != "id" and not descending else ""
        rows = self._read(f"SELECT {SUMMARY_COLUMNS} FROM runs {where} "
                          f"ORDER BY {nulls}{column} {order}, id {order} "
                          "LIMIT :limit OFFSET :offset",
                          {**args, "limit": _bounded(limit), "offset": _bounded(offset)})
        return [summary_from_row(row) for row in rows]

    def scatter_points(self) -> list[tuple[int, int, float, str]]:
        """(id, params, test accuracy, name) of every run with a test accuracy."""
        return [(r[0], r[1], r[2], r[3]) for r in self._read(
            "SELECT id, params, test_accuracy, CASE WHEN label != '' THEN name || ' · ' || "
            "label ELSE name END FROM runs WHERE test_accuracy IS NOT NULL AND typeof(params) = "
            "'integer' AND typeof(test_accuracy) IN ('real', 'integer') ORDER BY id")]

    def get_summary(self, run_id: int) -> RunSummary:
        rows = self._read(f"SELECT {SUMMARY_COLUMNS} FROM runs WHERE id = ?", (_row_id(run_id),))
        if not rows:
            raise RunNotFound(f"there is no run {run_id}")
        return summary_from_row(rows[0])

    def get(self, run_id: int) -> RunRecord:
        """The whole run; ``DamagedRun`` when its row cannot be read back as one."""
        rows = self._read(f"SELECT {SUMMARY_COLUMNS}, {DETAIL_COLUMNS} FROM runs "
                          "JOIN run_details USING (id) WHERE id = ?", (_row_id(run_id),))
        if not rows:
            raise RunNotFound(f"there is no run {run_id}")
        return record_from_row(run_id, rows[0])

    # ---- changing runs
    def set_pinned(self, run_id: int, pinned: bool) -> None:
        """A pinned run keeps its weights past the cap (anyone may pin: it only protects)."""
        with self._write() as conn:
            if not conn.execute("UPDATE runs SET pinned = ? WHERE id = ?",
                                (int(pinned), _row_id(run_id))).rowcount:
                raise RunNotFound(f"there is no run {run_id}")
        if not pinned:
            self.enforce_cap()

    def delete(self, run_id: int, owner_token: str | None = None,
               teacher: TeacherKey | None = None, key: str | None = None) -> None:
        """Delete a run and its weights: the session that started it may, or the teacher key.

        Raises ``NotAllowed`` (another student's run, a wrong or slowed-down key)."""
        summary = self.get_summary(run_id)
        if refusal := change_refusal(summary.owner_hash, owner_token, teacher, key,
                                     f"run {run_id} was started in another session: only the "
                                     "teacher key can delete it"):
            raise NotAllowed(refusal)
        if summary.status == "running":
            raise NotAllowed(f"run {run_id} is still training: stop it first")
        with self._write() as conn:
            conn.execute("DELETE FROM runs WHERE id = ?", (summary.id,))
            conn.execute("DELETE FROM run_details WHERE id = ?", (summary.id,))
            conn.execute("DELETE FROM run_shares WHERE run_id = ?", (summary.id,))
        self.weights_folder.unlink([summary.id])

    def clear(self, teacher: TeacherKey, key: str, keep_pinned: bool = True) -> int:
        """Clear the board for the next class (teacher key only); the number of runs deleted.
        Runs still training and, unless told otherwise, pinned runs stay."""
        if refusal := key_refusal(teacher, key):
            raise NotAllowed(refusal)
        where = "status != 'running'" + (" AND pinned = 0" if keep_pinned else "")
        ids = [row[0] for row in self._read(f"SELECT id FROM runs WHERE {where}")]
        with self._write() as conn:
            conn.executemany("DELETE FROM runs WHERE id = ?", [(i,) for i in ids])
            conn.executemany("DELETE FROM run_details WHERE id = ?", [(i,) for i in ids])
            conn.executemany("DELETE FROM run_shares WHERE run_id = ?", [(i,) for i in ids])
        self.weights_folder.unlink(ids)
        return len(ids)

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        self._db.close()


def _bounded(n: int) -> int:
    """A LIMIT or OFFSET SQLite takes (its integers are 64-bit)."""
    return min(max(0, int(n)), MAX_ROWS)


def _row_id(run_id: int) -> int:
    """A run id SQLite can look up; one it cannot (past 64 bits) names no run."""
    value = int(run_id)
    if not within_sqlite(value):
        raise RunNotFound(f"there is no run {value}")
    return value
