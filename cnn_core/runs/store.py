"""The run store: every training kept as a record (SQLite) and its weights (``.safetensors``).

``RunStore(root)`` opens ``runs.sqlite3`` in ``root`` (``$CNN_EXPLAINER_RUNS`` or ``runs/`` in
the project) through ``storage.sqlite_db`` (WAL, one connection per thread, schema versions).
A training calls ``begin(...)`` when it starts and ``finish(...)`` when it ends; both take plain
data, so the store knows nothing of the trainer. Weights go to ``weights/<id>.safetensors``,
written under a temporary name and renamed in the transaction that records them, so a
half-written file never counts and a file whose run is gone is swept when the store opens.
The size cap is shared: no run may take more than ``1/RUN_SHARE`` of it (a larger one is kept
without weights, and says why), and past the cap a student's new weights push out that
student's own oldest unpinned ones first, then the oldest of anyone's; records always stay.

Every problem with the store itself (folder not writable, disk full, database locked or
damaged) raises ``StoreError`` with one sentence saying why; the store never deletes or
overwrites a file it did not write itself.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import socket
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cnn_core.storage.sqlite_db import Database, Names, within_sqlite
from cnn_core.storage.teacher_key import TeacherKey  # re-exported: stores take it

if TYPE_CHECKING:  # torch loads only when weights are written: `runs list` stays quick
    import torch

RUNS_DIR_ENV = "CNN_EXPLAINER_RUNS"
MAX_MB_ENV = "CNN_EXPLAINER_RUNS_MAX_MB"
DEFAULT_RUNS_DIR = Path(__file__).resolve().parents[2] / "runs"
DEFAULT_MAX_MB = 200
DB_NAME = "runs.sqlite3"
MAX_CURVE_POINTS = 200  # a stored step curve stays this small however long the training
BUSY_TIMEOUT_S = 5.0
PAGE_SIZE = 25
RUN_SHARE = 4  # one run's weights may take at most a quarter of the cap
STALE_TEMPORARY_S = 600.0  # a weights file still being written after this was abandoned

RunStatus = Literal["running", "finished", "stopped", "failed", "interrupted"]
STATUSES: tuple[str, ...] = ("running", "finished", "stopped", "failed", "interrupted")
SORT_COLUMNS = {"time": "id", "test_accuracy": "test_accuracy", "params": "params",
                "macs": "macs", "duration": "duration_s"}


class StoreError(RuntimeError):
    """The store cannot keep runs; the message says why in one sentence."""


class DamagedRun(StoreError):
    """A run's row cannot be read back (edited or damaged database); the message says which."""


class RunNotFound(LookupError):
    """No run has that id."""


class NotAllowed(PermissionError):
    """The caller may not change that run; the message says why."""


# ---- plain data in and out ------------------------------------------------------------------
@dataclass(frozen=True)
class RunStart:
    """What is known when a training starts."""

    name: str  # the design's name, e.g. "LeNet-5 (edited)"
    design: dict[str, Any]  # ArchitectureSpec.to_json()
    settings: dict[str, Any]  # epochs, batch_size, optimizer, learning_rate, momentum, device
    seed: int
    data_source: str  # "full" (MNIST) or "bundled" (the shipped digits)
    train_size: int
    val_size: int
    test_size: int
    device: str
    params: int
    macs: int
    source: str = "cli"  # who started it: "train page", "quick model", "cli"
    label: str = ""  # a student's nickname
    owner_token: str | None = None  # the session's secret; only its hash is kept


@dataclass(frozen=True)
class RunSummary:
    """One row of the runs list (no curves, no weights)."""

    id: int
    started_at: float
    ended_at: float | None
    status: str
    message: str
    name: str
    label: str
    source: str
    device: str
    params: int
    macs: int
    images_per_s: float | None
    duration_s: float | None
    test_accuracy: float | None
    pinned: bool
    has_weights: bool
    owner_hash: str | None
    weights_note: str = ""  # why a run has no weights, when it lost or never kept them
    shared: int = 0  # how many times it was asked for again instead of trained again

    def owned_by(self, owner_token: str | None) -> bool:
        return owner_token is not None and self.owner_hash == owner_hash(owner_token)


