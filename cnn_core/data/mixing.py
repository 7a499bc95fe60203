"""Training and testing on the class's drawings: MNIST's splits with the drawings mixed in (or
alone) as the Train page's choices say, and a recorded run's data in words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnn_core.data.datasets import DATASETS
from cnn_core.data.drawings import CLASSES, HOLD_OUT_EVERY, THIN_BELOW, stacked, thin_digits

if TYPE_CHECKING:
    import torch

    from cnn_core.data.class_data import ClassData
    from cnn_core.data.mnist import MnistSplits

TRAIN_CHOICES = {"dataset": "MNIST", "dataset+class": "MNIST + the class's drawings",
                 "class": "the class's drawings alone"}
TEST_CHOICES = {"dataset": "MNIST's held-out digits", "class": "the class's drawings"}


@dataclass(frozen=True)
class Mix:
    """The splits to train with, or why not (``refusal``), and warnings to show."""

    splits: MnistSplits | None
    refusal: str | None = None
    warnings: tuple[str, ...] = ()


def mix(base: MnistSplits, store: ClassData | None, train: str, test: str) -> Mix:
    """``base`` (MNIST) with the class's drawings as ``train`` and ``test`` say. When the
    training uses the drawings, the test uses only the held-out fifth (a fixed split by id),
    and so does validation when training on the drawings alone."""
    import torch

    if train not in TRAIN_CHOICES or test not in TEST_CHOICES:
        raise ValueError(f"unknown choice: train {train!r}, test {test!r}")
    if train == "dataset" and test == "dataset":
        return Mix(base)
    if base.dataset != "mnist":
        return Mix(None, "the class's drawings are digits: use them with MNIST")
    if store is None:
        return Mix(None, "the class set is not available on this server")
    drawings = store.drawings()
    if not drawings:
        return Mix(None, "the class set is empty: add drawings on the Draw page")
    images, labels = stacked(drawings)
    held = np.array([d.held_out for d in drawings], dtype=bool)
    split = train != "dataset" and test == "class"  # both use them: hold a fifth out

    def part(mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(images[mask]), torch.from_numpy(labels[mask])

    everything = np.ones(len(images), dtype=bool)
    class_train = part(~held if split else everything)
    class_test = part(held if split else everything)
    if train != "dataset" and not len(class_train[0]):
        return Mix(None, f"all {len(images)} of the class's drawings are held out for "
                         "testing: add more drawings")
    if test == "class" and not len(class_test[0]):
        return Mix(None, f"none of the class's {len(images)} drawings is held out for testing "
                         f"yet (one in {HOLD_OUT_EVERY} is, fixed by its id): add more "
                         "drawings, or test on MNIST")
    x, y = {"dataset": (base.train_images, base.train_labels),
            "dataset+class": (torch.cat([base.train_images, class_train[0]]),
                              torch.cat([base.train_labels, class_train[1]])),
            "class": class_train}[train]
    val = class_test if train == "class" and test == "class" else (base.val_images,
                                                                    base.val_labels)
    tx, ty = class_test if test == "class" else (base.test_images, base.test_labels)
    warnings = []
    if thin := thin_digits(np.bincount(labels, minlength=CLASSES).tolist()):
        warnings.append(f"the class set has fewer than {THIN_BELOW} drawings of "
                        f"{', '.join(map(str, thin))}: results for "
                        f"{'those digits' if len(thin) > 1 else 'that digit'} say little")
    return Mix(base.with_parts(train_images=x, train_labels=y, val_images=val[0],
                               val_labels=val[1], test_images=tx, test_labels=ty,
                               train_data=train, test_data=test), None, tuple(warnings))


def describe_run_data(settings: dict, data_source: str) -> str:
    """What a recorded run trained and was tested on, in words (older runs: MNIST)."""
    data = settings.get("data") or {}
    dataset = DATASETS.get(data.get("dataset", "mnist"), DATASETS["mnist"])
    title = dataset.title + (" (bundled digits)" if data_source == "bundled" else "")
    trained = TRAIN_CHOICES.get(data.get("train", "dataset"), "MNIST").replace("MNIST", title)
    tested = "the class's drawings" if data.get("test") == "class" else \
        f"held-out {dataset.title} images"
    return f"trained on {trained}, tested on {tested}"
