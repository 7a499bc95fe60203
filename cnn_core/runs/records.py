"""A run as plain data (``RunStart`` in, ``RunSummary`` and ``RunRecord`` out), the store's
errors, and how a database row becomes a record: a row an edited or damaged database changed
is reported as damaged, never passed on half-read."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from cnn_core.runs.curves import rows
from cnn_core.storage.owners import owns

RunStatus = Literal["running", "finished", "stopped", "failed", "interrupted"]
STATUSES: tuple[str, ...] = ("running", "finished", "stopped", "failed", "interrupted")


class StoreError(RuntimeError):
    """The store cannot keep runs; the message says why in one sentence."""


class DamagedRun(StoreError):
    """A run's row cannot be read back (edited or damaged database); the message says which."""


class RunNotFound(LookupError):
    """No run has that id."""


class NotAllowed(PermissionError):
    """The caller may not change that run; the message says why."""


@dataclass(frozen=True)
class RunStart:
    """What is known when a training starts."""

    name: str  # the design's name, e.g. "LeNet-5 (edited)"
    design: dict[str, Any]  # ArchitectureSpec.to_json()
    settings: dict[str, Any]  # epochs, batch_size, optimizer, learning_rate, momentum, device
    seed: int
    data_source: str  # "full" (MNIST) or "bundled" (the shipped digits)
    train_size: int
    val_size: int
    test_size: int
    device: str
    params: int
    macs: int
    source: str = "cli"  # who started it: "train page", "quick model", "cli"
    label: str = ""  # a student's nickname
    owner_token: str | None = None  # the session's secret; only its hash is kept


@dataclass(frozen=True)
class RunSummary:
    """One row of the runs list (no curves, no weights)."""

    id: int
    started_at: float
    ended_at: float | None
    status: str
    message: str
    name: str
    label: str
    source: str
    device: str
    params: int
    macs: int
    images_per_s: float | None
    duration_s: float | None
    test_accuracy: float | None
    pinned: bool
    has_weights: bool
    owner_hash: str | None
    weights_note: str = ""  # why a run has no weights, when it lost or never kept them
    shared: int = 0  # how many times it was asked for again instead of trained again

    def owned_by(self, owner_token: str | None) -> bool:
        return owns(self.owner_hash, owner_token)


@dataclass(frozen=True)
class RunRecord(RunSummary):
    """A whole run: the summary plus design, settings, data and metrics."""

    design: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    data_source: str = ""
    train_size: int = 0
    val_size: int = 0
    test_size: int = 0
    epochs: list[dict[str, float]] = field(default_factory=list)
    steps: list[dict[str, float]] = field(default_factory=list)
    per_class_accuracy: list[float] | None = None
    confusion: list[list[int]] | None = None


# ---- rows back into records -----------------------------------------------------------------
SUMMARY_FIELDS = tuple(RunSummary.__dataclass_fields__)  # one column each, in order
OPTIONAL = (float, type(None))
SUMMARY_TYPES = (int, float, OPTIONAL, str, str, str, str, str, str, int, int, OPTIONAL,
                 OPTIONAL, OPTIONAL, int, int, (str, type(None)), str, int)
NUMBER = (int, float, type(None))
# What ``finish`` writes as metrics: each key's shape ("list of", "dict of" or a type).
METRICS_SHAPE = {"epochs": ("list", ("dict", NUMBER)), "steps": ("dict", ("list", NUMBER)),
                 "per_class_accuracy": ("list", NUMBER), "confusion": ("list", ("list", int))}


def summary_from_row(row: tuple[Any, ...]) -> RunSummary:
    """One row of the list (``SUMMARY_COLUMNS``); a row whose values have the wrong types (an
    edited or damaged database) is listed as "damaged" instead of failing the whole list."""
    values = list(row[:len(SUMMARY_FIELDS) + 1])
    design_ok = values.pop()
    for i, kind in enumerate(SUMMARY_TYPES):  # SQLite keeps 1.0 as 1 in a REAL column
        if float in (kind if isinstance(kind, tuple) else (kind,)) and type(values[i]) is int:
            values[i] = float(values[i])
    bad = [name for name, value, kind in zip(SUMMARY_FIELDS, values, SUMMARY_TYPES)
           if not isinstance(value, kind)]
    if bad or design_ok != 1:
        why = (f"its {', '.join(bad)} {'are' if len(bad) > 1 else 'is'} not what this app "
               "writes" if bad else "its design is missing" if design_ok is None
               else "its design is not JSON")
        return RunSummary(values[0], 0.0, None, "damaged", why, str(values[5])[:80], "", "",
                          "", 0, 0, None, None, None, False, False, None)
    values[14], values[15] = bool(values[14]), bool(values[15])
    return RunSummary(*values)


def record_from_row(run_id: int, row: tuple[Any, ...]) -> RunRecord:
    """The whole run from ``SUMMARY_COLUMNS`` then ``DETAIL_COLUMNS``; ``DamagedRun`` when
    the row cannot be read back as one."""
    summary = summary_from_row(row)
    design, settings, seed, data_source, train, val, test, metrics = \
        row[len(SUMMARY_FIELDS) + 1:]  # + json_valid
    if summary.status == "damaged":
        raise DamagedRun(f"run {summary.id} is damaged in the runs database: "
                         f"{summary.message}")
    design_dict, settings_dict, m = (_json_object(run_id, what, text) for what, text in
                                     (("design", design), ("settings", settings),
                                      ("metrics", metrics)))
    _check_design(run_id, design_dict)
    data = settings_dict.get("data", {})
    if not _shaped(m, METRICS_SHAPE) or not isinstance(data, dict) or \
            not all(isinstance(v, str) for v in data.values()):
        raise DamagedRun(f"run {run_id} is damaged in the runs database: its settings or "
                         "metrics are not what this app writes")
    try:
        return RunRecord(*summary.__dict__.values(), design=design_dict,
                         settings=settings_dict, seed=int(seed), data_source=str(data_source),
                         train_size=int(train), val_size=int(val), test_size=int(test),
                         epochs=list(m.get("epochs") or []),
                         steps=rows(dict(m.get("steps") or {})),
                         per_class_accuracy=m.get("per_class_accuracy"),
                         confusion=m.get("confusion"))
    except (TypeError, ValueError, AttributeError):
        raise DamagedRun(f"run {run_id} is damaged in the runs database: its settings or "
                         "metrics are not what this app writes") from None


def _json_object(run_id: int, what: str, text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise DamagedRun(f"run {run_id} is damaged in the runs database: its {what} is not a "
                         "JSON object")
    return value


def _shaped(value: Any, shape: Any) -> bool:
    """Whether decoded JSON has ``shape`` (a missing or null metric is fine)."""
    if isinstance(shape, dict):
        return isinstance(value, dict) and all(
            value.get(k) is None or _shaped(value[k], s) for k, s in shape.items())
    if isinstance(shape, tuple) and shape and shape[0] in ("list", "dict"):
        kind, inner = shape
        items = value if kind == "list" else value.values() if isinstance(value, dict) else None
        return isinstance(value, list if kind == "list" else dict) and \
            all(_shaped(v, inner) for v in items)
    return isinstance(value, shape) and not isinstance(value, bool)


def _check_design(run_id: int, design: dict[str, Any]) -> None:
    from cnn_core.design.parse import SpecFormatError, spec_from_dict

    try:
        spec_from_dict(design)
    except SpecFormatError as exc:
        raise DamagedRun(f"run {run_id} is damaged in the runs database: its design is not one "
                         f"this app can read ({exc})") from None
