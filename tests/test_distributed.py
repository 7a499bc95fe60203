"""DDP on the CPU (gloo): processes spawned here, and the command line under torchrun."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from app_server import ROOT, free_port

from cnn_core.data.mnist import load_bundled
from cnn_core.design.presets import LENET5
from cnn_core.training import distributed
from cnn_core.training.trainer import TrainConfig, prepare, train_steps

ONE_STEP = TrainConfig(epochs=1, batch_size=64, optimizer="sgd", learning_rate=0.1, seed=5)


def _one_step(rank: int, world_size: int, port: int, out: str) -> None:
    """One process of the spawned pair: one DDP step of the one loop, then its weights."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    device = torch.device("cpu")
    distributed.join_group(rank, world_size, device, timeout=timedelta(seconds=60))
    try:
        digits = load_bundled()
        model, optimizer = prepare(LENET5, ONE_STEP, device)
        steps = train_steps(distributed.wrap(model, device), optimizer,
                            digits.train_images[:256], digits.train_labels[:256], ONE_STEP,
                            rank=rank, world_size=world_size)
        step = next(steps)
        steps.close()
        torch.save({"params": [p.detach().clone() for p in model.parameters()],
                    "labels": step.labels}, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_processes_take_the_step_one_process_takes_with_the_same_global_batch(
        tmp_path, bundled):
    mp.spawn(_one_step, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    model, optimizer = prepare(LENET5, ONE_STEP, torch.device("cpu"))
    start = [p.detach().clone() for p in model.parameters()]
    step = next(train_steps(model, optimizer, bundled.train_images[:256],
                            bundled.train_labels[:256], ONE_STEP))
    # Each process took its own half of the same global batch.
    assert len(ranks[0]["labels"]) == len(ranks[1]["labels"]) == 32
    assert torch.equal(torch.cat([ranks[0]["labels"], ranks[1]["labels"]]).sort().values,
                       step.labels.sort().values)
    for p0, p1, single, before in zip(ranks[0]["params"], ranks[1]["params"],
                                      model.parameters(), start):
        assert torch.equal(p0, p1)  # bit-identical on both processes
        torch.testing.assert_close(p0, single.detach(), rtol=0, atol=1e-6)
        assert not torch.equal(p0, before)  # the step moved every weight


def test_without_torchrun_nothing_is_distributed(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.Launch.from_env() is None
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.Launch.from_env() == distributed.Launch(1, 4, 1)


def test_every_process_gets_an_equal_non_empty_share():
    with pytest.raises(ValueError, match=r"batch size 63 must be a multiple of the number of "
                                         r"processes \(2\)"):
        distributed.check_batch(TrainConfig(batch_size=63), 2)
    images, labels = torch.zeros(103, 28, 28, dtype=torch.uint8), torch.arange(103) % 10
    kept, kept_labels = distributed.even_digits(images, labels, 4)
    assert len(kept) == len(kept_labels) == 100
    config = TrainConfig(epochs=1, batch_size=8, optimizer="sgd", learning_rate=0.0)
    for rank in range(4):  # the last, partial batch (4 digits) too: one digit for each
        model, optimizer = prepare(LENET5, config, torch.device("cpu"))
        sizes = [len(s.labels) for s in train_steps(model, optimizer, kept, kept_labels,
                                                    config, rank=rank, world_size=4)]
        assert sizes == [2] * 12 + [1]


def torchrun(*args: str, **popen) -> subprocess.Popen:
    """``python -m cnn_core train ARGS`` on two CPU processes under torchrun, offline."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CNN_EXPLAINER_OFFLINE": "1",
           "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
         "-m", "cnn_core", "train", *args], cwd=ROOT, env=env, text=True, **popen)


@pytest.mark.slow
def test_torchrun_trains_lenet5_on_two_processes_and_prints_one_result():
    proc = torchrun("--preset", "lenet5", "--epochs", "3", "--batch-size", "64",
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert "distributed: 2 processes, gloo, global batch 64 (32 each)" in out
    assert len(re.findall(r"^epoch \d/3:", out, re.M)) == 3  # rank 0 alone prints
    results = re.findall(r"^finished: test accuracy ([\d.]+)%", out, re.M)
    assert len(results) == 1, out
    assert float(results[0]) >= 95.0, out


@pytest.mark.slow
def test_torchrun_stops_every_process_at_the_time_limit(monkeypatch):
    monkeypatch.setenv("CNN_EXPLAINER_TRAINING_SECONDS", "3")
    monkeypatch.setenv("CNN_EXPLAINER_TRAINING_MACS_PER_S", "1e15")  # admitted: it fits, on paper
    # batch 64: at the recipe's 32 the per-step costs alone would not fit 3 s on paper
    proc = torchrun("--preset", "lenet5", "--epochs", "10", "--batch-size", "64",
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err[-3000:]
    said = re.findall(r"^stopped at the time limit: one training may take 3 s on this server "
                      r"\(it had trained [\d.]+ of 10 epochs\)$", out, re.M)
    assert len(said) == 1, out  # rank 0 says it; every process stopped at the same step
    assert "finished:" not in out


def _rank_pid(launcher: int, rank: int) -> int | None:
    """The pid of torchrun's worker with ``RANK=rank``, from /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == launcher and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


@pytest.mark.slow
def test_a_killed_rank_ends_the_run_with_its_error(tmp_path):
    out_path, err_path = tmp_path / "out.txt", tmp_path / "err.txt"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = torchrun("--preset", "lenet5", "--epochs", "50", stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + 300
        while "distributed:" not in out_path.read_text():  # every rank is training
            assert proc.poll() is None and time.monotonic() < deadline, err_path.read_text()
            time.sleep(0.2)
        pid = _rank_pid(proc.pid, rank=1)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=60)  # the run ends (60 s bounds a hang, not how soon it ends)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    err = err_path.read_text()
    assert re.search(r"rank\s*: 1 \(local_rank: 1\)\n\s*exitcode\s*: -9", err), err[-3000:]
    assert "finished:" not in out_path.read_text()
