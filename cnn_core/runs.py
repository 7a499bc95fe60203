"""The run store: every training kept as a record (SQLite) and its weights (``.safetensors``).

``RunStore(root)`` opens ``runs.sqlite3`` in ``root`` (``$CNN_EXPLAINER_RUNS`` or ``runs/`` in
the project) in WAL mode, one connection per thread, and upgrades its schema in place
(``PRAGMA user_version`` counts the migrations applied). A training calls ``begin(...)`` when
it starts and ``finish(...)`` when it ends; both take plain data, so the store knows nothing
of the trainer. Weights go to ``weights/<id>.safetensors``, written under a temporary name and
renamed, so a half-written file never counts; past the size cap the oldest unpinned runs lose
their weights but keep their record.

Every problem with the store itself (folder not writable, disk full, database locked or
damaged) raises ``StoreError`` with one sentence saying why; the store never deletes or
overwrites a file it did not write itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # torch loads only when weights are written: `runs list` stays quick
    import torch

RUNS_DIR_ENV = "CNN_EXPLAINER_RUNS"
MAX_MB_ENV = "CNN_EXPLAINER_RUNS_MAX_MB"
TEACHER_KEY_ENV = "CNN_EXPLAINER_TEACHER_KEY"
DEFAULT_RUNS_DIR = Path(__file__).resolve().parent.parent / "runs"
DEFAULT_MAX_MB = 200
DB_NAME = "runs.sqlite3"
MAX_CURVE_POINTS = 200  # a stored step curve stays this small however long the training
BUSY_TIMEOUT_S = 5.0
PAGE_SIZE = 25
WRONG_KEYS_FREE = 3  # wrong teacher keys allowed before each try is slowed down
MAX_KEY_LOCKOUT_S = 60.0

RunStatus = Literal["running", "finished", "stopped", "failed", "interrupted"]
STATUSES: tuple[str, ...] = ("running", "finished", "stopped", "failed", "interrupted")
SORT_COLUMNS = {"time": "id", "test_accuracy": "test_accuracy", "params": "params",
                "macs": "macs", "duration": "duration_s"}


@contextmanager
def immediate_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction on an autocommit connection, taken at once (BEGIN IMMEDIATE),
    so that writers queue instead of failing; rolled back if the body raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class StoreError(RuntimeError):
    """The store cannot keep runs; the message says why in one sentence."""


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
)
SCHEMA_VERSION = len(MIGRATIONS)
SUMMARY_COLUMNS = ("id, started_at, ended_at, status, message, name, label, source, device, "
                   "params, macs, images_per_s, duration_s, test_accuracy, pinned, "
                   "weights_bytes IS NOT NULL, owner_hash")


def _process_id() -> str:
    """This process, as "host:pid:start" (start in clock ticks since boot, where Linux says),
    so a later process can tell whether a "running" run's trainer is still alive."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_ticks(os.getpid())}"


