"""Turn a canvas drawing into an MNIST-style digit, the way MNIST itself was made.

MNIST digits were size-normalised to fit a 20x20 box (keeping their aspect ratio, with
anti-aliasing, hence the grey edges) and then centred in a 28x28 image by their centre of
mass. A raw canvas downscaled to 28x28 looks nothing like that (too thin, off centre, the
wrong size), which is why most canvas digit apps disappoint. ``canvas_to_mnist`` repeats
MNIST's steps and keeps each intermediate image so the page can show them.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

MNIST_SIZE = 28
BOX_SIZE = 20
INK_THRESHOLD = 0.1  # a pixel brighter than this counts as ink
MIN_INK_PIXELS = 0.0002  # below this fraction of the canvas (16 of 280x280), it is empty
CANVAS_PX = 280  # the Draw page's canvas is CANVAS_PX x CANVAS_PX
PNG_DATA_URL_PREFIX = "data:image/png;base64,"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A browser's canvas PNG holds the image chunks and a few small notes; libpng splits the
# data into IDATs of 8 KiB, so even an incompressible 280x280 RGBA canvas needs ~40. No
# canvas writes compressed text, which PIL inflates up to 64 MB before giving up.
COMPRESSED_TEXT = frozenset({b"zTXt", b"iTXt"})
MAX_PNG_CHUNKS = 256


class CanvasImageError(ValueError):
    """The drawing sent by the browser is not the canvas's own PNG (one line saying why)."""


def canvas_png_to_rgba(data_url: object, width: int = CANVAS_PX,
                       height: int = CANVAS_PX) -> np.ndarray:
    """The canvas's PNG data URL as an (height, width, 4) uint8 RGBA array.

    The drawing arrives from the browser, so anyone can send any PNG: a small file can
    declare 9000x9000 pixels and take gigabytes to decode. The URL's length and the size in
    the PNG's header (IHDR) are checked first, and only a ``width`` x ``height`` image is
    decoded; anything else raises ``CanvasImageError``.
    """
    if not isinstance(data_url, str) or not data_url.startswith(PNG_DATA_URL_PREFIX):
        raise CanvasImageError("the drawing is not a PNG data URL")
    start = len(PNG_DATA_URL_PREFIX)  # the base64 PNG begins here (not copied out until checked)
    # Even stored without compression, 16-bit RGBA, a width x height PNG fits in this:
    max_png_bytes = height * (1 + 8 * width) + 65_536
    if len(data_url) - start > 4 * (max_png_bytes // 3 + 1):
        raise CanvasImageError(f"the drawing is {len(data_url) - start:,} characters long, "
                               f"more than a {width}x{height} canvas can send")
    try:  # the signature and the IHDR chunk: 24 bytes, 32 characters of base64
        header = base64.b64decode(data_url[start:start + 32], validate=True)
    except (binascii.Error, ValueError):
        raise CanvasImageError("the drawing is not valid base64") from None
    if len(header) < 24 or not header.startswith(PNG_SIGNATURE) or header[12:16] != b"IHDR":
        raise CanvasImageError("the drawing is not a PNG image")
    png_width, png_height = struct.unpack(">II", header[16:24])
    if (png_width, png_height) != (width, height):
        raise CanvasImageError(f"the drawing is {png_width:,}x{png_height:,} pixels; the "
                               f"canvas is {width}x{height}")
    try:
        png = base64.b64decode(data_url[start:], validate=True)
    except (binascii.Error, ValueError):
        raise CanvasImageError("the drawing is not valid base64") from None
    check_chunks(png)
    try:  # PIL raises OSError, ValueError or SyntaxError on broken files
        with Image.open(io.BytesIO(png)) as image:
            return np.array(image.convert("RGBA"))
    except (OSError, ValueError, SyntaxError):
        raise CanvasImageError("the drawing is not a PNG image that can be read") from None


def check_chunks(png: bytes) -> None:
    """Refuse what no canvas writes before PIL reads it chunk by chunk: thousands of chunks,
    or compressed text (PIL inflates it up to 64 MB before giving up)."""
    offset, count = len(PNG_SIGNATURE), 0
    while offset + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[offset:offset + 8])
        count += 1
        if kind in COMPRESSED_TEXT:
            raise CanvasImageError(f"the drawing holds compressed text ({kind.decode()}), "
                                   "which a canvas never writes")
        if count > MAX_PNG_CHUNKS:
            raise CanvasImageError(f"the drawing has more than {MAX_PNG_CHUNKS} PNG chunks; "
                                   "a canvas writes a few dozen")
        if kind == b"IEND":
            return
        offset += 12 + length  # length, type, data, CRC


