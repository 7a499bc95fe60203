"""Pictures as SVG, shown as images: a grid of numbers (the Explain page draws five per
step), the feature-map volumes through a design (the Design page), bars (a drawing's class
probabilities on the Draw page, the accuracy per class on the Train page) and a confusion
matrix (the Train page).

A plotly chart cost a browser about 65 ms to mount, on every visit to a page, and its
figure objects cost the server milliseconds per shape; an image costs a few ms, and SVG
scales to any column without blur. (``st.html`` would keep hover text, but its sanitiser
drops SVG, and ``st.markdown`` took a browser 0.3-0.5 s per 900-cell grid.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape

import numpy as np

from cnn_core.design.formatting import format_shape
from cnn_core.design.layers import layer_type
from cnn_core.design.report import NetworkReport

GAP = 0.06  # of a cell: the background shows between cells, as plotly's xgap/ygap did
BACKGROUND = "#dde3ea"  # also the colour of cells not filled in yet (NaN)
WINDOW = "#ffbf00"
PADDING = "#f59f4c"
# ColorBrewer RdBu, reversed: negative blue, zero near white, positive red.
DIVERGING = np.array([(5, 48, 97), (33, 102, 172), (67, 147, 195), (146, 197, 222),
                      (209, 229, 240), (247, 247, 247), (253, 219, 199), (244, 165, 130),
                      (214, 96, 77), (178, 24, 43), (103, 0, 31)], dtype=np.float64)
# ColorBrewer Blues: none white, most dark blue (plotly's "Blues", which the matrix had).
BLUES = np.array([(247, 251, 255), (222, 235, 247), (198, 219, 239), (158, 202, 225),
                  (107, 174, 214), (66, 146, 198), (33, 113, 181), (8, 81, 156), (8, 48, 107)],
                 dtype=np.float64)


def along(where: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """(..., 3) colours at ``where`` (0 to 1) along a palette's evenly spaced ``stops``."""
    at = np.linspace(0, 1, len(stops))
    return np.stack([np.interp(where, at, stops[:, i]) for i in range(3)], axis=-1)


def hex_colour(red: int, green: int, blue: int) -> str:
    return f"#{red:02x}{green:02x}{blue:02x}"


def ink_on(red: float, green: float, blue: float) -> str:
    """Black or white, whichever reads better on that colour (118: the grey on which both
    contrast equally)."""
    return "#000" if 0.299 * red + 0.587 * green + 0.114 * blue > 118 else "#fff"


