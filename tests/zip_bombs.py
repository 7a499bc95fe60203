"""Hostile uploads, built at test time: zips written record by record (so an entry can say
any size, and one compressed entry can be repeated without compressing it again), and the
peak memory of one upload read in a fresh process."""

from __future__ import annotations

import bz2
import io
import json
import lzma
import struct
import subprocess
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024


@dataclass(frozen=True)
class Raw:
    """One entry as it lies in the zip: compressed bytes, method, and what it declares."""

    name: str
    method: int
    data: bytes
    crc: int
    size: int  # the uncompressed size the headers declare (may lie)


def zeros(n: int, method: int) -> tuple[bytes, int]:
    """``n`` zero bytes compressed for a zip entry of ``method`` (streamed: never held whole),
    and their CRC-32."""
    block = bytes(MIB)
    crc = 0
    if method == zipfile.ZIP_DEFLATED:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    elif method == zipfile.ZIP_BZIP2:
        packer = bz2.BZ2Compressor(9)
    else:  # zip's LZMA: version, property size, the 5 LZMA1 properties, a raw stream
        dict_size = 1 << 20
        packer = lzma.LZMACompressor(lzma.FORMAT_RAW, filters=[{
            "id": lzma.FILTER_LZMA1, "preset": 1, "dict_size": dict_size}])
    parts = [b"\x09\x14\x05\x00" + bytes([(2 * 5 + 0) * 9 + 3]) + dict_size.to_bytes(4, "little")
             ] if method == zipfile.ZIP_LZMA else []
    for start in range(0, n, MIB):
        piece = block[:min(MIB, n - start)]
        crc = zlib.crc32(piece, crc)
        parts.append(packer.compress(piece))
    parts.append(packer.flush())
    return b"".join(parts), crc


def zip_of(entries: list[Raw]) -> bytes:
    """A zip of ``entries`` as given: local headers, data, directory, end record."""
    out, directory = io.BytesIO(), io.BytesIO()
    for e in entries:
        name = e.name.encode()
        offset = out.tell()
        version = 63 if e.method == zipfile.ZIP_LZMA else 46 if e.method == zipfile.ZIP_BZIP2 \
            else 20
        flags = 0x2 if e.method == zipfile.ZIP_LZMA else 0  # LZMA: an end marker is present
        out.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", version, flags, e.method, 0,
                              0x21, e.crc, len(e.data), e.size, len(name), 0) + name + e.data)
        directory.write(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", version, version,
                                    flags, e.method, 0, 0x21, e.crc, len(e.data), e.size,
                                    len(name), 0, 0, 0, 0, 0, offset) + name)
    start, listing = out.tell(), directory.getvalue()
    out.write(listing)
    out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                          len(listing), start, 0))
    return out.getvalue()


def bomb(name: str, method: int, unpacked: int, declared: int | None = None) -> Raw:
    data, crc = zeros(unpacked, method)
    return Raw(name, method, data, crc, unpacked if declared is None else declared)


def torch_bomb(unpacked: int) -> bytes:
    """A ``.pt`` holding one tensor of ``unpacked`` zero bytes, its records deflated: a small
    file that torch would unpack whole."""
    import torch

    buffer = io.BytesIO()
    torch.save({"0.weight": torch.zeros(unpacked // 4)}, buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as packed:
        for info in source.infolist():
            packed.writestr(info.filename, source.read(info.filename))
    return out.getvalue()


# ---- the peak, in a fresh process ---------------------------------------------------------
PROBE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
kind, path, scratch = sys.argv[2], sys.argv[3], sys.argv[4]

def hwm():
    return int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) * 1024

if kind == "class":
    from cnn_core.data.class_data import ClassData
    from cnn_core.data.class_files import files_from_upload
    store = ClassData(scratch)
    def handle(name, data):  # what the Class data page's Import does
        return store.import_idx(*files_from_upload({name: data}))
else:
    from cnn_core.design.presets import SMALL_FAST
    from cnn_core.runs.weights import load_weights
    def handle(name, data):  # what the Runs page's upload does
        return load_weights(SMALL_FAST, data, name)
with open(sys.argv[5], "rb") as f:  # a small good upload first: every lazy import is done
    warm = f.read()
handle(sys.argv[6], warm)
open("/proc/self/clear_refs", "w").write("5")  # the high-water mark starts again from here
base = hwm()
with open(path, "rb") as f:
    data = f.read()
try:
    handle(path.rsplit("/", 1)[-1], data)
    message = None
except Exception as exc:
    message = f"{type(exc).__name__}: {exc}"
print(json.dumps({"size": len(data), "rise": hwm() - base, "message": message}))
"""


def upload_peak(root: Path, kind: str, upload: Path, warm: Path, scratch: Path) -> dict:
    """Read ``upload`` as the page of ``kind`` ("class" or "weights") does, with the code in
    ``root``, in a fresh process: its size, how far the process's peak memory rose while it
    was handled, and the refusal (``"Type: message"``) or None."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(root), kind, str(upload), str(scratch), str(warm),
         warm.name], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise AssertionError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])
