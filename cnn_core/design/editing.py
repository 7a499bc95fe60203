"""Editing a design one step at a time: the Design page's buttons and fields as plain functions.

A design being edited is a list of entries ``{"uid": int, "type": str, "params": dict}``: the
layers in order, each with an id that names its widgets (a new id, new widgets). Each edit
changes the list in place and never raises: an edit that names a layer no longer there (a
stale click) or a type the registry lacks changes nothing and says so by its return value.
A value out of range is kept as given: ``shapes.analyze`` reports it on its own layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cnn_core.design.layers import LAYERS
from cnn_core.design.spec import MAX_LAYERS, ArchitectureSpec, Layer

Entry = dict[str, Any]
NewUid = Callable[[], int]
PADDING_MODES = ("number", "same", "valid")
EDITED = " (edited)"
UNNAMED = "Custom"


def with_uids(spec: ArchitectureSpec, new_uid: NewUid) -> list[Entry]:
    """A spec's layers as entries to edit, each with a fresh id."""
    return [{"uid": new_uid(), "type": ly.type, "params": dict(ly.params)} for ly in spec.layers]


def to_spec(entries: list[Entry], input_shape: tuple[int, int, int]) -> ArchitectureSpec:
    """The design the entries describe (a copy: later edits do not change it)."""
    return ArchitectureSpec(tuple(Layer(e["type"], dict(e["params"])) for e in entries),
                            input_shape)


def index_of(entries: list[Entry], uid: int) -> int | None:
    return next((i for i, e in enumerate(entries) if e["uid"] == uid), None)


def new_entry(type_: str, uid: int) -> Entry:
    """A layer of a type with the Design page's starting values."""
    return {"uid": uid, "type": type_, "params": dict(LAYERS[type_].new_layer)}


def edited_name(name: str) -> str:
    """A design's name once changed by hand: a preset's name gains " (edited)", once."""
    return name if name.endswith(EDITED.strip()) or name == UNNAMED else f"{name}{EDITED}"


def field_value(first: Any, second: Any = None, split: bool = False) -> Any:
    """A field's value from its widgets: one number, or [height, width] when they differ
    (None when either is empty)."""
    if not split:
        return first
    return None if first is None or second is None else [first, second]


def _whole(value: Any) -> Any:
    """3.0 as 3: a number widget may send a float for a whole number."""
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return int(value) if isinstance(value, float) and value.is_integer() else value


def set_param(entries: list[Entry], uid: int, name: str, value: Any) -> bool:
    """Give a layer's field a value (None: back to its default or "required")."""
    i = index_of(entries, uid)
    if i is None:
        return False
    entry = entries[i]
    kinds = {f.name: f.kind for f in LAYERS[entry["type"]].fields}
    if name not in kinds:
        return False
    if kinds[name] != "float":
        value = _whole(value)
    if value is None:
        entry["params"].pop(name, None)
    else:
        entry["params"][name] = value
    return True


def set_padding_mode(entries: list[Entry], uid: int, mode: str) -> bool:
    """Padding as a number (starting at 0), "same" or "valid"."""
    i = index_of(entries, uid)
    if i is None or mode not in PADDING_MODES:
        return False
    if "padding" not in {f.name for f in LAYERS[entries[i]["type"]].fields}:
        return False
    entries[i]["params"]["padding"] = 0 if mode == "number" else mode
    return True


def change_type(entries: list[Entry], uid: int, new_type: str, new_uid: NewUid) -> int | None:
    """Replace a layer by a fresh one of another type, in its place; the new layer's id."""
    i = index_of(entries, uid)
    if i is None or new_type not in LAYERS:
        return None
    entries[i] = new_entry(new_type, new_uid())
    return entries[i]["uid"]


def move(entries: list[Entry], uid: int, offset: int) -> bool:
    """Swap a layer with the one ``offset`` places away, if there is one."""
    i = index_of(entries, uid)
    if i is None or not 0 <= i + offset < len(entries):
        return False
    j = i + offset
    entries[i], entries[j] = entries[j], entries[i]
    return True


def remove(entries: list[Entry], uid: int) -> int | None:
    """Remove a layer; the id of the layer to select next (its neighbour), None if none."""
    i = index_of(entries, uid)
    if i is None:
        return None
    entries.pop(i)
    return entries[min(i, len(entries) - 1)]["uid"] if entries else None


def insert(entries: list[Entry], position: int, type_: str, new_uid: NewUid) -> int | None:
    """Add a fresh layer at ``position`` (clamped to the list); its id, or None when the
    design is full or the type unknown."""
    if len(entries) >= MAX_LAYERS or type_ not in LAYERS:
        return None
    entry = new_entry(type_, new_uid())
    entries.insert(max(0, min(position, len(entries))), entry)
    return entry["uid"]
