"""The 28x28 datasets as in-memory uint8 tensors: MNIST, Fashion-MNIST, KMNIST, EMNIST letters.

Each comes through torchvision's own dataset class (its folder name, mirrors, md5 sums and
IDX reader). Each split is held once as a single ``uint8`` tensor (``N x 28 x 28``) that
every session shares; batches are sliced from it and normalised on the fly. When the full
MNIST is neither on disk nor downloadable, the real 10,000-image test set shipped in
``cnn_core/bundled_mnist`` is split 8,000 train / 2,000 held out; the other datasets have no
such fallback and are offered only when on disk or downloadable.
"""

from __future__ import annotations

import gzip
import http.client
import os
import shutil
import socket
import threading
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torchvision.datasets import EMNIST, KMNIST, MNIST, FashionMNIST
from torchvision.datasets.utils import USER_AGENT, check_integrity, extract_archive

from cnn_core.data.datasets import DATASETS, Dataset

DATA_DIR_ENV = "CNN_EXPLAINER_DATA"
OFFLINE_ENV = "CNN_EXPLAINER_OFFLINE"  # "1": never try to download (classrooms, tests)
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "data"
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled_mnist"
DOWNLOAD_TIMEOUT_S = 15.0
CHUNK_BYTES = 1 << 16
DOWNLOADED = (".gz", ".zip", ".part")  # what a download writes, before unpacking
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
BUNDLED_TRAIN = 8_000
FULL_VALIDATION = 5_000

SOURCES = {"MNIST": MNIST, "FashionMNIST": FashionMNIST, "KMNIST": KMNIST, "EMNIST": EMNIST}


def source(dataset: Dataset) -> type[MNIST]:
    """torchvision's class for ``dataset``: its mirrors, md5 sums, folder and loader."""
    return SOURCES[dataset.torchvision_class]


def classes(dataset: Dataset) -> tuple[str, ...]:
    """The class names torchvision gives (EMNIST letters without its unused "N/A")."""
    if dataset.split:
        return tuple(EMNIST.classes_split_dict[dataset.split][dataset.label_offset:])
    return tuple(str(c).split(" - ")[0] for c in source(dataset).classes)


def torchvision_resources(dataset: Dataset) -> list[tuple[str, str]]:
    """(file name, md5) to download, as torchvision lists them."""
    if source(dataset) is EMNIST:
        return [(EMNIST.url.rsplit("/", 1)[1], EMNIST.md5)]
    return list(source(dataset).resources)


def torchvision_mirrors(dataset: Dataset) -> list[str]:
    if source(dataset) is EMNIST:
        return [EMNIST.url.rsplit("/", 1)[0] + "/"]
    return list(source(dataset).mirrors)


def files(dataset: Dataset) -> list[str]:
    """The uncompressed IDX files torchvision loads from ``raw/``."""
    if source(dataset) is EMNIST:
        return [f"emnist-{dataset.split}-{part}-{kind}-ubyte" for part in ("train", "test")
                for kind in ("images-idx3", "labels-idx1")]
    return [name.removesuffix(".gz") for name, _ in torchvision_resources(dataset)]


