"""SVG pictures: the Explain page's grids (colours, cells left blank, outlines, written
values), the Design page's feature-map volumes (labels in order, nothing overlapping), bars
and the Train page's confusion matrix."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from cnn_core.design.presets import PRESETS
from cnn_core.design.shapes import analyze
from cnn_core.explain.svg import (
    BAR_AREA,
    BLUES,
    CONFUSION_CELL,
    bar_svg,
    cell_colours,
    confusion_svg,
    grid_svg,
    hex_colour,
    probability_svg,
    text_width,
    value_range,
    volume_svg,
)

NS = {"svg": "http://www.w3.org/2000/svg"}


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # also: the markup is well-formed XML


def cells(root: ET.Element) -> dict[tuple[int, int], str]:
    """(row, column) -> fill of each cell's square (one path per colour, a square per cell)."""
    found = {}
    for path in root.findall("svg:path", NS):
        for x, y in re.findall(r"M(\d+) (\d+)h", path.get("d")):
            found[int(y), int(x)] = path.get("fill")
    return found


def test_grey_runs_from_the_smallest_value_black_to_the_largest_white():
    values = np.array([[-2.0, 0.0], [1.0, 2.0]])
    drawn = cells(parsed(grid_svg(values)))
    assert drawn == {(0, 0): "#000000", (0, 1): "#808080", (1, 0): "#bfbfbf",
                     (1, 1): "#ffffff"}


def test_diverging_is_blue_below_zero_red_above_and_symmetric():
    rgb = cell_colours(np.array([[-4.0, -1.0, 0.0, 1.0, 2.0]]), diverging=True)[0].astype(int)
    assert tuple(rgb[2]) == (247, 247, 247)  # zero is the middle of the scale
    assert rgb[0, 2] > rgb[0, 0] and rgb[1, 2] > rgb[1, 0]  # -4: blue
    assert rgb[4, 0] > rgb[4, 2]  # +2: red
    # -1 and +1 lie as far from the middle: as far from white, each towards its own side.
    assert abs((255 - rgb[1]).sum() - (255 - rgb[3]).sum()) < 40


def test_cells_not_filled_in_yet_are_left_blank_and_flat_grids_do_not_divide_by_zero():
    values = np.array([[3.0, np.nan], [np.nan, np.nan]])
    drawn = cells(parsed(grid_svg(values, diverging=True)))
    assert list(drawn) == [(0, 0)]
    assert cells(parsed(grid_svg(np.full((2, 2), 5.0)))) == dict.fromkeys(
        [(0, 0), (0, 1), (1, 0), (1, 1)], "#808080")
    assert cells(parsed(grid_svg(np.full((3, 3), np.nan)))) == {}
    assert cells(parsed(grid_svg(np.zeros((1, 1)), diverging=True))) == {(0, 0): "#f7f7f7"}


def test_window_and_padding_outlines_sit_on_their_cells():
    root = parsed(grid_svg(np.zeros((6, 6)), outlined=[(1, 2), (1, 3)], padding=1))
    windows = root.findall("svg:rect[@class='window']", NS)
    assert sorted((float(w.get("y")), float(w.get("x"))) for w in windows) == [
        (0.97, 1.97), (0.97, 2.97)]
    (padding,) = root.findall("svg:rect[@class='padding']", NS)
    assert (float(padding.get("width")), float(padding.get("height"))) == (4, 4)
    assert root.get("viewBox") == "0 0 6 6"


def test_small_grids_write_each_value_in_ink_that_reads_on_its_cell():
    values = np.array([[0.0, 0.5], [0.25, 1.0]])
    texts = parsed(grid_svg(values, numbers=True)).findall("svg:text", NS)
    assert [t.text for t in texts] == ["0.00", "0.50", "0.25", "1.00"]
    assert [t.get("fill") for t in texts] == ["#fff", "#000", "#fff", "#000"]


