"""A grid of numbers as an SVG picture: a square per cell, outlines, values written in.

The Explain page draws five of these per step, as images. A plotly heatmap cost a browser
about 65 ms to mount, on every visit to the page; an image a few ms, and SVG scales to any
column without blur. (``st.html`` would keep hover text, but its sanitiser drops SVG, and
``st.markdown`` took a browser 0.3-0.5 s per 900-cell grid.)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

GAP = 0.06  # of a cell: the background shows between cells, as plotly's xgap/ygap did
BACKGROUND = "#dde3ea"  # also the colour of cells not filled in yet (NaN)
WINDOW = "#ffbf00"
PADDING = "#f59f4c"
# ColorBrewer RdBu, reversed: negative blue, zero near white, positive red.
DIVERGING = np.array([(5, 48, 97), (33, 102, 172), (67, 147, 195), (146, 197, 222),
                      (209, 229, 240), (247, 247, 247), (253, 219, 199), (244, 165, 130),
                      (214, 96, 77), (178, 24, 43), (103, 0, 31)], dtype=np.float64)


def cell_colours(values: np.ndarray, diverging: bool = False) -> np.ndarray:
    """(H, W, 3) uint8 colours: grey from the smallest value (black) to the largest (white),
    or, ``diverging``, blue below zero and red above, symmetric about zero. NaN: background."""
    finite = values[np.isfinite(values)]
    if diverging:
        reach = float(np.abs(finite).max()) if finite.size else 0.0
        where = (values / reach + 1) / 2 if reach > 0 else np.full(values.shape, 0.5)
        stops = np.linspace(0, 1, len(DIVERGING))
        rgb = np.stack([np.interp(where, stops, DIVERGING[:, i]) for i in range(3)], axis=-1)
    else:
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        grey = (values - low) / (high - low) * 255 if high > low else np.full(values.shape, 128.)
        rgb = np.repeat(grey[..., None], 3, axis=-1)
    rgb = np.nan_to_num(rgb, nan=0.0)
    rgb[~np.isfinite(values)] = [int(BACKGROUND[i:i + 2], 16) for i in (1, 3, 5)]
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _outline(row: float, col: float, height: float, width: float, colour: str,
             css_class: str, dashed: bool = False) -> str:
    dash = ' stroke-dasharray="4 3"' if dashed else ""
    return (f'<rect class="{css_class}" x="{col:g}" y="{row:g}" width="{width:g}" '
            f'height="{height:g}" fill="none" stroke="{colour}" stroke-width="3"{dash} '
            'vector-effect="non-scaling-stroke"/>')


def grid_svg(values: np.ndarray, *, outlined: Iterable[tuple[int, int]] = (),
             padding: int = 0, diverging: bool = False, numbers: bool = False,
             cell_px: int = 12) -> str:
    """An SVG image of ``values`` (H, W), ``cell_px`` per cell at its natural size.

    ``outlined``: (row, column) cells drawn with a yellow border (the kernel's window, or the
    output cell being computed). ``padding``: that many rows and columns round the edge are
    zero padding, inside a dotted line. ``numbers`` writes each value in its cell (small
    grids).
    """
    h, w = values.shape
    colours = cell_colours(values, diverging)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" '
             f'width="{w * cell_px}" height="{h * cell_px}" font-family="sans-serif">'
             f'<rect width="{w}" height="{h}" fill="{BACKGROUND}"/>']
    size = f"{1 - GAP:g}"
    for r in range(h):
        for c in range(w):
            value = values[r, c]
            if not np.isfinite(value):
                continue  # not filled in yet: the background shows
            red, green, blue = colours[r, c]
            parts.append(f'<rect x="{c}" y="{r}" width="{size}" height="{size}" '
                         f'fill="#{red:02x}{green:02x}{blue:02x}"/>')
            if numbers:
                # 118: the grey on which black and white text contrast equally
                ink = "#000" if 0.299 * red + 0.587 * green + 0.114 * blue > 118 else "#fff"
                parts.append(f'<text x="{c + 0.47:g}" y="{r + 0.5:g}" font-size="0.3" '
                             f'fill="{ink}" text-anchor="middle" dominant-baseline="central">'
                             f'{value:.2f}</text>')
    if padding:
        parts.append(_outline(padding - GAP / 2, padding - GAP / 2, h - 2 * padding,
                              w - 2 * padding, PADDING, "padding", dashed=True))
    for r, c in outlined:
        parts.append(_outline(r - GAP / 2, c - GAP / 2, 1, 1, WINDOW, "window"))
    parts.append("</svg>")
    return "".join(parts)
