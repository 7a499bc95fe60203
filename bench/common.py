"""Shared pieces of the benchmarks: the reference training loops the app is compared with.

Each loop trains the same epochs over exactly the same batches (the same shuffled orders of
the same digits) and returns images per second, wall clock from model creation to the last
step (the app's trainer: to its finished job, validation and test included).
``tutorial_seconds_to`` is the seed tutorial's loop as written, timed to a held-out accuracy
(``bench/time_to_accuracy.py``). The reference loops run in a process of their own, the app's
trainer in the benchmark's process, on its training thread, as a server runs it.
"""

from __future__ import annotations

import functools
import multiprocessing
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import ParamSpec, TypeVar

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_core.data.mnist import MNIST_MEAN, MNIST_STD, MnistSplits, load_bundled, normalize
from cnn_core.design.build import build_model
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.training.job import TrainingJob
from cnn_core.training.trainer import TrainConfig, make_optimizer

BATCH = 64
P = ParamSpec("P")
T = TypeVar("T")


def in_own_process(loop: Callable[P, T]) -> Callable[P, T]:
    """Run ``loop`` in a process of its own (one, started once and kept), so that a reference
    loop is timed as its own script would run, away from the app's training threads: OpenMP
    keeps a team of threads for each thread that has run a parallel op, and once a process's
    teams outnumber the cores, its waits between parallel ops sleep instead of spinning
    (LeNet-5 epochs 1.3-2x as long; docs/benchmarks.md). Each loop makes its digits there:
    sending tensors would copy them to shared memory, in parallel, on the caller's thread."""
    @functools.wraps(loop)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        if multiprocessing.parent_process() is not None:  # in the reference process itself
            return loop(*args, **kwargs)
        global _REFERENCE
        if _REFERENCE is None:
            _REFERENCE = ProcessPoolExecutor(1, multiprocessing.get_context("spawn"),
                                             torch.set_num_threads, (torch.get_num_threads(),))
        return _REFERENCE.submit(run, *args, **kwargs).result()
    return run


_REFERENCE: ProcessPoolExecutor | None = None  # the reference loops' process