def test_volume_labels_each_stage_in_order_and_nothing_overlaps():
    report = analyze(PRESETS["LeNet-5"])
    root = parsed(volume_svg(report))
    blocks = root.findall("svg:rect", NS)
    texts = [t.text for t in root.findall("svg:text", NS)]
    names, labels = texts[0::2], texts[1::2]
    assert names == ["input", "1", "3", "4", "6", "7", "8", "10", "12"]
    assert labels == ["1x28x28", "6x28x28", "6x14x14", "16x10x10", "16x5x5", "400", "120",
                      "84", "10"]
    spans = [(float(b.get("x")), float(b.get("x")) + float(b.get("width"))) for b in blocks]
    assert all(left_end < right_start for (_, left_end), (right_start, _) in
               itertools.pairwise(spans))
    label_spans = [((a + b) / 2 - text_width(t) / 2, (a + b) / 2 + text_width(t) / 2)
                   for (a, b), t in zip(spans, labels)]
    assert all(end < start for (_, end), (start, _) in itertools.pairwise(label_spans))
    view_left, _, view_width, _ = map(float, root.get("viewBox").split())
    assert view_left <= label_spans[0][0] and label_spans[-1][1] <= view_left + view_width
    # taller maps, taller blocks: 28x28 -> 14x14 halves the height
    assert float(blocks[1].get("height")) == 2 * float(blocks[2].get("height"))


def test_probability_bars_grow_with_the_probability_and_name_every_class():
    probabilities = [0.0, 0.05, 0.7, 0.25] + [0.0] * 6
    root = parsed(probability_svg(probabilities, [str(d) for d in range(10)], answer=2))
    bars = root.findall("svg:rect", NS)
    heights = [float(b.get("height")) for b in bars]
    assert heights[2] == round(0.7 * BAR_AREA, 1) and heights[3] == round(0.25 * BAR_AREA, 1)
    assert heights[0] == 0
    assert [b.get("fill") for b in bars].count("#1f6feb") == 1  # the answer's bar, only
    assert bars[2].get("fill") == "#1f6feb"
    texts = [t.text for t in root.findall("svg:text", NS)]
    assert texts[4:6] == ["70%", "2"] and texts[6:8] == ["25%", "3"]
    # letters, and a probability that is not a number, are drawn without breaking the picture
    letters = parsed(probability_svg([float("nan"), 1.0], ["a", "<b>"], answer=1))
    assert [t.text for t in letters.findall("svg:text", NS)] == ["–", "a", "100%", "<b>"]


def test_limits_keep_a_cells_colour_as_the_map_fills_in_and_infinities_take_the_ends():
    full = np.array([[-2.0, 1.0], [0.5, 2.0]])
    half = np.array([[-2.0, 1.0], [np.nan, np.nan]])
    both = cell_colours(full, diverging=True), cell_colours(half, diverging=True,
                                                            limits=value_range(full))
    assert (both[0][0] == both[1][0]).all()  # the first row: the same colours, filled or not
    close_up = cell_colours(np.array([[0.0, 0.1]]), limits=(0.0, 1.0))
    assert tuple(close_up[0, 0]) == (0, 0, 0) and tuple(close_up[0, 1]) == (26, 26, 26)
    extreme = cell_colours(np.array([[-np.inf, -1e308, 1e308, np.inf]]))
    assert [int(v) for v in extreme[0, :, 0]] == [0, 0, 255, 255]  # no overflow to one grey
    flipped = cell_colours(np.array([[-np.inf, np.inf]]), diverging=True, limits=(-1.0, 1.0))
    assert tuple(flipped[0, 0]) == (5, 48, 97) and tuple(flipped[0, 1]) == (103, 0, 31)
    assert parsed(grid_svg(np.array([[np.inf, 1.0]]), numbers=True)).findall("svg:text", NS)[
        0].text == "inf"


