"""What the shape engine knows of a design, as plain data: one ``LayerReport`` per layer
(shapes, parameters, MACs, receptive field, what is wrong) and the ``NetworkReport`` whose
totals are computed from them, the memory a training keeps per image included.
``cnn_core.design.shapes`` fills them in; ``cnn_core.design.formatting`` shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Shape = tuple[int, ...]
Pair = tuple[int, int]
FLOAT = 4  # bytes of one float32 value
# Bytes a layer keeps per output value until the backward pass: its float32 output, plus what
# torch saves beside it (max-pooling's int64 indices, dropout's float noise on the CPU).
# Flatten is a view.
KEPT_BYTES = {"maxpool2d": FLOAT + 8, "dropout": 2 * FLOAT, "flatten": 0}


@dataclass(frozen=True)
class LayerReport:
    """The facts about one layer. ``index`` is 1-based, as the user counts."""

    index: int
    type: str
    settings: dict[str, Any]
    input_shape: Shape | None
    output_shape: Shape | None
    params: int = 0
    macs: int = 0
    receptive_field: Pair | None = None
    formulas: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    error: str | None = None
    error_field: str | None = None
    torch_would_fail: bool = False
    fix: str | None = None

    @property
    def label(self) -> str:
        return f"layer {self.index} ({self.type})"


@dataclass(frozen=True)
class NetworkReport:
    """The whole design's report: per-layer facts, totals, errors and training warnings."""

    input_shape: Shape
    layers: tuple[LayerReport, ...]
    network_errors: tuple[str, ...] = ()
    training_warnings: tuple[str, ...] = ()
    total_params: int = 0
    total_macs: int = 0
    output_shape: Shape | None = None

    @property
    def errors(self) -> list[str]:
        """Every error as one line naming its layer, first to last."""
        layer_errors = [f"{r.label}: {r.error}" for r in self.layers if r.error]
        return layer_errors + list(self.network_errors)

    @property
    def ok(self) -> bool:
        """True when torch can build and run the design (the table is complete)."""
        return not self.errors

    @property
    def trainable(self) -> bool:
        """True when the design is also an MNIST classifier (input 1x28x28, 10 outputs)."""
        return self.ok and not self.training_warnings

    @property
    def activation_bytes(self) -> int:
        """Bytes one image's forward pass keeps for the backward pass: the float input and
        what every layer keeps (``kept_bytes``). Training memory is this times the batch."""
        return FLOAT * numel(self.input_shape) + sum(kept_bytes(r) for r in self.layers)


def numel(shape: Shape) -> int:
    """Values a tensor of ``shape`` holds (one image's)."""
    total = 1
    for dim in shape:
        total *= dim
    return total


def layer_values(layer: LayerReport) -> int:
    """Values one image's output of ``layer`` holds; 0 where the shape is unknown."""
    return 0 if layer.output_shape is None else numel(layer.output_shape)


def kept_bytes(layer: LayerReport) -> int:
    """Bytes one image's pass through ``layer`` keeps for the backward pass."""
    return KEPT_BYTES.get(layer.type, FLOAT) * layer_values(layer)


def largest_values(report: NetworkReport) -> int:
    """The most values any single tensor of one image's forward pass holds."""
    return max([numel(report.input_shape), *(layer_values(r) for r in report.layers)])
