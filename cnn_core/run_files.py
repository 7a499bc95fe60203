"""What a run gives to take away: its weights, its design (JSON), a PyTorch script that
rebuilds the net and loads those weights, and its metrics (CSV); and its model, rebuilt."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from torch import nn

from cnn_core.codegen import pytorch_code
from cnn_core.runs import RunRecord, RunStore
from cnn_core.shapes import analyze
from cnn_core.spec import ArchitectureSpec, spec_from_dict
from cnn_core.weights import load_weights

METRICS_COLUMNS = ("epoch", "elapsed_s", "train_loss", "train_accuracy", "val_loss",
                   "val_accuracy", "test_accuracy")


class NoWeights(LookupError):
    """The run has no weights (it failed, is still training, or lost them to the cap)."""


def run_spec(record: RunRecord) -> ArchitectureSpec:
    return spec_from_dict(record.design)


def run_model(store: RunStore, run_id: int) -> nn.Module:
    """The run's network with its trained weights, in eval mode on the CPU."""
    record = store.get(run_id)
    data = store.weights(run_id)
    if data is None:
        raise NoWeights(f"run {run_id} has no weights: {_why_no_weights(record)}")
    return load_weights(run_spec(record), data, f"run-{run_id}.safetensors")


def _why_no_weights(record: RunRecord) -> str:
    if record.status == "running":
        return "it is still training"
    if record.status in ("failed", "interrupted"):
        return f"it {record.status}"
    return "they were removed to keep the runs folder under its size limit (pin a run to keep them)"


def file_names(run_id: int) -> dict[str, str]:
    """The names of the four downloads, by kind."""
    stem = f"run-{run_id}"
    return {"weights": f"{stem}.safetensors", "design": f"{stem}-design.json",
            "script": f"{stem}.py", "metrics": f"{stem}-metrics.csv"}


def design_json(record: RunRecord) -> str:
    return json.dumps(record.design, indent=2) + "\n"


def script(record: RunRecord) -> str:
    """A self-contained script: the net as code, loading ``run-ID.safetensors`` next to it."""
    name = f"{record.name} (run {record.id})"
    return pytorch_code(analyze(run_spec(record)), name, file_names(record.id)["weights"])


def metrics_csv(record: RunRecord) -> str:
    """One row per epoch; the test accuracy is on the last row (a finished run's)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(METRICS_COLUMNS)
    for i, epoch in enumerate(record.epochs):
        last = i == len(record.epochs) - 1
        row = [epoch.get(column) for column in METRICS_COLUMNS[:-1]]
        row.append(record.test_accuracy if last and record.test_accuracy is not None else None)
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


def downloads(store: RunStore, run_id: int) -> dict[str, tuple[str, bytes]]:
    """Each download by kind: (file name, content). Without weights, no "weights" entry."""
    record = store.get(run_id)
    names = file_names(run_id)
    files = {"design": (names["design"], design_json(record).encode()),
             "script": (names["script"], script(record).encode()),
             "metrics": (names["metrics"], metrics_csv(record).encode())}
    weights = store.weights(run_id)
    if weights is not None:
        files = {"weights": (names["weights"], weights), **files}
    return files


def export_run(store: RunStore, run_id: int, directory: Path) -> list[Path]:
    """Write the run's downloads into ``directory`` (created); the paths written. Refuses to
    overwrite a file that is already there."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in downloads(store, run_id).values():
        path = directory / name
        with open(path, "xb") as f:
            f.write(content)
        written.append(path)
    return written
