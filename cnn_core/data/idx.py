"""The IDX format MNIST ships in (unsigned bytes only): written for the class set's export,
read for its import and for the bundled digits, gzipped or not, always within a bound on the
number of items that also bounds what a gzip may unpack to."""

from __future__ import annotations

import math
import zlib

import numpy as np

MAGIC_UBYTE = 0x08  # the third byte of an IDX file of unsigned bytes


class IdxError(ValueError):
    """Not an IDX file of the kind expected (one line saying why)."""


def idx_size(shape: tuple[int, ...]) -> int:
    """The bytes of an unsigned-byte IDX file of ``shape``: a 4-byte magic, 4 per size, data."""
    return 4 + 4 * len(shape) + math.prod(shape)


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file, as MNIST's are: 0x00 0x00 0x08 ndim, sizes, the bytes."""
    header = bytes([0, 0, MAGIC_UBYTE, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def parse_idx(data: bytes, name: str, shape: tuple[int, ...], max_items: int) -> np.ndarray:
    """An IDX file (gzipped or not) of unsigned bytes whose sizes after the first are
    ``shape[1:]`` (``shape[0]``, the count, is ignored) and that holds at most ``max_items``
    items; ``IdxError`` otherwise. A gzip is unpacked no further than such a file's size."""
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, name, idx_size((max_items, *shape[1:])), max_items)
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise IdxError(f"{name} is not an IDX file (it must start with two zero bytes)")
    if data[2] != MAGIC_UBYTE:
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
    if dims[0] > max_items:
        raise IdxError(f"{name} says it holds {dims[0]:,} items; at most {max_items:,} "
                       "can be imported")
    expected = idx_size(tuple(dims))
    if len(data) != expected:
        raise IdxError(f"{name} should be {expected:,} bytes for {dims[0]:,} items but is "
                       f"{len(data):,} ({'cut short' if len(data) < expected else 'too long'})")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims).copy()


def _gunzip(data: bytes, name: str, limit: int, max_items: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise IdxError(f"{name} is gzip-compressed but damaged") from None
    if len(out) > limit:
        raise IdxError(f"{name} unpacks to more than {limit:,} bytes, more than "
                       f"{max_items:,} items")
    if not inflater.eof:
        raise IdxError(f"{name} is gzip-compressed but cut short")
    return out
