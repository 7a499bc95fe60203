"""The limits a training keeps while it runs: its time (stopped at the limit, and told early
when its epochs will not fit), and its memory while long paused (the optimizer's state waits
on disk). The epoch driver checks the time, the job parks the optimizer; what is allowed to
start is ``admission``'s."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist

from cnn_core.training.budget import format_seconds

FORECAST_AFTER_S = 1.5  # a training that will not fit its time limit says so this soon
TIME_CHECK_S = 1.0  # processes training together agree on the time limit about this often


class RunClock:
    """Seconds a training has run, pauses and the queue left out."""

    def __init__(self) -> None:
        self._before, self._since = 0.0, None

    def go(self) -> None:
        if self._since is None:
            self._since = time.monotonic()

    def halt(self) -> None:
        if self._since is not None:
            self._before += time.monotonic() - self._since
            self._since = None

    @property
    def seconds(self) -> float:
        running = time.monotonic() - self._since if self._since is not None else 0.0
        return self._before + running


def over_time(seconds: float, limit: float, epochs_done: float, epochs: int) -> str | None:
    """The reason to stop now, when ``seconds`` of training passed the ``limit``."""
    if seconds <= limit:
        return None
    return (f"stopped at the time limit: one training may take {format_seconds(limit)} on "
            f"this server (it had trained {epochs_done:.1f} of {epochs} epochs)")


def next_epoch_wont_fit(seconds: float, limit: float, epochs_done: int,
                        epochs: int) -> str | None:
    """At an epoch's end: the reason to stop there, when another epoch at this pace would
    run past the ``limit`` (better a whole epoch, validated, than one cut off halfway)."""
    if epochs_done >= epochs or seconds + seconds / epochs_done <= limit:
        return None
    return (f"stopped at the time limit: one training may take {format_seconds(limit)} on "
            f"this server (it trained {epochs_done} of {epochs} epochs; at its pace of "
            f"{format_seconds(seconds / epochs_done)} an epoch, another would not have fit)")


def forecast(seconds: float, steps_taken: int, steps_per_epoch: int, epochs: int,
             limit: float) -> str | None:
    """Once ``FORECAST_AFTER_S`` have passed: the epochs that fit, if not all of them do."""
    if seconds < FORECAST_AFTER_S or not steps_taken:
        return None
    per_epoch = seconds / steps_taken * steps_per_epoch
    if per_epoch * epochs <= limit:
        return None
    fits = int(limit // per_epoch)
    return (f"At this pace {epochs} epochs take about {format_seconds(per_epoch * epochs)}, "
            f"over the {format_seconds(limit)} limit: "
            + (f"about {fits} epoch{'s' * (fits != 1)} will fit, and it stops there." if fits
               else "it stops before the end of the first epoch."))


class TimeLimit:
    """The time limit of one training, asked after every step (``passed``), which also says
    early, once, when the epochs will not fit (``notice``). Processes training one model
    together (``world_size`` > 1) ask every clock at steps they all agree on, with one
    ``all_reduce``: each answer also sets how many steps until the next (about
    ``TIME_CHECK_S`` of the slowest process's steps), so they all stop at the same step."""

    def __init__(self, seconds: float, epochs: int, clock: RunClock | None = None,
                 world_size: int = 1, device: torch.device | None = None) -> None:
        self.seconds, self.epochs, self.world_size, self.device = (
            seconds, epochs, world_size, device)
        if clock is None:  # a clock of its own starts now; a job's runs from its start
            clock = RunClock()
            clock.go()
        self.clock = clock
        self.notice = ""
        self.reason: str | None = None  # why it stopped, once it passed
        self._due, self._steps, self._since = 1, 0, 0.0

    def passed(self, steps_taken: int, steps_per_epoch: int) -> bool:
        """Whether to stop now, after ``steps_taken`` steps in all."""
        seconds, epochs_done = self.clock.seconds, steps_taken / steps_per_epoch
        if self.world_size > 1:
            if self._all_late(seconds):
                self.reason = (over_time(seconds, self.seconds, epochs_done, self.epochs)
                               or "stopped at the time limit")  # another process passed it
            return self.reason is not None
        if not self.notice:  # said before any stop below, so a stop was announced
            self.notice = forecast(seconds, steps_taken, steps_per_epoch, self.epochs,
                                   self.seconds) or ""
        self.reason = over_time(seconds, self.seconds, epochs_done, self.epochs)
        if self.reason is None and steps_taken % steps_per_epoch == 0:  # an epoch's end
            self.reason = next_epoch_wont_fit(seconds, self.seconds,
                                              steps_taken // steps_per_epoch, self.epochs)
        return self.reason is not None

    def _all_late(self, seconds: float) -> bool:
        self._steps += 1
        if self._steps < self._due:
            return False
        per_step = (seconds - self._since) / self._steps
        facts = torch.tensor([float(seconds > self.seconds), per_step], dtype=torch.float64,
                             device=self.device)
        dist.all_reduce(facts, op=dist.ReduceOp.MAX)
        late, slowest = facts.tolist()
        self._due = max(1, min(1000, int(TIME_CHECK_S / max(slowest, 1e-6))))
        self._steps, self._since = 0, seconds
        return bool(late)


def parking_folder() -> Path:
    """``paused/`` beside the runs, on disk (a tmpfs /tmp would keep the bytes in memory);
    files a process left behind when it died go the first time a process parks."""
    from cnn_core.storage.places import runs_dir
    from cnn_core.storage.processes import process_alive

    folder = runs_dir() / "paused"
    folder.mkdir(parents=True, exist_ok=True)
    global _swept
    if not _swept:
        _swept = True
        for left in folder.glob("*.pt"):  # named by the run store's process id, then "~"
            if not process_alive(left.name.split(PROCESS_END, 1)[0]):
                with contextlib.suppress(OSError):
                    left.unlink()
    return folder


_swept = False
PROCESS_END = "~"  # no host name holds it


class ParkedOptimizer:
    """An optimizer whose state (Adam: two copies of the weights) and gradients give their
    memory back while its training is long paused; the state waits on disk, so resuming is
    exact."""

    def __init__(self) -> None:
        self.path: str | None = None

    def park(self, optimizer: torch.optim.Optimizer) -> bool:
        """Move the state to disk; False when it is there already."""
        if self.path is not None:
            return False
        from cnn_core.storage.processes import process_id

        folder = parking_folder()
        handle, path = tempfile.mkstemp(prefix=process_id() + PROCESS_END, suffix=".pt",
                                        dir=folder)
        os.close(handle)
        torch.save(optimizer.state_dict(), path)
        optimizer.state.clear()
        for group in optimizer.param_groups:
            for parameter in group["params"]:
                parameter.grad = None
        self.path = path
        return True

    def restore(self, optimizer: torch.optim.Optimizer | None) -> None:
        if self.path is not None and optimizer is not None:
            optimizer.load_state_dict(torch.load(self.path, weights_only=True))
        self.drop()

    def drop(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.remove(self.path)
            self.path = None
