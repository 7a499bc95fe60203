"""Where things are kept on disk: the runs and the class set (and how much of it weights may
take), and the full datasets."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
RUNS_DIR_ENV = "CNN_EXPLAINER_RUNS"
MAX_MB_ENV = "CNN_EXPLAINER_RUNS_MAX_MB"
DATA_DIR_ENV = "CNN_EXPLAINER_DATA"
DEFAULT_RUNS_DIR = PROJECT / "runs"
DEFAULT_DATA_DIR = PROJECT / "data"
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


def data_dir() -> Path:
    """Where the full datasets live: ``$CNN_EXPLAINER_DATA`` or ``data/`` in the project."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)
