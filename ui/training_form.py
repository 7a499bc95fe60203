"""The training settings as one typed form, drawn from the settings registry: every
``TrainConfig`` field gets a widget by what the registry says of it (a number in
``settings.SETTINGS``, a word in ``settings.CHOICES``, a yes/no), so a new setting appears on
the Train page without a page edit. The Train page draws it; the Runs page's "Train again"
fills it from a run (``restore_settings``), every setting included. The widget keys live here
only (``form_key``, ``DATA_KEYS``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Literal

import streamlit as st

from cnn_core.data import augment
from cnn_core.data.dataset_store import offered
from cnn_core.data.datasets import DATASETS
from cnn_core.data.mixing import TEST_CHOICES, TRAIN_CHOICES
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.storage.places import data_dir
from cnn_core.teaching.lessons import CONTROLS
from cnn_core.training.devices import available_devices, device_name, resolve_device
from cnn_core.training.settings import CHOICES, SCHEDULE_NAMES, SETTINGS, SGD_MOMENTUM, recipe
from cnn_core.training.trainer import TrainConfig
from ui.lesson import shows

INTERNAL = {"momentum", "speedups"}  # fixed (SGD_MOMENTUM), or off only to check the loop
BATCH_SIZES = [16, 32, 64, 128, 256, 512, 1024]  # offered first; a run's other size is added
# How a setting reads on the page; a setting not named here is labelled from its name.
LABELS = {"epochs": "Epochs", "batch_size": "Batch size", "optimizer": "Optimizer",
          "learning_rate": "Learning rate", "seed": "Seed", "device": "Device",
          "augment": "Augment the digits", "schedule": "Learning-rate schedule",
          "stop_at_accuracy": "Stop at validation accuracy (%)"}
HELP = {"learning_rate": "Adam: about 0.001. SGD: about 0.01 to 0.1.",
        "seed": "same seed and device → the same curves",
        "augment": augment.NOTE,
        "schedule": "constant: the rate stays as set. one-cycle: it climbs to the rate set, "
                    "then falls to almost nothing by the end (often the same accuracy in "
                    "fewer epochs)",
        "stop_at_accuracy": "checked after each epoch; 0: train every epoch"}
WORDS = {"adam": "Adam", "sgd": f"SGD + momentum {SGD_MOMENTUM:g}", **SCHEDULE_NAMES}
NUMBER_FORMAT = {"learning_rate": ("%.4f", 1e-4), "stop_at_accuracy": ("%g", 0.5)}
# The data choices (a run's settings["data"]) and their widgets.
DATA_KEYS = {"dataset": "train_dataset", "train": "train_on", "test": "test_on"}
KEPT = {"persist_state": "session"}  # still set when the student comes back to the page
NOT_RESTORED = "train_form_not_restored"  # what "Train again" could not restore, said once


@dataclass(frozen=True)
class FormField:
    """One setting's widget: its ``TrainConfig`` field, how it is drawn and its Python type."""

    name: str
    widget: Literal["number", "choice", "checkbox"]
    type: type

    @property
    def key(self) -> str:
        return form_key(self.name)

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.name.replace("_", " ").capitalize())


def form_key(name: str) -> str:
    """The widget key of a ``TrainConfig`` field on the Train page."""
    return f"train_{name}"


def form_fields() -> list[FormField]:
    """Every setting a student sets, in ``TrainConfig``'s order; ``TypeError`` for a field
    the registry does not describe (a test calls this, so a new setting cannot go unseen)."""
    found = []
    for field in fields(TrainConfig):
        kind = field.type if isinstance(field.type, type) else {
            "int": int, "float": float, "str": str, "bool": bool}.get(field.type)
        if field.name in INTERNAL:
            continue
        if field.name == "batch_size" or field.name == "device" or field.name in CHOICES:
            found.append(FormField(field.name, "choice", kind or str))
        elif field.name in SETTINGS and kind in (int, float):
            found.append(FormField(field.name, "number", kind))
        elif kind is bool:
            found.append(FormField(field.name, "checkbox", bool))
        else:
            raise TypeError(f"TrainConfig.{field.name} ({field.type}) is in neither "
                            "settings.SETTINGS nor settings.CHOICES: the form cannot draw it")
    return found


def options(name: str) -> list[Any]:
    """A choice's options: the registry's, this machine's devices, the batch sizes (with one
    a restored run used, if it is allowed)."""
    if name == "device":
        return ["auto", *available_devices()]
    if name == "batch_size":
        restored = st.session_state.get(form_key(name))
        extra = {restored} if _in_range(name, restored) else set()
        return sorted(set(BATCH_SIZES) | extra)
    return list(CHOICES[name])


def setting_range(name: str, kind: type, value: float | None = None) -> dict[str, Any]:
    """A number input's bounds and starting value (by default the setting's default), from
    the one table of training settings."""
    setting = SETTINGS[name]
    return {"min_value": kind(setting.minimum), "max_value": kind(setting.maximum),
            "value": kind(setting.default if value is None else value)}


def _in_range(name: str, value: Any) -> bool:
    setting = SETTINGS[name]
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value) and setting.minimum <= value <= setting.maximum