def value_range(values: np.ndarray) -> tuple[float, float]:
    """The smallest and largest finite value ((0, 0) when there is none)."""
    finite = values[np.isfinite(values)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


def cell_colours(values: np.ndarray, diverging: bool = False,
                 limits: tuple[float, float] | None = None) -> np.ndarray:
    """(H, W, 3) uint8 colours: grey from ``limits``' low (black) to its high (white), or,
    ``diverging``, blue below zero and red above, symmetric about zero. ``limits`` default to
    the values' own; a map filled in step by step, or a close-up of one, passes the whole
    map's, so a cell keeps its colour. Beyond the limits (infinities too): the end colours.
    NaN: the background (not filled in yet)."""
    values = np.asarray(values, dtype=np.float64)
    low, high = value_range(values) if limits is None else limits
    scale = max(abs(low), abs(high))
    if not 0 < scale < math.inf:  # nothing to tell apart (or no finite limit): the middle
        where = np.full(values.shape, 0.5)
    else:  # divided by the scale first, so a range of ±1e308 does not overflow
        with np.errstate(invalid="ignore"):
            if diverging:
                where = 0.5 + 0.5 * np.clip(values / scale, -1, 1)
            elif high > low:
                where = np.clip((values / scale - low / scale) / (high / scale - low / scale),
                                0, 1)
            else:
                where = np.full(values.shape, 0.5)
    rgb = along(where, DIVERGING) if diverging else np.repeat(where[..., None] * 255, 3, -1)
    rgb[np.isnan(values) | np.isnan(where)] = [int(BACKGROUND[i:i + 2], 16) for i in (1, 3, 5)]
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _outline(row: float, col: float, height: float, width: float, colour: str,
             css_class: str, dashed: bool = False) -> str:
    dash = ' stroke-dasharray="4 3"' if dashed else ""
    return (f'<rect class="{css_class}" x="{col:g}" y="{row:g}" width="{width:g}" '
            f'height="{height:g}" fill="none" stroke="{colour}" stroke-width="3"{dash} '
            'vector-effect="non-scaling-stroke"/>')


def grid_svg(values: np.ndarray, *, outlined: Iterable[tuple[int, int]] = (),
             padding: int = 0, diverging: bool = False, numbers: bool = False,
             limits: tuple[float, float] | None = None, cell_px: int = 12) -> str:
    """An SVG image of ``values`` (H, W), ``cell_px`` per cell at its natural size.

    ``outlined``: (row, column) cells drawn with a yellow border (the kernel's window, or the
    output cell being computed). ``padding``: that many rows and columns round the edge are
    zero padding, inside a dashed line. ``numbers`` writes each value in its cell (small
    grids). ``diverging`` and ``limits``: as in ``cell_colours``.
    """
    h, w = values.shape
    colours = cell_colours(values, diverging, limits)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" '
             f'width="{w * cell_px}" height="{h * cell_px}" font-family="sans-serif">'
             f'<rect width="{w}" height="{h}" fill="{BACKGROUND}"/>']
    # One path per colour, a square per cell: a third of the bytes of a rect per cell, and
    # a grid is sent to the browser on every step (a 30x30 input: ~20 KB, was ~60 KB).
    squares: dict[str, list[str]] = {}
    size = f"{1 - GAP:g}"
    texts = []
    for r in range(h):
        for c in range(w):
            value = values[r, c]
            if np.isnan(value):
                continue  # not filled in yet: the background shows
            red, green, blue = colours[r, c]
            squares.setdefault(hex_colour(red, green, blue), []).append(
                f"M{c} {r}h{size}v{size}h-{size}z")
            if numbers:
                texts.append(f'<text x="{c + 0.47:g}" y="{r + 0.47:g}" font-size="0.3" '
                             f'fill="{ink_on(red, green, blue)}" text-anchor="middle" '
                             f'dominant-baseline="central">{value:.2f}</text>')
    parts += [f'<path fill="{fill}" d="{"".join(cells)}"/>' for fill, cells in squares.items()]
    parts += texts
    if padding:
        parts.append(_outline(padding - GAP / 2, padding - GAP / 2, h - 2 * padding,
                              w - 2 * padding, PADDING, "padding", dashed=True))
    for r, c in outlined:
        parts.append(_outline(r - GAP / 2, c - GAP / 2, 1, 1, WINDOW, "window"))
    parts.append("</svg>")
    return "".join(parts)


VOLUME_HEIGHT_PX = 260
VOLUME_GAP = 18  # between blocks, in the picture's units
FONT = 11


def text_width(text: str, font: float = FONT) -> float:
    """About how wide ``text`` is at ``font`` px (digits, letters and %: 0.6 em each)."""
    return 0.6 * font * len(text)


def fitting_font(text: str, room: float, largest: float) -> float:
    """The font size, at most ``largest``, at which ``text`` fits ``room`` px, as written in
    the SVG (one decimal, rounded down so it still fits)."""
    return math.floor(min(largest, room / text_width(text, 1)) * 10) / 10


