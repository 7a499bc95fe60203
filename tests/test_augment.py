"""Data augmentation: deterministic batches, kept shapes, changed images, and thick pens."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import ROOT

from cnn_core.data.augment import augment, augment_none, preview_grid
from cnn_core.data.preprocess import canvas_to_mnist, digit_to_canvas
from cnn_core.design.presets import LENET5, SMALL_FAST
from cnn_core.training.evaluate import predict_logits
from cnn_core.training.trainer import TrainConfig, prepare, train_steps


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_the_same_seed_gives_the_same_batches(bundled):
    digits = bundled.train_images[:64]
    first = augment(digits, seeded(3)), augment(digits, seeded(3))
    assert torch.equal(*first)
    generator = seeded(3)
    again = [augment(digits, generator) for _ in range(2)]
    assert torch.equal(again[0], first[0])  # a fresh generator replays the same batches
    assert not torch.equal(again[0], again[1])  # and the next batch is redrawn differently
    assert not torch.equal(first[0], augment(digits, seeded(4)))


@pytest.mark.parametrize("shape", [(64, 28, 28), (5, 1, 28, 28), (1, 28, 28)])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_shapes_and_dtypes_are_kept(bundled, shape, dtype):
    digits = bundled.train_images[:shape[0]].reshape(shape)
    if dtype == torch.float32:
        digits = digits.float() / 255
    out = augment(digits, seeded(0))
    assert out.shape == (shape[0], 1, 28, 28) and out.dtype == torch.float32
    assert out.device == digits.device


def test_digits_change_but_stay_digits_in_range(bundled):
    digits = bundled.train_images[:512]
    plain = augment_none(digits)
    out = augment(digits, seeded(0))
    assert out.min() >= 0 and out.max() <= 1
    changed = (out - plain).abs().flatten(1).max(dim=1).values > 0.2
    assert changed.float().mean() > 0.95  # nearly every digit is redrawn
    ink, ink_before = out.flatten(1).sum(1), plain.flatten(1).sum(1)
    assert (out.flatten(1).max(1).values > 0.5).all()  # none vanished
    # 5x5 dilation of a 1-pixel stroke, scaled 1.15x: up to about 6.6 times the ink
    assert (ink / ink_before).min() > 0.3 and (ink / ink_before).max() < 8
    # The digit stays in the frame: the outer 2-pixel border holds at most a sliver of ink.
    border = out.clone()
    border[..., 2:-2, 2:-2] = 0
    on_border = border.flatten(1).sum(1) / ink
    assert on_border.mean() < 0.02 and on_border.max() < 0.2


def test_thicker_and_thinner_strokes_both_occur(bundled):
    digits = bundled.train_images[:512]
    ink_ratio = augment(digits, seeded(1)).flatten(1).sum(1) / augment_none(digits).flatten(
        1).sum(1)
    assert (ink_ratio < 0.8).sum() > 20 and (ink_ratio > 1.8).sum() > 20


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_on_the_gpu_the_batches_are_made_there(bundled):
    digits = bundled.train_images[:64].cuda()
    out = augment(digits, torch.Generator(device="cuda").manual_seed(0))
    assert out.device.type == "cuda"
    again = augment(digits, torch.Generator(device="cuda").manual_seed(0))
    assert torch.equal(out, again)


def test_preview_grid(bundled):
    grid = preview_grid(bundled.train_images[:8], seed=0, variants=3)
    assert grid.shape == (4 * 30 - 2, 8 * 30 - 2)
    assert np.array_equal(grid[:28, :28], bundled.train_images[0].numpy() / np.float32(255))
    assert not np.array_equal(grid[30:58, :28], grid[:28, :28])
    assert np.array_equal(grid, preview_grid(bundled.train_images[:8], seed=0, variants=3))


# ---- in the training loop ------------------------------------------------------------------
def losses(splits, cfg: TrainConfig, spec=SMALL_FAST, n: int = 512) -> list[float]:
    model, optimizer = prepare(spec, cfg, torch.device("cpu"))
    return [step.loss.item() for step in train_steps(
        model, optimizer, splits.train_images[:n], splits.train_labels[:n], cfg)]


def test_the_loop_trains_on_augmented_batches_reproducibly(bundled):
    on = TrainConfig(epochs=1, augment=True)
    with_augment = losses(bundled, on)
    assert with_augment == losses(bundled, on)  # same seed, same curve
    assert with_augment != losses(bundled, TrainConfig(epochs=1))
    assert all(np.isfinite(with_augment))


def test_the_setting_is_checked_and_described():
    assert TrainConfig(augment=True).describe().endswith("seed 0, augmented")
    assert "augment" not in TrainConfig().describe()
    assert TrainConfig(augment="yes").check() == ["augment must be true or false (got 'yes')"]


def test_the_setting_is_recorded_with_the_run(bundled):
    from cnn_core.runs.recording import run_start

    for augmented in (False, True):
        start = run_start(SMALL_FAST, bundled, TrainConfig(augment=augmented), "cpu", "a run",
                          "train page")
        assert start.settings["augment"] is augmented


@pytest.mark.slow
def test_cli_augment_is_recorded():
    result = subprocess.run([sys.executable, "-m", "cnn_core", "train", "--preset", "small",
                             "--epochs", "1", "--device", "cpu", "--augment"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    # the small preset's recipe fills what the command line left unsaid
    assert result.stdout.splitlines()[-1] == ("settings: 1 epoch, batch 32, Adam, one-cycle "
                                              "learning rate up to 0.008, seed 0, augmented")


# ---- the point of it: a thick pen --------------------------------------------------------
EPOCHS = 2
THICKEN = 9  # at 100 pixels a digit's ~9-pixel strokes grow by 9 each side: three times as thick


def redrawn(images: torch.Tensor, thicken: int) -> torch.Tensor:
    """Digits drawn on a canvas (strokes thickened) and prepared as the Draw page does."""
    return torch.stack([torch.from_numpy(np.round(canvas_to_mnist(digit_to_canvas(
        d.numpy(), size=140, digit_px=100, thicken=thicken)).image * 255).astype(np.uint8))
        for d in images])


@pytest.mark.slow
def test_augmentation_halves_what_a_thick_pen_costs(bundled):
    held_out = bundled.val_images[:1000]
    labels = bundled.val_labels[:1000]
    thin, thick = redrawn(held_out, 0), redrawn(held_out, THICKEN)
    lost = {}
    for augmented in (False, True):
        cfg = TrainConfig(epochs=EPOCHS, augment=augmented)
        model, optimizer = prepare(LENET5, cfg, torch.device("cpu"))
        for _ in train_steps(model, optimizer, bundled.train_images, bundled.train_labels, cfg):
            pass
        accuracy = [(predict_logits(model, x).argmax(1) == labels).float().mean().item()
                    for x in (thin, thick)]
        lost[augmented] = 100 * (accuracy[0] - accuracy[1])
        print(f"augment={augmented}: thin pen {accuracy[0]:.2%}, three times as thick "
              f"{accuracy[1]:.2%}, {lost[augmented]:.1f} points lost")
        assert accuracy[0] > 0.9
    assert lost[False] > 5  # the thick pen really hurts the plain network
    assert lost[True] <= lost[False] / 2


# ---- the Train page --------------------------------------------------------------------------
def test_train_page_previews_augmentation_and_records_it():
    from helpers import on_page, wait_data

    from cnn_core.data.augment import NOTE
    from ui.training_form import form_key

    at = on_page("pages/train.py")
    wait_data(at)
    assert not at.get("image") and NOTE not in [c.value for c in at.caption]
    at.checkbox(key=form_key("augment")).check().run()
    assert NOTE in [c.value for c in at.caption] and len(at.get("image")) == 1
    next(b for b in at.button if b.label == "Train").click().run()
    job = at.session_state["job"]
    try:
        assert job.config.augment
        assert any(c.value.startswith(":material/tune: This training:") and ", augmented." in
                   c.value for c in at.caption)
    finally:
        job.stop()
        job.join(30)
