"""The one admission check: every training and every heavy pass asks ``admit`` before it runs.

A classroom server is one process for every student, so each promise lives here once: a
training's memory and time, and that the design fits the data (``TrainingRequest``); a
drawing's feature maps, a "why" heatmap and a test on the class's drawings, each bounded on its
own and together by one shared pool (``PassRequest`` and ``heavy_pass``). Every way in names
itself (``Way``), so a test can enumerate them and feed each the same over-budget design.
A refusal is one sentence for the page or the terminal.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from cnn_core.data.datasets import Dataset
from cnn_core.design.formatting import format_shape
from cnn_core.design.report import (
    FLOAT,
    NetworkReport,
    kept_bytes,
    largest_values,
    layer_values,
)
from cnn_core.training.budget import (
    OVERHEAD,
    Limits,
    drawing_memory,
    eval_batch_size,
    format_bytes,
    training_refusal,
)
from cnn_core.training.trainable import trainability_refusal

if TYPE_CHECKING:  # a request is made without torch: the Design page draws before it loads
    from cnn_core.data.mnist import MnistSplits
    from cnn_core.training.trainer import TrainConfig

PASS_WAIT_S = 5.0  # how long a heavy pass waits for others to finish before it is refused
IG_MAX_BATCH = 64  # Integrated Gradients' steps go through the net in batches of at most this
# Captum's scaled inputs and gradients on top of the tensors counted: bench/admission.py saw
# the real peak at 0.94-1.09 of the estimate with training's 1.3.
BACKWARD_OVERHEAD = 1.5


class Way(StrEnum):
    """Every way in that starts a training or a heavy pass."""

    TRAIN_PAGE = "the Train page"
    QUICK_MODEL = "the quick model"
    CLI = "python -m cnn_core train"
    TORCHRUN = "torchrun"
    RAY = "the Ray runner"
    SCRIPT = "a script"
    DRAW_MAPS = "the Draw page's prediction and feature maps"
    DRAW_WHY = "the Draw page's why"
    TRAIN_WHY = "the Train page's why"
    RUNS_WHY = "the Runs page's why (our handwriting)"
    HANDWRITING_TEST = "the test on our handwriting"
    UPLOADED_WEIGHTS = "uploaded weights"


TRAINING_PATHS = (Way.TRAIN_PAGE, Way.QUICK_MODEL, Way.CLI, Way.TORCHRUN, Way.RAY,
                  Way.SCRIPT)


class NotAdmitted(ValueError):
    """A request that must not run; the message is one sentence."""


@dataclass(frozen=True)
class TrainingRequest:
    way: Way
    report: NetworkReport
    batch_size: int
    optimizer: str
    epochs: int
    images: int  # training digits per epoch
    dataset: Dataset  # what the design's input and output must fit


def training_request(way: Way, report: NetworkReport, config: TrainConfig,
                     splits: MnistSplits) -> TrainingRequest:
    """What ``admit`` needs to know of a training on ``splits``."""
    return TrainingRequest(way, report, config.batch_size, config.optimizer, config.epochs,
                           len(splits.train_images), splits.info)


@dataclass(frozen=True)
class PassRequest:
    """One pass outside a training: ``images`` at once, forward only or back to the input."""

    way: Way
    report: NetworkReport
    images: int = 1
    backward: bool = False
    feature_maps: bool = False  # a copy of every conv and pool output is kept (Draw page)


# What was refused lately, newest last: the test of every way in checks each refusal came from here.
REFUSED: deque[tuple[Way, str]] = deque(maxlen=100)


def admit(request: TrainingRequest | PassRequest, limits: Limits | None = None) -> str | None:
    """None when ``request`` may run on this server, else why not in one sentence."""
    limits = limits or Limits.from_env()
    if isinstance(request, TrainingRequest):
        refusal = _training_refusal(request, limits)
    else:
        refusal = _pass_refusal(request, limits)
    if refusal is not None:
        REFUSED.append((request.way, refusal))
    return refusal


def require(request: TrainingRequest | PassRequest, limits: Limits | None = None) -> None:
    """``admit``, raising ``NotAdmitted`` instead of returning the reason."""
    if (refusal := admit(request, limits)) is not None:
        raise NotAdmitted(refusal)


def _training_refusal(request: TrainingRequest, limits: Limits) -> str | None:
    report = request.report
    return (trainability_refusal(report, request.dataset)
            or training_refusal(report, request.batch_size, request.optimizer, request.epochs,
                                request.images, limits))


def _pass_refusal(request: PassRequest, limits: Limits) -> str | None:
    report = request.report
    if not report.ok:
        return f"the design cannot run: {report.errors[0]}"
    needed = pass_memory(request)
    if needed <= limits.draw_memory_bytes:
        return None
    what = "feature maps for one drawing need" if request.feature_maps else (
        f"pass over {request.images:,} image{'s' * (request.images != 1)}"
        + (" and back" if request.backward else "") + " needs")
    largest = max(report.layers, key=layer_values, default=None)
    costliest = (f"; the largest is {largest.label}, {format_shape(largest.output_shape)} "
                 "values per image: fewer channels or a smaller map there would fit"
                 if largest is not None and largest.output_shape else "")
    return (f"this model's {what} about {format_bytes(needed)}, over the "
            f"{format_bytes(limits.draw_memory_bytes)} {request.way} may use on this "
            f"server{costliest}")



def pass_memory(request: PassRequest) -> int:
    """Peak memory of one heavy pass: the weights and, per image, the largest tensors alive
    at once, what the backward pass keeps, or the feature maps shown."""
    report = request.report
    if request.feature_maps:
        return drawing_memory(report) * max(1, request.images)
    largest = 2 * FLOAT * largest_values(report)
    per_image = largest
    if request.backward:  # what each layer keeps for the gradient, and that gradient
        per_image += sum(kept_bytes(r) for r in report.layers) + largest
    overhead = BACKWARD_OVERHEAD if request.backward else OVERHEAD
    return int(overhead * (FLOAT * report.total_params + request.images * per_image))


def attribution_batch(report: NetworkReport, steps: int, way: Way,
                      limits: Limits | None = None) -> int:
    """Images per batch for Integrated Gradients' ``steps`` (Captum's internal_batch_size):
    the most whose forward and backward pass fits a heavy pass's memory; 0 when one does not."""
    limits = limits or Limits.from_env()
    best = 0
    for images in range(1, min(steps, IG_MAX_BATCH) + 1):
        if pass_memory(PassRequest(way, report, images, backward=True)) > \
                limits.draw_memory_bytes:
            break
        best = images
    return best


