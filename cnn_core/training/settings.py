"""The training settings' ranges and defaults: one table that ``TrainConfig``, the Train page's
widgets, the command line's options and the memory budget all read.

Kept apart from ``trainer`` (which loads torch) so that the CLI can build its options, and the
Design page its budget note, without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnn_core.design.presets import preset_of
from cnn_core.design.spec import ArchitectureSpec


@dataclass(frozen=True)
class Setting:
    """One numeric training setting: its allowed range and its default."""

    minimum: float
    maximum: float
    default: float

    def describe_range(self) -> str:
        """``1 to 50``, ``1e-06 to 10``, ``0 to 2,147,483,647``."""
        return f"{_number(self.minimum)} to {_number(self.maximum)}"


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


SETTINGS: dict[str, Setting] = {
    "epochs": Setting(1, 50, 3),
    "batch_size": Setting(1, 2048, 64),
    "learning_rate": Setting(1e-6, 10.0, 1e-3),
    "seed": Setting(0, 2**31 - 1, 0),  # what torch.manual_seed takes on every platform
    # Stop once validation accuracy reaches this many percent (checked after each epoch);
    # 0: off, every epoch runs.
    "stop_at_accuracy": Setting(0, 100, 0),
}
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
DEFAULT_OPTIMIZER = "adam"
SGD_MOMENTUM = 0.9
# How the learning rate moves over a training (``cnn_core.training.schedule``): held where it
# is set, or torch's one-cycle (up to it and back down to almost nothing by the last step).
SCHEDULES: tuple[str, ...] = ("constant", "one_cycle")
SCHEDULE_NAMES = {"constant": "constant", "one_cycle": "one-cycle"}
DEFAULT_SCHEDULE = "constant"
# The settings that are one of a few words, by TrainConfig field (the device's are the
# machine's own: ``devices.available_devices``); the Train page draws each as a choice.
CHOICES: dict[str, tuple[str, ...]] = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES}
# What a recipe sets; a preset's recipe names those that differ from the defaults, and
# loading a preset sets all of them (so the previous preset's recipe does not linger).
RECIPE_FIELDS: tuple[str, ...] = ("epochs", "batch_size", "optimizer", "learning_rate",
                                  "schedule")


def recipe(spec: ArchitectureSpec) -> dict[str, float | int | str]:
    """The settings a training of ``spec`` starts from, by ``TrainConfig`` field: its preset's
    recipe over the defaults, or the defaults for a design of one's own."""
    defaults: dict[str, float | int | str] = {
        "epochs": int(SETTINGS["epochs"].default),
        "batch_size": int(SETTINGS["batch_size"].default), "optimizer": DEFAULT_OPTIMIZER,
        "learning_rate": SETTINGS["learning_rate"].default, "schedule": DEFAULT_SCHEDULE}
    preset = preset_of(spec)
    return defaults | dict(preset.recipe if preset else ())
