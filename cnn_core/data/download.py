"""Downloading a dataset's files from torchvision's mirrors: every read bounded by a timeout,
every file md5-checked before it gets its name, and one plain sentence when it fails."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

from torchvision.datasets.utils import USER_AGENT, check_integrity, extract_archive

from cnn_core.data.datasets import DATASETS, Dataset
from cnn_core.data.mnist import raw_dir, torchvision_mirrors, torchvision_resources

OFFLINE_ENV = "CNN_EXPLAINER_OFFLINE"  # "1": never try to download (classrooms, tests)
DOWNLOAD_TIMEOUT_S = 15.0
CHUNK_BYTES = 1 << 16
DOWNLOADED = (".gz", ".zip", ".part")  # what a download writes, before unpacking


def downloads_allowed() -> bool:
    return os.environ.get(OFFLINE_ENV) != "1"


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
