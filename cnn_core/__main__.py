"""Command line.

``python -m cnn_core summary ARCH.json [--json]`` prints the per-layer table of a design (or
JSON). ``python -m cnn_core train (ARCH.json | --preset NAME) [--device cuda] ...`` trains it
on MNIST with the app's trainer and prints each epoch and the test accuracy (the same code the
Train page runs, for scripts and for trying a GPU machine); started by ``torchrun``, it trains
one model on all of torchrun's processes (``training.distributed``). An invalid design or
setting, or a design that cannot train on the data (``training.trainable``), exits with status
2 and one line on stderr naming the problem, before any data or torch is loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cnn_core.data.datasets import DATASETS
from cnn_core.design.formatting import format_shape, summary_rows
from cnn_core.design.parse import MAX_TEXT_BYTES, SpecFormatError, spec_from_json_text
from cnn_core.design.presets import PRESET_TABLE, preset_by_slug
from cnn_core.design.report import NetworkReport
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.runs.cli import OneLineParser, add_runs_dir, add_runs_parser, runs_command
from cnn_core.runs.records import StoreError
from cnn_core.training.admission import NotAdmitted, TrainingRequest, Way, admit
from cnn_core.training.devices import DEVICE_CHOICES
from cnn_core.training.settings import (
    DEFAULT_OPTIMIZER,
    DEFAULT_SCHEDULE,
    OPTIMIZERS,
    RECIPE_FIELDS,
    SCHEDULES,
    SETTINGS,
    recipe,
)

TRAIN_DATASET = DATASETS["mnist"]  # what `train` trains on (MnistStore's default)


def summary_table(report: NetworkReport) -> str:
    """The per-layer table (``shapes.summary_rows``) as aligned plain text."""
    rows = [("#", "layer", "settings", "output", "params", "MACs", "receptive field")]
    rows += [(str(r.index), r.layer, r.settings, r.output, f"{r.params:,}", f"{r.macs:,}",
              r.receptive_field) for r in summary_rows(report)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i < 4 or i == 6 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
             for row in rows]
    rule = "-" * max(len(line) for line in lines)
    lines.insert(1, rule)
    lines.append(rule)
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


def train(spec: ArchitectureSpec, args: argparse.Namespace, name: str) -> int:
    """Train with the app's trainer, printing each epoch as it ends; 0 when it finished."""
    from cnn_core.data.dataset_store import MnistStore
    from cnn_core.runs.recording import Recorder, open_store
    from cnn_core.training import distributed
    from cnn_core.training.distributed import Launch
    from cnn_core.training.job import TrainingJob
    from cnn_core.training.trainer import TrainConfig

    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                         optimizer=args.optimizer, learning_rate=args.learning_rate,
                         seed=args.seed, schedule=args.schedule,
                         stop_at_accuracy=args.stop_at_accuracy,
                         device=args.device, augment=args.augment)
    launch = Launch.from_env()
    if launch is not None:  # started by torchrun: one training on several processes
        return distributed.train(spec, config, launch)
    try:  # settings first: a typo should not wait for MNIST to load
        config.resolved_device()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    runs, problem = open_store(args.runs_dir)
    recorder = Recorder(runs, problem, source="cli")
    store = MnistStore(dataset=TRAIN_DATASET.key)
    splits = store.wait()
    try:
        job = TrainingJob(spec, splits, config, name=name, recorder=recorder, way=Way.CLI)
    except NotAdmitted as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    why = f" (reason: {store.offline_reason})" if store.offline_reason else ""
    print(f"data: {job.splits.description}{why}", flush=True)
    job.start()
    printed, told = 0, False
    over = False
    while not over:
        job.heartbeat()
        job.join(0.5)
        over = not job.running_thread  # read before the snapshot, so it holds every epoch
        snap = job.snapshot()
        if snap.notice and not told:
            print(f"note: {snap.notice}", flush=True)
            told = True
        for e in snap.epochs_done[printed:]:
            print(f"epoch {e.epoch}/{snap.epochs}: train loss {e.train_loss:.4f} "
                  f"accuracy {e.train_accuracy:.2%} | validation loss {e.val_loss:.4f} "
                  f"accuracy {e.val_accuracy:.2%}", flush=True)
        printed = len(snap.epochs_done)
    print(f"{snap.state}: {snap.message} ({snap.elapsed_s:.1f} s, "
          f"{snap.images_per_second:,.0f} images/s on {snap.device})")
    if recorder.problem:  # the training ran all the same; say once why it is not kept
        print(f"note: {recorder.problem}", file=sys.stderr)
    elif recorder.run_id is not None:
        try:  # e.g. weights over one run's share of the cap
            note = runs.get_summary(recorder.run_id).weights_note
        except StoreError:
            note = ""
        print(f"recorded as run {recorder.run_id} in {runs.root}"
              + (f" (no weights: {note})" if note else ""))
    print(f"settings: {config.describe()}")
    return 0 if snap.state == "finished" else 1


