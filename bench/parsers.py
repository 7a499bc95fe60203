"""Time every parser that reads what a student sends, on the worst inputs found for each.

The design code (``decode_design``, up to its 4,000-character limit, and ``read_design`` on
the longest link), the design's JSON (``spec_from_json_text``, up to 100,000 characters or
400,000 bytes), the class set's IDX files (``parse_idx``, up to 20,000 drawings, raw or
gzipped, and ``parse_import`` on the largest pair) and the Draw page's canvas PNG
(``canvas_png_to_rgba``, up to the longest data URL it takes). Each input is read or refused
five times; its median is printed as one ``name_ms=X`` line, then the worst of each parser
and ``worst_input=`` with ``worst_ms=X`` (target:
every input under 50 ms; the regexes these replaced took 27 s on a 75-character code and
51 s on a 100,000-character paste).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import statistics
import struct
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_core.data.class_data import ClassDataError
from cnn_core.data.class_files import parse_import
from cnn_core.data.drawings import MAX_DRAWINGS
from cnn_core.data.idx import idx_bytes, parse_idx
from cnn_core.data.preprocess import (
    CANVAS_PX,
    PNG_DATA_URL_PREFIX,
    PNG_SIGNATURE,
    canvas_png_to_rgba,
)
from cnn_core.design.design_code import MAX_CODE_LENGTH, decode_design
from cnn_core.design.parse import (
    MAX_TEXT_BYTES,
    MAX_TEXT_CHARS,
    SpecFormatError,
    spec_from_json_text,
)
from cnn_core.design.url_state import MAX_LINK_CODE, read_design

REPEATS = 5
EXPECTED = (SpecFormatError, ClassDataError, ValueError)  # refusals (IdxError, CanvasImageError)


def design_codes() -> dict[str, str]:
    """Codes of up to 4,000 characters that made the old regex backtrack, and the longest
    codes that read to the end (100 layers of every field, 1,333 layers)."""
    every_field = "c" + "1" * 9 + "k" + "1" * 9 + "x" + "1" * 9 + "s1.5e1x2" + "pn1en1" + "d1"
    return {
        "issue_x1_75": "c1" + "x1" * 36 + "Z",
        "x1e1_3999": "c1" + "x1e1" * 999 + "Z",
        "e1x1_3999": "c1" + "e1x1" * 999 + "Z",
        "x1_4000": "c1" + "x1" * 1998 + "Z",
        "digits_4000": "c" + "1" * 3999,
        "mixed_tokens_3995": "-".join(["c1x1e1n1"] * 444),
        "every_field_85_layers": "-".join([every_field] * (MAX_CODE_LENGTH // 47)),
        "layers_1333": "-".join(["c1"] * 1333),
        "dashes_4000": "-" * 4000,
        "unicode_digits_4000": "\u0663" * 4000,
    }


def longest_link() -> str:
    """A design of 100 layers (the limit) with every conv field set, as a link carries it."""
    conv = "c16k3x3s1x1p1x1d1x1"
    code = "in1x28x28-" + "-".join([conv, "relu"] * 49) + "-flat-fc10"
    assert len(code) <= MAX_LINK_CODE
    return code


def json_texts() -> dict[str, str | bytes]:
    """Texts of up to 100,000 characters: unterminated strings of escapes (the old pre-scan
    read them once per quote), nesting at the limit, many numbers (each through a hook),
    many keys, layers past the limit, and 400,000 bytes of four-byte characters."""
    design = '{"input_shape": [1, 28, 28], "layers": [' + ", ".join(
        ['{"type": "conv2d", "out_channels": 8, "kernel_size": [3, 3], "padding": 1}',
         '{"type": "relu"}'] * 50) + "]}"
    return {
        "issue_escaped_quotes": '"' + '\\"' * 49_999,
        "quote_backslash": '"\\' * 50_000,
        "string_then_brackets": '["' + '\\"' * 49_980 + "[" * 20,
        "quotes_only": '"' * MAX_TEXT_CHARS,
        "open_brackets": "[" * MAX_TEXT_CHARS,
        "ints_at_depth_8": "[" * 8 + ",".join(["0"] * 49_990) + "]" * 8,
        "floats": "[" + ",".join(["0.5"] * 24_999) + "]",
        "long_numbers": "[" + ",".join(["1" * 32] * 3_000) + "]",
        "keys": "{" + ",".join(f'"k{i}":0' for i in range(10_000)) + "}",
        "layers_past_limit": '{"layers": [' + ", ".join(['{"type": "relu"}'] * 5_500) + "]}",
        "unicode_escapes": '"' + "\\u00e9" * 16_665 + '"',
        "design_100_layers_padded": design + " " * (MAX_TEXT_CHARS - len(design)),
        "one_long_number": "1" * MAX_TEXT_CHARS,
        "four_byte_chars": ('"' + "\U0001f600" * (MAX_TEXT_BYTES // 4 - 1) + '"').encode(),
    }


def idx_inputs() -> dict[str, Callable[[], object]]:
    """The largest import (20,000 drawings, raw and gzipped, random and blank), a gzip that
    unpacks past the limit, and a header whose count lies."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (MAX_DRAWINGS, 28, 28), dtype=np.uint8)
    raw = idx_bytes(images)
    zipped_random, zipped_zeros = gzip.compress(raw, 1), gzip.compress(bytes(len(raw)), 9)
    bomb = gzip.compress(bytes(64 * 2**20), 9)
    liar = raw[:16] + bytes(10)
    labels = idx_bytes(rng.integers(0, 10, MAX_DRAWINGS, dtype=np.uint8))
    shape = (0, 28, 28)
    return {
        "raw_20000": lambda: parse_idx(raw, "images", shape, MAX_DRAWINGS),
        "gzip_random_20000": lambda: parse_idx(zipped_random, "images", shape, MAX_DRAWINGS),
        "gzip_zeros_20000": lambda: parse_idx(zipped_zeros, "images", shape, MAX_DRAWINGS),
        "gzip_bomb_64MiB": lambda: parse_idx(bomb, "images", shape, MAX_DRAWINGS),
        "count_lies": lambda: parse_idx(liar, "images", shape, MAX_DRAWINGS),
        "import_pair_20000": lambda: parse_import(raw, labels),
    }


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def ihdr(width: int = CANVAS_PX, height: int = CANVAS_PX, depth: int = 8, colour: int = 6,
         interlace: int = 0) -> bytes:
    return chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace))


