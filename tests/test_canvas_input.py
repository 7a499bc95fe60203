"""The drawing the browser sends is checked before it is decoded (issue 20, item 4)."""

from __future__ import annotations

import base64
import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from cnn_core.data import preprocess
from cnn_core.data.preprocess import (
    CANVAS_PX,
    PNG_DATA_URL_PREFIX,
    CanvasImageError,
    canvas_png_to_rgba,
    digit_to_canvas,
)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def blank_rgba_png(width: int, height: int) -> bytes:
    """A valid, all-black RGBA PNG written row by row, never holding the pixels in memory."""
    compressor = zlib.compressobj(9)
    row = bytes(1 + 4 * width)  # filter byte 0, then transparent black pixels
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (preprocess.PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def data_url(png: bytes) -> str:
    return PNG_DATA_URL_PREFIX + base64.b64encode(png).decode()


def png_of(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def bomb() -> str:
    """9000x9000 pixels (324 MB as RGBA) in a few hundred kilobytes, as in the issue."""
    return data_url(blank_rgba_png(9000, 9000))


def test_the_crafted_png_is_real_and_small(bomb):
    assert len(bomb) < 500_000
    with Image.open(io.BytesIO(base64.b64decode(bomb[len(PNG_DATA_URL_PREFIX):]))) as image:
        assert image.size == (9000, 9000) and image.mode == "RGBA"  # the header only


def test_a_9000_pixel_png_is_refused_before_decoding(bomb, monkeypatch):
    opened = []
    monkeypatch.setattr(preprocess.Image, "open", lambda *a, **k: opened.append(a))
    tracemalloc.start()
    with pytest.raises(CanvasImageError, match="the drawing is 9,000x9,000 pixels; the canvas "
                                               "is 280x280"):
        canvas_png_to_rgba(bomb)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert opened == []  # PIL was never asked (its time: bench/parsers.py, header_9000px_ms)
    assert peak < 100_000, peak


def test_a_drawing_of_the_canvas_size_comes_back_pixel_for_pixel(bundled):
    rgba = digit_to_canvas(bundled.val_images[0].numpy())
    assert rgba.shape == (CANVAS_PX, CANVAS_PX, 4)
    out = canvas_png_to_rgba(data_url(png_of(Image.fromarray(rgba, "RGBA"))))
    assert out.dtype == np.uint8 and np.array_equal(out, rgba)
    gray = canvas_png_to_rgba(data_url(png_of(Image.fromarray(rgba[..., 0], "L"))))
    assert gray.shape == (CANVAS_PX, CANVAS_PX, 4)  # any PNG mode comes back as RGBA
    assert np.array_equal(gray[..., 0], rgba[..., 0])


@pytest.mark.parametrize("value, words", [
    (None, "not a PNG data URL"),
    ({"data": "x"}, "not a PNG data URL"),
    ("data:image/jpeg;base64,/9j/4AAQ", "not a PNG data URL"),
    (PNG_DATA_URL_PREFIX + "not base64 at all!!", "not valid base64"),
    (PNG_DATA_URL_PREFIX + base64.b64encode(b"GIF89a" + bytes(40)).decode(), "not a PNG image"),
    (data_url(blank_rgba_png(280, 281)), "the drawing is 280x281 pixels"),
    (data_url(blank_rgba_png(1, 1)), "the drawing is 1x1 pixels"),
    (data_url(blank_rgba_png(280, 280)[:60]), "not a PNG image that can be read"),
    (PNG_DATA_URL_PREFIX + "A" * 50_000_000, "50,000,000 characters long"),
])
def test_anything_else_is_refused_with_one_line(value, words):
    with pytest.raises(CanvasImageError) as info:  # how fast: bench/parsers.py
        canvas_png_to_rgba(value)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_the_draw_page_refuses_a_crafted_drawing_and_stays_up(bomb):
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    at.switch_page("pages/draw.py")
    at.run()
    assert not at.exception
    at.session_state["digit_canvas"] = {
        "drawing": {"raw": {"objects": [], "background": "#000000"}, "data": bomb},
        "backgroundFit": None}
    at.run()  # its default_timeout (60 s) bounds a hang
    assert not at.exception
    refusal = [e.value for e in at.error]
    assert refusal == ["This drawing was not used: the drawing is 9,000x9,000 pixels; the "
                       "canvas is 280x280. Clear the canvas and draw again."]
    assert "last_drawing" not in at.session_state


@pytest.mark.slow
@pytest.mark.browser
def test_a_real_drawing_in_chromium_passes_the_check(page, app_url, tmp_path):
    """The page reads the drawing from the canvas's session state: a real stroke in a real
    browser arrives there, passes the check and is prepared (no model is needed for that)."""
    from browser_helpers import draw, open_page, screenshot

    open_page(page, app_url, "draw")
    page.get_by_text("Draw a digit on the canvas.").wait_for(timeout=60_000)
    draw(page, [(140, 50 + i * 9) for i in range(21)])
    page.get_by_text("Draw a digit on the canvas.").wait_for(state="detached", timeout=30_000)
    page.get_by_text("4 · centre in 28×28").wait_for(timeout=30_000)  # the last step's chart
    print(screenshot(page, tmp_path, "drawn"))
    assert page.get_by_text("This drawing was not used").count() == 0


@pytest.mark.parametrize("extra, said", [
    ([png_chunk(b"zTXt", b"comment\0\0" + zlib.compress(bytes(1 << 20)))], "zTXt"),
    ([png_chunk(b"iTXt", b"comment\0\1\0\0\0" + zlib.compress(bytes(1 << 20)))], "iTXt"),
    ([png_chunk(b"tEXt", b"comment\0hello")] * 5000, "more than 256 PNG chunks"),
    ([png_chunk(b"IDAT", b"")] * 5000, "more than 256 PNG chunks"),
])
def test_chunks_no_canvas_writes_are_refused_before_pil_reads_them(extra, said):
    """Thousands of chunks or compressed text cost PIL 100-150 ms each (bench/parsers.py)."""
    png = blank_rgba_png(CANVAS_PX, CANVAS_PX)
    ihdr_end = len(preprocess.PNG_SIGNATURE) + 25
    hostile = png[:ihdr_end] + b"".join(extra) + png[ihdr_end:]
    with pytest.raises(CanvasImageError, match=said):
        canvas_png_to_rgba(data_url(hostile))
    assert canvas_png_to_rgba(data_url(png)).shape == (CANVAS_PX, CANVAS_PX, 4)


def test_a_browser_style_png_in_8_kib_idats_is_read():
    """libpng (Chromium's encoder) writes IDATs of at most 8 KiB: a noisy canvas has dozens."""
    noise = np.random.default_rng(0).integers(0, 256, (CANVAS_PX, CANVAS_PX, 4), np.uint8)
    raw = b"".join(b"\0" + noise[row].tobytes() for row in range(CANVAS_PX))
    data = zlib.compress(raw, 1)
    idats = b"".join(png_chunk(b"IDAT", data[i:i + 8192]) for i in range(0, len(data), 8192))
    ihdr = struct.pack(">IIBBBBB", CANVAS_PX, CANVAS_PX, 8, 6, 0, 0, 0)
    png = (preprocess.PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"sRGB", b"\0")
           + png_chunk(b"tEXt", b"Software\0a browser") + idats + png_chunk(b"IEND", b""))
    assert png.count(b"IDAT") > 30
    np.testing.assert_array_equal(canvas_png_to_rgba(data_url(png)), noise)
