"""Estimates that match this server: each training measures its pace, the next estimate for
the same design uses it, and a training whose epochs will not fit its time limit says so early,
with the epochs that fit, and ends at an epoch's end rather than halfway through one."""

from __future__ import annotations

import re
import time

import pytest
from digits import first_digits

from cnn_core.design.presets import LENET5, SMALL_FAST
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.design.spec import layer as L
from cnn_core.training import budget
from cnn_core.training.admission import TrainingRequest, Way, admit
from cnn_core.training.calibration import PACES, PaceBook, PaceMeter, design_key
from cnn_core.training.job import TrainingJob
from cnn_core.training.limits import next_epoch_wont_fit
from cnn_core.training.settings import recipe
from cnn_core.training.trainer import TrainConfig

# Deep and thin: almost no multiply-adds, so the arithmetic thinks it quick, yet each of its
# 64 layers costs every step its fixed overhead (measured here 6 times the arithmetic).
DEEP_THIN = ArchitectureSpec(tuple(x for _ in range(32) for x in (
    L("conv2d", out_channels=1, kernel_size=3, padding=1), L("relu"))) + (
    L("flatten"), L("linear", out_features=10)))
LIMITS = budget.Limits(memory_bytes=1 << 30, seconds=10, macs_per_s=1e10)


def test_a_measured_pace_replaces_the_arithmetic_for_that_design_only():
    report, other = analyze(LENET5), analyze(SMALL_FAST)
    arithmetic = budget.expected_seconds(report, 8000, 3, LIMITS, 64)
    assert arithmetic == budget.training_seconds(report, 8000, 3, 1e10, 64)
    PACES.record(report, 64, 0.05)
    assert budget.expected_seconds(report, 8000, 3, LIMITS, 64) == pytest.approx(3 * 125 * 0.05)
    assert budget.is_calibrated(report) and not budget.is_calibrated(other)
    assert budget.expected_seconds(other, 8000, 3, LIMITS, 64) == \
        budget.training_seconds(other, 8000, 3, 1e10, 64)
    # Another batch size: the arithmetic's ratio between the two carries the measured pace.
    ratio = budget.training_seconds(report, 8000, 3, 1e10, 128) / \
        budget.training_seconds(report, 64, 1, 1e10, 64)
    assert budget.expected_seconds(report, 8000, 3, LIMITS, 128) == pytest.approx(0.05 * ratio)
    why = budget.time_refusal(report, 8000, 3, LIMITS, 64)
    assert why == ("3 epochs over 8,000 digits would take about 19 s here (measured on this "
                   "server), over the 10 s one training may take on this server; 1 epoch "
                   "would fit")


def test_the_design_key_is_its_shape_and_the_book_forgets_the_oldest():
    assert design_key(analyze(LENET5)) == design_key(analyze(ArchitectureSpec(LENET5.layers)))
    assert design_key(analyze(LENET5)) != design_key(analyze(SMALL_FAST))
    book = PaceBook()
    meter = PaceMeter(analyze(LENET5), 64, book)
    meter.observe(1.0, 10, ends_epoch=False)  # too soon: the first steps' warm-up
    assert book.paces(analyze(LENET5)) == {}
    meter.observe(2.0, 40, ends_epoch=False)
    assert book.paces(analyze(LENET5)) == {64: 0.05}
    meter.observe(2.1, 41, ends_epoch=False)  # measured; again only at an epoch's end
    assert book.paces(analyze(LENET5)) == {64: 0.05}
    meter.observe(10.0, 125, ends_epoch=True)
    assert book.paces(analyze(LENET5)) == {64: 0.08}


def test_an_epoch_that_would_not_fit_is_not_started():
    assert next_epoch_wont_fit(4.0, 10.0, 2, 5) is None  # a third ends at 6 s
    said = next_epoch_wont_fit(8.0, 10.0, 2, 5)
    assert said == ("stopped at the time limit: one training may take 10 s on this server (it "
                    "trained 2 of 5 epochs; at its pace of 4 s an epoch, another would not "
                    "have fit)")
    assert next_epoch_wont_fit(8.0, 10.0, 5, 5) is None  # the last: nothing more to start