def interlaced_rgba16() -> bytes:
    """280x280, 16-bit RGBA, Adam7, random rows stored uncompressed: the most work a PNG of
    the canvas's size can ask of the decoder."""
    rng, rows = np.random.default_rng(1), []
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
                           (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
        width, height = -(-(CANVAS_PX - x0) // dx), -(-(CANVAS_PX - y0) // dy)
        for _ in range(height):
            rows.append(b"\x04" + rng.integers(0, 256, width * 8, dtype=np.uint8).tobytes())
    return PNG_SIGNATURE + ihdr(depth=16, interlace=1) + \
        chunk(b"IDAT", zlib.compress(b"".join(rows), 0)) + chunk(b"IEND", b"")


def png_inputs() -> dict[str, str]:
    """Data URLs up to the longest the check takes: a real drawing, the costliest decode,
    thousands of chunks, compressed text that inflates to the decoder's own limits, a
    header that lies about the size, and base64 that breaks after a valid header."""
    limit = 4 * ((CANVAS_PX * (1 + 8 * CANVAS_PX) + 65_536) // 3 + 1)  # as preprocess has it
    canvas = Image.new("RGBA", (CANVAS_PX, CANVAS_PX), "black")
    canvas.paste((255, 255, 255, 255), (100, 60, 140, 220))
    out = io.BytesIO()
    canvas.save(out, "PNG")
    drawing = out.getvalue()
    head, idat_at = drawing[:33], drawing.index(b"IDAT") - 4
    idat_len = struct.unpack(">I", drawing[idat_at:idat_at + 4])[0]
    idat = drawing[idat_at + 8:idat_at + 8 + idat_len]
    room = limit * 3 // 4 - len(drawing) - 64

    def url(png: bytes) -> str:
        return PNG_DATA_URL_PREFIX + base64.b64encode(png).decode()

    tiny_idats = b"".join(chunk(b"IDAT", idat[i:i + 1]) for i in range(len(idat)))
    padding_idats = chunk(b"IDAT", idat) + chunk(b"IDAT", b"") * (room // 12)
    texts = chunk(b"tEXt", b"k\x00v") * (room // 15)
    ztxt = chunk(b"zTXt", b"k\x00\x00" + zlib.compress(bytes(2**20 - 1), 9))
    iccp = chunk(b"iCCP", b"p\x00\x00" + zlib.compress(bytes(room * 900), 9))
    end = chunk(b"IEND", b"")
    cases = {
        "drawing": url(drawing),
        "interlaced_rgba16": url(interlaced_rgba16()),
        "idat_1_byte_chunks": url(head + tiny_idats + end),
        "empty_idats": url(head + padding_idats + end),
        "text_chunks": url(head + texts + chunk(b"IDAT", idat) + end),
        "ztxt_1MiB_each": url(head + ztxt * (room // len(ztxt)) + chunk(b"IDAT", idat) + end),
        "iccp_bomb": url(head + iccp + chunk(b"IDAT", idat) + end),
        "header_9000px": url(PNG_SIGNATURE + ihdr(9000, 9000) + b"\x00" * (room // 2)),
        "bad_base64_after_header": url(head)[:64] + "!" * (limit - 64),
        "one_char_too_long": PNG_DATA_URL_PREFIX + "A" * (limit + 1),
    }
    for name, value in cases.items():
        assert len(value) - len(PNG_DATA_URL_PREFIX) <= limit + 1, name
    return cases


def median_ms(call: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        with contextlib.suppress(EXPECTED):  # a refusal is an answer: timed like one
            call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    timings: dict[str, float] = {}
    for name, code in design_codes().items():
        assert len(code) <= MAX_CODE_LENGTH, name
        timings[f"design_{name}"] = median_ms(lambda code=code: decode_design(code))
    link = longest_link()
    assert read_design(link)[1] is None, read_design(link)
    timings[f"link_read_design_{len(link)}"] = median_ms(lambda: read_design(link))
    for name, text in json_texts().items():
        assert len(text) <= (MAX_TEXT_BYTES if isinstance(text, bytes) else MAX_TEXT_CHARS)
        timings[f"json_{name}"] = median_ms(lambda text=text: spec_from_json_text(text))
    for name, call in idx_inputs().items():
        timings[f"idx_{name}"] = median_ms(call)
    for name, data_url in png_inputs().items():
        timings[f"png_{name}"] = median_ms(lambda data_url=data_url: canvas_png_to_rgba(data_url))
    for key, ms in timings.items():
        print(f"{key}_ms={ms:.3f}")
    for parser in ("design", "link", "json", "idx", "png"):
        worst_of = max(ms for key, ms in timings.items() if key.startswith(parser))
        print(f"worst_{parser}_ms={worst_of:.3f}")
    worst = max(timings, key=timings.__getitem__)
    print(f"worst_input={worst}")
    print(f"worst_ms={timings[worst]:.3f}")


if __name__ == "__main__":
    main()
