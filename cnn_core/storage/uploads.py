"""What the server accepts as an upload, and the bounded readers every upload path calls.

``MAX_UPLOAD_MB`` is ``server.maxUploadSize`` in ``.streamlit/config.toml`` (a test holds the
two equal). It is sized for the largest file the app itself exports, the float32 weights of a
design at ``MAX_PARAMS`` (80 MB), so that whatever the app exports can be imported back; the
class set's largest export (15.7 MB of IDX) fits well inside it.

Nothing here trusts the sizes a file declares. A zip is read entry by entry, decompressed one
``CHUNK_BYTES`` step at a time against a running total (per entry and for the archive), so a
compression bomb (deflate, bzip2, lzma) or a header that lies about its sizes is refused after
at most its limit plus one chunk. The zip's directory is bounded (entries, bytes) before it is
parsed. Torch's own zip files (``.pt``) and safetensors headers have their declared sizes
checked before torch or safetensors read them.
"""

from __future__ import annotations

import bz2
import io
import json
import lzma
import math
import re
import zipfile
import zlib
from collections.abc import Sequence
from typing import Protocol

from cnn_core.design.spec import MAX_PARAMS

MIB = 1024 * 1024  # Streamlit's "MB" in server.maxUploadSize is a mebibyte
MAX_WEIGHTS_BYTES = MAX_PARAMS * 4 + 1_000_000  # the largest allowed design in float32 + header
MAX_UPLOAD_MB = math.ceil(MAX_WEIGHTS_BYTES / MIB)  # 78: the largest export fits, no more
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * MIB
CHUNK_BYTES = MIB  # decompressed per step: a bomb is caught within one of these
MAX_ZIP_ENTRIES = 32  # the class set's zip has 3; room for folders and a README
MAX_TORCH_ENTRIES = 1_024  # a 100-layer design saves at most ~500 tensors, plus 7 records
DIRECTORY_BYTES_PER_ENTRY = 1_024  # a zip's directory record, with a long name
TORCH_ZIP_SLACK = 16 * MIB  # torch.save stores its records: what unpacks is what was sent
MAX_SAFETENSORS_HEADER = MIB  # a 100-layer design's header is about 50 KB
MAX_TENSORS = MAX_TORCH_ENTRIES
_FEED_BYTES = 64 * 1024  # compressed input per step
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")  # one escape sequence: linear, no nesting
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UploadRefused(ValueError):
    """The upload is refused; the message is one plain sentence saying why."""


def plain(text: str, limit: int = 160) -> str:
    """``text`` as one plain line: terminal escapes and control characters dropped, the first
    line only, at most ``limit`` characters (for messages that come from libraries)."""
    line = next((s for s in _ANSI.sub("", text).splitlines() if s.strip()), "")
    line = " ".join(_CONTROL.sub(" ", line).split())
    return line if len(line) <= limit else f"{line[:limit - 1]}…"


def shown_name(name: str) -> str:
    """A file's name as a message may show it: a name is the sender's text too."""
    return plain(name, 80) or "the file"


def megabytes(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


# ---- a zip's directory --------------------------------------------------------------------
def zip_directory(data: bytes, name: str, max_entries: int) -> list[zipfile.ZipInfo]:
    """The entries of the zip ``data``, once its end record shows a directory of at most
    ``max_entries`` entries and bytes to match (zipfile would otherwise parse any number of
    records first), read where zipfile reads them (the Zip64 record when there is one)."""
    name = shown_name(name)
    tail = max(0, len(data) - (22 + 0xFFFF))  # the end record, after a comment of up to 64 KB
    end = data.rfind(b"PK\x05\x06", tail)
    if end < 0 or len(data) - end < 22:
        raise UploadRefused(f"{name} is not a zip that can be read (its end record is missing)")
    entries = int.from_bytes(data[end + 10:end + 12], "little")
    directory_bytes = int.from_bytes(data[end + 12:end + 16], "little")
    if data[max(0, end - 20):end - 16] == b"PK\x06\x07":  # Zip64 (torch.save writes one):
        record = end - 20 - 56  # where zipfile reads its record, right before the locator
        if record < 0 or data[record:record + 4] != b"PK\x06\x06":
            raise UploadRefused(f"{name} is not a zip that can be read (its Zip64 record is "
                                "missing)")
        entries = int.from_bytes(data[record + 32:record + 40], "little")
        directory_bytes = int.from_bytes(data[record + 40:record + 48], "little")
    if entries > max_entries or directory_bytes > max_entries * DIRECTORY_BYTES_PER_ENTRY:
        raise UploadRefused(f"{name} holds {entries:,} entries ({directory_bytes:,} bytes of "
                            f"directory); at most {max_entries:,} are accepted")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:  # shares data: no copy
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
            UnicodeDecodeError) as exc:
        raise UploadRefused(f"{name} is not a zip that can be read ({plain(str(exc), 80)})"
                            ) from None
    if len(infos) > max_entries:  # the end record's count may lie; the directory cannot
        raise UploadRefused(f"{name} holds {len(infos):,} entries; at most {max_entries:,} "
                            "are accepted")
    return infos