@dataclass(frozen=True)
class MnistInput:
    """The 28x28 image in [0, 1] (before normalisation) and how it was made.

    ``steps`` holds (title, image in [0, 1]) pairs, in order. ``image`` is None when the
    canvas is empty; ``message`` then says why, or warns about an unusual drawing.
    """

    image: np.ndarray | None
    steps: tuple[tuple[str, np.ndarray], ...]
    message: str | None = None

    @property
    def empty(self) -> bool:
        return self.image is None


def canvas_to_mnist(rgba: np.ndarray) -> MnistInput:
    """Canvas (H, W, 4) uint8 RGBA, light ink on a dark background -> MNIST-style 28x28."""
    if rgba.ndim != 3 or rgba.shape[2] not in (3, 4) or rgba.shape[0] < 1 or rgba.shape[1] < 1:
        raise ValueError(f"expected an (H, W, 4) RGBA array, got shape {rgba.shape}")
    rgb = rgba[..., :3].astype(np.float32) / 255.0
    alpha = rgba[..., 3].astype(np.float32) / 255.0 if rgba.shape[2] == 4 else 1.0
    gray = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]) * alpha
    steps: list[tuple[str, np.ndarray]] = [("1 · grayscale", gray)]
    ink = gray > INK_THRESHOLD
    if ink.sum() < max(1, MIN_INK_PIXELS * ink.size):
        return MnistInput(None, tuple(steps), "The canvas is empty: draw a digit.")
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    cropped = gray[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    steps.append(("2 · crop to ink", cropped))
    scaled = _fit_box(cropped, BOX_SIZE)
    steps.append((f"3 · fit {BOX_SIZE}×{BOX_SIZE}", scaled))
    image = _centre_by_mass(scaled, MNIST_SIZE)
    steps.append(("4 · centre in 28×28", image))
    message = None
    if ink.mean() > 0.5:
        message = "Most of the canvas is ink: the network expects a digit drawn with a pen."
    elif max(cropped.shape) < 0.1 * max(gray.shape):
        message = "That is a very small drawing: it was scaled up a lot."
    return MnistInput(image, tuple(steps), message)


def _fit_box(image: np.ndarray, box: int) -> np.ndarray:
    """Scale so the longer side is ``box`` pixels, keeping the aspect ratio, anti-aliased."""
    h, w = image.shape
    scale = box / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    resized = F.interpolate(tensor, size=size, mode="bilinear", antialias=True,
                            align_corners=False)
    return resized[0, 0].clamp(0, 1).numpy()


def _centre_by_mass(image: np.ndarray, size: int) -> np.ndarray:
    """Paste ``image`` into a ``size`` x ``size`` field so its centre of mass is the centre."""
    h, w = image.shape
    mass = image.sum()
    cy = (image.sum(axis=1) @ (np.arange(h) + 0.5)) / mass
    cx = (image.sum(axis=0) @ (np.arange(w) + 0.5)) / mass
    top = int(np.clip(round(size / 2 - cy), 0, size - h))
    left = int(np.clip(round(size / 2 - cx), 0, size - w))
    field = np.zeros((size, size), dtype=np.float32)
    field[top:top + h, left:left + w] = image
    return field


def digit_to_canvas(digit: np.ndarray, size: int = 280, digit_px: int = 200,
                    offset: tuple[int, int] = (0, 0), thicken: int = 0) -> np.ndarray:
    """Draw a 28x28 digit (uint8 or [0, 1]) back onto an RGBA canvas, the way a person might:
    scaled to ``digit_px``, shifted by ``offset`` from the centre, strokes thickened by
    ``thicken`` pixels. Used by tests and benchmarks to make realistic drawings."""
    d = torch.as_tensor(np.asarray(digit, dtype=np.float32))
    if d.max() > 1:
        d = d / 255.0
    big = F.interpolate(d[None, None], size=(digit_px, digit_px), mode="bilinear",
                        align_corners=False)
    if thicken:
        big = F.max_pool2d(big, 2 * thicken + 1, stride=1, padding=thicken)
    canvas = torch.zeros(size, size)
    top = (size - digit_px) // 2 + offset[0]
    left = (size - digit_px) // 2 + offset[1]
    t0, l0 = max(top, 0), max(left, 0)
    t1, l1 = min(top + digit_px, size), min(left + digit_px, size)
    canvas[t0:t1, l0:l1] = big[0, 0, t0 - top:t1 - top, l0 - left:l1 - left]
    gray = (canvas.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return np.dstack([gray, gray, gray, np.full_like(gray, 255)])