def read_spec(path: str) -> ArchitectureSpec | str:
    """The design in a JSON file ('-': standard input), or the one-line error to print."""
    try:  # bytes, and no more than the parser takes: it refuses a longer file by its length
        if path == "-":
            data = sys.stdin.buffer.read(MAX_TEXT_BYTES + 1)
        else:
            with Path(path).open("rb") as file:
                data = file.read(MAX_TEXT_BYTES + 1)
        spec = spec_from_json_text(data)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    except SpecFormatError as exc:
        return str(exc)
    return spec


def default_help(default: str, in_recipe: bool) -> str:
    """``default 3``, or for a setting a preset's recipe may set, that it does."""
    return f"default {default}" + ("; a --preset's own recipe where it has one" if in_recipe
                                   else "")


def build_parser() -> argparse.ArgumentParser:
    """The command line's options; the training settings' defaults and ranges come from
    ``cnn_core.training.settings``, as the Train page's do."""
    parser = OneLineParser(prog="python -m cnn_core",
                                     description="Inspect and train CNN designs written as JSON.")
    sub = parser.add_subparsers(dest="command", required=True)
    summary = sub.add_parser("summary", help="print the per-layer shape table")
    summary.add_argument("path", help="design JSON file ('-' for standard input)")
    summary.add_argument("--json", action="store_true", help="print JSON instead of a table")
    trainer = sub.add_parser("train", help="train a design on MNIST and print its accuracy")
    design = trainer.add_mutually_exclusive_group(required=True)
    design.add_argument("path", nargs="?", help="design JSON file ('-' for standard input)")
    design.add_argument("--preset", choices=sorted(p.slug for p in PRESET_TABLE),
                        help="a built-in design")
    for flag, name, kind, what, more in (
            ("--epochs", "epochs", int, "epochs", ""),
            ("--batch-size", "batch_size", int, "batch size", ""),
            ("--lr", "learning_rate", float, "learning rate", "; with one-cycle, its peak"),
            ("--seed", "seed", int, "seed", ""),
            ("--stop-at-accuracy", "stop_at_accuracy", float, "stop at accuracy",
             ": end once validation accuracy reaches this many percent (checked after each "
             "epoch; 0: off)")):
        setting = SETTINGS[name]
        in_recipe = name in RECIPE_FIELDS  # left unsaid: the preset's recipe fills it in
        trainer.add_argument(flag, dest=name, type=kind,
                             default=None if in_recipe else kind(setting.default),
                             help=f"{what}, {setting.describe_range()} "
                                  f"({default_help(f'{setting.default:g}', in_recipe)}){more}")
    trainer.add_argument("--optimizer", choices=OPTIMIZERS, default=None,
                         help=f"({default_help(DEFAULT_OPTIMIZER, True)})")
    trainer.add_argument("--schedule", choices=SCHEDULES, default=None,
                         help="the learning rate: constant, or one-cycle (up to --lr and back "
                              f"down over the training) ({default_help(DEFAULT_SCHEDULE, True)})")
    trainer.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    add_runs_dir(trainer)
    add_runs_parser(sub)
    trainer.add_argument("--augment", action="store_true",
                         help="redraw each batch at random (shift, rotation, scale, stroke)")
    return parser


def fill_from_recipe(args: argparse.Namespace, spec: ArchitectureSpec) -> None:
    """The settings the command line left unsaid, from the design's recipe (a preset's
    quickest measured settings, else the defaults), as the Train page starts from it."""
    for name, value in recipe(spec).items():
        if getattr(args, name) is None:
            setattr(args, name, value)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # a mistake (one line printed, status 2) or --help (0)
        return exc.code if isinstance(exc.code, int) else 2
    if args.command == "runs":
        return runs_command(args)
    preset = getattr(args, "preset", None)
    spec = preset_by_slug(preset).spec if preset else read_spec(args.path)
    if isinstance(spec, str):
        print(f"error: {spec}", file=sys.stderr)
        return 2
    report = analyze(spec)
    if not report.ok:
        print(f"error: {report.errors[0]}", file=sys.stderr)
        return 2
    if args.command == "train":
        fill_from_recipe(args, spec)
        # What can be known before torch and the digits load: the design fits the digits, and
        # its memory; the training's own admission, with the digits loaded, checks the time.
        if refused := admit(TrainingRequest(Way.CLI, report, args.batch_size, args.optimizer,
                                            args.epochs, 0, TRAIN_DATASET)):
            print(f"error: {refused}", file=sys.stderr)
            return 2
        return train(spec, args, args.preset or Path(args.path).stem)
    print(json.dumps(summary_json(report), indent=2) if args.json else summary_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
