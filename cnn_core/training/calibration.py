"""This server's own pace: seconds per training step, as measured, per design and batch size.

The time estimate before a training (``budget``) is arithmetic on multiply-adds, which cannot
see per-step overhead, pooling's memory traffic or a loaded machine. So every training measures
its pace as it runs (``PaceMeter``: once it has run ``MEASURE_AFTER_S`` or finished an epoch,
and again at each epoch's end) and files it here under its design's shape; the next estimate
for that design (the Design page, the Train page, ``admit``) uses it instead of the arithmetic.

Kept in memory, per process: the class server is one process that every page and training
shares, and a restart starts from the arithmetic again (the first training of each design
measures it anew within seconds). Trainings in other processes (Ray's workers, torchrun) do
not report here. Pure Python, without torch, so the Design page can read it before torch loads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from cnn_core.design.report import NetworkReport

MEASURE_AFTER_S = 1.5  # long enough to leave the first step's warm-up behind
MAX_DESIGNS = 256  # designs remembered; the least recently measured go first


def design_key(report: NetworkReport) -> str:
    """What decides a design's pace: its input and each layer's type, settings and output."""
    layers = [(r.type, sorted(r.settings.items()), r.output_shape) for r in report.layers]
    return repr((report.input_shape, layers))


class PaceBook:
    """Measured seconds per step, by design key and batch size; safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paces: OrderedDict[str, dict[int, float]] = OrderedDict()

    def record(self, report: NetworkReport, batch_size: int, seconds_per_step: float) -> None:
        if not seconds_per_step > 0:
            return
        key = design_key(report)
        with self._lock:
            self._paces.setdefault(key, {})[batch_size] = seconds_per_step
            self._paces.move_to_end(key)
            while len(self._paces) > MAX_DESIGNS:
                self._paces.popitem(last=False)

    def paces(self, report: NetworkReport) -> dict[int, float]:
        """Batch size → measured seconds per step, for this design (empty: never trained)."""
        with self._lock:
            return dict(self._paces.get(design_key(report), {}))

    def clear(self) -> None:
        with self._lock:
            self._paces.clear()


PACES = PaceBook()


class PaceMeter:
    """One training's pace, filed in ``book`` as it runs."""

    def __init__(self, report: NetworkReport, batch_size: int,
                 book: PaceBook = PACES) -> None:
        self.report, self.batch_size, self.book = report, batch_size, book
        self.measured = False

    def observe(self, seconds: float, steps: int, ends_epoch: bool) -> None:
        """After a step: ``seconds`` of training (validation included) over ``steps`` steps."""
        if not steps or not (ends_epoch or (not self.measured and seconds >= MEASURE_AFTER_S)):
            return
        self.measured = True
        self.book.record(self.report, self.batch_size, seconds / steps)
