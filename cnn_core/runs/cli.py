"""``python -m cnn_core runs list|show|export``: the run store from the command line.

``runs list [--json]`` prints the newest runs (``--sort``, ``--limit``, ``--page``), ``runs show
ID [--json]`` one run in full, ``runs export ID DIR`` writes its four downloads. Each takes
``--runs-dir`` (default ``$CNN_EXPLAINER_RUNS`` or ``runs/``). Problems (a mistyped id or
page, a folder that cannot be written, a damaged database) exit with status 2 and one line on
stderr, never a traceback: ``OneLineParser`` and ``whole_number`` hold that for every argument.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from cnn_core.runs.records import RunNotFound, RunRecord, RunSummary, StoreError
from cnn_core.runs.store import PAGE_SIZE, SORT_COLUMNS, RunStore
from cnn_core.storage.places import runs_dir
from cnn_core.storage.sqlite_db import MAX_INT

MAX_PAGE = 10**9  # times the largest page size, still within SQLite's 64-bit OFFSET
MAX_LIMIT = 1000
SHOWN_CHARS = 40  # of a refused argument, in its message


def one_line(text: str) -> str:
    """``text`` with every line break and control character escaped: one line on a terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shown(text: str) -> str:
    """A user's argument, quoted, escaped and cut short, for a message."""
    return repr(text[:SHOWN_CHARS]) + ("..." if len(text) > SHOWN_CHARS else "")


class OneLineParser(argparse.ArgumentParser):
    """argparse, with every mistake as one line on stderr and exit status 2 (no usage block)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {one_line(message)} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def whole_number(what: str, low: int, high: int) -> Callable[[str], int]:
    """An argument type: ASCII digits only (``int`` would take "٣" and "1_0"), from ``low``
    to ``high``; read in time linear in the text, refused before it becomes a large int."""
    def parse(text: str) -> int:
        digits = text.lstrip("0") or "0"
        if not (text.isascii() and text.isdigit()) or len(digits) > len(str(high)) or \
                not low <= int(digits) <= high:
            raise argparse.ArgumentTypeError(
                f"{what} must be a whole number from {low:,} to {high:,}, not {shown(text)}")
        return int(digits)
    parse.__name__ = what
    return parse


RUN_ID = whole_number("a run id", 1, MAX_INT)


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
    listing.add_argument("--limit", type=whole_number("the limit", 1, MAX_LIMIT),
                         default=PAGE_SIZE)
    listing.add_argument("--page", type=whole_number("the page", 1, MAX_PAGE), default=1)
    show = actions.add_parser("show", help="one run in full")
    show.add_argument("id", type=RUN_ID)
    show.add_argument("--json", action="store_true", help="print JSON")
    export = actions.add_parser("export", help="write a run's weights, design, script, metrics")
    export.add_argument("id", type=RUN_ID)
    export.add_argument("dir", type=Path)
    for parser in (listing, show, export):
        add_runs_dir(parser)


def runs_command(args: argparse.Namespace) -> int:
    try:
        print(_run(args))
    except (StoreError, RunNotFound) as exc:
        return _fail(exc.args[0] if exc.args else str(exc))
    except FileExistsError as exc:
        return _fail(f"{exc.filename} already exists; export to an empty folder")
    except OSError as exc:
        return _fail(f"cannot write {args.dir}: {exc.strerror or exc}")
    return 0


def _run(args: argparse.Namespace) -> str:
    """What the command prints; the store's errors and the file system's are the caller's."""
    store = RunStore(args.runs_dir or runs_dir())
    if args.runs_command == "list":
        runs = store.list_runs(args.sort, not args.ascending, limit=args.limit,
                               offset=(args.page - 1) * args.limit)
        return json.dumps([_public(r) for r in runs], indent=2) if args.json \
            else runs_table(runs, store.count())
    if args.runs_command == "show":
        record = store.get(args.id)
        return json.dumps(_public(record), indent=2) if args.json else describe(record)
    from cnn_core.runs.files import export_run  # imports torch: only where it is needed

    if args.dir.exists() and not args.dir.is_dir():
        raise StoreError(f"{args.dir} is not a folder; export to an empty folder")
    return "\n".join(str(path) for path in export_run(store, args.id, args.dir))


def _fail(message: str) -> int:
    print(f"error: {one_line(message)}", file=sys.stderr)
    return 2


def _public(run: RunSummary) -> dict:
    """A run as JSON, without the owner's hash."""
    data = asdict(run)
    data.pop("owner_hash")
    return data


def _time(stamp: float | None) -> str:
    try:
        return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M") if stamp else "-"
    except (OverflowError, OSError, ValueError):  # a time no clock can show (damaged row)
        return "-"


def _accuracy(value: float | None) -> str:
    return f"{value:.2%}" if value is not None else "-"


def runs_table(runs: list[RunSummary], total: int) -> str:
    rows = [("id", "started", "status", "design", "test acc", "params", "MACs", "time")]
    for r in runs:
        name = one_line(f"{r.name} · {r.label}" if r.label else r.name)
        rows.append((str(r.id), _time(r.started_at), r.status + " *" * r.pinned, name[:40],
                     _accuracy(r.test_accuracy), f"{r.params:,}", f"{r.macs:,}",
                     f"{r.duration_s:.0f} s" if r.duration_s is not None else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i < 4 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))) for row in rows]
    lines.append(f"{len(runs)} of {total:,} runs (* pinned)")
    return "\n".join(lines)


def describe(r: RunRecord) -> str:
    from cnn_core.data.mixing import describe_run_data

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
                 (", pinned" if r.pinned else "") +
                 (f" ({r.weights_note})" if r.weights_note and not r.has_weights else ""))
    return "\n".join(lines)
