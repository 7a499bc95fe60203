"""A confusion matrix you can open: each cell's images are exactly the ones it counts, in the
logic and on the Train and Runs pages (AppTest)."""

import re

import numpy as np
import pytest
import torch
from helpers import by_label, handwriting_and_a_run, on_page, wait_data
from hypothesis import given, settings
from hypothesis import strategies as st

from cnn_core.design.build import build_model
from cnn_core.design.presets import SMALL_FAST
from cnn_core.explain.confusion import (
    PAGE_SIZE,
    Cell,
    cell_indices,
    cells,
    counts,
    page_of,
    pages,
    top_classes,
)
from cnn_core.training.evaluate import evaluate

THUMBNAIL = re.compile(r"^#(\d+) · ")  # a cell's thumbnail caption: "#123 · 7: 98% · …"


@settings(max_examples=200, deadline=None)
@given(classes=st.integers(1, 12), data=st.data())
def test_every_cell_holds_exactly_the_images_it_counts(classes, data):
    n = data.draw(st.integers(0, 300))
    labels = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)))
    predictions = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=n,
                                              max_size=n)))
    matrix = counts(labels, predictions, classes)
    seen = []
    for cell in cells(matrix):
        found = cell_indices(labels, predictions, cell.true, cell.predicted)
        assert len(found) == cell.count == matrix[cell.true, cell.predicted] > 0
        assert (labels[found] == cell.true).all() and (predictions[found] == cell.predicted).all()
        paged = np.concatenate([page_of(found, p) for p in range(pages(len(found)))])
        np.testing.assert_array_equal(paged, found)  # the pages show each image once
        seen += found.tolist()
    assert sorted(seen) == list(range(n))  # every image in one cell, none left out
    offered = cells(matrix)
    wrong = [c for c in offered if not c.correct]
    assert offered[:len(wrong)] == wrong  # the mistakes first
    assert [c.count for c in wrong] == sorted((c.count for c in wrong), reverse=True)


def test_the_cells_of_a_real_evaluation_add_up_to_its_matrix(bundled):
    torch.manual_seed(0)
    model = build_model(SMALL_FAST)  # untrained: mistakes in many cells
    evaluation = evaluate(model, bundled.test_images[:500], bundled.test_labels[:500])
    matrix = np.asarray(evaluation.confusion)
    for cell in cells(matrix):
        found = cell_indices(bundled.test_labels[:500].numpy(), evaluation.predictions.numpy(),
                             cell.true, cell.predicted)
        assert len(found) == matrix[cell.true, cell.predicted]
    assert sum(c.count for c in cells(matrix)) == 500
    assert evaluation.probabilities.shape == (500, 10)
    torch.testing.assert_close(evaluation.probabilities.sum(dim=1), torch.ones(500))
    assert (evaluation.probabilities.argmax(dim=1) == evaluation.predictions).all()


def test_the_words_and_the_pages():
    assert Cell(4, 9, 12).describe([str(d) for d in range(10)]) == "true 4 → said 9: 12 images"
    assert Cell(2, 2, 1).describe(list("abc")) == "true c → said c: 1 image"
    assert top_classes([0.02, 0.71, 0.25, 0.02], list("abcd")) == "b: 71% · c: 25% · a: 2%"
    assert pages(0) == 1 and pages(PAGE_SIZE) == 1 and pages(PAGE_SIZE + 1) == 2
    assert page_of(np.arange(30), 9).tolist() == list(range(PAGE_SIZE, 30))  # clamped: the last


def shown_thumbnails(at) -> list[int]:
    """The images a cell shows, by index (sorted: AppTest lists them column by column)."""
    return sorted(int(m.group(1)) for image in at.get("image") for caption in image.captions
                  if (m := THUMBNAIL.match(caption)))


def open_each_cell(at, key: str, labels: np.ndarray, predictions: np.ndarray) -> int:
    """Open every cell from the list, then one by a click on the table; checks what shows."""
    matrix = counts(labels, predictions, 10)
    offered = at.selectbox(key=f"{key}_cell").options
    assert len(offered) == len(cells(matrix))
    opened = 0
    for cell in cells(matrix)[:4]:  # the mistakes first, most images first
        at.selectbox(key=f"{key}_cell").set_value(cell).run()
        expected = cell_indices(labels, predictions, cell.true, cell.predicted)
        assert shown_thumbnails(at) == expected[:PAGE_SIZE].tolist()
        assert len([b for b in at.button if b.label == "Why?"]) == min(cell.count, PAGE_SIZE)
        if cell.count > PAGE_SIZE:  # the last page: the rest of them
            last = pages(cell.count)
            at.number_input(key=f"{key}_page_{cell.true}_{cell.predicted}").set_value(last).run()
            assert shown_thumbnails(at) == page_of(expected, last - 1).tolist()
        opened += 1
    # A click on a table cell (the selection as the browser sends it) opens that cell.
    cell = cells(matrix)[0]
    at.session_state[f"{key}_table"] = {"selection": {"rows": [], "columns": [],
                                                      "cells": [[cell.true, str(cell.predicted)]]}}
    at.run()
    assert at.selectbox(key=f"{key}_cell").value == cell
    assert len(shown_thumbnails(at)) == min(cell.count, PAGE_SIZE)
    return opened


@pytest.mark.slow
def test_the_train_pages_matrix_opens_and_explains():
    at = on_page("pages/train.py")
    wait_data(at)
    by_label(at.number_input, "Epochs").set_value(1).run()
    next(b for b in at.button if b.label == "Train").click().run()
    job = at.session_state["job"]
    job.join(300)
    at.run()
    labels = job.splits.test_labels.numpy()
    predictions = job.evaluation.predictions.numpy()
    assert open_each_cell(at, "train_cells", labels, predictions) > 0
    cell = at.selectbox(key="train_cells_cell").value
    first = cell_indices(labels, predictions, cell.true, cell.predicted)[0]
    at.button(key=f"train_cells_why_{first}").click().run()
    asked = [m.value for m in at.markdown if m.value.startswith("**Why did it say")]
    assert asked == [f"**Why did it say {cell.predicted} for #{first}?**"]
    assert any(c.startswith("Red: pushed towards") for image in at.get("image")
               for c in image.captions)


@pytest.mark.slow
def test_the_runs_pages_handwriting_matrix_opens(fresh_class_set, bundled):
    drawings, recorder, job = handwriting_and_a_run(bundled, 300, 30, 300, "cells")
    at = on_page("pages/runs.py")
    at.selectbox(key="runs_one").set_value(recorder.run_id).run()
    at.button(key="runs_handwriting").click().run()
    images, labels = drawings.arrays()
    predictions = evaluate(job.model, torch.from_numpy(images),
                           torch.from_numpy(labels)).predictions.numpy()
    assert open_each_cell(at, "runs_cells", labels, predictions) > 0
    cell = at.selectbox(key="runs_cells_cell").value
    first = cell_indices(labels, predictions, cell.true, cell.predicted)[0]
    at.button(key=f"runs_cells_why_{first}").click().run()
    assert any(c.startswith("Red: pushed towards") for image in at.get("image")
               for c in image.captions)
