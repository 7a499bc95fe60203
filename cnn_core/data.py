"""MNIST as in-memory uint8 tensors: downloaded by torchvision, or the bundled test set offline.

Each split is held once as a single ``uint8`` tensor (``N x 28 x 28``) that every session
shares; training batches are sliced from it and normalised on the fly, with no per-image PIL
work. When the full dataset is neither on disk nor downloadable, the real 10,000-image test
set shipped in ``cnn_core/bundled_mnist`` is split 8,000 train / 2,000 held out.
"""

from __future__ import annotations

import gzip
import os
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torchvision.datasets import MNIST

DATA_DIR_ENV = "CNN_EXPLAINER_DATA"
OFFLINE_ENV = "CNN_EXPLAINER_OFFLINE"  # "1": never try to download (classrooms, tests)
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled_mnist"
DOWNLOAD_TIMEOUT_S = 15.0
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
BUNDLED_TRAIN = 8_000
FULL_VALIDATION = 5_000
# Sizes of the compressed files, to show download progress from what is on disk.
RESOURCE_BYTES = {"train-images-idx3-ubyte.gz": 9_912_422, "train-labels-idx1-ubyte.gz": 28_881,
                  "t10k-images-idx3-ubyte.gz": 1_648_877, "t10k-labels-idx1-ubyte.gz": 4_542}


def data_dir() -> Path:
    """Where the full dataset lives: ``$CNN_EXPLAINER_DATA`` or ``data/`` in the project."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


@dataclass(frozen=True)
class MnistSplits:
    """Train, validation and test digits as uint8 images and int64 labels."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: Literal["full", "bundled"]

    @property
    def description(self) -> str:
        if self.source == "full":
            return (f"MNIST: {len(self.train_images):,} training, {len(self.val_images):,} "
                    f"validation and {len(self.test_images):,} test digits")
        return (f"Offline: the bundled MNIST test set, {len(self.train_images):,} digits to "
                f"train on and {len(self.val_images):,} held out (used for validation and "
                "the final test), because the full dataset could not be downloaded")


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) or float in [0, 1] -> the float (N, 1, 28, 28) input the models take."""
    x = images.float()
    if images.dtype == torch.uint8:
        x = x / 255.0
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return (x - MNIST_MEAN) / MNIST_STD


def read_idx_gz(path: Path) -> torch.Tensor:
    """Parse a gzipped IDX file (the MNIST format) into a uint8 tensor."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[:4], "big")
    if magic >> 8 != 0x08:
        raise ValueError(f"{path.name} is not an unsigned-byte IDX file")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    array = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    return torch.from_numpy(array.copy())


def load_bundled() -> MnistSplits:
    """The shipped 10,000 test digits: first 8,000 train, last 2,000 held out."""
    images = read_idx_gz(BUNDLED_DIR / "t10k-images-idx3-ubyte.gz")
    labels = read_idx_gz(BUNDLED_DIR / "t10k-labels-idx1-ubyte.gz").long()
    n = BUNDLED_TRAIN
    return MnistSplits(images[:n], labels[:n], images[n:], labels[n:], images[n:], labels[n:],
                       source="bundled")


def full_mnist_on_disk(root: Path) -> bool:
    """True when torchvision finds all four uncompressed files under ``root/MNIST/raw``."""
    raw = root / "MNIST" / "raw"
    return all((raw / name.removesuffix(".gz")).is_file() for name in RESOURCE_BYTES)


def load_full(root: Path) -> MnistSplits:
    """The full dataset from disk: 55,000 train, the last 5,000 training digits for validation,
    and the official 10,000 test digits."""
    train = MNIST(str(root), train=True, download=False)
    test = MNIST(str(root), train=False, download=False)
    n = len(train.data) - FULL_VALIDATION
    return MnistSplits(train.data[:n], train.targets[:n], train.data[n:], train.targets[n:],
                       test.data, test.targets, source="full")


class DownloadError(RuntimeError):
    """The download failed; the message is one plain sentence for the page."""


