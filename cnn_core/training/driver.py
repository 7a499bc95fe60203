"""The epochs of one training: the one loop (``trainer.train_steps``) and what every training
does around it, wherever it runs.

``EpochDriver.run`` asks the loop for steps and after each one feeds it to the curves
(``metrics.StepTally``), ends each epoch with its training means and a validation pass (an
``EpochPoint`` in ``Metrics``), and stops at the time limit (``limits.TimeLimit``). What
differs between callers goes in two callbacks: the job pauses, steers and takes the learning
view after each step (``after_step``) and notes when each epoch ended (``after_epoch``);
torchrun prints each epoch. Each answers True to go on.

DDP is a ``rank`` and a ``world_size``: every process runs its own driver on a
``DistributedDataParallel`` model; the loop takes the process's share of each batch, an
epoch's means add up every process's digits, rank 0 alone validates (and is asked
``after_epoch``, its answer told to all), and the time limit is agreed on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from cnn_core.training.evaluate import evaluate
from cnn_core.training.limits import TimeLimit
from cnn_core.training.metrics import EpochPoint, Metrics, StepTally
from cnn_core.training.schedule import Schedule
from cnn_core.training.trainer import Step, TrainConfig, train_steps

Ended = Literal["finished", "stopped", "out of time"]


def go_on(_: object) -> bool:
    return True


class EpochDriver:
    """Trains ``model`` for ``cfg.epochs`` epochs over ``train`` (uint8 digits and labels on
    the training device), validating on ``val`` at each epoch's end, publishing to
    ``metrics``. ``LossDiverged`` propagates from ``run``; the generator is closed however
    ``run`` ends."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, cfg: TrainConfig,
                 train: tuple[torch.Tensor, torch.Tensor],
                 val: tuple[torch.Tensor, torch.Tensor], metrics: Metrics,
                 time_limit: TimeLimit | None = None, *, rank: int = 0,
                 world_size: int = 1) -> None:
        self.model, self.optimizer, self.cfg = model, optimizer, cfg
        self.images, self.labels = train
        self.val = val
        self.time_limit = time_limit
        self.rank, self.world_size = rank, world_size
        self.device = self.images.device
        self.tally = StepTally(metrics, len(self.images) // world_size,
                               on_cpu=self.device.type == "cpu")
        steps_per_epoch = -(-len(self.images) // cfg.batch_size)
        self.schedule = Schedule(optimizer, cfg.schedule, cfg.epochs * steps_per_epoch)

    def run(self, after_step: Callable[[Step], bool] = go_on,
            after_epoch: Callable[[EpochPoint], bool] = go_on) -> Ended:
        tally = self.tally
        steps = train_steps(self.model, self.optimizer, self.images, self.labels, self.cfg,
                            rank=self.rank, world_size=self.world_size, schedule=self.schedule)
        try:
            for step in steps:
                if step.index == 1:
                    tally.start_epoch(step.epoch)
                tally.add(step.loss, step.logits, step.labels, step.learning_rate)
                if step.ends_epoch or tally.due():
                    tally.read_back()
                if step.ends_epoch and not self._end_epoch(step.epoch, after_epoch):
                    return "stopped"
                if self.time_limit and self.time_limit.passed(tally.taken,
                                                              step.steps_in_epoch):
                    return "out of time"
                if not after_step(step):
                    return "stopped"
        finally:
            steps.close()
        return "finished"

    def _end_epoch(self, epoch: int, after_epoch: Callable[[EpochPoint], bool]) -> bool:
        train_loss, train_accuracy = self._epoch_means()
        carry_on = True
        if self.rank == 0:
            # the bare net: DDP's forward would wait for the other processes
            net = self.model.module if isinstance(self.model, DistributedDataParallel) \
                else self.model
            val = evaluate(net, *self.val, self.device, max_misclassified=0)
            point = EpochPoint(epoch, train_loss, train_accuracy, val.loss, val.accuracy)
            self.tally.metrics.add_epoch(point)
            carry_on = after_epoch(point)
        if self.world_size > 1:
            answer = torch.tensor([float(carry_on)], device=self.device)
            dist.broadcast(answer, src=0)
            carry_on = bool(answer.item())
        self.tally.restart_clock()  # validation is not training time
        return carry_on

    def _epoch_means(self) -> tuple[float, float]:
        """The epoch's mean training loss and accuracy, over every process's digits."""
        if self.world_size == 1:
            return self.tally.epoch_means()
        tally = self.tally
        sums = torch.tensor([tally.loss_sum, tally.correct, tally.seen], dtype=torch.float64,
                            device=self.device)
        dist.all_reduce(sums)
        loss_sum, correct, seen = sums.tolist()
        return loss_sum / seen, correct / seen
