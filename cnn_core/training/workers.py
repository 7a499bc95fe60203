"""The threads local trainings run on: daemon, at a lower priority than the pages, the last one
kept for the next training; and the trainings on them, stopped and waited for when the process
exits."""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Protocol

TRAINING_NICE = 10  # Linux nice value of the training threads: pages and drawings go first


class Workers:
    """Daemon threads that run trainings. A new thread starts only when none is idle, so a job
    never waits behind another; daemon, so a server can always exit. A thread outlasts its
    training (its OpenMP team warm for the next) only when it is the last one: each thread
    keeps its team, and once the teams outnumber the cores OpenMP's waits between parallel ops
    sleep instead of spinning, which made every later LeNet-5 epoch 1.4-1.9 times as long
    (``bench/idle_teams.py``)."""

    def __init__(self) -> None:
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads = 0  # alive, busy or idle

    def submit(self, task: Callable[[], None]) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1  # an idle worker will take it
            else:
                self._threads += 1
                threading.Thread(target=self._work, name="trainer", daemon=True).start()
        self._tasks.put(task)

    def _work(self) -> None:
        try:
            lower_priority()  # before this thread's first parallel op: its team inherits it
            while True:
                task = self._tasks.get()
                try:
                    task()
                finally:
                    del task  # an idle worker must not keep its last training's model alive
                with self._lock:  # decided and counted at once: two ending together agree
                    if self._threads > 1:
                        self._threads -= 1
                        return  # its OpenMP team ends with it
                    self._idle += 1
        except BaseException:
            with self._lock:
                self._threads -= 1
            raise


WORKERS = Workers()


def lower_priority() -> None:
    """Run the calling thread at ``TRAINING_NICE``: a training then takes only the CPU that
    students' clicks and drawings leave, and still all of it when nobody else needs any."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux, or not allowed: as is
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), TRAINING_NICE)


class Stoppable(Protocol):
    def stop(self, reason: str) -> None: ...
    def join(self, timeout: float | None = None) -> None: ...


ACTIVE: weakref.WeakSet[Stoppable] = weakref.WeakSet()  # started and not yet over


@atexit.register
def _stop_every_training() -> None:
    """Stop and wait for the trainings still running when the process exits: a daemon thread
    cut off inside torch's C++ aborts the interpreter ("terminate called without an active
    exception")."""
    for training in list(ACTIVE):
        training.stop("the server shut down before the training finished")
    for training in list(ACTIVE):
        training.join(timeout=10)
