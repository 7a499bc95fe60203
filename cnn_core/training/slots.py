"""Share a small server fairly: at most N trainings at once, the rest wait first-come first-served.

A classroom server (1-2 CPUs) slows every student down when many trainings run at once; with
slots, each waiting student sees their place in the queue instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from cnn_core.training.budget import Limits, default_limit


class TrainingSlots:
    """A FIFO queue in front of ``limit`` running slots and the memory trainings share.

    A training holds its estimated memory from the moment it gets a slot until it is over; a
    paused one gives its slot to the next but keeps holding what its tensors still take, so
    the head of the queue also waits until its memory is free."""

    def __init__(self, limit: int | None = None, memory_bytes: int | None = None) -> None:
        self.limit = limit or default_limit()
        self.memory_bytes = memory_bytes or Limits.from_env().memory_bytes * self.limit
        self._cond = threading.Condition()
        self._waiting: list[object] = []
        self._running: set[int] = set()
        self._held: dict[int, int] = {}  # id(owner) -> bytes it holds now
        self._wants: dict[int, int] = {}  # id(owner) -> bytes it waits for

    def enqueue(self, owner: object) -> None:
        """Take a place in the queue now, in the caller's thread, so that the order is the
        order of the clicks, not the order in which worker threads happen to get going."""
        with self._cond:
            if owner not in self._waiting:
                self._waiting.append(owner)

    def acquire(self, owner: object, should_abort: Callable[[], bool],
                memory: int = 0) -> bool:
        """Wait for a slot and ``memory`` bytes (queueing first if ``enqueue`` was not
        called). First come, first served, except that one whose memory is not free yet (a
        paused training holds it) lets those behind it that fit go first. Returns False, and
        leaves the queue, once ``should_abort()``."""
        self.enqueue(owner)
        with self._cond:
            self._wants[id(owner)] = memory
            try:
                while True:
                    if should_abort():
                        return False
                    if len(self._running) < self.limit and self._next_to_go() is owner:
                        self._running.add(id(owner))
                        self._held[id(owner)] = memory
                        return True
                    self._cond.wait(0.25)
            finally:
                self._waiting.remove(owner)
                self._wants.pop(id(owner), None)
                self._cond.notify_all()

    def _next_to_go(self) -> object | None:
        for waiting in self._waiting:
            wants = self._wants.get(id(waiting))
            if wants is None or self._memory_fits(waiting, wants):  # None: not asked yet
                return waiting
        return None

    def _memory_fits(self, owner: object, memory: int) -> bool:
        others = sum(held for key, held in self._held.items() if key != id(owner))
        return not others or others + memory <= self.memory_bytes  # one alone always fits

    def release(self, owner: object, keep: int = 0) -> None:
        """Give the slot back; ``keep``: the bytes a paused training still holds."""
        with self._cond:
            self._running.discard(id(owner))
            if keep:
                self._held[id(owner)] = keep
            else:
                self._held.pop(id(owner), None)
            self._cond.notify_all()

    def hold(self, owner: object, nbytes: int) -> None:
        """What a paused training holds now (less, once its optimizer state went to disk)."""
        with self._cond:
            if id(owner) in self._held:
                self._held[id(owner)] = nbytes
                self._cond.notify_all()

    @property
    def held_bytes(self) -> int:
        with self._cond:
            return sum(self._held.values())

    def position(self, owner: object) -> int | None:
        """1-based place in the queue, or None when not waiting."""
        with self._cond:
            for i, waiting in enumerate(self._waiting, 1):
                if waiting is owner:
                    return i
        return None

    @property
    def running(self) -> int:
        with self._cond:
            return len(self._running)
