"""A smaller copy of a set of digits, for tests and benchmarks that need only a few."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

Splits = TypeVar("Splits")


def first_digits(splits: Splits, train: int, held_out: int) -> Splits:
    """The first ``train`` training digits, and the first ``held_out`` validation digits as
    both the validation and the test set (as the bundled digits are split); every other
    field is kept."""
    images, labels = splits.val_images[:held_out], splits.val_labels[:held_out]
    return dataclasses.replace(splits, train_images=splits.train_images[:train],
                               train_labels=splits.train_labels[:train], val_images=images,
                               val_labels=labels, test_images=images, test_labels=labels)
