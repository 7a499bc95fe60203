"""The one SQLite helper both stores open their files with: it makes a database only of a
file it created itself, opens only SQLite files, and leaves everything else as it was."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cnn_core.data.class_data import ClassData, ClassDataError
from cnn_core.runs.records import StoreError
from cnn_core.runs.store import RunStore
from cnn_core.storage.sqlite_db import CREATING_S, Database, Names

NAMES = Names(StoreError, "the test database", "the test folder")
MIGRATIONS = ("CREATE TABLE t (x INTEGER)", "ALTER TABLE t ADD COLUMN y TEXT DEFAULT 'y'")


def old(path: Path) -> Path:
    """Make ``path`` look as if nobody were creating it right now."""
    past = time.time() - 10 * CREATING_S
    os.utime(path, (past, past), follow_symlinks=False)
    return path


def test_a_new_file_is_created_migrated_and_reopened(tmp_path):
    db = Database(tmp_path / "d.sqlite3", MIGRATIONS[:1], NAMES)
    with db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (1)")
    db.close()
    again = Database(tmp_path / "d.sqlite3", MIGRATIONS, NAMES)  # one migration more
    assert again.read("SELECT x, y FROM t") == [(1, "y")]
    assert again.read("PRAGMA user_version") == [(2,)]
    assert again.read("PRAGMA journal_mode") == [("wal",)]


def test_a_failed_transaction_leaves_nothing(tmp_path):
    db = Database(tmp_path / "d.sqlite3", MIGRATIONS, NAMES)
    with pytest.raises(ZeroDivisionError), db.transaction() as conn:
        conn.execute("INSERT INTO t (x) VALUES (1)")
        1 / 0  # noqa: B018
    assert db.read("SELECT COUNT(*) FROM t") == [(0,)]


def test_threads_each_get_a_connection_and_every_write_is_kept(tmp_path):
    db = Database(tmp_path / "d.sqlite3", MIGRATIONS, NAMES)

    def writer() -> None:
        for i in range(25):
            with db.transaction() as conn:
                conn.execute("INSERT INTO t (x) VALUES (?)", (i,))

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db.read("SELECT COUNT(*) FROM t") == [(100,)]


def refusal(path: Path) -> str:
    with pytest.raises(StoreError) as info:
        Database(path, MIGRATIONS, NAMES)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"the test database {path} ")
    assert message.endswith("it was left as it is: move it away to start a new one")
    return message


def test_a_symlink_to_an_empty_file_elsewhere_is_refused_and_left_empty(tmp_path):
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_bytes(b"")
    old(elsewhere)
    link = tmp_path / "runs" / "d.sqlite3"
    link.parent.mkdir()
    link.symlink_to(elsewhere)
    assert "is a symbolic link" in refusal(link)
    assert elsewhere.read_bytes() == b"" and sorted(os.listdir(link.parent)) == ["d.sqlite3"]


def test_a_symlink_to_a_real_database_or_nowhere_is_refused_too(tmp_path):
    real = tmp_path / "real.sqlite3"
    sqlite3.connect(real).execute("CREATE TABLE z (a)").connection.commit()
    (tmp_path / "to-real").symlink_to(real)
    assert "is a symbolic link" in refusal(tmp_path / "to-real")
    (tmp_path / "dangling").symlink_to(tmp_path / "nothing-here")
    assert "is a symbolic link" in refusal(tmp_path / "dangling")
    assert not (tmp_path / "nothing-here").exists()  # never created through the link


def test_an_empty_file_nobody_is_creating_is_refused(tmp_path):
    path = tmp_path / "d.sqlite3"
    path.write_bytes(b"")
    assert "is an empty file this app did not create" in refusal(old(path))
    assert path.read_bytes() == b""


def test_a_folder_a_fifo_and_a_foreign_file_are_refused_untouched(tmp_path):
    (tmp_path / "folder").mkdir()
    assert "is not a regular file" in refusal(tmp_path / "folder")
    os.mkfifo(tmp_path / "fifo")  # opening it to read its header would wait forever
    assert "is not a regular file" in refusal(tmp_path / "fifo")
    foreign = tmp_path / "notes.txt"
    foreign.write_bytes(b"my homework\n" * 10)
    message = refusal(foreign)
    assert "failed: file is not a database" in message and "damaged" in message
    assert foreign.read_bytes() == b"my homework\n" * 10
    assert sorted(os.listdir(tmp_path)) == ["fifo", "folder", "notes.txt"]


def test_a_symlinked_wal_file_is_refused(tmp_path):
    Database(tmp_path / "d.sqlite3", MIGRATIONS, NAMES).close()
    (tmp_path / "d.sqlite3-wal").unlink(missing_ok=True)
    (tmp_path / "d.sqlite3-wal").symlink_to(tmp_path / "elsewhere")
    assert "-wal file that is not a regular file" in refusal(tmp_path / "d.sqlite3")
    assert not (tmp_path / "elsewhere").exists()


def test_a_newer_schema_is_refused(tmp_path):
    Database(tmp_path / "d.sqlite3", MIGRATIONS, NAMES).close()
    with pytest.raises(StoreError, match="newer version of this app"):
        Database(tmp_path / "d.sqlite3", MIGRATIONS[:1], NAMES)


def test_both_stores_refuse_a_symlinked_database(tmp_path):
    """The CLI's row (`runs list` turned the linked file into a database), for both stores."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"")
    old(elsewhere)
    root = tmp_path / "runs"
    root.mkdir()
    (root / "runs.sqlite3").symlink_to(elsewhere)
    (root / "class_data.sqlite3").symlink_to(elsewhere)
    with pytest.raises(StoreError, match="is a symbolic link"):
        RunStore(root)
    with pytest.raises(ClassDataError, match="is a symbolic link"):
        ClassData(root)
    assert elsewhere.read_bytes() == b""


