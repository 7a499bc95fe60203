"""One training on several processes or machines: PyTorch's DistributedDataParallel, launched
by ``torchrun``.

torchrun starts one process per device and tells each its place through the environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``). Every process
builds the same seeded model, DDP wraps it, and each runs the one epoch driver
(``driver.EpochDriver``) with its rank and the world size: the loop trains on its share of
every global batch. DDP averages the gradients during backward, so every process takes the
same optimizer step and keeps the same weights. Rank 0 alone prints, validates and tests.
gloo carries the gradients between CPUs, NCCL between CUDA GPUs (one GPU per process, picked
by ``LOCAL_RANK``).
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
from cnn_core.training.driver import EpochDriver
from cnn_core.training.evaluate import evaluate
from cnn_core.training.limits import TimeLimit
from cnn_core.training.metrics import EpochPoint, LossDiverged, Metrics
from cnn_core.training.trainer import TrainConfig, prepare, to_device

# A process that stops answering (a lost machine) fails the others' next collective after
# this long; long enough for the first process on each machine to download MNIST.
TIMEOUT = timedelta(seconds=300)


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


def say(text: str, file=sys.stdout) -> None:
    print(text, file=file, flush=True)


def train(spec: ArchitectureSpec, cfg: TrainConfig, launch: Launch) -> int:
    """The command line's ``train`` under torchrun: 0 when it finished, 1 when it failed, 2 for
    a setting that cannot work. Every process runs this; rank 0 alone prints."""
    lead = launch.rank == 0
    try:
        cfg.resolved_device()
        check_batch(cfg, launch.world_size)
        if cfg.stop_at_accuracy:  # rank 0 alone validates: the others could not know when
            raise ValueError("stop at accuracy is not available under torchrun: leave it at 0")
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
    metrics = Metrics()
    started = time.perf_counter()
    time_limit = TimeLimit(limits.seconds, cfg.epochs, world_size=launch.world_size,
                           device=device)
    driver = EpochDriver(wrap(model, device), optimizer, cfg,
                         to_device(images, labels, device),
                         (splits.val_images, splits.val_labels), metrics, time_limit,
                         rank=launch.rank, world_size=launch.world_size)

    def say_epoch(point: EpochPoint) -> bool:  # rank 0 alone validates, and is asked
        say(f"epoch {point.epoch}/{cfg.epochs}: train loss {point.train_loss:.4f} accuracy "
            f"{point.train_accuracy:.2%} | validation loss {point.val_loss:.4f} accuracy "
            f"{point.val_accuracy:.2%}")
        return True

    if driver.run(after_epoch=say_epoch) == "out of time":
        if lead:
            say(time_limit.reason)
        return 1
    if lead:
        elapsed = time.perf_counter() - started
        test = evaluate(model.to("cpu").eval(), splits.test_images, splits.test_labels)
        speed = metrics.images * launch.world_size / metrics.train_seconds
        say(f"finished: test accuracy {test.accuracy:.2%} ({elapsed:.1f} s, {speed:,.0f} "
            f"images/s on {launch.world_size} × {device_name(device)})")
    return 0
