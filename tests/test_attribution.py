"""Attribution heatmaps (Captum) on a really trained network and real digits."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from cnn_core.data.mnist import normalize
from cnn_core.data.preprocess import canvas_to_mnist, digit_to_canvas
from cnn_core.design.presets import SMALL_FAST
from cnn_core.explain.attribution import METHODS, Attribution, attribute, baseline_like, overlay
from cnn_core.training.job import train_to_completion
from cnn_core.training.trainer import TrainConfig


@pytest.fixture(scope="module")
def trained_job(bundled):
    """The small preset, one epoch on 2,000 real digits: good enough to have opinions."""
    few = dataclasses.replace(
        bundled, train_images=bundled.train_images[:2000],
        train_labels=bundled.train_labels[:2000], val_images=bundled.val_images[:200],
        val_labels=bundled.val_labels[:200], test_images=bundled.val_images[:200],
        test_labels=bundled.val_labels[:200])
    job = train_to_completion(SMALL_FAST, few, TrainConfig(epochs=1))
    assert job.model is not None and job.evaluation.accuracy > 0.5
    return job


@pytest.fixture(scope="module")
def trained(trained_job):
    return trained_job.model


def drawn(bundled, index: int) -> np.ndarray:
    """A bundled validation digit as the Draw page sees it: drawn on the canvas, prepared."""
    return canvas_to_mnist(digit_to_canvas(bundled.val_images[index].numpy())).image


@pytest.mark.parametrize("index", [0, 1, 2])
@pytest.mark.parametrize("other", [False, True])
def test_integrated_gradients_add_up_to_the_score_change(trained, bundled, index, other):
    image = drawn(bundled, index)
    label = int(bundled.val_labels[index])
    target = (label + 3) % 10 if other else label  # "why not a ...?" as well as the answer
    result = attribute(trained, image, target, "integrated_gradients")
    with torch.no_grad():  # the scores, computed here without Captum
        x = normalize(torch.from_numpy(image)[None])
        score, blank = trained(torch.cat([x, baseline_like(x)]))[:, target].tolist()
    difference = score - blank
    total = float(result.heatmap.sum())
    assert abs(result.convergence_delta) < 0.05 * abs(difference)  # Captum converged
    assert abs(total - difference) <= abs(result.convergence_delta) + 1e-4
    assert result.score == pytest.approx(score, abs=1e-5)
    assert result.baseline_score == pytest.approx(blank, abs=1e-5)
    assert np.abs(result.heatmap[image == 0]).max() == 0  # no ink, no change from blank


def test_the_two_methods_and_two_targets_give_different_maps(trained, bundled):
    image = drawn(bundled, 0)
    label = int(bundled.val_labels[0])
    maps = {(m, t): attribute(trained, image, t, m).heatmap
            for m in METHODS for t in (label, (label + 1) % 10)}
    assert all(np.isfinite(h).all() and h.shape == (28, 28) for h in maps.values())
    assert (maps["saliency", label] >= 0).all()
    assert (maps["integrated_gradients", label] < 0).any()  # IG is signed
    pairs = [(a, b) for a in maps for b in maps if a < b]
    assert all(not np.allclose(maps[a], maps[b]) for a, b in pairs)


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("blank", [None, np.zeros((28, 28), np.float32),
                                   np.zeros((28, 28), np.uint8)])
def test_a_blank_canvas_gives_a_message_and_no_nan(trained, method, blank):
    result = attribute(trained, blank, 3, method)
    assert result.heatmap is None and "blank" in result.message
    picture = overlay(np.zeros((28, 28)), result)  # no heatmap: the (black) digit alone
    assert picture.shape == (28, 28, 3) and not picture.any()


def test_the_overlay_colours_each_pixel_by_its_share_and_keeps_the_digit_under_zero():
    image = np.full((28, 28), 0.5)
    heat = np.zeros((28, 28))
    heat[0, 0], heat[0, 1], heat[0, 2] = 2.0, -1.0, -2.0
    signed = overlay(image, Attribution("integrated_gradients", 3, heat)).astype(int)
    assert tuple(signed[5, 5]) == (128, 128, 128)  # zero: the grey digit as it is
    assert signed[0, 0, 0] > 170 and signed[0, 0, 2] < 50  # the strongest push up: red
    assert signed[0, 2, 2] > 165 and signed[0, 2, 0] < 50  # the strongest push down: blue
    # half as strong: 0.475 of blue (33, 102, 172) over the grey 0.5 × 255
    assert tuple(signed[0, 1]) == (83, 115, 149)
    salient = overlay(image, Attribution("saliency", 3, np.abs(heat))).astype(int)
    assert tuple(salient[0, 0]) == tuple(salient[0, 2]) and salient[0, 0, 0] > 240  # orange
    assert tuple(salient[5, 5]) == (128, 128, 128)


def test_an_empty_canvas_drawing_is_blank_all_the_way(trained):
    prepared = canvas_to_mnist(np.zeros((280, 280, 4), np.uint8))
    assert prepared.empty
    assert attribute(trained, prepared.image, 0).message is not None


def test_bad_arguments_are_refused_in_words(trained):
    image = np.ones((28, 28), np.float32)
    with pytest.raises(ValueError, match="target must be a digit"):
        attribute(trained, image, 10)
    with pytest.raises(ValueError, match="method must be one of"):
        attribute(trained, image, 1, "gradcam")
    with pytest.raises(ValueError, match="28x28"):
        attribute(trained, np.ones((27, 28)), 1)


def test_the_model_is_left_as_it_was(trained, bundled):
    grads = [None if p.grad is None else p.grad.clone() for p in trained.parameters()]
    trained.train()
    attribute(trained, drawn(bundled, 0), 1)
    assert trained.training
    trained.eval()
    for before, p in zip(grads, trained.parameters()):  # the shared model's grads untouched
        assert (before is None and p.grad is None) or torch.equal(before, p.grad)


# ---- the Draw page --------------------------------------------------------------------------
WHY_CAPTIONS = ("Red: pushed towards", "Orange: where the score")


def heatmaps(at: AppTest) -> list[tuple[str, str]]:
    """The attribution pictures the page shows, as (caption, url): the url names the image's
    bytes (a hash of them), so a different picture has a different url."""
    return [(image.proto.imgs[0].caption, image.proto.imgs[0].url) for image in at.get("image")
            if image.proto.imgs[0].caption.startswith(WHY_CAPTIONS)]


@pytest.mark.slow  # an AppTest of a whole page
def test_draw_page_explains_the_answer_and_why_not(trained, bundled):
    from helpers import canvas_state

    from ui.app_state import TrainedModel

    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    at.switch_page("pages/draw.py")
    at.session_state["trained_model"] = TrainedModel(trained, "test net", SMALL_FAST, None,
                                                      "a test")
    at.session_state["digit_canvas"] = canvas_state(digit_to_canvas(
        bundled.val_images[0].numpy()))
    at.run()
    assert not at.exception, at.exception
    first = heatmaps(at)
    assert len(first) == 1 and first[0][0].startswith("Red: pushed towards")
    picker = at.selectbox(key="draw_why_target")
    assert picker.value == "answer"
    answer = int(at.session_state["last_prediction"].digit)
    picker.set_value((answer + 1) % 10).run()
    assert not at.exception
    other = heatmaps(at)
    assert len(other) == 1 and other[0][1] != first[0][1]
    assert other[0][0] == f"Red: pushed towards {(answer + 1) % 10} · blue: pushed away"
    at.radio(key="draw_why_method").set_value("saliency").run()
    salient = heatmaps(at)
    assert len(salient) == 1 and salient[0][0].startswith("Orange")
    assert any("brightest orange pixels" in c.value for c in at.caption)


@pytest.mark.slow  # an AppTest of a whole page
def test_train_page_explains_a_mistake_on_request(trained_job):
    from helpers import wait_data

    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    at.switch_page("pages/train.py")
    at.session_state["job"] = trained_job
    at.run()
    wait_data(at)
    assert not at.exception, at.exception
    assert heatmaps(at) == []  # nothing computed until a digit is picked
    wrong = trained_job.evaluation.misclassified
    at.selectbox(key="train_why_digit").set_value(1).run()
    assert not at.exception, at.exception
    said = heatmaps(at)
    assert len(said) == 1
    true = int(trained_job.splits.test_labels[wrong[1]])
    picker = at.selectbox(key="train_why_target")
    assert f"{true} (the true digit)" in picker.options
    picker.set_value(true).run()
    (now,) = heatmaps(at)
    assert now[1] != said[0][1] and now[0] == f"Red: pushed towards {true} · blue: pushed away"
