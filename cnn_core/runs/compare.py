"""Runs side by side, as plain data for the Runs page: curves, designs layer by layer (with
the differences marked) and the runs table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnn_core.design.formatting import format_settings, format_shape
from cnn_core.design.parse import spec_from_dict
from cnn_core.design.shapes import analyze
from cnn_core.runs.records import RunRecord, RunSummary

MIN_COMPARED, MAX_COMPARED = 2, 5


def run_label(run: RunSummary) -> str:
    """``#12 LeNet-5 · ada``: how a run is named in lists, legends and hovers."""
    return f"#{run.id} {run.name}" + (f" · {run.label}" if run.label else "")


def table_rows(runs: list[RunSummary], owner_token: str | None,
               given: set[int] | frozenset[int] = frozenset()) -> list[dict[str, Any]]:
    """The runs table, one dict per run (the page shows it as a dataframe). ``given``: the
    runs this session asked for again and was given (``runs.shares``), "mine" as well;
    "shared": how many such requests a run answered (one row, however many)."""
    return [{"run": r.id, "design": r.name, "nickname": r.label,
             "status": r.status, "test accuracy": r.test_accuracy, "parameters": r.params,
             "MACs": r.macs, "seconds": r.duration_s, "device": r.device,
             "mine": r.owned_by(owner_token) or r.id in given, "shared": r.shared,
             "pinned": r.pinned, "weights": r.has_weights} for r in runs]


def curve_rows(records: list[RunRecord]) -> list[dict[str, Any]]:
    """Validation accuracy and loss per epoch of each run (long format, for plotly)."""
    return [{"run": run_label(r), "epoch": e.get("epoch"), "seconds": e.get("elapsed_s"),
             "validation accuracy": e.get("val_accuracy"), "validation loss": e.get("val_loss")}
            for r in records for e in r.epochs]


@dataclass(frozen=True)
class DesignDiff:
    """Designs layer by layer: ``rows[i][j]`` describes layer i+1 of run j ("" past its end);
    ``differs[i]`` marks the layers that are not the same in every run."""

    labels: list[str]
    rows: list[list[str]]
    differs: list[bool]


def describe_layers(design: dict[str, Any]) -> list[tuple[str, str]]:
    """(``conv2d 32, k5, s1, p2``, `` → 32x28x28``) for each layer of a stored design."""
    report = analyze(spec_from_dict(design))
    return [(" ".join(filter(None, (r.type, format_settings(r)))),
             f" → {format_shape(r.output_shape)}" if r.output_shape else "")
            for r in report.layers]


def design_diff(records: list[RunRecord]) -> DesignDiff:
    """A layer differs when its type or settings do; shapes are shown, not compared (one
    wider layer early on changes every shape after it)."""
    layers = [describe_layers(r.design) for r in records]
    depth = max((len(x) for x in layers), default=0)
    cells = [[x[i] if i < len(x) else ("", "") for x in layers] for i in range(depth)]
    return DesignDiff([run_label(r) for r in records],
                      [[layer + shape for layer, shape in row] for row in cells],
                      [len({layer for layer, _ in row}) > 1 for row in cells])
