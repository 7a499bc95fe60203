"""The training settings as one typed form: the Train page draws it, and the Runs page's
"Train again" fills it from a run's settings, every one of them (augmentation included)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from cnn_core.data import augment
from cnn_core.training.devices import available_devices, device_name, resolve_device
from cnn_core.training.settings import OPTIMIZERS, SCHEDULE_NAMES, SCHEDULES, SETTINGS, SGD_MOMENTUM
from cnn_core.training.trainer import TrainConfig
from ui.lesson import shows

BATCH_SIZES = [16, 32, 64, 128, 256, 512, 1024]  # the choices; TrainConfig has the default
# Each TrainConfig field's widget, and the data choices' (a run's settings["data"]).
FORM_KEYS = {"epochs": "train_epochs", "batch_size": "train_batch",
             "optimizer": "train_optimizer", "learning_rate": "train_lr", "seed": "train_seed",
             "device": "train_device", "augment": "train_augment",
             "schedule": "train_schedule", "stop_at_accuracy": "train_stop_at"}
DATA_KEYS = {"dataset": "train_dataset", "train": "train_on", "test": "test_on"}


def setting_range(name: str, kind: type, value: float | None = None) -> dict[str, Any]:
    """A number input's bounds and starting value (by default the setting's default), from
    the one table of training settings."""
    setting = SETTINGS[name]
    return {"min_value": kind(setting.minimum), "max_value": kind(setting.maximum),
            "value": kind(setting.default if value is None else value)}


def settings_form(preview: Callable[[int], None]) -> TrainConfig | None:
    """The controls; returns None (with the reasons shown) when a value is unusable.
    ``preview(seed)`` draws what augmentation does, under its checkbox."""
    c = st.columns(3) + st.columns(3)  # two rows: in six columns a projector cut the values
    kept = {"persist_state": "session"}  # still set when the student comes back to the page
    epochs = c[0].number_input("Epochs", step=1, key=FORM_KEYS["epochs"],
                               **setting_range("epochs", int), **kept)
    batch = c[1].selectbox("Batch size", BATCH_SIZES, key=FORM_KEYS["batch_size"],
                           index=BATCH_SIZES.index(TrainConfig.batch_size), **kept)
    optimizer = c[2].selectbox("Optimizer", OPTIMIZERS,
                               format_func={"adam": "Adam",
                                            "sgd": f"SGD + momentum {SGD_MOMENTUM:g}"}.get,
                               key=FORM_KEYS["optimizer"], **kept)
    lr = c[3].number_input("Learning rate", step=1e-4, format="%.4f",
                           help="Adam: about 0.001. SGD: about 0.01 to 0.1.",
                           key=FORM_KEYS["learning_rate"],
                           **setting_range("learning_rate", float), **kept)
    seed = c[4].number_input("Seed", step=1, help="same seed and device → the same curves",
                             key=FORM_KEYS["seed"], **setting_range("seed", int), **kept)
    devices = ["auto", *available_devices()]
    best = resolve_device()
    device = c[5].selectbox("Device", devices,
                            format_func=lambda d: f"auto ({best.type})" if d == "auto" else d,
                            help=f"auto picks the best here: {device_name(best)}",
                            key=FORM_KEYS["device"], **kept)
    r = st.columns(2)
    schedule = r[0].selectbox("Learning-rate schedule", SCHEDULES, format_func=SCHEDULE_NAMES.get,
                              index=SCHEDULES.index(TrainConfig.schedule),
                              help="constant: the rate stays as set. one-cycle: it climbs to "
                                   "the rate set, then falls to almost nothing by the end "
                                   "(often the same accuracy in fewer epochs)",
                              key=FORM_KEYS["schedule"], **kept)
    stop_at = r[1].number_input("Stop at validation accuracy (%)", step=0.5, format="%g",
                                help="checked after each epoch; 0: train every epoch",
                                key=FORM_KEYS["stop_at_accuracy"],
                                **setting_range("stop_at_accuracy", float), **kept)
    augmented = st.checkbox("Augment the digits", key=FORM_KEYS["augment"],
                            help=augment.NOTE, **kept) if shows("augment") else False
    if augmented:
        preview(int(seed or 0))
    values = (epochs, lr, seed, stop_at)
    if any(v is None for v in values):
        st.error("Fill in every setting to train.")
        return None
    config = TrainConfig(epochs=int(epochs), batch_size=int(batch), optimizer=optimizer,
                         learning_rate=float(lr), seed=int(seed), device=device,
                         augment=augmented, schedule=schedule,
                         stop_at_accuracy=float(stop_at))
    problems = config.check()
    for problem in problems:
        st.error(problem)
    return None if problems else config


def restore_settings(settings: dict[str, Any]) -> None:
    """Fill the form with a run's settings (before the Train page draws it)."""
    for name, key in FORM_KEYS.items():
        if name in settings:
            st.session_state[key] = settings[name]
    for name, key in DATA_KEYS.items():
        if name in (settings.get("data") or {}):
            st.session_state[key] = settings["data"][name]