@dataclass(frozen=True)
class RunRecord(RunSummary):
    """A whole run: the summary plus design, settings, data and metrics."""

    design: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    data_source: str = ""
    train_size: int = 0
    val_size: int = 0
    test_size: int = 0
    epochs: list[dict[str, float]] = field(default_factory=list)
    steps: list[dict[str, float]] = field(default_factory=list)
    per_class_accuracy: list[float] | None = None
    confusion: list[list[int]] | None = None


def owner_hash(owner_token: str) -> str:
    """What the database keeps of a session's secret: enough to say "mine", useless to steal."""
    return hashlib.sha256(owner_token.encode()).hexdigest()


def new_owner_token() -> str:
    return secrets.token_urlsafe(24)


def runs_dir() -> Path:
    """``$CNN_EXPLAINER_RUNS`` or ``runs/`` in the project."""
    return Path(os.environ.get(RUNS_DIR_ENV) or DEFAULT_RUNS_DIR)


def max_weights_bytes() -> int:
    """The weights cap: ``$CNN_EXPLAINER_RUNS_MAX_MB`` megabytes, 200 unless set."""
    raw = os.environ.get(MAX_MB_ENV, "")
    try:
        mb = float(raw) if raw else DEFAULT_MAX_MB
    except ValueError:
        mb = DEFAULT_MAX_MB
    return int(max(mb, 0) * 1_000_000)


