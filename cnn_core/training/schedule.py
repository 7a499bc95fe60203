"""The learning rate over a training, and the early stop at a validation accuracy.

``Schedule`` is what the loop calls after every optimizer step: nothing for ``constant``; for
``one_cycle`` torch's ``OneCycleLR``, which starts at a 25th of the rate set, climbs to it over
the first 30 % of the steps and falls to almost nothing by the last one (Smith & Topin, 2017:
the same accuracy in fewer epochs). A rate a student sets by hand while it trains wins: the
schedule then lets go and the rate stays as set.
"""

from __future__ import annotations

import torch

from cnn_core.training.settings import SCHEDULE_NAMES


class Schedule:
    """The learning-rate schedule of one training of ``total_steps`` steps."""

    def __init__(self, optimizer: torch.optim.Optimizer, name: str, total_steps: int) -> None:
        self.optimizer = optimizer
        self._cycle: torch.optim.lr_scheduler.OneCycleLR | None = None
        if name == "one_cycle" and total_steps > 1:
            peak = optimizer.param_groups[0]["lr"]
            self._cycle = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peak,
                                                              total_steps=total_steps)
        self._left = total_steps - 1  # OneCycleLR refuses to step past its last step

    @property
    def learning_rate(self) -> float:
        """The rate the next step trains with."""
        return float(self.optimizer.param_groups[0]["lr"])

    def step(self) -> None:
        """After an optimizer step: move the rate on for the next one."""
        if self._cycle is not None and self._left > 0:
            self._left -= 1
            self._cycle.step()

    def let_go(self) -> None:
        """The rate was set by hand: keep it from now on."""
        self._cycle = None


def describe_schedule(name: str) -> str:
    """``one-cycle``, ``constant``: the schedule as the settings line says it."""
    return SCHEDULE_NAMES.get(name, name)


def target_reached(target_percent: float, val_accuracy: float, epoch: int) -> str | None:
    """Why to stop after ``epoch``'s validation, when a target was set and reached."""
    if not target_percent or val_accuracy * 100 < target_percent:
        return None
    return (f"stopped after epoch {epoch}: validation accuracy {val_accuracy:.2%} reached the "
            f"{target_percent:g} % asked for")
