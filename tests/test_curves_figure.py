"""The Train page's curve figure (ui.curves_figure): a valid plotly figure before any training
and from a real training's snapshot, its axes, rounding and learning-rate marks."""

from __future__ import annotations

from dataclasses import replace

import plotly.graph_objects as go
import pytest

from cnn_core.design.presets import SMALL_FAST
from cnn_core.training.job import TrainingJob
from cnn_core.training.metrics import EpochPoint, StepPoint
from cnn_core.training.protocol import LrChange
from cnn_core.training.trainer import TrainConfig
from ui.curves_figure import curves_figure, loss_axis_top, rate_axis_top

NAMES = ["train loss, per step", "train loss, smoothed", "validation loss",
         "train accuracy, per step", "train accuracy, smoothed", "validation accuracy",
         "learning rate"]


def steps(losses: list[float]) -> list[StepPoint]:
    return [StepPoint(step=i + 1, epoch=(i + 1) / len(losses), loss=v, smoothed_loss=v,
                      accuracy=0.5, smoothed_accuracy=0.5, learning_rate=4e-5 * (i + 1))
            for i, v in enumerate(losses)]


def test_before_any_training_the_axes_and_legend_are_there():
    figure = curves_figure((), (), epochs=3)
    checked = go.Figure(figure)  # plotly raises on anything it does not know
    assert [t.name for t in checked.data] == NAMES
    assert all(list(t.x) == [None] and list(t.y) == [None] for t in checked.data)  # in legend
    assert [t.uid for t in checked.data][:2] == ["train-loss-per-step", "train-loss-smoothed"]
    layout = figure["layout"]
    assert layout["xaxis"]["range"] == layout["xaxis2"]["range"] == [0, 3]
    assert layout["yaxis"]["range"] == [0, 3.0] and layout["yaxis2"]["range"] == [0, 1.0]
    assert "shapes" not in layout and "annotations" not in layout


def test_the_loss_axis_ends_at_the_next_half_above_the_highest_loss():
    assert loss_axis_top(steps([0.1, 0.2])) == 0.5
    assert loss_axis_top(steps([2.3, 1.0])) == 2.5
    assert loss_axis_top(steps([2.4])) == 3.0  # 5% headroom: 2.52 goes past 2.5
    assert loss_axis_top(steps([9.7])) == 10.5
    assert loss_axis_top(steps([0.1]), step=1.0) == 1.0


def test_points_are_rounded_and_each_trace_on_its_own_axis():
    points = steps([2.123456789, 1.0])
    epochs = [EpochPoint(epoch=1, train_loss=1.5, train_accuracy=0.6, val_loss=1.23456789,
                         val_accuracy=0.7)]
    figure = curves_figure(points, epochs, epochs=2)
    per_step, _, validation, accuracy, *_ = figure["data"]
    assert per_step["x"] == [0.5, 1.0] and per_step["y"] == [2.1235, 1.0]
    assert validation["x"] == [1] and validation["y"] == [1.2346]
    assert validation["mode"] == "lines+markers"
    assert (per_step["xaxis"], per_step["yaxis"]) == ("x", "y")
    assert (accuracy["xaxis"], accuracy["yaxis"]) == ("x2", "y2")
    assert figure["layout"]["yaxis"]["range"] == [0, 2.5]
    rate = figure["data"][-1]  # three significant digits: 4e-05 would round to 0 at four places
    assert rate["y"] == [4e-05, 8e-05] and rate["yaxis"] == "y3"
    assert figure["layout"]["yaxis3"]["range"] == [0, pytest.approx(1e-4)]  # 8.8e-05, rounded up


def test_the_rate_axis_moves_a_few_times_through_a_one_cycle_warm_up():
    # OneCycleLR from a 25th of the peak up to it: the axis must not follow every step, or
    # each live update would be a Plotly redraw instead of the chart's own line move.
    peak, count = 0.008, 300
    rates = [peak / 25 + (peak - peak / 25) * i / (count - 1) for i in range(count)]
    tops = [rate_axis_top([StepPoint(i + 1, i / count, 1.0, 1.0, 0.5, 0.5, r)])
            for i, r in enumerate(rates)]
    assert all(top >= 1.1 * r for top, r in zip(tops, rates, strict=True))
    assert len(set(tops)) <= 5 and tops[-1] == pytest.approx(0.01)
    # with the peak known from the start (the Train page passes the rate set), not once
    planned = [rate_axis_top([StepPoint(1, 0.0, 1.0, 1.0, 0.5, 0.5, r)], planned=peak)
               for r in rates]
    assert all(top == pytest.approx(0.01) for top in planned)
    assert rate_axis_top([]) == pytest.approx(0.002)  # before the first step: 1.1 x 0.001


def test_a_learning_rate_change_is_marked_on_both_charts():
    changes = [LrChange(step=5, epoch=0.5, learning_rate=0.01),
               LrChange(step=9, epoch=0.9, learning_rate=1e-4)]
    layout = curves_figure(steps([1.0, 0.9]), (), epochs=1, lr_changes=changes)["layout"]
    go.Figure({"data": [], "layout": layout})
    assert [(s["x0"], s["xref"]) for s in layout["shapes"]] == [
        (0.5, "x"), (0.5, "x2"), (0.9, "x"), (0.9, "x2")]
    assert [a["text"] for a in layout["annotations"]] == ["lr 0.01", "lr 0.0001"]


@pytest.mark.slow
def test_a_real_trainings_snapshot_makes_a_valid_figure(bundled):
    splits = replace(bundled, train_images=bundled.train_images[:256],
                     train_labels=bundled.train_labels[:256])
    job = TrainingJob(SMALL_FAST, splits, TrainConfig(epochs=2, batch_size=32, device="cpu"),
                      name="curves")
    job.start()
    job.join()
    snap = job.snapshot()
    assert snap.state == "finished", snap.message
    checked = go.Figure(curves_figure(snap.steps, snap.epochs_done, snap.epochs,
                                      snap.lr_changes))
    loss, _, validation, *_ = checked.data
    assert len(loss.x) == len(snap.steps) == 16  # 256 digits / 32 a batch, twice
    assert list(validation.x) == [1, 2]
    assert all(0 < v < checked.layout.yaxis.range[1] for v in loss.y)