def test_long_class_names_get_wider_bars_and_many_classes_narrower_ones():
    fashion = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
    root = parsed(probability_svg([0.1] * 10, fashion, answer=0))
    slot = float(root.get("width")) / 10
    assert slot >= text_width("T-shirt/top", 13)  # the longest name fits its slot
    letters = parsed(probability_svg([1 / 26] * 26, "abcdefghijklmnopqrstuvwxyz", answer=3))
    assert float(letters.get("width")) <= 26 * 24  # a column's width, not 26 wide slots
    percent = letters.findall("svg:text", NS)[0]
    assert text_width("100%", float(percent.get("font-size"))) <= 24


def test_accuracy_bars_start_at_their_floor_and_write_one_decimal():
    root = parsed(bar_svg([0.95, 0.99, 0.9], ["0", "1", "2"], decimals=1, floor=0.8))
    bars = root.findall("svg:rect", NS)
    heights = [float(b.get("height")) for b in bars]
    assert heights[0] == round(0.75 * BAR_AREA, 1) and heights[2] == round(0.5 * BAR_AREA, 1)
    assert {b.get("fill") for b in bars} == {"#1f6feb"}  # no highlight: every bar dark
    assert [t.text for t in root.findall("svg:text", NS)][::2] == ["95.0%", "99.0%", "90.0%"]
    percent = root.findall("svg:text", NS)[0]
    slot = float(root.get("width")) / 3
    assert text_width("100.0%", float(percent.get("font-size"))) <= slot - 2
    below = parsed(bar_svg([0.5], ["0"], floor=0.8)).findall("svg:rect", NS)[0]
    assert float(below.get("height")) == 0  # under the floor: no bar, never a negative one


def test_the_confusion_matrix_counts_each_cell_in_blues_with_named_rows_and_columns():
    confusion = [[50, 2, 0], [3, 40, 1], [0, 0, 0]]  # no digit of the third class tested
    root = parsed(confusion_svg(confusion, ["zero", "one", "two"]))
    squares = [r for r in root.findall("svg:rect", NS)]
    assert len(squares) == 9 and float(squares[0].get("width")) == CONFUSION_CELL - 1
    fills = [sq.get("fill") for sq in squares]
    darkest, white = hex_colour(*BLUES[-1].astype(int)), "#f7fbff"
    assert fills[0] == darkest and fills[2] == fills[8] == white  # the most, and none
    assert fills[1] != white and fills[1] != darkest
    texts = [t.text for t in root.findall("svg:text", NS)]
    assert [texts[i] for i in (1, 2, 3)] == ["50", "2", "0"]  # row 0, after its name
    assert texts.count("zero") == 2 and texts.count("two") == 2  # a row's and a column's
    assert "predicted" in texts and "true" in texts
    cells = root.findall("svg:text", NS)
    assert cells[1].get("fill") == "#fff" and cells[3].get("fill") == "#000"  # ink contrast
    fashion = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
    slanted = parsed(confusion_svg(np.eye(10, dtype=int) * 9999, fashion))
    column_names = [t for t in slanted.findall("svg:text", NS) if "rotate(-45" in
                    (t.get("transform") or "")]
    assert [t.text for t in column_names] == fashion  # wider than a cell: slanted
    assert float(slanted.get("width")) >= text_width("T-shirt/top", 12) + 10 * CONFUSION_CELL
    assert "9,999" in [t.text for t in slanted.findall("svg:text", NS)]
    big = parsed(confusion_svg([[123_456, 7], [0, 10_000]], ["a", "b"]))
    counts = [t for t in big.findall("svg:text", NS) if t.text and t.text[0].isdigit()]
    assert [t.text for t in counts] == ["123,456", "7", "0", "10,000"]
    assert all(text_width(t.text, float(t.get("font-size"))) <= CONFUSION_CELL - 4
               for t in counts)  # the largest count fits its cell, and so do the others
    with pytest.raises(ValueError, match="3 classes has 9 counts, not 4"):
        confusion_svg([[1, 2], [3, 4]], ["a", "b", "c"])
    with pytest.raises(ValueError):
        bar_svg([0.5, 0.5], ["only one name"])