def _start_ticks(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of stat: starttime


def _process_alive(process: str) -> bool:
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
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._process = _process_id()
        try:
            self.weights_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the runs folder {self.root}: "
                             f"{exc.strerror or exc}") from None
        with self._translate_errors():
            self._migrate()
            self._mark_interrupted()

    # ---- connections and errors
    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.db_path, timeout=self.busy_timeout_s,
                                   isolation_level=None)  # explicit BEGIN/COMMIT below
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL keeps it safe against crashes
            self._local.conn = conn
        return conn

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise StoreError(f"the runs database {self.db_path} is locked by another "
                                 "program") from None
            if "readonly" in text or "unable to open" in text or "read-only" in text:
                raise StoreError(f"the runs folder {self.root} is not writable ({text})") \
                    from None
            if "disk" in text and "full" in text:
                raise StoreError(f"the disk holding {self.root} is full") from None
            raise StoreError(f"the runs database {self.db_path} failed: {text}") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"the runs database {self.db_path} is damaged ({exc}); it was "
                             "left as it is: move it away to start a new one") from None
        except OSError as exc:
            raise StoreError(f"cannot write to the runs folder {self.root}: "
                             f"{exc.strerror or exc}") from None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE) so writers queue politely."""
        with self._translate_errors(), immediate_transaction(self._connection()) as conn:
            yield conn

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._translate_errors():
            return self._connection().execute(sql, args).fetchall()

    def _migrate(self) -> None:
        conn = self._connection()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"the runs database {self.db_path} was written by a newer version "
                             f"of this app (schema {version}; this one knows {SCHEMA_VERSION})")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute("PRAGMA user_version").fetchone()[0] < target:  # not raced
                    for statement in MIGRATIONS[target - 1].split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {target}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _mark_interrupted(self) -> None:
        """Runs left "running" by a process that is gone (a server restart) are interrupted."""
        rows = self._connection().execute(
            "SELECT id, process FROM runs WHERE status = 'running'").fetchall()
        dead = [run_id for run_id, process in rows if not _process_alive(process)]
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

    def _save_weights(self, run_id: int, state_dict: dict[str, torch.Tensor]) -> None:
        from safetensors.torch import save as safetensors_save

        tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
        data = safetensors_save(tensors, metadata={"run_id": str(run_id)})
        final = self.weights_path(run_id)
        temporary = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
        try:
            with open(temporary, "xb") as f:  # "x": never overwrites anything
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, final)
        except OSError as exc:
            temporary.unlink(missing_ok=True)  # only ever our own half-written file
            if exc.errno == 28:  # ENOSPC
                raise StoreError(f"the disk holding {self.root} is full: the weights of run "
                                 f"{run_id} were not kept") from None
            raise StoreError(f"cannot write the weights of run {run_id} to "
                             f"{self.weights_dir}: {exc.strerror or exc}") from None
        with self._write() as conn:
            conn.execute("UPDATE runs SET weights_bytes = ? WHERE id = ?", (len(data), run_id))
        self.enforce_cap(keep=run_id)

    def enforce_cap(self, keep: int | None = None) -> list[int]:
        """Past the cap, drop the weights of the oldest unpinned runs (never ``keep``'s).
        Returns the runs that lost their weights."""
        total = self._read("SELECT COALESCE(SUM(weights_bytes), 0) FROM runs")[0][0]
        if total <= self.max_bytes:
            return []
        dropped = []
        candidates = self._read("SELECT id, weights_bytes FROM runs WHERE weights_bytes IS NOT "
                                "NULL AND pinned = 0 AND id != ? ORDER BY id",
                                (keep if keep is not None else -1,))
        for run_id, size in candidates:
            if total <= self.max_bytes:
                break
            with self._write() as conn:
                conn.execute("UPDATE runs SET weights_bytes = NULL WHERE id = ?", (run_id,))
            self.weights_path(run_id).unlink(missing_ok=True)
            total -= size
            dropped.append(run_id)
        return dropped

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
        return self._read("SELECT COUNT(*) FROM runs WHERE owner_hash = ?",
                          (owner_hash(owner_token),))[0][0]

    def list_runs(self, sort: str = "time", descending: bool = True,
                  owner_token: str | None = None, limit: int = PAGE_SIZE,
                  offset: int = 0) -> list[RunSummary]:
        """One page of runs, newest first unless sorted otherwise; ``owner_token``: only mine.
        Runs without a value for the sort column (no test accuracy yet) come last."""
        if sort not in SORT_COLUMNS:
            raise ValueError(f"sort by one of {', '.join(SORT_COLUMNS)}, not {sort!r}")
        column, order = SORT_COLUMNS[sort], "DESC" if descending else "ASC"
        where, args = ("WHERE owner_hash = ?", (owner_hash(owner_token),)) \
            if owner_token is not None else ("", ())
        # SQLite sorts NULL lowest: descending, they come last anyway (and the index serves)
        nulls = f"{column} IS NULL, " if column != "id" and not descending else ""
        rows = self._read(f"SELECT {SUMMARY_COLUMNS} FROM runs {where} "
                          f"ORDER BY {nulls}{column} {order}, id {order} LIMIT ? OFFSET ?",
                          (*args, max(0, int(limit)), max(0, int(offset))))
        return [_summary(row) for row in rows]

    def scatter_points(self) -> list[tuple[int, int, float, str]]:
        """(id, params, test accuracy, name) of every run with a test accuracy."""
        return [(r[0], r[1], r[2], r[3]) for r in self._read(
            "SELECT id, params, test_accuracy, CASE WHEN label != '' THEN name || ' · ' || "
            "label ELSE name END FROM runs WHERE test_accuracy IS NOT NULL ORDER BY id")]

    def get_summary(self, run_id: int) -> RunSummary:
        rows = self._read(f"SELECT {SUMMARY_COLUMNS} FROM runs WHERE id = ?", (int(run_id),))
        if not rows:
            raise RunNotFound(f"there is no run {run_id}")
        return _summary(rows[0])

    def get(self, run_id: int) -> RunRecord:
        rows = self._read(f"SELECT {SUMMARY_COLUMNS}, design, settings, seed, data_source, "
                          "train_size, val_size, test_size, metrics FROM runs "
                          "JOIN run_details USING (id) WHERE id = ?", (int(run_id),))
        if not rows:
            raise RunNotFound(f"there is no run {run_id}")
        row = rows[0]
        n = len(_summary(row).__dict__)
        design, settings, seed, data_source, train, val, test, metrics = row[n:]
        m = json.loads(metrics)
        return RunRecord(*_summary(row).__dict__.values(), design=json.loads(design),
                         settings=json.loads(settings), seed=seed, data_source=data_source,
                         train_size=train, val_size=val, test_size=test,
                         epochs=m.get("epochs") or [], steps=_rows(m.get("steps") or {}),
                         per_class_accuracy=m.get("per_class_accuracy"),
                         confusion=m.get("confusion"))

    # ---- changing runs
    def set_pinned(self, run_id: int, pinned: bool) -> None:
        """A pinned run keeps its weights past the cap (anyone may pin: it only protects)."""
        with self._write() as conn:
            if not conn.execute("UPDATE runs SET pinned = ? WHERE id = ?",
                                (int(pinned), int(run_id))).rowcount:
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
        for run_id in ids:
            self.weights_path(run_id).unlink(missing_ok=True)
        return len(ids)

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _summary(row: tuple[Any, ...]) -> RunSummary:
    (run_id, started, ended, status, message, name, label, source, device, params, macs, ips,
     duration, accuracy, pinned, has_weights, owner) = row[:17]
    return RunSummary(run_id, started, ended, status, message, name, label, source, device,
                      params, macs, ips, duration, accuracy, bool(pinned), bool(has_weights),
                      owner)


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


class TeacherKey:
    """The teacher key (``$CNN_EXPLAINER_TEACHER_KEY`` or Streamlit secrets), checked in
    constant time. After ``WRONG_KEYS_FREE`` wrong tries, every try waits out a lockout that
    doubles with each wrong key (up to a minute), for the whole server: a new tab does not
    reset it."""

    def __init__(self, key: str | None = None) -> None:
        self._key = key if key is not None else os.environ.get(TEACHER_KEY_ENV, "")
        self._lock = threading.Lock()
        self._wrong = 0
        self._locked_until = 0.0
        self._refusal = ""

    @property
    def configured(self) -> bool:
        return bool(self._key)

    def check(self, key: str) -> bool:
        with self._lock:
            wait = self._locked_until - time.monotonic()
            if not self._key:
                self._refusal = "no teacher key is set on this server (CNN_EXPLAINER_TEACHER_KEY)"
            elif wait > 0:
                self._refusal = f"too many wrong teacher keys: try again in {math.ceil(wait)} s"
            elif hmac.compare_digest(key.encode(), self._key.encode()):
                self._wrong = 0
                return True
            else:
                self._wrong += 1
                self._refusal = "that is not the teacher key"
                if self._wrong >= WRONG_KEYS_FREE:
                    delay = min(MAX_KEY_LOCKOUT_S, 2.0 ** (self._wrong - WRONG_KEYS_FREE))
                    self._locked_until = time.monotonic() + delay
                    self._refusal += f"; wait {math.ceil(delay)} s before the next try"
            return False

    def refusal(self) -> str:
        """Why the last check failed, without a word about the key itself."""
        return self._refusal