def volume_svg(report: NetworkReport) -> str:
    """The feature maps' volume after the input and each conv, pool, flatten and dense layer,
    left to right: a block's height grows with the map's size, its width with log2 of the
    channels (blue); a flat vector is an orange bar as tall as log2 of its length. Each
    block is labelled with its layer's number (the table's "#") above and its shape below."""
    stages = [("input", report.input_shape)] + [
        (str(r.index), r.output_shape) for r in report.layers
        if r.output_shape is not None
        and layer_type(r.type).rule in ("conv", "pool", "flatten", "dense")]
    blocks = []  # (name, label, left x, width, height, colour)
    for name, shape in stages:
        if len(shape) == 3:
            channels, height = shape[0], max(shape[1], 2) * 3.0
            width, colour = 6 + 6 * math.log2(channels + 1), "#4c8bf5"
        else:
            height, width, colour = 6 * math.log2(shape[0] + 1), 5.0, "#f59f4c"
        label = format_shape(shape)
        x = 0.0
        if blocks:  # far enough from the last block that neither blocks nor labels touch
            _, last_label, last_x, last_width, *_ = blocks[-1]
            apart = max((last_width + width) / 2 + VOLUME_GAP,
                        (text_width(last_label) + text_width(label)) / 2 + FONT)
            x = last_x + last_width / 2 + apart - width / 2
        blocks.append((name, label, x, width, height, colour))
    left = min(x + width / 2 - text_width(label) / 2 for _, label, x, width, *_ in blocks)
    right = max(x + width / 2 + text_width(label) / 2 for _, label, x, width, *_ in blocks)
    tallest = max(height for *_, height, _ in blocks)
    view_w, view_h = right - left + FONT, tallest + 2 * 2.2 * FONT  # labels above and below
    px_per_unit = min(VOLUME_HEIGHT_PX / view_h, 3.0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" '
             f'viewBox="{left - FONT / 2:.2f} 0 {view_w:.2f} {view_h:.2f}" '
             f'width="{view_w * px_per_unit:.0f}" height="{view_h * px_per_unit:.0f}" '
             f'font-family="sans-serif" font-size="{FONT}" text-anchor="middle">']
    middle = view_h / 2
    for name, label, x, width, height, colour in blocks:
        top, centre = middle - height / 2, x + width / 2
        parts.append(f'<rect x="{x:.2f}" y="{top:.2f}" width="{width:.2f}" '
                     f'height="{height:.2f}" fill="{colour}" fill-opacity="0.75" '
                     'stroke="#1b1f24" stroke-width="1"/>')
        parts.append(f'<text x="{centre:.2f}" y="{top - 0.6 * FONT:.2f}" fill="#6b7280">'
                     f'{xml_text(name)}</text>')
        parts.append(f'<text x="{centre:.2f}" y="{top + height + 1.4 * FONT:.2f}">'
                     f'{xml_text(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


BAR_SLOT = 44  # px per class at least, and as wide as the longest class name needs
BAR_SLOT_MANY = 24  # px per class at least, past ten classes (26 letters fit a column)
BAR_AREA = 170  # px: the height of a 100 % bar
BAR_FONT = 13


def probability_svg(probabilities: Iterable[float], names: Iterable[str], answer: int) -> str:
    """A drawing's probability of each class, the answer's bar dark (``bar_svg``)."""
    return bar_svg(probabilities, names, highlight=answer)


def bar_svg(fractions: Iterable[float], names: Iterable[str], *, highlight: int | None = None,
            decimals: int = 0, floor: float = 0.0) -> str:
    """One bar per class, its fraction (0 to 1) written above it as a percentage with
    ``decimals`` and its name below; the ``highlight`` bar dark blue, the others light (all
    dark without one). Bars start at ``floor``, so close fractions (accuracies of 0.95 and
    0.99) differ visibly. Faint lines at a quarter, half, three quarters and all the way."""
    fractions, names = list(fractions), [str(n) for n in names]
    name_px = max((text_width(n, BAR_FONT) for n in names), default=0)
    slot = max(BAR_SLOT if len(names) <= 10 else BAR_SLOT_MANY, math.ceil(name_px) + 10)
    widest = f"{1:.{decimals}%}"  # "100%", "100.0%"
    percent_font = fitting_font(widest, slot - 2, BAR_FONT)
    top, bottom = 22, 24  # room for the percentages above and the names below
    width, height = slot * len(fractions), top + BAR_AREA + bottom
    base = top + BAR_AREA
    floor = min(max(floor, 0.0), 0.99)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" font-family="sans-serif" '
             f'font-size="{BAR_FONT}" text-anchor="middle">']
    for quarter in (0.25, 0.5, 0.75, 1.0):
        y = base - quarter * BAR_AREA
        parts.append(f'<line x1="0" x2="{width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
    for i, (fraction, name) in enumerate(zip(fractions, names, strict=True)):
        known = math.isfinite(fraction)
        fraction = min(max(float(fraction), 0.0), 1.0) if known else 0.0
        bar = max(fraction - floor, 0.0) / (1 - floor) * BAR_AREA
        centre = (i + 0.5) * slot
        colour = "#1f6feb" if highlight in (None, i) else "#9ec5fe"
        parts.append(f'<rect x="{i * slot + slot * 0.14:.1f}" y="{base - bar:.1f}" '
                     f'width="{slot * 0.72:.1f}" height="{bar:.1f}" fill="{colour}"/>')
        written = f"{fraction:.{decimals}%}" if known else "–"  # not a number: not 0 %
        parts.append(f'<text x="{centre}" y="{base - bar - 6:.1f}" fill="#374151" '
                     f'font-size="{percent_font:.1f}">{written}</text>')
        weight = ' font-weight="bold"' if i == highlight else ""
        parts.append(f'<text x="{centre}" y="{base + 17}"{weight}>{xml_text(name)}</text>')
    parts.append(f'<line x1="0" x2="{width}" y1="{base}" y2="{base}" stroke="#6b7280"/>')
    parts.append("</svg>")
    return "".join(parts)


CONFUSION_CELL = 40  # px per cell: a count up to 9,999 fits at CONFUSION_FONT
CONFUSION_FONT = 12  # or smaller, so that the largest count fits its cell


def confusion_svg(confusion: Sequence[Sequence[int]], names: Iterable[str]) -> str:
    """A confusion matrix: row = the true class, column = the one predicted, each cell its
    count on white (none) to dark blue (the most in any cell). Class names label the rows
    on the left and the columns below (slanted when wider than a cell), with the axes'
    titles, "true" and "predicted"."""
    names = [str(n) for n in names]
    n, cell, font = len(names), CONFUSION_CELL, CONFUSION_FONT
    counts = np.asarray(confusion, dtype=np.float64).reshape(-1)
    if counts.size != n * n:
        raise ValueError(f"a confusion matrix of {n} classes has {n * n} counts, not "
                         f"{counts.size}")
    counts = np.nan_to_num(counts.reshape(n, n), nan=0.0, posinf=0.0, neginf=0.0).clip(0)
    widest = max((f"{int(count):,}" for count in counts.flat), key=len, default="0")
    count_font = fitting_font(widest, cell - 4, font)
    name_px = max((text_width(name, font) for name in names), default=0)
    slanted = name_px > cell - 4
    left = 22 + math.ceil(name_px) + 8  # the "true" title, then the row names
    below = (math.ceil(name_px * 0.72) if slanted else font) + 12 + 22  # names, then title
    width, height = left + n * cell + 6, 6 + n * cell + below
    most = counts.max(initial=0.0) or 1.0  # an empty matrix: all white
    colours = np.rint(along(np.clip(counts / most, 0, 1), BLUES)).astype(int)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" font-family="sans-serif" '
             f'font-size="{font}" text-anchor="middle">']
    top = 6
    for r in range(n):
        y = top + r * cell
        parts.append(f'<text x="{left - 6}" y="{y + cell / 2:g}" text-anchor="end" '
                     f'dominant-baseline="central">{xml_text(names[r])}</text>')
        for c in range(n):
            red, green, blue = colours[r, c]
            x = left + c * cell
            parts.append(f'<rect x="{x}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                         f'fill="{hex_colour(red, green, blue)}"/>')
            parts.append(f'<text x="{x + cell / 2 - 0.5:g}" y="{y + cell / 2 - 0.5:g}" '
                         f'fill="{ink_on(red, green, blue)}" font-size="{count_font:g}" '
                         f'dominant-baseline="central">{int(counts[r, c]):,}</text>')
    base = top + n * cell
    for c in range(n):
        x = left + c * cell + cell / 2
        name = xml_text(names[c])
        if slanted:
            parts.append(f'<text x="{x:g}" y="{base + 14}" text-anchor="end" '
                         f'transform="rotate(-45 {x:g} {base + 14})">{name}</text>')
        else:
            parts.append(f'<text x="{x:g}" y="{base + 16}">{name}</text>')
    parts.append(f'<text x="{left + n * cell / 2:g}" y="{height - 8}" fill="#374151">'
                 'predicted</text>')
    parts.append(f'<text x="12" y="{top + n * cell / 2:g}" fill="#374151" '
                 f'transform="rotate(-90 12 {top + n * cell / 2:g})">true</text>')
    parts.append("</svg>")
    return "".join(parts)


def xml_text(text: str) -> str:
    """``text`` escaped for SVG, without the characters XML forbids (control characters)."""
    return escape("".join(ch for ch in text if ch in "\t\n\r" or ord(ch) >= 32))
