"""DDP on the CPU: two processes of one thread each against one process of two threads.

The same global batch (64), the same seed, one epoch of LeNet-5 on the 8,000 bundled digits,
both through the app's epoch driver (``driver.EpochDriver``: the one loop, the curves'
bookkeeping and the epoch's validation); the two processes split each batch and average
gradients over gloo. Timed from the model's creation to the last step
(process start and torch import left out of both). Ends with ``ddp2_vs_single=R``:
images/s of the two processes over images/s of the one (R > 1: DDP is faster).

Run: python bench/ddp.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import time
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from common import BATCH, training_splits

from cnn_core.design.presets import LENET5
from cnn_core.training import distributed
from cnn_core.training.driver import EpochDriver
from cnn_core.training.metrics import Metrics
from cnn_core.training.trainer import TrainConfig, prepare

CONFIG = TrainConfig(epochs=1, batch_size=BATCH, seed=0)
DEVICE = torch.device("cpu")


def one_epoch(model_wrapper, rank: int = 0, world_size: int = 1) -> float:
    """Seconds for one epoch through the epoch driver, from the model's creation."""
    splits = training_splits(8000)
    start = time.perf_counter()
    model, optimizer = prepare(LENET5, CONFIG, DEVICE)
    driver = EpochDriver(model_wrapper(model), optimizer, CONFIG,
                         (splits.train_images, splits.train_labels),
                         (splits.val_images, splits.val_labels), Metrics(),
                         rank=rank, world_size=world_size)
    assert driver.run() == "finished"
    return time.perf_counter() - start


def _ddp_process(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    distributed.join_group(rank, 2, DEVICE, timeout=timedelta(seconds=120))
    try:
        dist.barrier()  # both start together
        seconds = one_epoch(lambda m: distributed.wrap(m, DEVICE), rank, 2)
        dist.barrier()  # the epoch is over when both are
        if rank == 0:
            Path(out).write_text(str(seconds))
    finally:
        dist.destroy_process_group()


def ddp_seconds() -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = Path(f"/tmp/bench_ddp_{os.getpid()}.txt")
    mp.spawn(_ddp_process, args=(port, str(out)), nprocs=2, join=True)
    seconds = float(out.read_text())
    out.unlink()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    rounds = parser.parse_args().rounds
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, LeNet-5, 8,000 digits, "
          f"global batch {BATCH}")
    one_epoch(lambda m: m)  # warm-up
    single, ddp = [], []
    for _ in range(rounds):  # interleaved, so drift hits both alike
        single.append(8000 / one_epoch(lambda m: m))
        ddp.append(8000 / ddp_seconds())
        print(f"single (2 threads) {single[-1]:7,.0f} img/s   ddp (2 x 1 thread) "
              f"{ddp[-1]:7,.0f} img/s", flush=True)
    ratio = statistics.median(ddp) / statistics.median(single)
    print(f"ddp2_vs_single={ratio:.2f}")


if __name__ == "__main__":
    main()
