"""One dataset per server, loaded in the background and shared by every session: from disk,
else downloaded, else (MNIST only) the bundled digits; and which datasets a server can offer."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cnn_core.data.datasets import DATASETS
from cnn_core.data.download import (
    DOWNLOADED,
    DownloadError,
    download_dataset,
    downloads_allowed,
    remove_unverified,
)
from cnn_core.data.mnist import MnistSplits, load_bundled, load_full, on_disk, raw_dir
from cnn_core.storage.places import data_dir


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
