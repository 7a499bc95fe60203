"""Giving memory back: a closed tab's sessions are collected soon after, in one sweep."""

from __future__ import annotations

import gc
import math
import time
import weakref

from cnn_core.training import memory


class Session:
    """Stands for a session's state: it refers to itself, as Streamlit's do."""

    def __init__(self) -> None:
        self.me = self


def test_a_sweep_soon_collects_cycles_and_tabs_closed_together_share_it(monkeypatch):
    monkeypatch.setattr(memory, "_last_sweep", -math.inf)
    was_enabled = gc.isenabled()
    gc.disable()  # only the sweep may collect it
    try:
        gone = weakref.ref(Session())
        assert gone() is not None  # a cycle: reference counting alone does not free it
        memory.sweep_soon()
        first = memory._sweep_timer
        memory.sweep_soon()  # a second tab closed meanwhile
        assert memory._sweep_timer is first is not None
        assert first.interval == memory.SWEEP_DELAY_S
        deadline = time.monotonic() + 30
        while gone() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gone() is None
        assert memory._sweep_timer is None  # the next closed tab sweeps again
    finally:
        if was_enabled:
            gc.enable()


def test_sweeps_keep_their_gap_however_many_tabs_reload(monkeypatch):
    monkeypatch.setattr(memory, "_last_sweep", time.monotonic())  # one just ran
    memory.sweep_soon()
    timer = memory._sweep_timer
    try:
        assert memory.SWEEP_GAP_S - 1 < timer.interval <= memory.SWEEP_GAP_S
    finally:
        timer.cancel()
        memory._sweep_timer = None