class _RequestTimeout(urllib.request.BaseHandler):
    """Gives every http(s) request a timeout before urllib opens it."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout

    def http_request(self, req: urllib.request.Request) -> urllib.request.Request:
        req.timeout = self._timeout
        return req

    https_request = http_request


def _install_bounded_urlopen(timeout: float) -> None:
    """torchvision calls ``urlopen`` without a timeout, which can hang forever on a network
    that drops packets. Installing an opener that sets one on every request bounds every
    connect and read to ``timeout`` seconds (urllib only; other sockets are untouched)."""
    urllib.request.install_opener(urllib.request.build_opener(_RequestTimeout(timeout)))


def download_mnist(root: Path, mirrors: list[str] | None = None,
                   resources: list[tuple[str, str]] | None = None,
                   timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Download and md5-check MNIST with torchvision's own code into ``root/MNIST/raw``.

    ``mirrors`` and ``resources`` default to torchvision's; tests point them at a local server.
    On any failure, files that are not complete and verified are removed, and
    ``DownloadError`` says why in one sentence.
    """
    # torchvision names the folder after the class, so the subclass keeps the name MNIST.
    dataset_cls = type("MNIST", (MNIST,), {
        "mirrors": mirrors or MNIST.mirrors, "resources": resources or MNIST.resources})
    _install_bounded_urlopen(timeout)
    downloader = dataset_cls.__new__(dataset_cls)
    downloader.root = str(root)
    try:
        downloader.download()
    except BaseException as exc:  # includes a Streamlit rerun stopping the thread
        _remove_unverified(root / "MNIST" / "raw", dataset_cls.resources)
        if isinstance(exc, (RuntimeError, OSError, urllib.error.URLError, ValueError)):
            raise DownloadError(_explain_download_failure(exc)) from exc
        raise


def _remove_unverified(raw: Path, resources: list[tuple[str, str]]) -> None:
    from torchvision.datasets.utils import check_integrity

    for filename, md5 in resources:
        archive = raw / filename
        if archive.exists() and not check_integrity(str(archive), md5):
            archive.unlink()
            (raw / filename.removesuffix(".gz")).unlink(missing_ok=True)


def _explain_download_failure(exc: BaseException) -> str:
    text = str(exc)
    if "corrupted" in text or "md5" in text.lower() or "Not a gzipped" in text:
        return ("the downloaded MNIST files were incomplete or corrupt (md5 check failed); "
                "they were removed")
    if "timed out" in text:
        return (f"the MNIST server did not answer within {DOWNLOAD_TIMEOUT_S:.0f} s; "
                "the network may be down")
    if "Name or service not known" in text or "Temporary failure in name resolution" in text:
        return "no network: the MNIST servers cannot be reached from this computer"
    if "refused" in text:
        return "the MNIST server refused the connection"
    first_line = text.strip().splitlines()[-1] if text.strip() else type(exc).__name__
    return f"downloading MNIST failed: {first_line[:200]}"


@dataclass(frozen=True)
class DataStatus:
    """What the page shows while data is being prepared."""

    state: Literal["idle", "downloading", "ready"]
    fraction: float
    message: str


class MnistStore:
    """Loads MNIST once per server, in a background thread, and shares the tensors.

    The full dataset is used when it is on disk or can be downloaded; otherwise the bundled
    set, with ``offline_reason`` saying why. ``retry()`` tries the download again.
    """

    def __init__(self, root: Path | None = None, mirrors: list[str] | None = None,
                 allow_download: bool | None = None) -> None:
        self.root = root or data_dir()
        self.mirrors = mirrors
        if allow_download is None:
            allow_download = os.environ.get(OFFLINE_ENV) != "1"
        self.allow_download = allow_download
        self.splits: MnistSplits | None = None
        self.offline_reason: str | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin loading in the background (no-op when already started)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._load, name="mnist-load",
                                                daemon=True)
                self._thread.start()

    def wait(self, timeout: float | None = None) -> MnistSplits:
        """Start if needed and block until the splits are ready (scripts and tests)."""
        self.start()
        assert self._thread is not None
        self._thread.join(timeout)
        if self.splits is None:
            raise TimeoutError("MNIST is still loading")
        return self.splits

    def retry(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = None
            self.splits = None
            self.offline_reason = None
        self.start()

    def status(self) -> DataStatus:
        if self.splits is not None:
            return DataStatus("ready", 1.0, self.splits.description)
        if self._thread is None:
            return DataStatus("idle", 0.0, "MNIST not loaded yet")
        raw = self.root / "MNIST" / "raw"
        done = sum(min((raw / n).stat().st_size, size) if (raw / n).exists() else 0
                   for n, size in RESOURCE_BYTES.items())
        total = sum(RESOURCE_BYTES.values())
        return DataStatus("downloading", done / total,
                          f"Downloading MNIST: {done / 1e6:.1f} of {total / 1e6:.1f} MB")

    def _load(self) -> None:
        splits: MnistSplits | None = None
        _remove_unverified(self.root / "MNIST" / "raw", MNIST.resources)  # corrupt: fetch again
        if not full_mnist_on_disk(self.root) and self.allow_download:
            try:
                download_mnist(self.root, self.mirrors)
            except DownloadError as exc:
                self.offline_reason = str(exc)
        elif not self.allow_download and not full_mnist_on_disk(self.root):
            self.offline_reason = "downloading is turned off"
        if full_mnist_on_disk(self.root):
            try:
                splits = load_full(self.root)
            except (RuntimeError, OSError, ValueError) as exc:
                self.offline_reason = f"the MNIST files on disk could not be read ({exc})"
        self.splits = splits or load_bundled()