# ---- schema ---------------------------------------------------------------------------------
# MIGRATIONS[n] takes a database from schema version n to n + 1. Only ever append.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at REAL NOT NULL,
        ended_at REAL,
        status TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT '',
        name TEXT NOT NULL,
        label TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL,
        owner_hash TEXT,
        process TEXT NOT NULL,
        seed INTEGER NOT NULL,
        data_source TEXT NOT NULL,
        train_size INTEGER NOT NULL,
        val_size INTEGER NOT NULL,
        test_size INTEGER NOT NULL,
        device TEXT NOT NULL,
        params INTEGER NOT NULL,
        macs INTEGER NOT NULL,
        images_per_s REAL,
        duration_s REAL,
        test_accuracy REAL,
        pinned INTEGER NOT NULL DEFAULT 0,
        weights_bytes INTEGER
    );
    -- the bulky part of a run, apart: listing and sorting read only the small rows above
    CREATE TABLE run_details (
        id INTEGER PRIMARY KEY,
        design TEXT NOT NULL,
        settings TEXT NOT NULL,
        metrics TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX runs_by_accuracy ON runs (test_accuracy, id);
    CREATE INDEX runs_by_params ON runs (params, id);
    CREATE INDEX runs_by_macs ON runs (macs, id);
    CREATE INDEX runs_by_duration ON runs (duration_s, id);
    CREATE INDEX runs_by_owner ON runs (owner_hash, id);
    CREATE INDEX runs_by_status ON runs (status) WHERE status = 'running';
    CREATE INDEX runs_with_weights ON runs (pinned, id) WHERE weights_bytes IS NOT NULL;
    """,
    "ALTER TABLE runs ADD COLUMN weights_note TEXT NOT NULL DEFAULT ''",
    # identical trainings run once (cnn_core.runs.shares): the conditions' key of a run that
    # trained them all, and each student who asked for it again
    """
    ALTER TABLE runs ADD COLUMN share_key TEXT;
    CREATE INDEX runs_by_share_key ON runs (share_key, id) WHERE share_key IS NOT NULL;
    CREATE TABLE run_shares (
        run_id INTEGER NOT NULL,
        owner_hash TEXT,
        at REAL NOT NULL,
        UNIQUE (run_id, owner_hash)
    );
    CREATE INDEX run_shares_by_owner ON run_shares (owner_hash, run_id);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
SUMMARY_COLUMNS = ("id, started_at, ended_at, status, message, name, label, source, device, "
                   "params, macs, images_per_s, duration_s, test_accuracy, pinned, "
                   "weights_bytes IS NOT NULL, owner_hash, weights_note, "
                   "(SELECT COUNT(*) FROM run_shares s WHERE s.run_id = runs.id), "
                   "(SELECT json_valid(design) FROM run_details d WHERE d.id = runs.id)")
# Past the cap, in one statement: unpinned weights other than :keep's, the owner's own first,
# oldest first, until what they free covers the excess.
EVICT = """
UPDATE runs SET weights_bytes = NULL, weights_note = :note WHERE id IN (
    SELECT id FROM (
        SELECT id, weights_bytes, SUM(weights_bytes) OVER (
            ORDER BY (:owner IS NOT NULL AND owner_hash IS :owner) DESC, id
            ROWS UNBOUNDED PRECEDING) AS freed
        FROM runs WHERE weights_bytes IS NOT NULL AND pinned = 0 AND id IS NOT :keep)
    WHERE freed - weights_bytes < (SELECT COALESCE(SUM(weights_bytes), 0) FROM runs) - :cap)
RETURNING id"""
# "Mine": the runs a session started, and those it asked for again and was given (shares)
MINE = ("(owner_hash = :owner OR id IN (SELECT run_id FROM run_shares "
        "WHERE owner_hash = :owner))")
CAPPED = "they were removed to keep the runs folder under its size limit (pin a run to keep them)"


def process_id() -> str:
    """This process, as "host:pid:start" (start in clock ticks since boot, where Linux says),
    so a later process can tell whether a "running" run's trainer is still alive."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_ticks(os.getpid())}"


def _start_ticks(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of stat: starttime


def process_alive(process: str) -> bool:
    host, _, rest = process.partition(":")
    pid_text, _, ticks = rest.partition(":")
    if host != socket.gethostname() or not (pid_text.isascii() and pid_text.isdigit()):
        return False  # another machine's run on this disk: its server is gone (a restart)
    if len(pid_text) > 9:  # not a pid: os.kill overflows past 2**31 (a damaged database)
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not ticks or _start_ticks(pid) == ticks  # the pid may belong to a new process


# ---- the store ------------------------------------------------------------------------------
class RunStore:
    """Runs on disk under ``root``; safe to share between threads (one connection each)."""

    def __init__(self, root: Path | str | None = None, max_bytes: int | None = None,
                 busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.root = Path(root) if root is not None else runs_dir()
        self.weights_dir = self.root / "weights"
        self.db_path = self.root / DB_NAME
        self.max_bytes = max_weights_bytes() if max_bytes is None else max_bytes
        self._process = process_id()
        try:
            self.weights_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the runs folder {self.root}: "
                             f"{exc.strerror or exc}") from None
        self._db = Database(self.db_path, MIGRATIONS,
                            Names(StoreError, "the runs database", "the runs folder"),
                            busy_timeout_s)
        with self._db.errors():
            self._mark_interrupted()
            self._sweep_weights()

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

    def _sweep_weights(self) -> None:
        """Weights files no run owns (their run was deleted or lost them while they were being
        written, or a process died mid-write) are removed; runs whose file is gone lose the
        claim. Under the write lock, so no save is between its rename and its record."""
        with self._write() as conn:
            kept = {row[0] for row in conn.execute(
                "SELECT id FROM runs WHERE weights_bytes IS NOT NULL")}
            present = set()
            for entry in os.scandir(self.weights_dir):
                run_id = _weights_file_id(entry.name)
                if run_id is None or not entry.is_file(follow_symlinks=False):
                    continue  # not a file this store writes: never touched
                if not entry.name.startswith("."):
                    if run_id in kept:
                        present.add(run_id)
                    else:
                        os.unlink(entry.path)
                elif (time.time() - entry.stat(follow_symlinks=False).st_mtime
                      > STALE_TEMPORARY_S or not conn.execute(
                          "SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone()):
                    os.unlink(entry.path)  # a half-written file nobody will finish
            conn.executemany("UPDATE runs SET weights_bytes = NULL, weights_note = ? "
                             "WHERE id = ?", [("the weights file was missing", run_id)
                                              for run_id in kept - present])

    # ---- recording a training
    def begin(self, start: RunStart) -> int:
        """Record a training that starts now; its run id."""
        owner = owner_hash(start.owner_token) if start.owner_token else None
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
        metrics = json.dumps(_finite_json(
            {"epochs": epochs or [], "steps": _columns(thin_curve(steps or [])),
             "per_class_accuracy": per_class_accuracy, "confusion": confusion}), allow_nan=False)
        with self._write() as conn:
            updated = conn.execute(
                "UPDATE runs SET ended_at = ?, status = ?, message = ?, duration_s = ?, "
                "images_per_s = ?, test_accuracy = ? WHERE id = ?",
                (time.time(), status, message, _finite(duration_s), _finite(images_per_s),
                 _finite(test_accuracy), run_id)).rowcount
            conn.execute("UPDATE run_details SET metrics = ? WHERE id = ?", (metrics, run_id))
        if not updated:
            raise RunNotFound(f"there is no run {run_id}")
        if state_dict is not None:
            self._save_weights(run_id, state_dict)

    def share_refusal(self, size: int) -> str | None:
        """Why weights of ``size`` bytes are not kept (over one run's share of the cap)."""
        share = self.max_bytes // RUN_SHARE
        if size <= share:
            return None
        return (f"not kept: they are {_mb(size)}, and one run may keep at most {_mb(share)} "
                f"(a quarter of the runs folder's {_mb(self.max_bytes)}, shared by the class)")

    def _save_weights(self, run_id: int, state_dict: dict[str, torch.Tensor]) -> None:
        from safetensors.torch import save as safetensors_save

        size = sum(t.numel() * t.element_size() for t in state_dict.values())
        data = b""
        if (refusal := self.share_refusal(size)) is None:  # checked before building the file
            tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
            data = safetensors_save(tensors, metadata={"run_id": str(run_id)})
            refusal = self.share_refusal(len(data))
        if refusal is not None:
            with self._write() as conn:
                conn.execute("UPDATE runs SET weights_note = ? WHERE id = ?", (refusal, run_id))
            return
        final = self.weights_path(run_id)
        temporary = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
        try:
            try:
                with open(temporary, "xb") as f:  # "x": never overwrites anything
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as exc:
                if exc.errno == 28:  # ENOSPC
                    raise StoreError(f"the disk holding {self.root} is full: the weights of "
                                     f"run {run_id} were not kept") from None
                raise StoreError(f"cannot write the weights of run {run_id} to "
                                 f"{self.weights_dir}: {exc.strerror or exc}") from None
            with self._write() as conn:
                owner = conn.execute("SELECT owner_hash FROM runs WHERE id = ?",
                                     (run_id,)).fetchone()
                if owner is None:
                    return  # deleted while its weights were written: they go too (finally)
                conn.execute("UPDATE runs SET weights_bytes = ?, weights_note = '' WHERE id = ?",
                             (len(data), run_id))
                os.replace(temporary, final)  # inside: the record and the file go together
                evicted = self._evict(conn, keep=run_id, owner=owner[0])
        finally:
            temporary.unlink(missing_ok=True)  # only ever our own half-written file
        self._unlink_weights(evicted)

    def _evict(self, conn: Any, keep: int | None, owner: str | None) -> list[int]:
        return [row[0] for row in conn.execute(EVICT, {"note": CAPPED, "owner": owner,
                                                       "keep": keep, "cap": self.max_bytes})]

    def _unlink_weights(self, run_ids: list[int]) -> None:
        for run_id in run_ids:  # after the commit: a crash in between leaves an orphan, swept
            self.weights_path(run_id).unlink(missing_ok=True)

    def enforce_cap(self, keep: int | None = None, owner_token: str | None = None) -> list[int]:
        """Past the cap, drop the weights of the oldest unpinned runs (never ``keep``'s), the
        owner's own first. Returns the runs that lost their weights."""
        owner = owner_hash(owner_token) if owner_token else None
        with self._write() as conn:
            evicted = self._evict(conn, keep, owner)
        self._unlink_weights(evicted)
        return evicted

    # ---- reading
    def weights_path(self, run_id: int) -> Path:
        return self.weights_dir / f"{int(run_id)}.safetensors"

    def weights(self, run_id: int) -> bytes | None:
        """The run's ``.safetensors`` file, or None when it has none (failed, or capped)."""
        if not self.get_summary(run_id).has_weights:
            return None
        try:
            return self.weights_path(run_id).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read the weights of run {run_id}: "
                             f"{exc.strerror or exc}") from None

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
        return [_summary(row) for row in rows]

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
        return _summary(rows[0])

    def get(self, run_id: int) -> RunRecord:
        """The whole run; ``DamagedRun`` when its row cannot be read back as one."""
        rows = self._read(f"SELECT {SUMMARY_COLUMNS}, design, settings, seed, data_source, "
                          "train_size, val_size, test_size, metrics FROM runs "
                          "JOIN run_details USING (id) WHERE id = ?", (_row_id(run_id),))
        if not rows:
            raise RunNotFound(f"there is no run {run_id}")
        summary = _summary(rows[0])
        design, settings, seed, data_source, train, val, test, metrics = \
            rows[0][len(SUMMARY_FIELDS) + 1:]  # + json_valid
        if summary.status == "damaged":
            raise DamagedRun(f"run {summary.id} is damaged in the runs database: "
                             f"{summary.message}")
        design_dict, settings_dict, m = (_json_object(run_id, what, text) for what, text in
                                         (("design", design), ("settings", settings),
                                          ("metrics", metrics)))
        _check_design(run_id, design_dict)
        data = settings_dict.get("data", {})
        if not _shaped(m, METRICS_SHAPE) or not isinstance(data, dict) or \
                not all(isinstance(v, str) for v in data.values()):
            raise DamagedRun(f"run {run_id} is damaged in the runs database: its settings or "
                             "metrics are not what this app writes")
        try:
            return RunRecord(*summary.__dict__.values(), design=design_dict,
                             settings=settings_dict, seed=int(seed), data_source=str(data_source),
                             train_size=int(train), val_size=int(val), test_size=int(test),
                             epochs=list(m.get("epochs") or []),
                             steps=_rows(dict(m.get("steps") or {})),
                             per_class_accuracy=m.get("per_class_accuracy"),
                             confusion=m.get("confusion"))
        except (TypeError, ValueError, AttributeError):
            raise DamagedRun(f"run {run_id} is damaged in the runs database: its settings or "
                             "metrics are not what this app writes") from None

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
        if not summary.owned_by(owner_token):
            if not key:
                raise NotAllowed(f"run {run_id} was started in another session: only the "
                                 "teacher key can delete it")
            if teacher is None or not teacher.check(key):
                raise NotAllowed(teacher.refusal() if teacher else "no teacher key is set")
        if summary.status == "running":
            raise NotAllowed(f"run {run_id} is still training: stop it first")
        with self._write() as conn:
            conn.execute("DELETE FROM runs WHERE id = ?", (summary.id,))
            conn.execute("DELETE FROM run_details WHERE id = ?", (summary.id,))
            conn.execute("DELETE FROM run_shares WHERE run_id = ?", (summary.id,))
        self.weights_path(summary.id).unlink(missing_ok=True)

    def clear(self, teacher: TeacherKey, key: str, keep_pinned: bool = True) -> int:
        """Clear the board for the next class (teacher key only); the number of runs deleted.
        Runs still training and, unless told otherwise, pinned runs stay."""
        if not teacher.check(key):
            raise NotAllowed(teacher.refusal())
        where = "status != 'running'" + (" AND pinned = 0" if keep_pinned else "")
        ids = [row[0] for row in self._read(f"SELECT id FROM runs WHERE {where}")]
        with self._write() as conn:
            conn.executemany("DELETE FROM runs WHERE id = ?", [(i,) for i in ids])
            conn.executemany("DELETE FROM run_details WHERE id = ?", [(i,) for i in ids])
            conn.executemany("DELETE FROM run_shares WHERE run_id = ?", [(i,) for i in ids])
        for run_id in ids:
            self.weights_path(run_id).unlink(missing_ok=True)
        return len(ids)

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        self._db.close()


MAX_ROWS = 2**63 - 1  # what SQLite's LIMIT and OFFSET take
SUMMARY_FIELDS = tuple(RunSummary.__dataclass_fields__)  # one column each, in order
OPTIONAL = (float, type(None))
SUMMARY_TYPES = (int, float, OPTIONAL, str, str, str, str, str, str, int, int, OPTIONAL,
                 OPTIONAL, OPTIONAL, int, int, (str, type(None)), str, int)


def _mb(size: int) -> str:
    mb = size / 1e6
    return f"{mb:,.0f} MB" if mb >= 100 else f"{mb:.3g} MB"


def _bounded(n: int) -> int:
    """A LIMIT or OFFSET SQLite takes (its integers are 64-bit)."""
    return min(max(0, int(n)), MAX_ROWS)


def _row_id(run_id: int) -> int:
    """A run id SQLite can look up; one it cannot (past 64 bits) names no run."""
    value = int(run_id)
    if not within_sqlite(value):
        raise RunNotFound(f"there is no run {value}")
    return value


def _weights_file_id(name: str) -> int | None:
    """The run id in a name this store writes: ``ID.safetensors`` or ``.ID.safetensors.*.tmp``."""
    stem = name[1:].split(".", 1)[0] if name.startswith(".") and name.endswith(".tmp") \
        else name.removesuffix(".safetensors") if name.endswith(".safetensors") else ""
    return int(stem) if stem.isascii() and stem.isdigit() and len(stem) < 19 else None


def _json_object(run_id: int, what: str, text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise DamagedRun(f"run {run_id} is damaged in the runs database: its {what} is not a "
                         "JSON object")
    return value


NUMBER = (int, float, type(None))
# What ``finish`` writes as metrics: each key's shape ("list of", "dict of" or a type).
METRICS_SHAPE = {"epochs": ("list", ("dict", NUMBER)), "steps": ("dict", ("list", NUMBER)),
                 "per_class_accuracy": ("list", NUMBER), "confusion": ("list", ("list", int))}


def _shaped(value: Any, shape: Any) -> bool:
    """Whether decoded JSON has ``shape`` (a missing or null metric is fine)."""
    if isinstance(shape, dict):
        return isinstance(value, dict) and all(
            value.get(k) is None or _shaped(value[k], s) for k, s in shape.items())
    if isinstance(shape, tuple) and shape and shape[0] in ("list", "dict"):
        kind, inner = shape
        items = value if kind == "list" else value.values() if isinstance(value, dict) else None
        return isinstance(value, list if kind == "list" else dict) and \
            all(_shaped(v, inner) for v in items)
    return isinstance(value, shape) and not isinstance(value, bool)


def _check_design(run_id: int, design: dict[str, Any]) -> None:
    from cnn_core.design.spec import SpecFormatError, spec_from_dict

    try:
        spec_from_dict(design)
    except SpecFormatError as exc:
        raise DamagedRun(f"run {run_id} is damaged in the runs database: its design is not one "
                         f"this app can read ({exc})") from None


def _summary(row: tuple[Any, ...]) -> RunSummary:
    """One row of the list; a row whose values have the wrong types (an edited or damaged
    database) is listed as "damaged" instead of failing the whole list."""
    values = list(row[:len(SUMMARY_FIELDS) + 1])
    design_ok = values.pop()
    for i, kind in enumerate(SUMMARY_TYPES):  # SQLite keeps 1.0 as 1 in a REAL column
        if float in (kind if isinstance(kind, tuple) else (kind,)) and type(values[i]) is int:
            values[i] = float(values[i])
    bad = [name for name, value, kind in zip(SUMMARY_FIELDS, values, SUMMARY_TYPES)
           if not isinstance(value, kind)]
    if bad or design_ok != 1:
        why = (f"its {', '.join(bad)} {'are' if len(bad) > 1 else 'is'} not what this app "
               "writes" if bad else "its design is missing" if design_ok is None
               else "its design is not JSON")
        return RunSummary(values[0], 0.0, None, "damaged", why, str(values[5])[:80], "", "",
                          "", 0, 0, None, None, None, False, False, None)
    values[14], values[15] = bool(values[14]), bool(values[15])
    return RunSummary(*values)


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _finite_json(value: Any) -> Any:
    """NaN and infinities (a loss that blew up) become null: JSON has no word for them."""
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_json(v) for v in value]
    return value


def _columns(points: list[dict[str, float]]) -> dict[str, list[Any]]:
    """A curve stored as one list per field: half the size of a list of objects."""
    names = list(points[0]) if points else []
    return {name: [_short(p.get(name)) for p in points] for name in names}


def _short(value: Any) -> Any:
    """Six significant digits: plenty for a curve on a chart, a third of a float's text."""
    return float(f"{value:.6g}") if isinstance(value, float) else value


def _rows(columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    names = list(columns)
    return [dict(zip(names, values)) for values in zip(*columns.values())]


def thin_curve(points: list[dict[str, float]], limit: int = MAX_CURVE_POINTS) \
        -> list[dict[str, float]]:
    """At most ``limit`` points, evenly spaced, the last one kept."""
    if len(points) <= limit:
        return list(points)
    stride = math.ceil(len(points) / limit)
    kept = points[::stride]
    if kept[-1] is not points[-1]:
        kept = kept[:limit - 1] + [points[-1]]
    return kept
