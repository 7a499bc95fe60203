"""One SQLite helper for both stores (the run store and the class set).

``Database(path, migrations, names)`` opens one connection per thread in WAL mode with a busy
timeout, upgrades the schema in place (``PRAGMA user_version`` counts the migrations applied),
and gives write transactions (``BEGIN IMMEDIATE``: writers queue instead of failing) and reads
that turn every SQLite or file-system problem into the store's own error with one sentence.

It opens only a regular file it created itself (``O_EXCL``) or one that starts with SQLite's
16-byte header: a symlink, a folder, a FIFO, or any other file (empty ones too) is refused and
left as it is, so a stray link can never turn somebody else's file into a database.

Closing any descriptor of a file drops every POSIX lock this process holds on it, SQLite's too:
another process closing its connection then believes it is the last, checkpoints and deletes
the -wal and -shm under our open connections (their writes land in a deleted file, and the next
connection fails with "disk I/O error"). So the header is read only while no connection of this
process has that file open; a file one of ours has open was checked when that one opened.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import time
import urllib.parse
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HEADER = b"SQLite format 3\x00"
MAX_INT = 2**63 - 1  # SQLite's integers are 64-bit: a larger id can name no row
# Another process creating the file writes the header within milliseconds of creating it;
# an empty file older than this was not made by one of us.
CREATING_S = 2.0


class _Connection(sqlite3.Connection):
    """SQLite's connection, weakly referable (so the registry below forgets closed ones)."""


# Our open connections by file (device, inode); taken while checking a file and opening one.
_OPEN: dict[tuple[int, int], weakref.WeakSet[_Connection]] = {}
_OPENING = threading.Lock()


def _in_use(info: os.stat_result) -> bool:
    """Whether a connection of this process has this file open (reading it would unlock it)."""
    return bool(_OPEN.get((info.st_dev, info.st_ino)))


@dataclass(frozen=True)
class Names:
    """How messages name the store: its error class, the database and its folder."""

    error: type[Exception]  # raised with one sentence
    database: str  # e.g. "the runs database"
    folder: str  # e.g. "the runs folder"


def within_sqlite(value: int) -> bool:
    """Whether ``value`` fits SQLite's 64-bit integers (a bound every id lookup shares)."""
    return -MAX_INT - 1 <= value <= MAX_INT


class Database:
    """A SQLite file shared between threads (one connection each) and processes."""

    def __init__(self, path: Path, migrations: tuple[str, ...], names: Names,
                 busy_timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.migrations = migrations
        self.names = names
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        with self.errors():
            self._migrate()

    # ---- opening
    def _refuse(self, why: str) -> Exception:
        return self.names.error(f"{self.names.database} {self.path} {why}; it was left as it "
                                "is: move it away to start a new one")

    def _create(self) -> bool:
        """Create the file if nothing is at its path; True when this call made it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            return False
        os.close(fd)
        return True

    def _check(self, created: bool) -> os.stat_result:
        """The file's status once it is known to be ours to open; the store's error if not."""
        for suffix in ("-wal", "-shm"):  # SQLite writes these too: through a link, elsewhere
            side = self.path.with_name(self.path.name + suffix)
            try:
                if not stat.S_ISREG(os.lstat(side).st_mode):
                    raise self._refuse(f"has a {suffix} file that is not a regular file")
            except FileNotFoundError:
                pass
        while True:
            info = os.lstat(self.path)
            if stat.S_ISLNK(info.st_mode):
                raise self._refuse("is a symbolic link, not a database file")
            if not stat.S_ISREG(info.st_mode):
                raise self._refuse("is not a regular file")
            if info.st_size or created:
                break
            if time.time() - info.st_mtime > CREATING_S:  # not being created right now
                raise self._refuse("is an empty file this app did not create")
            time.sleep(0.05)
        return info

    def _check_header(self, info: os.stat_result) -> None:
        """Refuse a file that does not start with SQLite's header. Called under ``_OPENING``
        and read only while no connection of ours has it open (closing our descriptor would
        drop their locks); one of ours has it open only once it passed this check."""
        if info.st_size and not _in_use(info):
            with open(self.path, "rb") as file:
                if file.read(len(HEADER)) != HEADER:
                    raise self._refuse("failed: file is not a database (damaged, or another "
                                       "program's file)")

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened (and checked) on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            created = self._create()
            before = self._check(created)  # may wait for another process creating the file
            with _OPENING:  # no header read of ours between another's open and its first lock
                self._check_header(before)
                uri = f"file:{urllib.parse.quote(str(self.path))}?mode=rw"  # never creates
                conn = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout_s,
                                       isolation_level=None, factory=_Connection)
                after = os.lstat(self.path)
                if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
                    conn.close()  # swapped between the check and the open
                    raise self._refuse("was replaced while it was being opened")
                _OPEN.setdefault((after.st_dev, after.st_ino), weakref.WeakSet()).add(conn)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode=WAL")  # writes the header of a new file
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL keeps it safe against crashes
            self._local.conn = conn
        return conn

    # ---- errors, transactions, reads
    @contextmanager
    def errors(self) -> Iterator[None]:
        """SQLite's and the file system's errors as the store's own, in one sentence."""
        names, root = self.names, self.path.parent
        try:
            yield
        except names.error:
            raise
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise names.error(f"{names.database} {self.path} is locked by another "
                                  "program") from None
            if "readonly" in text or "unable to open" in text or "read-only" in text:
                raise names.error(f"{names.folder} {root} is not writable ({text})") from None
            if "disk" in text and "full" in text:
                raise names.error(f"the disk holding {root} is full") from None
            raise names.error(f"{names.database} {self.path} failed: {text}") from None
        except sqlite3.DatabaseError as exc:
            raise self._refuse(f"failed: {exc} (damaged)") from None
        except OSError as exc:
            raise names.error(f"cannot use {names.folder} {root}: "
                              f"{exc.strerror or exc}") from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE) so writers queue; rolled
        back if the body raises."""
        with self.errors():
            conn = self.connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def read(self, sql: str, args: tuple[Any, ...] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        with self.errors():
            return self.connection().execute(sql, args).fetchall()

    def _migrate(self) -> None:
        """Apply the migrations this file lacks, each in its own transaction; a file from a
        newer version of the app is refused untouched."""
        conn = self.connection()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        latest = len(self.migrations)
        if version > latest:
            raise self.names.error(f"{self.names.database} {self.path} was written by a newer "
                                   f"version of this app (schema {version}; this one knows "
                                   f"{latest})")
        for target in range(version + 1, latest + 1):
            with self.transaction() as tx:
                if tx.execute("PRAGMA user_version").fetchone()[0] < target:  # not raced
                    for statement in self.migrations[target - 1].split(";"):
                        if statement.strip():
                            tx.execute(statement)
                    tx.execute(f"PRAGMA user_version = {target}")

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            with _OPENING:  # forgotten before it closes: a file nobody has open is checked
                for key, connections in list(_OPEN.items()):
                    connections.discard(conn)
                    if not connections:
                        del _OPEN[key]
            conn.close()
            self._local.conn = None
