"""The class's own handwriting: drawings labelled on the Draw page, kept beside the runs.

``ClassData(root)`` opens ``class_data.sqlite3`` in ``root`` (the runs folder,
``$CNN_EXPLAINER_RUNS``), one row per drawing: the 28x28 image the network sees, its label,
the raw canvas PNG, when it was added and the optional nickname. Each add is one SQLite
transaction, so two students adding at the same moment both keep theirs. The set goes out
and comes back as MNIST's own IDX files (plus a CSV of labels); ``parse_idx`` refuses
anything else with one line saying why, and an import either adds every drawing or none.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnn_core.storage.owners import owner_hash
from cnn_core.storage.places import runs_dir
from cnn_core.storage.teacher_key import TeacherKey
from cnn_core.storage.sqlite_db import Database, Names
from cnn_core.storage.uploads import MAX_ZIP_ENTRIES, UploadRefused, read_entries, zip_directory

if TYPE_CHECKING:
    from cnn_core.data.mnist import MnistSplits

DB_NAME = "class_data.sqlite3"
CLASSES = 10  # the class draws digits
MAX_DRAWINGS = 20_000  # a class set stays a class set: a flood is refused
MIN_SPAN_PX = 40  # ink spanning less than this (of the 280-pixel canvas) is a speck
MIN_INK_FRACTION = 0.003  # less ink than this share of the canvas is a speck too
THIN_BELOW = 10  # fewer drawings of a digit than this: training warns
HOLD_OUT_EVERY = 5  # one drawing in five is held out for testing (by its id: fixed)
IDX_IMAGES, IDX_LABELS, CSV_LABELS = ("class-images-idx3-ubyte", "class-labels-idx1-ubyte",
                                      "class-labels.csv")
MAX_IMPORT_BYTES = 16 + MAX_DRAWINGS * 28 * 28  # also bounds what a gzip may unpack to
MAX_LABELS_BYTES = 8 + MAX_DRAWINGS
# One session's share of the class set (its drawings and imports): one import cannot fill the
# set for everyone. The teacher key lifts it (to import a whole class's set, say).
MAX_SHARE = 1_000
INK = 255 * 0.1  # a pixel brighter than this counts as ink (as in preprocess)


class ClassDataError(RuntimeError):
    """The class set cannot be read or written (one sentence saying why)."""


class Refused(ValueError):
    """A drawing or an import was refused; the message says why, and nothing was stored."""


@dataclass(frozen=True)
class Drawing:
    id: int
    label: int
    image: np.ndarray  # (28, 28) uint8, as the network sees it
    created_at: float
    nickname: str
    owner_hash: str | None
    has_canvas: bool

    def owned_by(self, owner_token: str | None) -> bool:
        return owner_token is not None and self.owner_hash == owner_hash(owner_token)

    @property
    def held_out(self) -> bool:
        return is_held_out(self.id)


def is_held_out(drawing_id: int) -> bool:
    """The fixed split: a drawing keeps its side however many are added or removed."""
    return int(hashlib.sha256(str(drawing_id).encode()).hexdigest(), 16) % HOLD_OUT_EVERY == 0


# ---- checks -----------------------------------------------------------------------------------
def drawing_refusal(canvas_rgba: np.ndarray | None) -> str | None:
    """Why a canvas cannot be added (empty, or a speck), or None when it can."""
    if canvas_rgba is None:
        return "the canvas is empty: draw a digit first"
    gray = canvas_rgba[..., :3].astype(np.float32).mean(axis=2)
    if canvas_rgba.shape[2] == 4:
        gray = gray * canvas_rgba[..., 3] / 255.0
    ink = gray > INK
    if not ink.any():
        return "the canvas is empty: draw a digit first"
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    span = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
    if span < MIN_SPAN_PX or ink.mean() < MIN_INK_FRACTION:
        return (f"that is a speck ({span} pixels across), not a digit: draw it at least "
                f"{MIN_SPAN_PX} pixels tall")
    return None


def label_refusal(label: object) -> str | None:
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or \
            not 0 <= int(label) < CLASSES:
        return "pick the digit it shows (0 to 9) before adding it"
    return None


def thin_digits(counts: list[int], below: int = THIN_BELOW) -> list[int]:
    """The digits with fewer than ``below`` drawings."""
    return [d for d, n in enumerate(counts) if n < below]


# ---- the IDX format -------------------------------------------------------------------------
class IdxError(ValueError):
    """Not an IDX file of the kind expected (one line saying why)."""


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file, as MNIST's are: 0x00 0x00 0x08 ndim, sizes, the bytes."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big")
                                                      for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _gunzip(data: bytes, name: str) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, MAX_IMPORT_BYTES + 1)
    except zlib.error:
        raise IdxError(f"{name} is gzip-compressed but damaged") from None
    if len(out) > MAX_IMPORT_BYTES:
        raise IdxError(f"{name} unpacks to more than {MAX_IMPORT_BYTES:,} bytes, more than "
                       f"{MAX_DRAWINGS:,} drawings")
    if not inflater.eof:
        raise IdxError(f"{name} is gzip-compressed but cut short")
    return out


def parse_idx(data: bytes, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """An IDX file (gzipped or not) of unsigned bytes whose sizes after the first are
    ``shape[1:]`` (``shape[0]``, the count, is ignored); ``IdxError`` otherwise."""
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, name)
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise IdxError(f"{name} is not an IDX file (it must start with two zero bytes)")
    if data[2] != 0x08:
        raise IdxError(f"{name} holds IDX type 0x{data[2]:02x}; only unsigned bytes (0x08) "
                       "can be imported")
    ndim = data[3]
    if ndim != len(shape):
        raise IdxError(f"{name} has {ndim} dimensions; {len(shape)} were expected")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{name} is cut short inside its header")
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    if tuple(dims[1:]) != shape[1:]:
        raise IdxError(f"{name} holds {'x'.join(map(str, dims[1:]))} items; "
                       f"{'x'.join(map(str, shape[1:]))} were expected")
    if dims[0] > MAX_DRAWINGS:
        raise IdxError(f"{name} says it holds {dims[0]:,} items; at most {MAX_DRAWINGS:,} "
                       "can be imported")
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise IdxError(f"{name} should be {expected:,} bytes for {dims[0]:,} items but is "
                       f"{len(data):,} ({'cut short' if len(data) < expected else 'too long'})")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims).copy()


def parse_import(images_file: bytes, labels_file: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) and labels (N,) from a pair of IDX files; ``Refused`` says why not."""
    try:
        images = parse_idx(images_file, "the images file", (0, 28, 28))
        labels = parse_idx(labels_file, "the labels file", (0,))
    except IdxError as exc:
        raise Refused(str(exc)) from None
    if len(images) != len(labels):
        raise Refused(f"the images file holds {len(images):,} images but the labels file "
                      f"{len(labels):,} labels")
    if len(images) == 0:
        raise Refused("the files hold no drawings")
    if (bad := np.flatnonzero(labels >= CLASSES)).size:
        raise Refused(f"label {int(labels[bad[0]])} (item {int(bad[0]) + 1}) is out of range: "
                      f"labels are digits 0 to {CLASSES - 1}")
    if (blank := np.flatnonzero((images > INK).reshape(len(images), -1).sum(axis=1) == 0)).size:
        raise Refused(f"image {int(blank[0]) + 1} is blank")
    return images, labels


