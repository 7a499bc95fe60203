"""One training on several processes or machines: PyTorch's DistributedDataParallel, launched
by ``torchrun``.

torchrun starts one process per device and tells each its place through the environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``). Every process
builds the same seeded model, DDP wraps it, and each drives the one training loop
(``trainer.train_steps``) on its share of every global batch. DDP averages the gradients
during backward, so every process takes the same optimizer step and keeps the same weights.
Rank 0 alone prints, validates and tests. gloo carries the gradients between CPUs, NCCL
between CUDA GPUs (one GPU per process, picked by ``LOCAL_RANK``).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from cnn_core.data.dataset_store import MnistStore
from cnn_core.data.mnist import MnistSplits
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.training.admission import TrainingRequest, Way, admit
from cnn_core.training.budget import Limits
from cnn_core.training.devices import device_name
from cnn_core.training.evaluate import evaluate
from cnn_core.training.limits import RunClock, over_time
from cnn_core.training.metrics import LossDiverged, Metrics, StepTally
from cnn_core.training.trainer import TrainConfig, prepare, to_device, train_steps

# A process that stops answering (a lost machine) fails the others' next collective after
# this long; long enough for the first process on each machine to download MNIST.
TIMEOUT = timedelta(seconds=300)
TIME_CHECK_S = 1.0  # the processes agree on the time limit about this often (one all_reduce)


@dataclass(frozen=True)
class Launch:
    """This process's place in the training, as torchrun set it."""

    rank: int
    world_size: int
    local_rank: int

    @classmethod
    def from_env(cls) -> Launch | None:
        """The place torchrun gave this process; None when it was not started by torchrun."""
        if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
            return None
        return cls(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]),
                   int(os.environ.get("LOCAL_RANK", "0")))


def rank_device(cfg: TrainConfig, local_rank: int) -> torch.device:
    """The device this process trains on: its own GPU (by local rank) or the CPU;
    ``ValueError`` saying why otherwise."""
    device = cfg.resolved_device()
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise ValueError(f"process {local_rank} on this machine has no GPU of its own "
                             f"(the machine has {count}): start at most {count} per machine")
        return torch.device("cuda", local_rank)
    if device.type != "cpu":
        raise ValueError(f"distributed training runs on cpu (gloo) or cuda (NCCL), "
                         f"not {device.type}")
    return device


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def join_group(rank: int, world_size: int, device: torch.device,
               timeout: timedelta = TIMEOUT) -> None:
    """Join the other processes (``MASTER_ADDR``/``MASTER_PORT`` from the environment)."""
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend_for(device), rank=rank, world_size=world_size,
                            timeout=timeout, device_id=device if device.type == "cuda" else None)


def wrap(model: nn.Module, device: torch.device) -> DistributedDataParallel:
    """DDP around the model. On CUDA, batch norm uses the whole global batch's statistics
    (SyncBatchNorm, which torch supports only on GPUs); on the CPU each process normalises
    by its own share, as plain DDP does. The parameters stay the same objects, so an
    optimizer made for ``model`` keeps working."""
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[device.index])
    return DistributedDataParallel(model)


def check_batch(cfg: TrainConfig, world_size: int) -> None:
    """Equal shares keep the averaged gradient exactly the global batch's gradient."""
    if cfg.batch_size % world_size:
        raise ValueError(f"batch size {cfg.batch_size} must be a multiple of the number of "
                         f"processes ({world_size}), so that each takes an equal share")