# ---- reading entries, bounded ------------------------------------------------------------
def read_entries(data: bytes, name: str, infos: Sequence[zipfile.ZipInfo], max_entry: int,
                 max_total: int) -> dict[str, bytes]:
    """The contents of ``infos`` (entries of the zip ``data``), each at most ``max_entry``
    bytes and all together at most ``max_total``; ``UploadRefused`` as soon as either is
    passed, whatever the headers say, and for an entry whose size or checksum is wrong."""
    out: dict[str, bytes] = {}
    total = 0
    for info in infos:
        what = f"{shown_name(info.filename)!r} in {shown_name(name)}"
        limit = min(max_entry, max_total - total)
        if info.file_size > limit:
            raise UploadRefused(f"{what} says it unpacks to {megabytes(info.file_size)}; at "
                                f"most {megabytes(limit)} can be read")
        out[info.filename] = read_entry(data, info, what, limit)
        total += len(out[info.filename])
    return out


def read_entry(data: bytes, info: zipfile.ZipInfo, what: str, limit: int) -> bytes:
    """One entry of the zip ``data``, decompressed one chunk at a time; refused past
    ``limit`` bytes, or when it does not match the size and checksum its header declares."""
    if info.flag_bits & 0x1:
        raise UploadRefused(f"{what} is encrypted")
    start = _data_start(data, info, what)
    raw = memoryview(data)[start:start + info.compress_size]
    if len(raw) < info.compress_size:
        raise UploadRefused(f"{what} is cut short")
    if info.compress_type == zipfile.ZIP_STORED:
        if len(raw) > limit:
            raise UploadRefused(f"{what} is more than {megabytes(limit)}")
        out = bytes(raw)
    else:
        out = _inflate(_decompressor(info, raw, what, limit), raw, what, limit)
    if len(out) != info.file_size:
        raise UploadRefused(f"{what} unpacks to {len(out):,} bytes but its header says "
                            f"{info.file_size:,}")
    if zlib.crc32(out) != info.CRC:
        raise UploadRefused(f"{what} is damaged (its checksum does not match)")
    return out


def _data_start(data: bytes, info: zipfile.ZipInfo, what: str) -> int:
    head = info.header_offset
    if data[head:head + 4] != b"PK\x03\x04" or len(data) < head + 30:
        raise UploadRefused(f"{what} is not where the zip's directory says")
    name_len = int.from_bytes(data[head + 26:head + 28], "little")
    extra_len = int.from_bytes(data[head + 28:head + 30], "little")
    return head + 30 + name_len + extra_len


class _Decompressor(Protocol):
    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...


class _Lzma:
    """Zip's LZMA entries: a 4-byte version and property size, 5 property bytes, then a raw
    LZMA1 stream. The dictionary is clamped to the limit: no back reference in an output of at
    most ``limit`` bytes reaches further, and a declared 4 GB dictionary is not allocated."""

    def __init__(self, raw: memoryview, what: str, limit: int) -> None:
        props_size = int.from_bytes(raw[2:4], "little")
        if len(raw) < 9 or props_size != 5:
            raise UploadRefused(f"{what} is not LZMA data that can be read")
        lc_lp_pb, declared = raw[4], int.from_bytes(raw[5:9], "little")
        if lc_lp_pb >= 9 * 5 * 5:
            raise UploadRefused(f"{what} is not LZMA data that can be read")
        pb, rest = divmod(lc_lp_pb, 45)
        lp, lc = divmod(rest, 9)
        dict_size = max(4096, min(declared, limit + CHUNK_BYTES))
        self.skip = 4 + props_size
        self._inner = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[{
            "id": lzma.FILTER_LZMA1, "dict_size": dict_size, "lc": lc, "lp": lp, "pb": pb}])
        self.needs_input = True
        self.eof = False

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        out = self._inner.decompress(data, max_length)
        self.needs_input, self.eof = self._inner.needs_input, self._inner.eof
        return out


def _decompressor(info: zipfile.ZipInfo, raw: memoryview, what: str,
                  limit: int) -> _Decompressor:
    if info.compress_type == zipfile.ZIP_DEFLATED:
        return zlib.decompressobj(-15)
    if info.compress_type == zipfile.ZIP_BZIP2:
        return bz2.BZ2Decompressor()
    if info.compress_type == zipfile.ZIP_LZMA:
        return _Lzma(raw, what, limit)
    raise UploadRefused(f"{what} uses compression method {info.compress_type}; only stored, "
                        "deflate, bzip2 and lzma entries can be read")


