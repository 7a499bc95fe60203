"""The class set as files: out as MNIST's own IDX files plus a CSV of labels (or one zip of
them), back in from such a pair or zip. ``parse_import`` refuses anything else with one line
saying why; a zip's directory and entries are bounded before they are read."""

from __future__ import annotations

import csv
import io
import time
import zipfile

import numpy as np

from cnn_core.data.drawings import CLASSES, INK, MAX_DRAWINGS, Drawing, Refused, stacked
from cnn_core.data.idx import IdxError, idx_bytes, idx_size, parse_idx
from cnn_core.storage.uploads import MAX_ZIP_ENTRIES, UploadRefused, read_entries, zip_directory

IDX_IMAGES, IDX_LABELS, CSV_LABELS = ("class-images-idx3-ubyte", "class-labels-idx1-ubyte",
                                      "class-labels.csv")
MAX_IMPORT_BYTES = idx_size((MAX_DRAWINGS, 28, 28))  # a full set's images, unpacked
MAX_LABELS_BYTES = idx_size((MAX_DRAWINGS,))


def export_files(drawings: list[Drawing]) -> dict[str, bytes]:
    """``drawings`` as MNIST-format IDX files and a CSV of labels, in their order."""
    images, labels = stacked(drawings)
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["index", "label", "nickname", "added_utc"])
    for i, d in enumerate(drawings):
        writer.writerow([i, d.label, d.nickname,
                         time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(d.created_at))])
    return {IDX_IMAGES: idx_bytes(images), IDX_LABELS: idx_bytes(labels),
            CSV_LABELS: table.getvalue().encode()}


def zipped(files: dict[str, bytes]) -> bytes:
    """One zip of ``files``, the same bytes for the same files (fixed timestamps)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def parse_import(images_file: bytes, labels_file: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) and labels (N,) from a pair of IDX files; ``Refused`` says why not."""
    try:
        images = parse_idx(images_file, "the images file", (0, 28, 28), MAX_DRAWINGS)
        labels = parse_idx(labels_file, "the labels file", (0,), MAX_DRAWINGS)
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
