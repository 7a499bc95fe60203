"""Identical trainings run once: the key of a training's conditions, and where to find one.

The loop is deterministic (``tests/test_trainer.py`` holds it to that): the same design,
settings, seed and data on the same device type, torch version and thread count give the same
curves and weights bit for bit. So thirty students pressing Train on the same preset need one
training. ``conditions`` lists everything that decides the result; ``share_key`` is a hash of
its canonical JSON. A live training with that key is followed (``LIVE``); a finished run with
it is replayed from the run store (``cnn_core.runs.shares``). The join itself is
``cnn_core.training.shared``'s.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from cnn_core.runs import shares
from cnn_core.runs.store import RunStore

if TYPE_CHECKING:
    from cnn_core.data.mnist import MnistSplits
    from cnn_core.design.spec import ArchitectureSpec
    from cnn_core.training.protocol import Snapshot, Training
    from cnn_core.training.trainer import TrainConfig

SHARE_ENV = "CNN_EXPLAINER_SHARE"  # "0": every request trains (the tests' default)
KEY_VERSION = 1  # bump when what decides a training's result changes


def sharing_on() -> bool:
    """Whether identical requests share one training on this server (on unless
    ``$CNN_EXPLAINER_SHARE`` is 0)."""
    return os.environ.get(SHARE_ENV, "1").strip() != "0"


# ---- the conditions and their key --------------------------------------------------------
_FINGERPRINTS: dict[int, str] = {}  # id(splits) -> its data's hash, while the splits live
_FINGERPRINTS_LOCK = threading.Lock()


def data_fingerprint(splits: MnistSplits) -> str:
    """A hash of every image and label the training sees (the class set's drawings included),
    computed once per splits object: a class set that changed gives a new one."""
    with _FINGERPRINTS_LOCK:
        if (known := _FINGERPRINTS.get(id(splits))) is not None:
            return known
    digest = hashlib.blake2b(digest_size=16)
    for tensor in (splits.train_images, splits.train_labels, splits.val_images,
                   splits.val_labels, splits.test_images, splits.test_labels):
        flat = tensor.detach().cpu().contiguous()
        digest.update(f"{flat.dtype}{tuple(flat.shape)}".encode())
        digest.update(flat.numpy().tobytes())
    value = digest.hexdigest()
    with _FINGERPRINTS_LOCK:
        _FINGERPRINTS[id(splits)] = value
    weakref.finalize(splits, _FINGERPRINTS.pop, id(splits), None)  # a reused id starts afresh
    return value


def conditions(spec: ArchitectureSpec, splits: MnistSplits, config: TrainConfig,
               device_type: str, threads: int | None = None) -> dict[str, Any]:
    """Everything that decides a training's curves and weights, as plain JSON data."""
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k != "device"}
    return {"version": KEY_VERSION, "design": spec.to_json(), "settings": settings,
            "data": {"dataset": splits.dataset, "source": splits.source,
                     "train": splits.train_data, "test": splits.test_data,
                     "content": data_fingerprint(splits)},
            "torch": torch.__version__, "device_type": device_type,
            "threads": torch.get_num_threads() if threads is None else threads}


def share_key(conds: dict[str, Any]) -> str:
    """The conditions' key: SHA-256 of their canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(conds, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


# ---- which trainings may be shared -------------------------------------------------------
def steered(snap: Snapshot) -> bool:
    """A changed learning rate or a single step makes a training unlike any other."""
    return bool(snap.lr_changes or snap.one_steps)


def complete(snap: Snapshot) -> bool:
    """Finished every epoch, unsteered: what another request may be given."""
    return snap.state == "finished" and len(snap.epochs_done) == snap.epochs and \
        not steered(snap)


def followable(snap: Snapshot, running: bool = False) -> bool:
    """Still on its way to being ``complete`` (queued, running or paused, unsteered), or
    there and not yet recorded (``running``: its thread still finishing)."""
    return (snap.active or (running and snap.state == "finished")) and not steered(snap)


# ---- live trainings ----------------------------------------------------------------------
@dataclass
class Live:
    training: Training
    started_at: float  # wall clock, for the note
    holders: Any = None  # shared.Holders: whose connections keep it from being orphaned


class LiveTrainings:
    """The trainings of this process by key, while they may still be followed. ``lock`` is
    held by whoever looks one up and, finding none, starts it: thirty presses, one start."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._by_key: dict[str, Live] = {}

    def add(self, key: str, training: Training, holders: Any = None) -> None:
        with self.lock:
            self._drop_over()
            self._by_key[key] = Live(training, time.time(), holders)

    def find(self, key: str) -> Live | None:
        with self.lock:
            self._drop_over()
            return self._by_key.get(key)

    def _drop_over(self) -> None:
        for key, live in list(self._by_key.items()):
            if not followable(live.training.snapshot(), live.training.running_thread):
                del self._by_key[key]  # over, or steered: nobody joins it any more


LIVE = LiveTrainings()


def find_finished(store: RunStore | None, key: str) -> int | None:
    """The run in ``store`` that trained these conditions to the end, or None."""
    return shares.find_run(store, key) if store is not None else None


# ---- the note ----------------------------------------------------------------------------
def note(started_at: float, run_id: int | None, live: bool) -> str:
    """The one line the page shows a student who was given another's training."""
    at = time.strftime("%H:%M", time.localtime(started_at))
    run = f" as run {run_id}" if run_id is not None else ""
    if live:
        return (f"The same training started at {at}{run} and is running now: you follow it. "
                "The same seed gives the same net; change the seed to train your own.")
    return (f"The same training ran at {at}{run}: the same seed gives the same net; change "
            "the seed to train your own.")
