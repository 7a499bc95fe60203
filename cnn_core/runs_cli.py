"""``python -m cnn_core runs list|show|export``: the run store from the command line.

``runs list [--json]`` prints the newest runs (``--sort``, ``--limit``, ``--page``), ``runs show
ID [--json]`` one run in full, ``runs export ID DIR`` writes its four downloads. Each takes
``--runs-dir`` (default ``$CNN_EXPLAINER_RUNS`` or ``runs/``). Problems exit with status 2 and
one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from cnn_core.runs import (
    PAGE_SIZE,
    SORT_COLUMNS,
    RunNotFound,
    RunRecord,
    RunStore,
    RunSummary,
    StoreError,
    runs_dir,
)


def add_runs_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", type=Path, default=None,
                        help="where runs are kept (default: $CNN_EXPLAINER_RUNS or runs/)")


def add_runs_parser(sub: argparse._SubParsersAction) -> None:
    runs = sub.add_parser("runs", help="list, show and export recorded runs")
    actions = runs.add_subparsers(dest="runs_command", required=True)
    listing = actions.add_parser("list", help="the newest runs, one line each")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument("--sort", choices=sorted(SORT_COLUMNS), default="time")
    listing.add_argument("--ascending", action="store_true")
    listing.add_argument("--limit", type=int, default=PAGE_SIZE)
    listing.add_argument("--page", type=int, default=1)
    show = actions.add_parser("show", help="one run in full")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true", help="print JSON")
    export = actions.add_parser("export", help="write a run's weights, design, script, metrics")
    export.add_argument("id", type=int)
    export.add_argument("dir", type=Path)
    for parser in (listing, show, export):
        add_runs_dir(parser)


def runs_command(args: argparse.Namespace) -> int:
    from cnn_core.run_files import export_run  # imports torch: only where it is needed

    try:
        store = RunStore(args.runs_dir or runs_dir())
        if args.runs_command == "list":
            limit = max(1, min(args.limit, 1000))
            runs = store.list_runs(args.sort, not args.ascending, limit=limit,
                                   offset=(max(args.page, 1) - 1) * limit)
            print(json.dumps([_public(r) for r in runs], indent=2) if args.json
                  else runs_table(runs, store.count()))
        elif args.runs_command == "show":
            record = store.get(args.id)
            print(json.dumps(_public(record), indent=2) if args.json else describe(record))
        else:
            for path in export_run(store, args.id, args.dir):
                print(path)
    except (StoreError, RunNotFound) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except FileExistsError as exc:
        print(f"error: {exc.filename} already exists; export to an empty folder",
              file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {args.dir}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


def _public(run: RunSummary) -> dict:
    """A run as JSON, without the owner's hash."""
    data = asdict(run)
    data.pop("owner_hash")
    return data


def _time(stamp: float | None) -> str:
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M") if stamp else "-"


def _accuracy(value: float | None) -> str:
    return f"{value:.2%}" if value is not None else "-"


def runs_table(runs: list[RunSummary], total: int) -> str:
    rows = [("id", "started", "status", "design", "test acc", "params", "MACs", "time")]
    for r in runs:
        name = f"{r.name} · {r.label}" if r.label else r.name
        rows.append((str(r.id), _time(r.started_at), r.status + " *" * r.pinned, name[:40],
                     _accuracy(r.test_accuracy), f"{r.params:,}", f"{r.macs:,}",
                     f"{r.duration_s:.0f} s" if r.duration_s is not None else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i < 4 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))) for row in rows]
    lines.append(f"{len(runs)} of {total:,} runs (* pinned)")
    return "\n".join(lines)


def describe(r: RunRecord) -> str:
    from cnn_core.class_data import describe_run_data

    settings = ", ".join(f"{k} {v}" for k, v in r.settings.items() if k != "data")
    lines = [f"run {r.id}: {r.name}" + (f" · {r.label}" if r.label else ""),
             f"status: {r.status}" + (f" ({r.message})" if r.message else ""),
             f"started {_time(r.started_at)}, ended {_time(r.ended_at)}, by {r.source}",
             f"settings: {settings}, seed {r.seed}",
             f"data: {describe_run_data(r.settings, r.data_source)}; {r.train_size:,} train / "
             f"{r.val_size:,} validation / {r.test_size:,} test images; device {r.device}",
             f"{r.params:,} parameters, {r.macs:,} MACs per image",
             f"test accuracy {_accuracy(r.test_accuracy)}"
             + (f", {r.images_per_s:,.0f} images/s" if r.images_per_s else "")
             + (f", {r.duration_s:.1f} s" if r.duration_s is not None else "")]
    for e in r.epochs:
        lines.append(f"  epoch {e.get('epoch')}: validation accuracy "
                     f"{_accuracy(e.get('val_accuracy'))}, loss {e.get('val_loss') or 0:.4f}")
    lines.append("weights: " + ("kept" if r.has_weights else "none") +
                 (", pinned" if r.pinned else ""))
    return "\n".join(lines)
