"""The Train page's curves as one plotly figure: loss and accuracy side by side, per step and
smoothed, validation per epoch, and a dotted line where the learning rate changed. A plain
dict, not a ``go.Figure``: ``ui.live_chart`` sends it to the browser as it is, twice a second."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only their fields are read: the figure needs no torch
    from cnn_core.training.metrics import EpochPoint, StepPoint
    from cnn_core.training.protocol import LrChange

GRID = "rgba(128, 128, 128, 0.2)"
LR_COLOR = "#9a6700"


def loss_axis_top(steps: Sequence[StepPoint], step: float = 0.5) -> float:
    """The loss axis ends at the next multiple of ``step`` above the highest loss plotted.
    A fixed range that changes only when the loss climbs past it lets the browser move just
    the lines on most updates instead of redrawing the axes."""
    highest = max((p.loss for p in steps), default=2.5)
    return max(step, math.ceil(highest * 1.05 / step) * step)


def rate_axis_top(steps: Sequence[StepPoint], planned: float = 0.0) -> float:
    """The learning-rate axis ends at the next 1, 2 or 5 times a power of ten above the
    highest rate, planned (a one-cycle's peak) or plotted: a range that followed a warm-up's
    rising rate would redraw the axes (a Plotly redraw) on every live update."""
    highest = 1.1 * max(planned, max((p.learning_rate for p in steps), default=0.001))
    power = 10.0 ** math.floor(math.log10(highest)) if highest > 0 else 0.001
    return next(m * power for m in (1, 2, 5, 10) if m * power >= highest)


def curves_figure(steps: Sequence[StepPoint], epochs_done: Sequence[EpochPoint],
           epochs: int, lr_changes: Sequence[LrChange] = (),
           planned_rate: float = 0.0) -> dict[str, Any]:
    """Loss and accuracy side by side, as a plain plotly dict (see ``live_chart`` for why);
    ``planned_rate``: the rate the training was set to (a one-cycle's peak)."""
    x = [p.epoch for p in steps]
    finished = [e.epoch for e in epochs_done]

    def trace(xs: list[float], y: list[float], name: str, axis: str, **style: Any
              ) -> dict[str, Any]:
        # Four decimals are more than a chart shows and keep each update's message small.
        # [None] before the first point: plotly leaves a trace with no points out of the
        # legend, and the legend tells a student what to watch for. A uid names the trace
        # in the browser, where live_chart redraws the lines of the live updates itself.
        return {"type": "scatter", "x": [round(v, 4) for v in xs] or [None],
                "y": [round(v, 4) for v in y] or [None], "name": name,
                "uid": name.replace(",", "").replace(" ", "-"),
                "xaxis": f"x{axis}", "yaxis": f"y{axis}", **style}

    def line(y: list[float], name: str, color: str, axis: str, **style: Any) -> dict[str, Any]:
        # simplify off: Plotly then draws every point, as live_chart's own redraws do
        return trace(x, y, name, axis, mode="lines",
                     line={"color": color, "simplify": False, **style})

    def per_epoch(y: list[float], name: str, color: str, axis: str) -> dict[str, Any]:
        return trace(finished, y, name, axis, mode="lines+markers", line={"color": color},
                     marker={"size": 8})

    data = [
        line([p.loss for p in steps], "train loss, per step", "#1f6feb", "",
             width=1, dash="dot"),
        line([p.smoothed_loss for p in steps], "train loss, smoothed", "#1f6feb", "",
             width=2.5),
        per_epoch([e.val_loss for e in epochs_done], "validation loss", "#d1242f", ""),
        line([p.accuracy for p in steps], "train accuracy, per step", "#1a7f37", "2",
             width=1, dash="dot"),
        line([p.smoothed_accuracy for p in steps], "train accuracy, smoothed",
             "#1a7f37", "2", width=2.5),
        per_epoch([e.val_accuracy for e in epochs_done], "validation accuracy",
                  "#8250df", "2"),
        # On its own scale, right of the loss chart; three significant digits, as a rate of
        # 0.00004 would round to 0 at the other lines' four decimals.
        {**line([], "learning rate", LR_COLOR, "", width=1.5), "yaxis": "y3",
         "x": [round(v, 4) for v in x] or [None],
         "y": [float(f"{p.learning_rate:.3g}") for p in steps] or [None]},
    ]
    epoch_axis = {"title": {"text": "epoch"}, "range": [0, epochs], "gridcolor": GRID,
                  "zeroline": False}
    layout = {
        "height": 360, "margin": {"l": 60, "r": 20, "t": 30, "b": 10},
        "xaxis": {**epoch_axis, "domain": [0, 0.45]},
        "yaxis": {"title": {"text": "loss"}, "range": [0, loss_axis_top(steps)],
                  "gridcolor": GRID},
        "xaxis2": {**epoch_axis, "domain": [0.55, 1], "anchor": "y2"},
        "yaxis2": {"title": {"text": "accuracy"}, "range": [0, 1.0], "tickformat": ".0%",
                   "anchor": "x2", "gridcolor": GRID},
        "yaxis3": {"title": {"text": "lr"}, "overlaying": "y", "side": "right",
                   "anchor": "x", "showgrid": False, "exponentformat": "e",
                   "range": [0, rate_axis_top(steps, planned_rate)]},
        "legend": {"orientation": "h", "y": -0.3},
        "hovermode": "x",
        "uirevision": "train",  # a zoom survives the updates
    }
    if lr_changes:  # a dotted line where the learning rate changed, on both charts
        layout["shapes"] = [{"type": "line", "xref": xref, "yref": f"{yref} domain",
                             "x0": c.epoch, "x1": c.epoch, "y0": 0, "y1": 1,
                             "line": {"color": LR_COLOR, "dash": "dot", "width": 1.5}}
                            for c in lr_changes for xref, yref in (("x", "y"), ("x2", "y2"))]
        layout["annotations"] = [{"x": c.epoch, "xref": "x", "y": 1, "yref": "y domain",
                                  "text": f"lr {c.learning_rate:g}", "showarrow": False,
                                  "xanchor": "left", "yanchor": "top",
                                  "font": {"size": 10, "color": LR_COLOR}}
                                 for c in lr_changes]
    return {"data": data, "layout": layout}

