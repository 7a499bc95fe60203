"""A server's memory over a long day: what a finished training or a closed tab held goes back
to the operating system."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import threading

SWEEP_DELAY_S = 2.0  # after a tab goes: tabs closed together share one sweep

_sweep_lock = threading.Lock()
_sweep_timer: threading.Timer | None = None


def return_freed_memory() -> None:
    """Give freed memory back to the OS. glibc keeps freed blocks in its arenas (one per
    thread that allocated), so without this a server's memory only ever grows."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _sweep() -> None:
    global _sweep_timer
    with _sweep_lock:
        _sweep_timer = None
    # A closed session's state sits in reference cycles, which Python's own collector, with
    # torch's ~430,000 objects to scan, reaches only every few minutes of a class.
    gc.collect()
    return_freed_memory()


def sweep_soon() -> None:
    """In ``SWEEP_DELAY_S``, collect garbage and give the memory back (in the background;
    the collection holds the GIL for about 0.3 s)."""
    global _sweep_timer
    with _sweep_lock:
        if _sweep_timer is None:
            _sweep_timer = threading.Timer(SWEEP_DELAY_S, _sweep)
            _sweep_timer.daemon = True
            _sweep_timer.start()
