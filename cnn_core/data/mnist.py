"""The 28x28 datasets as in-memory uint8 tensors: MNIST, Fashion-MNIST, KMNIST, EMNIST letters.

Each comes through torchvision's own dataset class (its folder name, mirrors, md5 sums and
IDX reader). Each split is held once as a single ``uint8`` tensor (``N x 28 x 28``) that
every session shares; batches are sliced from it and normalised on the fly. When the full
MNIST is neither on disk nor downloadable, the real 10,000-image test set shipped in
``cnn_core/bundled_mnist`` is split 8,000 train / 2,000 held out; the other datasets have no
such fallback and are offered only when on disk or downloadable. Fetching the files is
``download``'s job, loading one per server in the background ``dataset_store``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import torch
from torchvision.datasets import EMNIST, KMNIST, MNIST, FashionMNIST

from cnn_core.data.datasets import DATASETS, Dataset
from cnn_core.data.idx import parse_idx

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled_mnist"
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
BUNDLED_SIZE, BUNDLED_TRAIN = 10_000, 8_000
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


def load_bundled() -> MnistSplits:
    """The shipped 10,000 test digits: first 8,000 train, last 2,000 held out."""
    images = _bundled("t10k-images-idx3-ubyte.gz", (0, 28, 28))
    labels = _bundled("t10k-labels-idx1-ubyte.gz", (0,)).long()
    n = BUNDLED_TRAIN
    return MnistSplits(images[:n], labels[:n], images[n:], labels[n:], images[n:], labels[n:],
                       source="bundled")


def _bundled(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """One shipped IDX file, read as every IDX file is (``idx``)."""
    return torch.from_numpy(parse_idx((BUNDLED_DIR / name).read_bytes(), name, shape,
                                      BUNDLED_SIZE))


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
