"""Command line: ``python -m cnn_core summary ARCH.json [--json]``.

Prints the per-layer table of a design (or JSON). An invalid design exits with status 2 and
one line on stderr naming the layer and the reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cnn_core.shapes import NetworkReport, analyze, format_settings, format_shape
from cnn_core.spec import SpecFormatError, spec_from_json_text


def summary_table(report: NetworkReport) -> str:
    """The per-layer table as aligned plain text."""
    rows = [("#", "layer", "settings", "output", "params", "MACs", "RF")]
    for r in report.layers:
        rf = "all" if r.receptive_field is None else "x".join(map(str, r.receptive_field))
        rows.append((str(r.index), r.type, format_settings(r), format_shape(r.output_shape),
                     f"{r.params:,}", f"{r.macs:,}", rf))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i < 4 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.append("-" * len(lines[0]))
    lines.append(f"input {format_shape(report.input_shape)}  ->  output "
                 f"{format_shape(report.output_shape)}")
    lines.append(f"total params {report.total_params:,}  total MACs {report.total_macs:,}  "
                 f"activations per image {report.activation_bytes / 1024:,.1f} KiB")
    lines.extend(f"warning: {w}" for w in report.training_warnings)
    return "\n".join(lines)


def summary_json(report: NetworkReport) -> dict:
    """The machine-readable summary (a stable, documented subset of the report)."""
    return {"layers": [{"type": r.type, "output_shape": list(r.output_shape or []),
                        "params": r.params, "macs": r.macs} for r in report.layers],
            "total_params": report.total_params, "total_macs": report.total_macs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnn_core",
                                     description="Inspect CNN designs written as JSON.")
    sub = parser.add_subparsers(dest="command", required=True)
    summary = sub.add_parser("summary", help="print the per-layer shape table")
    summary.add_argument("path", help="design JSON file ('-' for standard input)")
    summary.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    try:
        text = sys.stdin.read() if args.path == "-" else Path(args.path).read_text()
        spec = spec_from_json_text(text)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {args.path}: {getattr(exc, 'strerror', None) or exc}",
              file=sys.stderr)
        return 2
    except SpecFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = analyze(spec)
    if not report.ok:
        print(f"error: {report.errors[0]}", file=sys.stderr)
        return 2
    print(json.dumps(summary_json(report), indent=2) if args.json else summary_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