@pytest.mark.slow
def test_a_design_estimated_too_low_says_early_what_fits_and_the_next_estimate_knows(
        monkeypatch, bundled):
    monkeypatch.setenv(budget.SECONDS_ENV, "4")
    monkeypatch.delenv(budget.RATE_ENV, raising=False)
    digits = first_digits(bundled, 2048, 200)  # 32 steps an epoch
    report = analyze(DEEP_THIN)
    limits = budget.Limits.from_env()
    epochs = int(0.8 * limits.seconds / budget.training_seconds(report, 2048, 1,
                                                                limits.macs_per_s, 64))
    request = TrainingRequest(Way.SCRIPT, report, 64, "adam", epochs, 2048, digits.info)
    assert admit(request) is None  # the arithmetic: it fits the 4 s
    job = TrainingJob(DEEP_THIN, digits, TrainConfig(epochs=epochs, batch_size=64))
    job.start()
    try:
        assert job.wait_until_started(60)
        started = time.monotonic()
        while not job.snapshot().notice and job.running_thread:
            time.sleep(0.02)
        seen_after = time.monotonic() - started
        snap = job.snapshot()
        job.join(120)  # it runs on to its limit
    finally:
        job.stop()
        job.join(60)
    end = job.snapshot()
    # Said at the end of the first step past 1.5 s of training: within ~2 s and a step on a
    # quiet machine; the bound is generous (two steps and 2 s more) for a loaded one.
    per_step = seen_after / max(1, snap.step)
    assert seen_after <= 1.5 + 2 * per_step + 2.0, (seen_after, snap.step)
    said = re.fullmatch(rf"At this pace {epochs} epochs take about .+, over the 4 s limit: "
                        r"(about (\d+) epochs? will fit, and it stops there|it stops before "
                        r"the end of the first epoch)\.", snap.notice)
    assert said, snap.notice
    fits = int(said.group(2) or 0)
    assert fits < epochs
    print(f"said after {seen_after:.2f} s, at step {snap.step}: {snap.notice}")
    print(f"ended: {end.message}")
    assert end.state == "finished" and job.evaluation is not None
    done = len(end.epochs_done)
    if done:  # it ended at an epoch's end, not halfway through the next
        assert end.step == done * end.steps_per_epoch and done < epochs
        assert (f"(it trained {done} of {epochs} epochs; at its pace of " in end.message
                and "another would not have fit)" in end.message)
    else:  # so slow that not one epoch fits: cut off at the limit, as it said
        assert "stops before the end of the first epoch" in snap.notice
        assert "stopped at the time limit: one training may take 4 s" in end.message
    # The next estimate for this design is the pace it measured: refused, with what fits.
    refusal = admit(request)
    assert refusal is not None and "here (measured on this server), over the 4 s" in refusal
    advice = re.search(r"; (\d+) epochs? would fit$|not even one epoch fits", refusal)
    assert advice and int(advice.group(1) or 0) < epochs, refusal


def test_the_design_page_shows_the_pace_measured_here():
    from helpers import on_page

    at = on_page("pages/architecture.py")  # the small fast net, the first preset

    def note() -> str:
        return next(c.value for c in at.caption if "Limits for one training" in c.value)

    assert "as measured on this server" not in note()
    batch = recipe(SMALL_FAST)["batch_size"]  # what the page estimates: the design's recipe
    PACES.record(analyze(SMALL_FAST), batch, 0.01)
    at.run()
    steps = -(-budget.FULL_TRAIN_IMAGES // batch)
    epoch = budget.format_seconds(steps * 0.01)
    assert f"digits takes about {epoch} as measured on this server" in note()