def _widget(field: FormField, where: Any) -> Any:
    help_text = HELP.get(field.name)
    if field.widget == "number":
        number_format, step = NUMBER_FORMAT.get(field.name, (None, 1))
        bounds = setting_range(field.name, field.type)
        if field.key in st.session_state:  # set by a recipe or a run: no second start value
            bounds.pop("value")
        return where.number_input(field.label, step=field.type(step), format=number_format,
                                  help=help_text, key=field.key, **bounds, **KEPT)
    choices = options(field.name)
    default = getattr(TrainConfig, field.name)
    format_func: Callable[[Any], str] = lambda v: WORDS.get(v, str(v))  # noqa: E731
    if field.name == "device":
        best = resolve_device()
        format_func = lambda d: f"auto ({best.type})" if d == "auto" else d  # noqa: E731
        help_text = f"auto picks the best here: {device_name(best)}"
    start = {} if field.key in st.session_state else {
        "index": choices.index(default) if default in choices else 0}
    return where.selectbox(field.label, choices, format_func=format_func, help=help_text,
                           key=field.key, **start, **KEPT)


def use_recipe(spec: ArchitectureSpec) -> None:
    """Fill the form with the design's recipe (a preset's quickest measured settings, else
    the defaults): when a preset is loaded, and when the form is first drawn."""
    for name, value in recipe(spec).items():
        st.session_state[form_key(name)] = value


def settings_form(spec: ArchitectureSpec, preview: Callable[[int], None]) -> TrainConfig | None:
    """The controls, starting from ``spec``'s recipe; returns None (with the reasons shown)
    when a value is unusable. ``preview(seed)`` draws what augmentation does, under its
    checkbox."""
    if form_key("epochs") not in st.session_state:
        use_recipe(spec)
    if skipped := st.session_state.pop(NOT_RESTORED, None):
        st.warning(f"Not as in the run (this server cannot): {', '.join(skipped)}; the "
                   "form shows its own.", icon=":material/replay:")
    shown = [f for f in form_fields() if f.name not in CONTROLS or shows(f.name)]  # lessons
    # a control a lesson hides trains at the design's recipe, else at the default
    values = {f.name: getattr(TrainConfig, f.name) for f in form_fields()} | recipe(spec)
    drawn = [f for f in shown if f.widget != "checkbox"]
    columns = [c for _ in range(0, len(drawn), 3) for c in st.columns(3)]  # 3 fit a projector
    values |= {f.name: _widget(f, where) for f, where in zip(drawn, columns)}
    for field in shown:
        if field.widget == "checkbox":
            values[field.name] = st.checkbox(field.label, key=field.key, help=HELP.get(
                field.name), **KEPT)
    if values.get("augment"):
        preview(int(values.get("seed") or 0))
    if any(v is None for v in values.values()):
        st.error("Fill in every setting to train.")
        return None
    config = TrainConfig(**{f.name: f.type(values[f.name]) for f in form_fields()})
    problems = config.check()
    for problem in problems:
        st.error(problem)
    return None if problems else config


def restorable(field: FormField, value: Any) -> bool:
    """Whether the form can show a run's value as it was (a device this server has, say)."""
    if field.widget == "checkbox":
        return isinstance(value, bool)
    if field.widget == "number" or field.name == "batch_size":
        return _in_range(field.name, value)
    return value in options(field.name)


def restore_settings(settings: dict[str, Any]) -> list[str]:
    """Fill the form with a run's settings (before the Train page draws it); the settings
    this server cannot take as they were (a device it lacks), in words, which the form says
    once when it is next drawn."""
    skipped = []
    for field in form_fields():
        if field.name not in settings:
            continue
        value = settings[field.name]
        if restorable(field, value):
            st.session_state[field.key] = field.type(value)
        else:
            skipped.append(f"{field.label.lower()} {value!r}")
    for name, key in DATA_KEYS.items():
        if name in (settings.get("data") or {}):
            st.session_state[key] = settings["data"][name]
    st.session_state[NOT_RESTORED] = skipped
    return skipped


def data_choice() -> tuple[str, str, str]:
    """The dataset, and whether to train and test on the class's drawings (MNIST only)."""
    if not shows("data"):  # a lesson that keeps to MNIST
        return "mnist", "dataset", "dataset"
    keys, why_not = offered()
    if st.session_state.get(DATA_KEYS["dataset"]) not in keys:
        st.session_state[DATA_KEYS["dataset"]] = "mnist"
    c = st.columns(3)
    key = c[0].selectbox("Dataset", keys, format_func=lambda k: DATASETS[k].title,
                         key=DATA_KEYS["dataset"], **KEPT)
    digits = key == "mnist"  # the class draws digits
    train = c[1].selectbox("Train on", list(TRAIN_CHOICES), format_func=TRAIN_CHOICES.get,
                           key=DATA_KEYS["train"], disabled=not digits, **KEPT)
    test = c[2].selectbox("Test on", list(TEST_CHOICES), format_func=TEST_CHOICES.get,
                          key=DATA_KEYS["test"], disabled=not digits, **KEPT)
    if why_not:  # offline: say once what is missing, and where it was looked for
        titles = [DATASETS[k].title for k in why_not]
        missing = ", ".join(titles[:-1]) + f" and {titles[-1]} are" if len(titles) > 1 \
            else f"{titles[0]} is"
        st.caption(f":material/cloud_off: {missing} not on this server's disk (in "
                   f"{data_dir()}) and downloading is turned off.")
    return (key, train, test) if digits else (key, "dataset", "dataset")
