"""A server's memory over a long day: what a finished training or a closed tab held goes back
to the operating system."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import math
import threading
import time

SWEEP_DELAY_S = 2.0  # after a tab goes: tabs closed together share one sweep
SWEEP_GAP_S = 10.0  # at most one collection (~0.3 s holding the GIL) this often, however
#                     many students reload

_sweep_lock = threading.Lock()
_sweep_timer: threading.Timer | None = None
_last_sweep = -math.inf  # time.monotonic() of the last one


def return_freed_memory() -> None:
    """Give freed memory back to the OS. glibc keeps freed blocks in its arenas (one per
    thread that allocated), so without this a server's memory only ever grows."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _sweep() -> None:
    global _sweep_timer, _last_sweep
    with _sweep_lock:
        _sweep_timer, _last_sweep = None, time.monotonic()
    # A closed session's state sits in reference cycles, which Python's own collector, with
    # torch's ~430,000 objects to scan, reaches only every few minutes of a class.
    gc.collect()
    return_freed_memory()


def sweep_soon() -> None:
    """In ``SWEEP_DELAY_S``, or ``SWEEP_GAP_S`` after the last sweep if that is later, collect
    garbage and give the memory back (in the background)."""
    global _sweep_timer
    with _sweep_lock:
        if _sweep_timer is None:
            delay = max(SWEEP_DELAY_S, _last_sweep + SWEEP_GAP_S - time.monotonic())
            _sweep_timer = threading.Timer(delay, _sweep)
            _sweep_timer.daemon = True
            _sweep_timer.start()
