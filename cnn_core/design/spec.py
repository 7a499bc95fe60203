"""The architecture spec: a design as plain data that round-trips through JSON.

A spec is an input shape and an ordered list of layers. Each layer keeps the values the user
gave (so a value out of range can be shown on its own layer while the others keep theirs):
``cnn_core.design.parse`` reads them from text, ``cnn_core.design.resolve`` checks them into
settings. Field names are torch's own (``out_channels``, ``kernel_size``, ``stride``,
``padding``, ``dilation``, ...); each layer type's fields are described once, in
``cnn_core.design.layers.LAYERS``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MAX_LAYERS = 100
MAX_PARAMS = 20_000_000
MAX_MACS = 1_000_000_000
MAX_INPUT_CHANNELS = 16
MAX_INPUT_SIZE = 512
MNIST_INPUT_SHAPE = (1, 28, 28)
MNIST_CLASSES = 10


@dataclass(frozen=True)
class Layer:
    """One layer as the user wrote it: a type and the raw values of its fields."""

    type: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, **self.params}


@dataclass(frozen=True)
class ArchitectureSpec:
    """A whole design: the input shape (C, H, W) and the layers in order."""

    layers: tuple[Layer, ...]
    input_shape: tuple[int, int, int] = MNIST_INPUT_SHAPE

    def to_json(self) -> dict[str, Any]:
        return {"input_shape": list(self.input_shape),
                "layers": [layer.to_json() for layer in self.layers]}

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), indent=2)


def layer(type_: str, **params: Any) -> Layer:
    """Shorthand used by presets and tests: ``layer("conv2d", out_channels=8, kernel_size=3)``."""
    return Layer(type_, dict(params))