def _inflate(decompressor: _Decompressor, raw: memoryview, what: str, limit: int) -> bytes:
    """Feed ``raw`` in small pieces and take at most one chunk out per call, so what is held
    never passes ``limit`` plus one chunk, however much the data would unpack to."""
    parts: list[bytes] = []
    total, pos = 0, getattr(decompressor, "skip", 0)
    is_zlib = not hasattr(decompressor, "needs_input")
    while not getattr(decompressor, "eof", False):
        if is_zlib:  # zlib keeps what it could not take in ``unconsumed_tail``
            feed = decompressor.unconsumed_tail or bytes(raw[pos:pos + _FEED_BYTES])
            pos += 0 if decompressor.unconsumed_tail else len(feed)
        else:  # bz2 and lzma keep it themselves, and say when they need more
            feed = bytes(raw[pos:pos + _FEED_BYTES]) if decompressor.needs_input else b""
            pos += len(feed)
        try:
            piece = decompressor.decompress(feed, CHUNK_BYTES)
        except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError):
            raise UploadRefused(f"{what} is damaged (it cannot be decompressed)") from None
        if not piece and not feed:
            break  # no input left and nothing more comes out: the stream ends here
        total += len(piece)
        if total > limit:
            raise UploadRefused(f"{what} unpacks to more than {megabytes(limit)}, the limit")
        parts.append(piece)
    return b"".join(parts)


# ---- torch's zip and safetensors headers -------------------------------------------------
def check_torch_zip(data: bytes, name: str, max_bytes: int) -> None:
    """Refuse a ``.pt`` whose records, as its zip directory declares them, would unpack to
    more than ``max_bytes`` or to much more than the file holds (torch.save stores records
    uncompressed; torch allocates each record at its declared size), before torch reads it."""
    name = shown_name(name)
    if data[:4] != b"PK\x03\x04":
        raise UploadRefused(f"{name} is not a PyTorch state dict saved by torch.save (a zip "
                            "archive)")
    infos = zip_directory(data, name, MAX_TORCH_ENTRIES)
    declared = sum(i.file_size for i in infos)
    if declared > max_bytes:
        raise UploadRefused(f"{name} says it holds {megabytes(declared)} of records; the limit "
                            f"is {megabytes(max_bytes)}")
    if declared > len(data) + TORCH_ZIP_SLACK:
        raise UploadRefused(f"{name} says it unpacks to {megabytes(declared)}, far more than "
                            f"its {megabytes(len(data))}: it was not saved by torch.save")
    if bad := [i for i in infos if i.compress_type not in (zipfile.ZIP_STORED,
                                                           zipfile.ZIP_DEFLATED)]:
        raise UploadRefused(f"{name} uses compression method {bad[0].compress_type}, which "
                            "torch cannot read")


def check_safetensors_header(data: bytes, name: str, max_bytes: int) -> None:
    """Refuse a ``.safetensors`` file whose header is too long, holds too many tensors, or
    declares more than ``max_bytes`` of data, before the file is read."""
    name = shown_name(name)
    size = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    if not 0 < size <= min(MAX_SAFETENSORS_HEADER, len(data) - 8):
        raise UploadRefused(f"{name} is not a valid .safetensors file (its header length is "
                            "missing or too long)")
    try:
        header = json.loads(bytes(data[8:8 + size]))
    except (ValueError, RecursionError):
        raise UploadRefused(f"{name} is not a valid .safetensors file (its header is not "
                            "JSON)") from None
    if not isinstance(header, dict):
        raise UploadRefused(f"{name} is not a valid .safetensors file (its header is not a "
                            "table of tensors)")
    tensors = [v for k, v in header.items() if k != "__metadata__"]
    if len(tensors) > MAX_TENSORS:
        raise UploadRefused(f"{name} holds {len(tensors):,} tensors; at most {MAX_TENSORS:,} "
                            "are accepted")
    declared = 0
    for info in tensors:
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and
                all(type(o) is int for o in offsets) and 0 <= offsets[0] <= offsets[1]):
            raise UploadRefused(f"{name} is not a valid .safetensors file (a tensor's offsets "
                                "are missing)")
        declared += offsets[1] - offsets[0]
    if declared > min(max_bytes, len(data) - 8 - size):
        raise UploadRefused(f"{name} declares {megabytes(declared)} of tensors; it holds "
                            f"{megabytes(len(data) - 8 - size)} and the limit is "
                            f"{megabytes(max_bytes)}")