def training_splits(n_train: int = 8000) -> MnistSplits:
    """The bundled real digits, first ``n_train`` to train on (the 8,000 repeated where more
    are asked for: a GPU needs longer epochs for its fixed costs to fade); tiny held-out sets
    so that validation and testing add nothing to the timed epoch."""
    b = load_bundled()
    images, labels = b.train_images, b.train_labels
    if n_train > len(images):  # copied only then: a parallel copy on the main thread would
        repeats = -(-n_train // len(images))  # leave it an OpenMP team (see in_own_process)
        images, labels = images.repeat(repeats, 1, 1), labels.repeat(repeats)
    tiny = slice(0, 64)
    return MnistSplits(images[:n_train], labels[:n_train],
                       b.val_images[tiny], b.val_labels[tiny], b.val_images[tiny],
                       b.val_labels[tiny], "bundled")


def epoch_orders(n: int, epochs: int, seed: int = 0) -> list[torch.Tensor]:
    """The shuffled orders the app's trainer uses for its epochs with this seed."""
    shuffler = torch.Generator().manual_seed(seed)
    return [torch.randperm(n, generator=shuffler) for _ in range(epochs)]


def synchronize(device: str) -> None:
    """Wait for a GPU's queued work, so that the clock reads finished work."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


@in_own_process
def plain_loop(spec: ArchitectureSpec, n_train: int = 8000, seed: int = 0,
               device: str = "cpu", epochs: int = 1) -> float:
    """The plainest PyTorch loop over one in-memory uint8 tensor (on the GPU, when training
    there; ``training_splits(n_train)``), with the same optimizer as the app's trainer (so
    that trainer/plain measures only the trainer's own overhead)."""
    splits = training_splits(n_train)
    synchronize(device)
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = build_model(spec).to(device)
    optimizer = make_optimizer(model, TrainConfig(batch_size=BATCH, seed=seed))
    loss_fn = nn.CrossEntropyLoss()
    images, labels = splits.train_images.to(device), splits.train_labels.to(device)
    model.train()
    for order in epoch_orders(len(images), epochs, seed):
        order = order.to(device)
        for i in range(0, len(images), BATCH):
            idx = order[i:i + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(normalize(images[idx])), labels[idx])
            loss.backward()
            optimizer.step()
    synchronize(device)
    return epochs * len(images) / (time.perf_counter() - start)


def app_trainer(spec: ArchitectureSpec, splits: MnistSplits, seed: int = 0,
                device: str = "cpu", epochs: int = 1) -> float:
    """The app's training as the Train page runs it: a ``TrainingJob`` on its worker thread,
    its epochs through the epoch driver (``driver.EpochDriver``) with the per-step metrics,
    the pause and stop checks and each epoch's validation included."""
    start = time.perf_counter()
    job = TrainingJob(spec, splits, TrainConfig(epochs=epochs, batch_size=BATCH, seed=seed,
                                                device=device))
    job.start()
    job.join()
    elapsed = time.perf_counter() - start
    snap = job.snapshot()
    assert snap.state == "finished", snap.message
    assert len(snap.steps) > 0  # metrics were published
    return epochs * len(splits.train_images) / elapsed


@in_own_process
def tutorial_loop(spec: ArchitectureSpec, n_train: int = 8000, seed: int = 0,
                  device: str = "cpu", epochs: int = 1) -> float:
    """The seed tutorial's way: a Dataset of PIL images through ToTensor and Normalize, and a
    DataLoader (here with a sampler giving the same batches as the other loops), and the
    tutorial's ``torch.optim.Adam(model.parameters(), lr=1e-3)``."""
    from torch.utils.data import DataLoader

    splits = training_splits(n_train)
    dataset = pil_digits(splits.train_images, splits.train_labels)
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = build_model(spec).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for order in epoch_orders(len(dataset), epochs, seed):
        for x, y in DataLoader(dataset, batch_size=BATCH, sampler=order.tolist()):
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
    synchronize(device)
    return epochs * len(dataset) / (time.perf_counter() - start)


def pil_digits(images: torch.Tensor, labels: torch.Tensor):
    """The seed tutorial's Dataset: PIL images through ``ToTensor`` and ``Normalize``."""
    from PIL import Image
    from torch.utils.data import Dataset
    from torchvision import transforms

    class PilMnist(Dataset):
        def __init__(self) -> None:
            self.images = [Image.fromarray(img.numpy(), mode="L") for img in images]
            self.labels = labels.tolist()
            self.transform = transforms.Compose([
                transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])

        def __len__(self) -> int:
            return len(self.images)

        def __getitem__(self, i: int):
            return self.transform(self.images[i]), self.labels[i]

    return PilMnist()


@in_own_process
def tutorial_seconds_to(target: float, spec: ArchitectureSpec, device: str = "cpu",
                        max_epochs: int = 12) -> tuple[float, int]:
    """The seed tutorial's recipe and loop as it is written (its DataLoader shuffles, batch
    100, Adam at 0.001) on the bundled digits, checking the held-out ones after each epoch
    with its test loop: seconds from model creation to the first check at ``target`` or over,
    and that epoch (infinity and ``max_epochs`` when it never gets there)."""
    from torch.utils.data import DataLoader

    splits = load_bundled()
    train = pil_digits(splits.train_images, splits.train_labels)
    held_out = pil_digits(splits.val_images, splits.val_labels)
    start = time.perf_counter()
    torch.manual_seed(0)
    model = build_model(spec).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    loss_fn = nn.CrossEntropyLoss()
    train_loader = DataLoader(train, batch_size=100, shuffle=True)
    test_loader = DataLoader(held_out, batch_size=100, shuffle=False)
    for epoch in range(1, max_epochs + 1):
        model.train()
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in test_loader:
                correct += (model(x.to(device)).argmax(1) == y.to(device)).sum().item()
        synchronize(device)
        if correct / len(held_out) >= target:
            return time.perf_counter() - start, epoch
    return float("inf"), max_epochs