# ---- the store --------------------------------------------------------------------------------
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
            refusal = "the canvas is empty: draw a digit first"
        if refusal:
            raise Refused(refusal)
        pixels = np.asarray(image)
        if pixels.dtype != np.uint8:
            pixels = np.clip(np.round(pixels * 255), 0, 255).astype(np.uint8)
        if pixels.shape != (28, 28):
            raise Refused(f"the prepared image is {pixels.shape}, not 28x28")
        owner = owner_hash(owner_token) if owner_token else None
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
        kept = [d for d in self.drawings() if held_out is None or d.held_out == held_out]
        images = np.stack([d.image for d in kept]) if kept else np.zeros((0, 28, 28), np.uint8)
        return images, np.array([d.label for d in kept], dtype=np.int64)

    # ---- removing
    def remove(self, drawing_id: int, owner_token: str | None = None,
               teacher: TeacherKey | None = None, key: str | None = None) -> None:
        """Remove a drawing: the session that added it may, or anyone with the teacher key."""
        rows = self._read("SELECT owner_hash FROM drawings WHERE id = ?", (int(drawing_id),))
        if not rows:
            raise Refused(f"there is no drawing {drawing_id}")
        mine = owner_token is not None and rows[0][0] == owner_hash(owner_token)
        if not mine:
            if not key:
                raise Refused(f"drawing {drawing_id} was added in another session: only the "
                              "teacher key can remove it")
            if teacher is None or not teacher.check(key):
                raise Refused(teacher.refusal() if teacher else "no teacher key is set")
        with self._write() as conn:
            conn.execute("DELETE FROM drawings WHERE id = ?", (int(drawing_id),))

    # ---- out and back in
    def export_files(self) -> dict[str, bytes]:
        """The whole set as MNIST-format IDX files and a CSV of labels (oldest first)."""
        drawings = self.drawings()
        images = np.stack([d.image for d in drawings]) if drawings else \
            np.zeros((0, 28, 28), np.uint8)
        labels = np.array([d.label for d in drawings], dtype=np.uint8)
        table = io.StringIO()
        writer = csv.writer(table, lineterminator="\n")
        writer.writerow(["index", "label", "nickname", "added_utc"])
        for i, d in enumerate(drawings):
            writer.writerow([i, d.label, d.nickname,
                             time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(d.created_at))])
        return {IDX_IMAGES: idx_bytes(images), IDX_LABELS: idx_bytes(labels),
                CSV_LABELS: table.getvalue().encode()}

    def export_zip(self) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in self.export_files().items():
                z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data)
        return buffer.getvalue()

    def import_idx(self, images_file: bytes, labels_file: bytes, nickname: str = "imported",
                   owner_token: str | None = None, teacher: TeacherKey | None = None,
                   key: str | None = None) -> int:
        """Add every drawing of a pair of IDX files, or none (``Refused`` says why); the number
        added. Past the session's share (``MAX_SHARE``), only with the teacher key."""
        images, labels = parse_import(images_file, labels_file)
        lifted = False
        if key:
            if teacher is None or not teacher.check(key):
                raise Refused(teacher.refusal() if teacher else "no teacher key is set")
            lifted = True
        owner = owner_hash(owner_token) if owner_token else None
        return len(self._insert([(int(lab), img, None, nickname[:40], owner)
                                 for img, lab in zip(images, labels)], share_lifted=lifted))

    def close(self) -> None:
        self._db.close()


