"""Where the runs and the class set are kept on disk, and how much of it weights may take."""

from __future__ import annotations

import os
from pathlib import Path

RUNS_DIR_ENV = "CNN_EXPLAINER_RUNS"
MAX_MB_ENV = "CNN_EXPLAINER_RUNS_MAX_MB"
DEFAULT_RUNS_DIR = Path(__file__).resolve().parents[2] / "runs"
DEFAULT_MAX_MB = 200


def runs_dir() -> Path:
    """``$CNN_EXPLAINER_RUNS`` or ``runs/`` in the project."""
    return Path(os.environ.get(RUNS_DIR_ENV) or DEFAULT_RUNS_DIR)


def max_weights_bytes() -> int:
    """The weights cap: ``$CNN_EXPLAINER_RUNS_MAX_MB`` megabytes, 200 unless set."""
    raw = os.environ.get(MAX_MB_ENV, "")
    try:
        mb = float(raw) if raw else DEFAULT_MAX_MB
    except ValueError:
        mb = DEFAULT_MAX_MB
    return int(max(mb, 0) * 1_000_000)
