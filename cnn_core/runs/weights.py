"""Load trained weights for a design from an uploaded file, refusing anything unsafe or foreign.

``.safetensors`` files hold only tensors; ``.pt``/``.pth`` files are read with
``torch.load(weights_only=True)``, which unpickles tensors and plain containers only, so a
pickle that would run code is refused before any of it runs. The sizes either format declares
are checked against ``MAX_WEIGHTS_BYTES`` before it is read (``storage.uploads``). Weights for
another design are refused naming the first layer that differs. Every refusal is one plain
sentence of ours: torch's own messages (terminal escapes, advice to load unsafely) are not
passed on.
"""

from __future__ import annotations

import io
import math
import pickle
import warnings
from pathlib import PurePath
from typing import Any

import torch
from safetensors.torch import load as safetensors_load
from torch import nn

from cnn_core.design.build import DesignError, build_model
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.storage.uploads import (
    MAX_WEIGHTS_BYTES,
    UploadRefused,
    check_safetensors_header,
    check_torch_zip,
    plain,
    shown_name,
)

WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")  # common checkpoint layouts


class WeightsError(ValueError):
    """The file cannot be used as weights for this design; the message says why, in a line."""


def load_weights(spec: ArchitectureSpec, data: bytes, filename: str) -> nn.Module:
    """The design built with the file's weights, in eval mode on the CPU."""
    suffix = PurePath(filename).suffix.lower()
    filename = shown_name(filename)  # the sender's text: one plain line in every message
    if suffix not in WEIGHT_SUFFIXES:
        raise WeightsError(f"{filename!r} is not a weights file: upload a .safetensors, .pt or "
                           ".pth file")
    if not data:
        raise WeightsError(f"{filename} is empty")
    if len(data) > MAX_WEIGHTS_BYTES:
        raise WeightsError(f"{filename} is {len(data) / 1e6:,.1f} MB; the limit is "
                           f"{MAX_WEIGHTS_BYTES / 1e6:,.0f} MB")
    state = _read_safetensors(data, filename) if suffix == ".safetensors" \
        else _read_torch(data, filename)
    report = analyze(spec)
    try:
        model = build_model(spec, report)
    except DesignError as exc:
        raise WeightsError(f"the current design cannot be built: {exc}") from None
    state = strip_prefix(state)
    check_state_dict(model, state, [r.label for r in report.layers])
    model.load_state_dict(state, strict=True)
    return model.eval()


def _read_safetensors(data: bytes, filename: str) -> dict[str, torch.Tensor]:
    try:
        check_safetensors_header(data, filename, MAX_WEIGHTS_BYTES)
        return safetensors_load(data)
    except UploadRefused as exc:
        raise WeightsError(str(exc)) from None
    except Exception as exc:  # the parser's errors vary by version; all mean "not this format"
        raise WeightsError(f"{filename} is not a valid .safetensors file "
                           f"({plain(str(exc), 100) or type(exc).__name__})") from None


def _read_torch(data: bytes, filename: str) -> dict[str, torch.Tensor]:
    try:
        check_torch_zip(data, filename, MAX_WEIGHTS_BYTES)
    except UploadRefused as exc:
        raise WeightsError(str(exc)) from None
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of junk
            warnings.simplefilter("ignore")
            obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # weights_only met something other than tensors
        raise WeightsError(f"{filename} holds Python objects other than tensors, which are "
                           "never loaded here: save only the state dict") from None
    except Exception:  # junk varies; torch's text carries escapes and unsafe advice
        raise WeightsError(f"{filename} is not a PyTorch state dict that can be read") from None
    if isinstance(obj, dict):
        for key in CHECKPOINT_KEYS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                            for k, v in obj.items()):
        raise WeightsError(f"{filename} does not hold a state dict (names mapped to tensors); "
                           "save one with torch.save(model.state_dict(), path)")
    return obj


def check_state_dict(model: nn.Module, state: dict[str, Any], labels: list[str]) -> None:
    """Refuse weights for another design, naming the first layer (in design order) that
    differs and how: a missing or extra tensor, or two shapes. ``labels[i]`` names the
    layer whose tensors are keyed ``i.…`` ("layer 3 (conv2d)")."""
    expected = model.state_dict()
    position = {key: i for i, key in enumerate(expected)}
    keys = sorted(set(expected) | set(state),
                  key=lambda k: (_layer_number(k), position.get(k, math.inf), k))
    for key in keys:
        where = _describe(key, labels)
        if key not in state:
            raise WeightsError(f"these weights are for another design: {where} needs "
                               f"{key!r} ({_shape(expected[key])}), which the file lacks")
        if key not in expected:
            raise WeightsError(f"these weights are for another design: the file has {key!r} "
                               f"({_shape(state[key])}) but {where} has no such tensor")
        if tuple(state[key].shape) != tuple(expected[key].shape):
            raise WeightsError(f"these weights are for another design: {where} {key!r} is "
                               f"{_shape(state[key])} in the file but "
                               f"{_shape(expected[key])} in this design")
        tensor = state[key]
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise WeightsError(f"{where} {key!r} holds NaN or infinite values")
        if expected[key].is_floating_point() != tensor.is_floating_point():
            raise WeightsError(f"{where} {key!r} has type {tensor.dtype}; this design needs "
                               f"{expected[key].dtype}")


def strip_prefix(state: dict[str, Any]) -> dict[str, Any]:
    """Accept the generated script's ``Net`` (keys ``layers.0.weight``) as well as
    ``nn.Sequential`` (``0.weight``): drop a ``layers.`` prefix every key shares."""
    if state and all(k.startswith("layers.") for k in state):
        return {k.removeprefix("layers."): v for k, v in state.items()}
    return state


def _layer_index(key: str) -> int | None:
    """The layer a key names by its position (``3.weight``: 3), or None. ASCII digits, a
    few: "²".isdigit() is true but int() refuses it, as it refuses 4,301 digits."""
    head = key.split(".", 1)[0]
    return int(head) if head.isascii() and head.isdigit() and len(head) <= 9 else None


def _layer_number(key: str) -> float:
    index = _layer_index(key)
    return math.inf if index is None else index


def _describe(key: str, labels: list[str]) -> str:
    index = _layer_index(key)
    return labels[index] if index is not None and index < len(labels) else "the design"


def _shape(tensor: torch.Tensor) -> str:
    return "x".join(map(str, tensor.shape)) if tensor.dim() else "a single number"