def even_digits(images: torch.Tensor, labels: torch.Tensor,
                world_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The training digits less the last few, so that their count is a multiple of the
    number of processes: with a batch that is one too, every batch (the last, partial one
    included) splits into equal, non-empty shares."""
    n = len(images) - len(images) % world_size
    return images[:n], labels[:n]


def load_splits(launch: Launch) -> tuple[MnistStore, MnistSplits]:
    """MNIST on every process; the first process on each machine downloads it first, and the
    others then read it from disk. All must have loaded the same digits."""
    store = MnistStore()
    if launch.local_rank != 0:
        dist.barrier()
    splits = store.wait()
    if launch.local_rank == 0:
        dist.barrier()
    seen: list[tuple[str, int] | None] = [None] * launch.world_size
    dist.all_gather_object(seen, (splits.source, len(splits.train_images)))
    if len(set(seen)) > 1:
        raise ValueError("the processes loaded different data (full MNIST on some machines, "
                         "the bundled digits on others): give every machine the same "
                         "CNN_EXPLAINER_DATA, or set CNN_EXPLAINER_OFFLINE=1 on all")
    return store, splits


def global_means(tally: StepTally, device: torch.device) -> tuple[float, float]:
    """The epoch's mean training loss and accuracy over every process's digits."""
    sums = torch.tensor([tally.loss_sum, tally.correct, tally.seen], dtype=torch.float64,
                        device=device)
    dist.all_reduce(sums)
    loss_sum, correct, seen = sums.tolist()
    return loss_sum / seen, correct / seen


def admitted(spec: ArchitectureSpec, cfg: TrainConfig, launch: Launch,
             splits: MnistSplits, limits: Limits) -> str | None:
    """The one admission check, made by rank 0 for every process's share and told to all."""
    verdict: list[str | None] = [None]
    if launch.rank == 0:
        share = cfg.batch_size // launch.world_size
        verdict[0] = admit(TrainingRequest(
            Way.TORCHRUN, analyze(spec), share, cfg.optimizer, cfg.epochs,
            len(splits.train_images) // launch.world_size, splits.info), limits)
    dist.broadcast_object_list(verdict, src=0)
    return verdict[0]


class TimeCheck:
    """Whether any process has passed the time limit, asked at steps every process agrees
    on: each answer also sets how many steps until the next (about ``TIME_CHECK_S`` of the
    slowest process's steps), so they all stop at the same step."""

    def __init__(self, limits: Limits, device: torch.device) -> None:
        self.limits, self.device = limits, device
        self.clock = RunClock()
        self.clock.go()
        self.due, self._steps, self._since = 1, 0, 0.0

    def late(self) -> bool:
        self._steps += 1
        if self._steps < self.due:
            return False
        seconds = self.clock.seconds
        per_step = (seconds - self._since) / self._steps
        facts = torch.tensor([float(seconds > self.limits.seconds), per_step],
                             dtype=torch.float64, device=self.device)
        dist.all_reduce(facts, op=dist.ReduceOp.MAX)
        late, slowest = facts.tolist()
        self.due = max(1, min(1000, int(TIME_CHECK_S / max(slowest, 1e-6))))
        self._steps, self._since = 0, seconds
        return bool(late)


def say(text: str, file=sys.stdout) -> None:
    print(text, file=file, flush=True)


def train(spec: ArchitectureSpec, cfg: TrainConfig, launch: Launch) -> int:
    """The command line's ``train`` under torchrun: 0 when it finished, 1 when it failed, 2 for
    a setting that cannot work. Every process runs this; rank 0 alone prints."""
    lead = launch.rank == 0
    try:
        cfg.resolved_device()
        check_batch(cfg, launch.world_size)
    except ValueError as exc:  # the same on every process: one says it
        if lead:
            say(f"error: {exc}", sys.stderr)
        return 2
    try:
        device = rank_device(cfg, launch.local_rank)
    except ValueError as exc:
        say(f"error: rank {launch.rank}: {exc}", sys.stderr)
        return 2
    join_group(launch.rank, launch.world_size, device)
    try:
        return _train(spec, cfg, launch, device)
    except (ValueError, LossDiverged) as exc:
        say(f"error: rank {launch.rank}: {exc}", sys.stderr)
        return 1
    except dist.DistError as exc:  # another process died or stopped answering
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        say(f"error: rank {launch.rank}: lost contact with the other processes: {first_line}",
            sys.stderr)
        return 1
    finally:
        dist.destroy_process_group()


def _train(spec: ArchitectureSpec, cfg: TrainConfig, launch: Launch,
           device: torch.device) -> int:
    lead = launch.rank == 0
    store, splits = load_splits(launch)
    limits = Limits.from_env()
    if refusal := admitted(spec, cfg, launch, splits, limits):
        if lead:
            say(f"error: {refusal}", sys.stderr)
        return 2
    images, labels = even_digits(splits.train_images, splits.train_labels, launch.world_size)
    if lead:
        why = f" (reason: {store.offline_reason})" if store.offline_reason else ""
        left_out = len(splits.train_images) - len(images)
        say(f"data: {splits.description}{why}"
            + (f"; the last {left_out} left out for equal shares" if left_out else ""))
        say(f"distributed: {launch.world_size} processes, {backend_for(device)}, "
            f"global batch {cfg.batch_size} ({cfg.batch_size // launch.world_size} each)")
    model, optimizer = prepare(spec, cfg, device)  # the same seed: the same start everywhere
    torch.manual_seed(cfg.seed + launch.rank)  # but each process its own dropout masks
    images, labels = to_device(images, labels, device)
    metrics = Metrics()
    tally = StepTally(metrics, len(images) // launch.world_size, on_cpu=device.type == "cpu")
    started = time.perf_counter()
    check = TimeCheck(limits, device)
    steps = train_steps(wrap(model, device), optimizer, images, labels, cfg,
                        rank=launch.rank, world_size=launch.world_size)
    for step in steps:
        if step.index == 1:
            tally.start_epoch(step.epoch)
        tally.add(step.loss, step.logits, step.labels)
        if check.late():
            steps.close()
            if lead:
                done = (step.epoch - 1) + step.index / step.steps_in_epoch
                say(over_time(check.clock.seconds, limits.seconds, done, cfg.epochs)
                    or "stopped at the time limit")
            return 1
        if step.ends_epoch:
            tally.read_back()
            train_loss, train_accuracy = global_means(tally, device)
            if lead:
                val = evaluate(model, splits.val_images, splits.val_labels, device,
                               max_misclassified=0)
                say(f"epoch {step.epoch}/{cfg.epochs}: train loss {train_loss:.4f} accuracy "
                    f"{train_accuracy:.2%} | validation loss {val.loss:.4f} accuracy "
                    f"{val.accuracy:.2%}")
            tally.restart_clock()  # validation is not training time
        elif tally.due():
            tally.read_back()
    if lead:
        elapsed = time.perf_counter() - started
        test = evaluate(model.to("cpu").eval(), splits.test_images, splits.test_labels)
        speed = metrics.images * launch.world_size / metrics.train_seconds
        say(f"finished: test accuracy {test.accuracy:.2%} ({elapsed:.1f} s, {speed:,.0f} "
            f"images/s on {launch.world_size} × {device_name(device)})")
    return 0