def files_from_upload(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """The images and labels IDX files among uploaded files (a zip as exported, or the two
    files themselves, told apart by ``images``/``labels`` in their names). A zip's directory
    is bounded before it is parsed, and only those two entries are read, in chunks, against
    ``MAX_IMPORT_BYTES`` each (``cnn_core.storage.uploads``), whatever their headers say."""
    if len(files) == 1:
        name, data = next(iter(files.items()))
        if data[:4] == b"PK\x03\x04":
            try:
                infos = [i for i in zip_directory(data, name, MAX_ZIP_ENTRIES)
                         if not i.is_dir() and _is_idx_part(i.filename)]
                if len(infos) <= 2:  # more: refused below, without reading any
                    files = read_entries(data, name, infos, MAX_IMPORT_BYTES,
                                         MAX_IMPORT_BYTES + MAX_LABELS_BYTES)
                else:
                    files = {i.filename: b"" for i in infos}
            except UploadRefused as exc:
                raise Refused(str(exc)) from None
    images = [d for n, d in files.items() if "images" in n.lower()]
    labels = [d for n, d in files.items() if "labels" in n.lower() and
              not n.lower().endswith(".csv")]
    if len(images) != 1 or len(labels) != 1:
        raise Refused("give one images IDX file and one labels IDX file (names containing "
                      "'images' and 'labels'), or the zip this page exports")
    return images[0], labels[0]


def _is_idx_part(name: str) -> bool:
    lower = name.lower()
    return "images" in lower or ("labels" in lower and not lower.endswith(".csv"))


# ---- training and testing on it ---------------------------------------------------------------
TRAIN_CHOICES = {"dataset": "MNIST", "dataset+class": "MNIST + the class's drawings",
                 "class": "the class's drawings alone"}
TEST_CHOICES = {"dataset": "MNIST's held-out digits", "class": "the class's drawings"}


@dataclass(frozen=True)
class Mix:
    """The splits to train with, or why not (``refusal``), and warnings to show."""

    splits: MnistSplits | None
    refusal: str | None = None
    warnings: tuple[str, ...] = ()


def mix(base: MnistSplits, store: ClassData | None, train: str, test: str) -> Mix:
    """``base`` (MNIST) with the class's drawings as ``train`` and ``test`` say. When the
    training uses the drawings, the test uses only the held-out fifth (a fixed split by id),
    and so does validation when training on the drawings alone."""
    import torch

    if train not in TRAIN_CHOICES or test not in TEST_CHOICES:
        raise ValueError(f"unknown choice: train {train!r}, test {test!r}")
    if train == "dataset" and test == "dataset":
        return Mix(base)
    if base.dataset != "mnist":
        return Mix(None, "the class's drawings are digits: use them with MNIST")
    if store is None:
        return Mix(None, "the class set is not available on this server")
    drawings = store.drawings()
    if not drawings:
        return Mix(None, "the class set is empty: add drawings on the Draw page")
    images = np.stack([d.image for d in drawings])
    labels = np.array([d.label for d in drawings], dtype=np.int64)
    held = np.array([d.held_out for d in drawings], dtype=bool)
    split = train != "dataset" and test == "class"  # both use them: hold a fifth out

    def part(mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(images[mask]), torch.from_numpy(labels[mask])

    everything = np.ones(len(images), dtype=bool)
    class_train = part(~held if split else everything)
    class_test = part(held if split else everything)
    if train != "dataset" and not len(class_train[0]):
        return Mix(None, f"all {len(images)} of the class's drawings are held out for "
                         "testing: add more drawings")
    if test == "class" and not len(class_test[0]):
        return Mix(None, f"none of the class's {len(images)} drawings is held out for testing "
                         f"yet (one in {HOLD_OUT_EVERY} is, fixed by its id): add more "
                         "drawings, or test on MNIST")
    x, y = {"dataset": (base.train_images, base.train_labels),
            "dataset+class": (torch.cat([base.train_images, class_train[0]]),
                              torch.cat([base.train_labels, class_train[1]])),
            "class": class_train}[train]
    val = class_test if train == "class" and test == "class" else (base.val_images,
                                                                    base.val_labels)
    tx, ty = class_test if test == "class" else (base.test_images, base.test_labels)
    warnings = []
    if thin := thin_digits(np.bincount(labels, minlength=CLASSES).tolist()):
        warnings.append(f"the class set has fewer than {THIN_BELOW} drawings of "
                        f"{', '.join(map(str, thin))}: results for "
                        f"{'those digits' if len(thin) > 1 else 'that digit'} say little")
    return Mix(base.with_parts(train_images=x, train_labels=y, val_images=val[0],
                               val_labels=val[1], test_images=tx, test_labels=ty,
                               train_data=train, test_data=test), None, tuple(warnings))


def describe_run_data(settings: dict, data_source: str) -> str:
    """What a recorded run trained and was tested on, in words (older runs: MNIST)."""
    from cnn_core.data.mnist import DATASETS

    data = settings.get("data") or {}
    dataset = DATASETS.get(data.get("dataset", "mnist"), DATASETS["mnist"])
    title = dataset.title + (" (bundled digits)" if data_source == "bundled" else "")
    trained = TRAIN_CHOICES.get(data.get("train", "dataset"), "MNIST").replace("MNIST", title)
    tested = "the class's drawings" if data.get("test") == "class" else \
        f"held-out {dataset.title} images"
    return f"trained on {trained}, tested on {tested}"
