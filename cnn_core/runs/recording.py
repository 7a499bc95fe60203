"""Record a training in the run store: what the trainer knows, turned into the store's plain
data. A store that fails never stops a training: ``Recorder.problem`` says, once, why runs are
not being kept."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.runs.records import RunStart, StoreError
from cnn_core.runs.store import RunStore

if TYPE_CHECKING:  # the sidebar opens the store before torch has loaded
    from torch import nn

    from cnn_core.data.mnist import MnistSplits

NOT_KEPT = "Runs are not being kept"
LOG = logging.getLogger("cnn_explainer")


def run_start(spec: ArchitectureSpec, splits: MnistSplits, config: Any, device: str,
              name: str, source: str, label: str = "", owner_token: str | None = None
              ) -> RunStart:
    """The store's record of a training that starts (``config``: a ``TrainConfig``)."""
    report = analyze(spec)
    settings = {k: v for k, v in asdict(config).items() if k != "seed"}
    # what it trained and was tested on: the dataset, and whether the class's drawings
    settings["data"] = {"dataset": splits.dataset, "train": splits.train_data,
                        "test": splits.test_data}
    return RunStart(name=name, design=spec.to_json(), settings=settings, seed=config.seed,
                    data_source=splits.source, train_size=len(splits.train_images),
                    val_size=len(splits.val_images), test_size=len(splits.test_images),
                    device=device, params=report.total_params, macs=report.total_macs,
                    source=source, label=label, owner_token=owner_token)


def finish_fields(snapshot: Any, evaluation: Any | None, model: nn.Module | None,
                  epoch_seconds: list[float] | None = None) -> dict[str, Any]:
    """``RunStore.finish``'s keyword arguments from a job's last snapshot, its test
    evaluation and model (weights only for a finished training)."""
    epoch_seconds = epoch_seconds or []
    epochs = []
    for i, e in enumerate(snapshot.epochs_done):
        row = {"epoch": e.epoch, "train_loss": e.train_loss, "train_accuracy": e.train_accuracy,
               "val_loss": e.val_loss, "val_accuracy": e.val_accuracy}
        seconds = getattr(e, "elapsed_s", None)
        if seconds is None and i < len(epoch_seconds):
            seconds = epoch_seconds[i]
        row["elapsed_s"] = seconds
        epochs.append(row)
    steps = [{"step": p.step, "epoch": p.epoch, "loss": p.loss, "accuracy": p.accuracy,
              "smoothed_loss": p.smoothed_loss, "smoothed_accuracy": p.smoothed_accuracy,
              "learning_rate": p.learning_rate}
             for p in snapshot.steps]
    finished = snapshot.state == "finished"
    return {"duration_s": snapshot.elapsed_s, "images_per_s": snapshot.images_per_second,
            "epochs": epochs, "steps": steps,
            "test_accuracy": evaluation.accuracy if evaluation and finished else None,
            "per_class_accuracy": evaluation.per_class_accuracy if evaluation else None,
            "confusion": evaluation.confusion if evaluation else None,
            "state_dict": model.state_dict() if model is not None and finished else None}


class Recorder:
    """One training's record. Every call is safe: a store error is kept in ``problem``
    (shown once by the page or CLI) and the training goes on without a record."""

    def __init__(self, store: RunStore | None, problem: str | None = None, source: str = "cli",
                 label: str = "", owner_token: str | None = None) -> None:
        self.store, self.problem = store, problem
        self.source, self.label, self.owner_token = source, label, owner_token
        self.run_id: int | None = None
        # called with the run id and last snapshot once it is recorded (a share's key)
        self.after_finish: Callable[[int, Any], None] | None = None

    def begin(self, spec: ArchitectureSpec, splits: MnistSplits, config: Any, device: str,
              name: str) -> int | None:
        """Record a training that starts now; its run id (None when runs are not kept)."""
        if self.store is None:
            return None
        try:
            self.run_id = self.store.begin(run_start(spec, splits, config, device, name,
                                                     self.source, self.label,
                                                     self.owner_token))
        except Exception as exc:  # nothing about the store may stop a training
            self._failed(exc)
        return self.run_id

    def finish(self, snapshot: Any, evaluation: Any | None, model: nn.Module | None,
               epoch_seconds: list[float] | None = None) -> None:
        """Record how the training ended (``snapshot``: the job's last one)."""
        if self.store is None or self.run_id is None:
            return
        status = snapshot.state if snapshot.state in ("finished", "stopped") else "failed"
        try:
            self.store.finish(self.run_id, status, snapshot.message,
                              **finish_fields(snapshot, evaluation, model, epoch_seconds))
            if self.after_finish is not None:
                self.after_finish(self.run_id, snapshot)
        except Exception as exc:  # as in begin
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, StoreError):
            self.problem = f"{NOT_KEPT}: {exc}"
        else:
            LOG.exception("recording run %s failed", self.run_id)
            self.problem = f"{NOT_KEPT}: {type(exc).__name__}: {exc}"


def open_store(root: Any = None) -> tuple[RunStore | None, str | None]:
    """The store, or None and the one-line reason runs are not being kept."""
    try:
        return RunStore(root), None
    except StoreError as exc:
        return None, f"{NOT_KEPT}: {exc}"
