"""Steering a running training (learning rate, one step while paused) and the learning view."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from cnn_core.design.presets import LENET5, SMALL_FAST
from cnn_core.explain.learning_view import framed, mosaic, tile
from cnn_core.training.job import TrainingJob, train_to_completion
from cnn_core.training.trainer import TrainConfig


@pytest.fixture
def few(bundled):
    """2,000 digits, so a test's epochs are short."""
    return dataclasses.replace(
        bundled, train_images=bundled.train_images[:2000],
        train_labels=bundled.train_labels[:2000], val_images=bundled.val_images[:200],
        val_labels=bundled.val_labels[:200], test_images=bundled.val_images[:200],
        test_labels=bundled.val_labels[:200])


def wait_for(condition, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def held(job: TrainingJob) -> int:
    """Wait until a paused job holds between two steps; the step count it holds at."""
    assert job.wait_until_held(60)
    return job.snapshot().step


def started(splits, epochs: int = 50, spec=SMALL_FAST, lr: float = 1e-3) -> TrainingJob:
    job = TrainingJob(spec, splits, TrainConfig(epochs=epochs, learning_rate=lr, seed=1),
                      orphan_timeout_s=float("inf"))
    job.start()
    wait_for(lambda: job.snapshot().step >= 3, what="the first steps")
    return job


def lrs(job: TrainingJob) -> set[float]:
    return {group["lr"] for group in job.optimizer.param_groups}


def test_a_new_learning_rate_reaches_the_optimizer_at_the_next_step(few):
    job = started(few)
    try:
        job.pause()
        at = held(job)
        assert lrs(job) == {1e-3}
        assert job.set_learning_rate(0.01) is None
        assert lrs(job) == {1e-3} and job.learning_rate == 0.01  # not before the next step
        assert job.step_once()
        wait_for(lambda: job.snapshot().step == at + 1, what="one step")
        assert lrs(job) == {0.01}
        change = job.snapshot().lr_changes
        assert [(c.step, c.learning_rate) for c in change] == [(at + 1, 0.01)]
        assert change[0].epoch == pytest.approx(at / job.steps_per_epoch)
        job.resume()  # and while running, without a pause
        assert job.set_learning_rate(0.002) is None
        wait_for(lambda: len(job.snapshot().lr_changes) == 2, what="the second change")
        assert lrs(job) == {0.002} and job.learning_rate == 0.002
        assert job.snapshot().lr_changes[1].step > at + 1
    finally:
        job.stop()
        job.join(30)


def test_bad_learning_rates_are_refused_in_words(few):
    job = TrainingJob(SMALL_FAST, few, TrainConfig())
    assert job.set_learning_rate(0) == "learning rate must be between 1e-06 and 10 (got 0)"
    assert "got nan" in job.set_learning_rate(float("nan"))
    assert job.learning_rate == 1e-3


@pytest.mark.parametrize("spec", [SMALL_FAST, LENET5])
def test_one_step_while_paused_is_exactly_one_step(few, spec):
    job = started(few, spec=spec)
    try:
        job.pause()
        at = held(job)
        for n in (1, 2, 3):
            assert job.step_once()
            wait_for(lambda n=n: len(job.snapshot().one_steps) == n, what="the step")
            assert job.wait_until_held(60)  # and holds again, with nothing more
            snap = job.snapshot()
            assert snap.step == at + n and snap.state == "paused"
        steps = job.snapshot().one_steps
        assert [s.step for s in steps] == [at + 1, at + 2, at + 3]
        assert all(np.isfinite([s.loss_before, s.loss_after]).all() for s in steps)
        assert sum(s.loss_after < s.loss_before for s in steps) >= 2  # a step lowers its loss
    finally:
        job.stop()
        job.join(30)
    assert job.snapshot().state == "stopped"


def test_views_come_within_an_epoch_every_few_seconds(few, monkeypatch):
    monkeypatch.setattr("cnn_core.training.steering.EVERY_S", 0.05)  # few's epochs are short
    job = started(few)
    try:
        def within_an_epoch() -> bool:  # a timed view, not an epoch's end
            view = job.snapshot().latest_view
            return view is not None and view.step % job.steps_per_epoch != 0

        wait_for(within_an_epoch, what="a view within an epoch")
    finally:
        job.stop()
        job.join(30)


def test_one_step_is_ignored_while_running(few):
    job = started(few)
    try:
        assert not job.step_once()
        time.sleep(0.2)
        assert job.snapshot().one_steps == ()
    finally:
        job.stop()
        job.join(30)


def test_the_learning_view_follows_the_training(few):
    job = train_to_completion(SMALL_FAST, few, TrainConfig(epochs=2))
    snap = job.snapshot()
    assert snap.state == "finished"
    views = snap.views
    assert [v.step for v in views] == [0, job.steps_per_epoch, 2 * job.steps_per_epoch]
    assert [v.epoch for v in views] == [0.0, 1.0, 2.0]
    assert views[0].kernels.shape == (16, 3, 3) and views[0].maps.shape == (16, 28, 28)
    assert not np.allclose(views[0].kernels, views[-1].kernels)  # it learned
    # The last view is the trained model's first layer.
    weight = job.model[0].weight.detach().mean(dim=1).numpy()
    assert np.allclose(views[-1].kernels, weight, atol=1e-6)
    assert snap.latest_view is views[-1]


def test_tiles_for_display():
    maps = np.stack([np.zeros((5, 5)), np.arange(25.0).reshape(5, 5) - 12])
    image = tile(maps, columns=8, signed=True, scale=1)
    assert image.shape == (5, 11) and np.isfinite(image).all()
    assert image[:, :5].max() == 0.5  # zero is mid grey; an all-zero map stays so
    assert image[0, 6] == 0.0 and image[4, 10] == 1.0
    plain = tile(maps, columns=1, scale=2)
    assert plain.shape == (22, 10) and plain.min() == 0 and plain.max() == 1


def test_mosaic_places_each_map_in_its_tile_with_blank_gaps():
    maps = np.arange(5 * 2 * 3, dtype=np.float32).reshape(5, 2, 3)
    grid = mosaic(maps, columns=2)
    assert grid.shape == (3 * 3 - 1, 2 * 4 - 1)  # 3 rows of 2 tiles, 1-pixel gaps
    for i, m in enumerate(maps):
        r, c = divmod(i, 2)
        assert np.array_equal(grid[r * 3:r * 3 + 2, c * 4:c * 4 + 3], m)
    assert np.isnan(grid[2]).all() and np.isnan(grid[:, 3]).all()  # the gaps
    assert np.isnan(grid[6:, 4:]).all()  # the last row's empty tile
    assert mosaic(maps, columns=9).shape == (2, 5 * 4 - 1)  # never more columns than maps


# ---- on the Train page -----------------------------------------------------------------------
def kernel_caption(at) -> str:
    captions = [img.caption for element in at.get("image") for img in element.proto.imgs]
    return next(c for c in captions if c.startswith("Kernels at step"))


def click(at, label: str) -> None:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception


@pytest.mark.slow
def test_train_page_learning_view_and_steering():
    from helpers import by_label, live_chart_args, on_page, wait_data

    at = on_page("pages/train.py")
    wait_data(at)
    by_label(at.number_input, "Epochs").set_value(20).run()
    click(at, "Train")
    job = at.session_state["job"]
    try:
        wait_for(lambda: job.snapshot().latest_view is not None, what="the first view")
        at.run()
        first = kernel_caption(at)
        shown = job.snapshot().latest_view
        # a timed view or an epoch's end (a quiet machine trains an epoch in under EVERY_S)
        wait_for(lambda: job.snapshot().latest_view is not shown, what="a newer view")
        at.run()
        assert kernel_caption(at) != first  # it moved on
        assert len(at.get("image")) == 2  # kernels and feature maps
        # Steering: a new learning rate reaches the optimizer and is marked on the curves.
        by_label(at.number_input, "Learning rate from now on").set_value(0.01).run()
        click(at, "Apply")
        wait_for(lambda: job.snapshot().lr_changes, what="the change")
        assert lrs(job) == {0.01}
        at.run()
        layout = live_chart_args(at)["figure"]["layout"]
        assert [a["text"] for a in layout["annotations"]] == ["lr 0.01"]
        assert len(layout["shapes"]) == 2
        click(at, "Pause")
        at_step = held(job)
        at.run()
        click(at, "One step")
        assert job.snapshot().step == at_step + 1
        assert any(c.value.startswith(f":material/redo: One step (step {at_step + 1:,})")
                   for c in at.caption)
    finally:
        job.stop()
        job.join(30)
    at.run()
    assert not at.exception
    assert len(at.get("image")) == 2  # the last view stays after the training


def test_framed_centres_an_image_in_a_white_square_of_square_pixels():
    crop = np.zeros((24, 12), dtype=np.float32)  # a tall crop of ink, as "crop to ink" gives
    crop[0, 0] = 0.5
    box = framed(crop, pixels=112)
    # margin 24 // 12 = 2 around a 24-pixel side: 28 pixels, each 4 x 4 (112 / 28)
    assert box.shape == (112, 112)
    assert (box[:8] == 1).all() and (box[:, :8 + 6 * 4] == 1).all()  # white margins
    assert (box[8:12, 32:36] == 0.5).all()  # the crop's first pixel, as one 4 x 4 block
    assert framed(np.zeros((280, 280)), pixels=112).shape == (326, 326)  # never shrunk