def test_a_class_set_made_before_schema_versions_opens_with_its_drawings(tmp_path):
    with sqlite3.connect(tmp_path / "class_data.sqlite3") as conn:  # as the old code made it
        conn.execute("CREATE TABLE drawings (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at "
                     "REAL NOT NULL, label INTEGER NOT NULL, image BLOB NOT NULL, canvas BLOB, "
                     "nickname TEXT NOT NULL DEFAULT '', owner_hash TEXT)")
        conn.execute("INSERT INTO drawings (created_at, label, image) VALUES (0, 7, ?)",
                     (bytes(784),))
    data = ClassData(tmp_path)
    assert data.counts()[7] == 1
    assert data.add(3, np.ones((28, 28), np.uint8) * 255, np.full((280, 280, 4), 255,
                                                                  np.uint8)) == 2


def test_a_new_threads_connection_keeps_the_files_locks_for_the_ones_already_open(tmp_path):
    """Closing any descriptor of a file drops every lock this process holds on it, SQLite's
    too: another process closing then thought it was the last, deleted the -wal and -shm under
    our open connections (their writes went into a deleted file) and a new thread's connection
    failed with "disk I/O error" (the Runs page, after a CLI run, in a long test session)."""
    path = tmp_path / "d.sqlite3"
    db = Database(path, MIGRATIONS, NAMES)
    thread = threading.Thread(target=lambda: db.read("SELECT COUNT(*) FROM t"))
    thread.start()
    thread.join()

    def elsewhere() -> int:  # another process reads it and closes (the CLI, a worker)
        code = (f"import sqlite3; c = sqlite3.connect({str(path)!r}); "
                "print(c.execute('SELECT COUNT(*) FROM t').fetchone()[0]); c.close()")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout
        return int(out)

    assert elsewhere() == 0
    assert (tmp_path / "d.sqlite3-wal").exists()  # we still have it open: not cleaned up
    with db.transaction() as conn:
        conn.execute("INSERT INTO t (x) VALUES (1)")
    assert elsewhere() == 1  # our write is in the file everyone reads
    seen: list[Any] = []
    thread = threading.Thread(target=lambda: seen.append(db.read("SELECT COUNT(*) FROM t")))
    thread.start()
    thread.join()
    assert seen == [[(1,)]]