def evaluation_request(way: Way, report: NetworkReport) -> PassRequest:
    """An evaluation over many images runs in batches sized by ``eval_batch_size``."""
    return PassRequest(way, report, images=eval_batch_size(largest_values(report)))


# ---- the pool every heavy pass shares --------------------------------------------------------
class MemoryPool:
    """Bytes reserved by passes running now; a pass waits (briefly) until its share is free."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = 0

    @property
    def held(self) -> int:
        with self._cond:
            return self._held

    @contextmanager
    def hold(self, nbytes: int, capacity: int, wait_s: float = PASS_WAIT_S) -> Iterator[None]:
        deadline = time.monotonic() + wait_s
        with self._cond:
            while self._held and self._held + nbytes > capacity:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise NotAdmitted("the server is busy with other students' drawings and "
                                  "tests right now: try again in a few seconds")
                self._cond.wait(left)
            self._held += nbytes
        try:
            yield
        finally:
            with self._cond:
                self._held -= nbytes
                self._cond.notify_all()


PASSES = MemoryPool()


@contextmanager
def heavy_pass(request: PassRequest, limits: Limits | None = None) -> Iterator[None]:
    """Admit ``request`` and hold its memory in the shared pool while it runs; ``NotAdmitted``."""
    limits = limits or Limits.from_env()
    require(request, limits)
    with PASSES.hold(pass_memory(request), limits.passes_memory_bytes):
        yield
