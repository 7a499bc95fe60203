"""The class's own handwriting: drawings labelled on the Draw page, kept beside the runs.

``ClassData(root)`` opens ``class_data.sqlite3`` in ``root`` (the runs folder,
``$CNN_EXPLAINER_RUNS``), one row per drawing: the 28x28 image the network sees, its label,
the raw canvas PNG, when it was added and the optional nickname. Each add is one SQLite
transaction, so two students adding at the same moment both keep theirs. The set goes out
and comes back as MNIST's own IDX files (``class_files``), and an import either adds every
drawing or none; what a drawing must be is in ``drawings``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cnn_core.data.class_files import export_files, parse_import, zipped
from cnn_core.data.drawings import (
    CLASSES,
    EMPTY,
    MAX_DRAWINGS,
    Drawing,
    Refused,
    drawing_refusal,
    label_refusal,
    stacked,
)
from cnn_core.storage.owners import change_refusal, kept_hash, key_refusal
from cnn_core.storage.places import runs_dir
from cnn_core.storage.sqlite_db import Database, Names
from cnn_core.storage.teacher_key import TeacherKey

DB_NAME = "class_data.sqlite3"
# One session's share of the class set (its drawings and imports): one import cannot fill the
# set for everyone. The teacher key lifts it (to import a whole class's set, say).
MAX_SHARE = 1_000


class ClassDataError(RuntimeError):
    """The class set cannot be read or written (one sentence saying why)."""


# MIGRATIONS[n] takes the set from schema version n to n + 1 (only ever append); the first is
# IF NOT EXISTS because sets made before versions were counted already hold the table.
SCHEMA = """
CREATE TABLE IF NOT EXISTS drawings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    label INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
    image BLOB NOT NULL CHECK (length(image) = 784),
    canvas BLOB,
    nickname TEXT NOT NULL DEFAULT '',
    owner_hash TEXT
)"""
MIGRATIONS = (SCHEMA,)


class ClassData:
    """The class set on disk under ``root``; safe to share between threads (one connection
    each), and between processes (SQLite's own locking)."""

    def __init__(self, root: Path | str | None = None, busy_timeout_s: float = 10.0) -> None:
        self.root = Path(root) if root is not None else runs_dir()
        self.db_path = self.root / DB_NAME
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ClassDataError(f"cannot create the folder {self.root}: "
                                 f"{exc.strerror or exc}") from None
        self._db = Database(self.db_path, MIGRATIONS,
                            Names(ClassDataError, "the class set", "the folder"), busy_timeout_s)
        self._write = self._db.transaction  # one write transaction, taken at once
        self._read = self._db.read

    # ---- adding
    def add(self, label: object, image: np.ndarray | None, canvas_rgba: np.ndarray | None,
            canvas_png: bytes | None = None, nickname: str = "",
            owner_token: str | None = None) -> int:
        """Keep one drawing (``image``: the 28x28 input in [0, 1] or uint8); its id.
        ``Refused`` (nothing stored) for no label, an empty canvas or a speck."""
        refusal = label_refusal(label) or drawing_refusal(canvas_rgba)
        if refusal is None and image is None:
            refusal = EMPTY
        if refusal:
            raise Refused(refusal)
        pixels = np.asarray(image)
        if pixels.dtype != np.uint8:
            pixels = np.clip(np.round(pixels * 255), 0, 255).astype(np.uint8)
        if pixels.shape != (28, 28):
            raise Refused(f"the prepared image is {pixels.shape}, not 28x28")
        owner = kept_hash(owner_token)
        return self._insert([(int(label), pixels, canvas_png, nickname[:40], owner)])[0]

    def _insert(self, rows: list[tuple[int, np.ndarray, bytes | None, str, str | None]],
                share_lifted: bool = False) -> list[int]:
        """Store ``rows`` (all from one owner) in one transaction, within the set's cap and,
        unless the teacher key lifted it, the owner's share of it."""
        with self._write() as conn:
            have = conn.execute("SELECT COUNT(*) FROM drawings").fetchone()[0]
            if have + len(rows) > MAX_DRAWINGS:
                raise Refused(f"the class set is full: it holds {have:,} drawings and takes at "
                              f"most {MAX_DRAWINGS:,}")
            owner = rows[0][4] if rows else None
            mine = 0 if share_lifted else conn.execute(
                "SELECT COUNT(*) FROM drawings WHERE owner_hash IS ?", (owner,)).fetchone()[0]
            if not share_lifted and mine + len(rows) > MAX_SHARE:
                raise Refused(f"that would make {mine + len(rows):,} drawings from this "
                              f"session; each session adds at most {MAX_SHARE:,}, so that "
                              "everyone has room (the teacher key lifts this)")
            now = time.time()
            return [int(conn.execute(
                "INSERT INTO drawings (created_at, label, image, canvas, nickname, owner_hash) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (now, label, image.tobytes(), canvas, nick, owner)).lastrowid)
                for label, image, canvas, nick, owner in rows]

    # ---- reading
    def counts(self) -> list[int]:
        """How many drawings of each digit, 0 to 9."""
        counts = [0] * CLASSES
        for label, n in self._read("SELECT label, COUNT(*) FROM drawings GROUP BY label"):
            counts[label] = n
        return counts

    def drawings(self, label: int | None = None) -> list[Drawing]:
        """Every drawing (of one digit), oldest first."""
        where, args = ("WHERE label = ?", (int(label),)) if label is not None else ("", ())
        rows = self._read("SELECT id, label, image, created_at, nickname, owner_hash, "
                          f"canvas IS NOT NULL FROM drawings {where} ORDER BY id", args)
        return [Drawing(i, lab, np.frombuffer(img, np.uint8).reshape(28, 28).copy(), t, nick,
                        owner, bool(canvas)) for i, lab, img, t, nick, owner, canvas in rows]

    def canvas_png(self, drawing_id: int) -> bytes | None:
        rows = self._read("SELECT canvas FROM drawings WHERE id = ?", (int(drawing_id),))
        return rows[0][0] if rows else None

    def arrays(self, held_out: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Images (N, 28, 28) uint8 and labels (N,) int64, oldest first; ``held_out``: only
        the drawings on that side of the fixed split (None: all)."""
        return stacked([d for d in self.drawings()
                        if held_out is None or d.held_out == held_out])

    # ---- removing
    def remove(self, drawing_id: int, owner_token: str | None = None,
               teacher: TeacherKey | None = None, key: str | None = None) -> None:
        """Remove a drawing: the session that added it may, or anyone with the teacher key."""
        rows = self._read("SELECT owner_hash FROM drawings WHERE id = ?", (int(drawing_id),))
        if not rows:
            raise Refused(f"there is no drawing {drawing_id}")
        if refusal := change_refusal(rows[0][0], owner_token, teacher, key,
                                     f"drawing {drawing_id} was added in another session: "
                                     "only the teacher key can remove it"):
            raise Refused(refusal)
        with self._write() as conn:
            conn.execute("DELETE FROM drawings WHERE id = ?", (int(drawing_id),))

    # ---- out and back in
    def export_files(self) -> dict[str, bytes]:
        """The whole set as MNIST-format IDX files and a CSV of labels (oldest first)."""
        return export_files(self.drawings())

    def export_zip(self) -> bytes:
        return zipped(self.export_files())

    def import_idx(self, images_file: bytes, labels_file: bytes, nickname: str = "imported",
                   owner_token: str | None = None, teacher: TeacherKey | None = None,
                   key: str | None = None) -> int:
        """Add every drawing of a pair of IDX files, or none (``Refused`` says why); the number
        added. Past the session's share (``MAX_SHARE``), only with the teacher key."""
        images, labels = parse_import(images_file, labels_file)
        if key and (refusal := key_refusal(teacher, key)):
            raise Refused(refusal)
        owner = kept_hash(owner_token)
        return len(self._insert([(int(lab), img, None, nickname[:40], owner)
                                 for img, lab in zip(images, labels)], share_lifted=bool(key)))

    def close(self) -> None:
        self._db.close()