def data_dir() -> Path:
    """Where the full datasets live: ``$CNN_EXPLAINER_DATA`` or ``data/`` in the project."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def downloads_allowed() -> bool:
    return os.environ.get(OFFLINE_ENV) != "1"


def raw_dir(root: Path, dataset: Dataset) -> Path:
    return Path(root) / dataset.torchvision_class / "raw"


TrainData = Literal["dataset", "dataset+class", "class"]
TestData = Literal["dataset", "class"]


@dataclass(frozen=True)
class MnistSplits:
    """Train, validation and test images as uint8 tensors and int64 labels, and where they
    came from (``train_data``/``test_data``: the dataset itself or the class's drawings)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: Literal["full", "bundled"]
    dataset: str = "mnist"
    train_data: TrainData = "dataset"
    test_data: TestData = "dataset"

    @property
    def info(self) -> Dataset:
        return DATASETS[self.dataset]

    @property
    def classes(self) -> tuple[str, ...]:
        return classes(self.info)

    @property
    def description(self) -> str:
        title = self.info.title
        if "class" in (self.train_data, self.test_data):
            trained = {"dataset": title, "dataset+class": f"{title} and the class's drawings",
                       "class": "the class's drawings"}[self.train_data]
            tested = "the class's drawings" if self.test_data == "class" else title
            return (f"Training on {trained} ({len(self.train_images):,} images), testing on "
                    f"{tested} ({len(self.test_images):,})")
        if self.source == "full":
            return (f"{title}: {len(self.train_images):,} training, {len(self.val_images):,} "
                    f"validation and {len(self.test_images):,} test images")
        return (f"Offline: the bundled MNIST test set, {len(self.train_images):,} digits to "
                f"train on and {len(self.val_images):,} held out (used for validation and "
                "the final test), because the full dataset could not be downloaded")

    def with_parts(self, **parts: object) -> MnistSplits:
        return replace(self, **parts)


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


def on_disk(root: Path, dataset: Dataset) -> bool:
    """True when torchvision finds every uncompressed file of ``dataset`` under ``root``."""
    raw = raw_dir(root, dataset)
    return all((raw / name).is_file() for name in files(dataset))


def full_mnist_on_disk(root: Path) -> bool:
    return on_disk(root, DATASETS["mnist"])


def load_full(root: Path, dataset: Dataset | None = None) -> MnistSplits:
    """The full dataset from disk, through torchvision's class: the last 5,000 training
    images for validation, the official test images for the test."""
    dataset = dataset or DATASETS["mnist"]
    extra = {"split": dataset.split} if dataset.split else {}
    train = source(dataset)(str(root), train=True, download=False, **extra)
    test = source(dataset)(str(root), train=False, download=False, **extra)

    def images(part: MNIST) -> torch.Tensor:
        return part.data.transpose(1, 2).contiguous() if dataset.transposed else part.data

    def labels(part: MNIST) -> torch.Tensor:
        return part.targets.long() - dataset.label_offset

    n = len(train.data) - min(FULL_VALIDATION, len(train.data) // 6)
    x, y = images(train), labels(train)
    return MnistSplits(x[:n], y[:n], x[n:], y[n:], images(test), labels(test), source="full",
                       dataset=dataset.key)


# ---- downloading ----------------------------------------------------------------------------
class DownloadError(RuntimeError):
    """The download failed; the message is one plain sentence for the page."""


class IntegrityError(ValueError):
    """A downloaded file does not have the md5 sum torchvision lists for it."""


def fetch(url: str, path: Path, timeout: float) -> None:
    """Download ``url`` to ``path``, bounding every connect and read by ``timeout`` seconds
    (torchvision's ``download_url`` takes no timeout, so this one call is ours)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(path, "wb") as f:
        while chunk := response.read(CHUNK_BYTES):
            f.write(chunk)


def download_dataset(dataset: Dataset, root: Path, mirrors: list[str] | None = None,
                     resources: list[tuple[str, str]] | None = None,
                     timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Download ``dataset``'s files into ``root/<Class>/raw``, md5-check each with
    torchvision's ``check_integrity`` and unpack it with its ``extract_archive``.

    ``mirrors`` and ``resources`` default to torchvision's; tests point them at a local
    server and its files. A file gets its own name only once its md5 matches, so a failure
    never leaves an unverified file behind; ``DownloadError`` says why in one sentence.
    """
    raw = raw_dir(root, dataset)
    raw.mkdir(parents=True, exist_ok=True)
    for filename, md5 in resources or torchvision_resources(dataset):
        archive = raw / filename
        if check_integrity(str(archive), md5):
            _unpack(dataset, archive)
            continue
        error: Exception | None = None
        for mirror in mirrors or torchvision_mirrors(dataset):
            partial = raw / f"{filename}.part"
            try:
                fetch(f"{mirror}{filename}", partial, timeout)
                if not check_integrity(str(partial), md5):
                    raise IntegrityError(filename)
                partial.replace(archive)
                _unpack(dataset, archive)
                error = None
                break
            except (OSError, http.client.HTTPException, IntegrityError, EOFError,
                    zlib.error, zipfile.BadZipFile) as exc:
                partial.unlink(missing_ok=True)
                error = exc
        if error is not None:
            raise DownloadError(explain_download_failure(error, dataset.title, timeout)) \
                from error


def download_mnist(root: Path, mirrors: list[str] | None = None,
                   resources: list[tuple[str, str]] | None = None,
                   timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    download_dataset(DATASETS["mnist"], root, mirrors, resources, timeout)


def _unpack(dataset: Dataset, archive: Path) -> None:
    raw = archive.parent
    if archive.suffix == ".zip":  # EMNIST: one zip of every split; keep only this one's
        with zipfile.ZipFile(archive) as z:
            for member in z.namelist():
                name = member.rsplit("/", 1)[-1]
                if name.startswith(f"emnist-{dataset.split}-") and name.endswith(".gz"):
                    with z.open(member) as src, open(raw / name, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    extract_archive(str(raw / name), str(raw), remove_finished=True)
        return
    extract_archive(str(archive), str(raw))


def explain_download_failure(exc: BaseException, title: str, timeout: float) -> str:
    """One sentence for a failed download, chosen by the error's type."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) and not isinstance(
        exc, urllib.error.HTTPError) else exc
    if isinstance(exc, (IntegrityError, http.client.IncompleteRead, EOFError, zlib.error,
                        zipfile.BadZipFile)):
        return (f"the downloaded {title} files were incomplete or corrupt (md5 check failed); "
                "they were removed")
    if isinstance(reason, TimeoutError):
        return f"the {title} server did not answer within {timeout:.0f} s; the network may be down"
    if isinstance(reason, socket.gaierror):
        return f"no network: the {title} servers cannot be reached from this computer"
    if isinstance(reason, ConnectionRefusedError):
        return f"the {title} server refused the connection"
    if isinstance(reason, ConnectionError):
        return f"the connection to the {title} server was cut"
    if isinstance(exc, urllib.error.HTTPError):
        return f"the {title} server answered {exc.code} ({exc.reason})"
    return f"downloading {title} failed: {type(reason).__name__}: {reason}"[:200].splitlines()[0]


def remove_unverified(root: Path, dataset: Dataset,
                      resources: list[tuple[str, str]] | None = None) -> None:
    """Remove archives on disk that fail their md5 check, and what was unpacked from them."""
    raw = raw_dir(root, dataset)
    for filename, md5 in resources or torchvision_resources(dataset):
        archive = raw / filename
        if archive.exists() and not check_integrity(str(archive), md5):
            archive.unlink()
            (raw / filename.removesuffix(".gz")).unlink(missing_ok=True)


# ---- one dataset per server, loaded in the background ---------------------------------------
@dataclass(frozen=True)
class DataStatus:
    """What the page shows while data is being prepared."""

    state: Literal["idle", "downloading", "ready", "unavailable"]
    fraction: float
    message: str


class DatasetUnavailable(RuntimeError):
    """The dataset is neither on disk nor downloadable (the message says why)."""


class MnistStore:
    """Loads one dataset once per server, in a background thread, and shares the tensors.

    The full dataset is used when it is on disk or can be downloaded; otherwise MNIST falls
    back to the bundled set (``offline_reason`` says why) and any other dataset is
    unavailable (``offline_reason`` too). ``retry()`` tries the download again.
    """

    def __init__(self, root: Path | None = None, mirrors: list[str] | None = None,
                 allow_download: bool | None = None, dataset: str = "mnist",
                 resources: list[tuple[str, str]] | None = None) -> None:
        self.root = root or data_dir()
        self.mirrors, self.resources = mirrors, resources
        self.dataset = DATASETS[dataset]
        self.allow_download = downloads_allowed() if allow_download is None else allow_download
        self.splits: MnistSplits | None = None
        self.offline_reason: str | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin loading in the background (no-op when already started)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._load, daemon=True,
                                                name=f"{self.dataset.key}-load")
                self._thread.start()

    def wait(self, timeout: float | None = None) -> MnistSplits:
        """Start if needed and block until the splits are ready (scripts and tests)."""
        self.start()
        assert self._thread is not None
        self._thread.join(timeout)
        if self.splits is None:
            if not self._thread.is_alive():
                raise DatasetUnavailable(self.offline_reason or "not available")
            raise TimeoutError(f"{self.dataset.title} is still loading")
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
            return DataStatus("idle", 0.0, f"{self.dataset.title} not loaded yet")
        if not self._thread.is_alive():
            return DataStatus("unavailable", 0.0, f"{self.dataset.title} is not available: "
                                                  f"{self.offline_reason}")
        raw = raw_dir(self.root, self.dataset)
        done = sum(p.stat().st_size for p in raw.glob("*") if p.suffix in DOWNLOADED) \
            if raw.is_dir() else 0
        total = max(self.dataset.download_bytes, 1)
        return DataStatus("downloading", min(done / total, 1.0),
                          f"Downloading {self.dataset.title}: {done / 1e6:.1f} of "
                          f"{total / 1e6:.1f} MB")

    def _load(self) -> None:
        dataset = self.dataset
        remove_unverified(self.root, dataset, self.resources)  # corrupt: fetch again
        if not on_disk(self.root, dataset):
            if self.allow_download:
                try:
                    download_dataset(dataset, self.root, self.mirrors, self.resources)
                except DownloadError as exc:
                    self.offline_reason = str(exc)
            else:
                self.offline_reason = "downloading is turned off"
        splits = None
        if on_disk(self.root, dataset):
            try:
                splits = load_full(self.root, dataset)
            except (RuntimeError, OSError, ValueError, TypeError, AssertionError) as exc:
                self.offline_reason = f"the {dataset.title} files on disk could not be read ({exc})"
        if splits is None and dataset.key == "mnist":
            splits = load_bundled()
        self.splits = splits


def offered(root: Path | None = None, allow_download: bool | None = None
            ) -> tuple[list[str], dict[str, str]]:
    """The datasets this server can offer, and for each one it cannot, why not (offline,
    only what is on disk: MNIST always, through its bundled digits)."""
    root = root or data_dir()
    allow = downloads_allowed() if allow_download is None else allow_download
    keys, why_not = [], {}
    for key, dataset in DATASETS.items():
        if key == "mnist" or allow or on_disk(root, dataset):
            keys.append(key)
        else:
            why_not[key] = (f"{dataset.title} is not on this server's disk "
                            f"({raw_dir(root, dataset)}) and downloading is turned off")
    return keys, why_not
