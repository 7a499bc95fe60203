"""What a run gives to take away: its weights, its design (JSON), a PyTorch script that
rebuilds the net and loads those weights, and its metrics (CSV); and its model, rebuilt."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

from torch import nn

from cnn_core.design.codegen import pytorch_code
from cnn_core.design.parse import spec_from_dict
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.runs.records import RunRecord
from cnn_core.runs.store import RunStore
from cnn_core.runs.weights import load_weights

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
    if record.weights_note:
        return record.weights_note
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
    """Write the run's downloads into ``directory`` (created): all of them or none. Each is
    written into a temporary folder inside ``directory``, then linked into place, which fails
    rather than overwrite a file already there (``FileExistsError``, and nothing is left)."""
    files = downloads(store, run_id)  # every read first: a damaged run writes nothing
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".run-{run_id}-export-", dir=directory))
    placed: list[Path] = []
    try:
        for name, content in files.values():
            with open(staging / name, "xb") as f:
                f.write(content)
        for name, _ in files.values():
            _place(staging / name, directory / name)
            placed.append(directory / name)
    except BaseException:
        for path in placed:
            path.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return placed


def _place(source: Path, target: Path) -> None:
    """Move ``source`` to ``target`` unless something is there: a hard link (which refuses
    an existing target by itself), or where links are not supported, a checked rename."""
    try:
        os.link(source, target)
        return
    except FileExistsError:
        pass
    except OSError:
        if not os.path.lexists(target):
            os.rename(source, target)
            return
    raise FileExistsError(errno.EEXIST, "already exists", str(target))
