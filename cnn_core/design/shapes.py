"""The shape engine: what every layer of a design outputs, why, and where a design breaks.

``analyze(spec)`` walks the layers once and returns plain data (``cnn_core.design.report``);
pages, the CLI and tests format it (``cnn_core.design.formatting``). Shapes, parameter counts
and failures agree exactly with torch (``tests/test_shapes_property.py`` proves it on thousands
of random designs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnn_core.design.formatting import format_pair, format_shape
from cnn_core.design.layers import layer_type
from cnn_core.design.report import LayerReport, NetworkReport, Pair, Shape, numel
from cnn_core.design.resolve import FieldError, resolve_layer
from cnn_core.design.spec import (
    MAX_MACS,
    MAX_PARAMS,
    MNIST_CLASSES,
    MNIST_INPUT_SHAPE,
    ArchitectureSpec,
    Layer,
)

FIX_INSERT_FLATTEN = "insert_flatten"


@dataclass
class _Walk:
    """What is known while walking the layers: the current shape and receptive field."""

    shape: Shape | None
    rf: Pair = (1, 1)
    jump: Pair = (1, 1)
    reports: list[LayerReport] = field(default_factory=list)


def analyze(spec: ArchitectureSpec) -> NetworkReport:
    """Compute the report for a design. Pure arithmetic: fast enough for every keystroke."""
    walk = _Walk(shape=tuple(spec.input_shape))
    for index, layer_ in enumerate(spec.layers, 1):
        report = _analyze_layer(index, layer_, walk)
        walk.reports.append(report)
        walk.shape = report.output_shape
    reports = tuple(walk.reports)
    total_params = sum(r.params for r in reports)
    total_macs = sum(r.macs for r in reports)
    network_errors = []
    if total_params > MAX_PARAMS:
        network_errors.append(f"the design has {total_params:,} parameters; the limit is "
                              f"{MAX_PARAMS:,} (a classroom server must train it)")
    if total_macs > MAX_MACS:
        network_errors.append(f"the design needs {total_macs:,} multiply-accumulates per image; "
                              f"the limit is {MAX_MACS:,}")
    output_shape = walk.shape if not any(r.error for r in reports) else None
    return NetworkReport(
        input_shape=tuple(spec.input_shape), layers=reports,
        network_errors=tuple(network_errors),
        training_warnings=_training_warnings(spec, output_shape),
        total_params=total_params, total_macs=total_macs, output_shape=output_shape)


def _training_warnings(spec: ArchitectureSpec, output_shape: Shape | None) -> tuple[str, ...]:
    warnings = []
    if tuple(spec.input_shape) != MNIST_INPUT_SHAPE:
        warnings.append(f"MNIST digits are 1x28x28, but this design expects "
                        f"{format_shape(tuple(spec.input_shape))}")
    if output_shape is not None and output_shape != (MNIST_CLASSES,):
        warnings.append(f"an MNIST classifier must output 10 values (one per digit), but this "
                        f"design outputs {format_shape(output_shape)}; end with linear "
                        "out_features=10")
    return tuple(warnings)


def _analyze_layer(index: int, layer_: Layer, walk: _Walk) -> LayerReport:
    base = {"index": index, "type": layer_.type, "input_shape": walk.shape}
    try:
        settings = resolve_layer(layer_)
    except FieldError as exc:
        return LayerReport(**base, settings={}, output_shape=None, error=str(exc),
                           error_field=exc.field_name, torch_would_fail=exc.torch_would_fail)
    if walk.shape is None:  # an earlier layer failed: nothing to compute from
        return LayerReport(**base, settings=settings, output_shape=None)
    rule = layer_type(layer_.type).rule
    if rule in ("conv", "pool"):
        return _spatial(base, layer_.type, settings, walk)
    if rule == "dense":
        return _linear(base, settings, walk)
    if rule not in ("per_channel", "flatten", "elementwise"):
        raise ValueError(f"layer type {layer_.type!r} has shape rule {rule!r}, which the "
                         "shape engine does not know")
    if rule == "per_channel" and len(walk.shape) != 3:
        return LayerReport(**base, settings=settings, output_shape=None,
                           error=_needs_volume(layer_.type, walk.shape),
                           torch_would_fail=True)
    shape = walk.shape
    params = 0
    if rule == "per_channel":
        settings = {"num_features": shape[0], **settings}
        params = 2 * shape[0]  # weight and bias; running mean/var are buffers, not parameters
    if rule == "flatten":
        shape = (numel(shape),)
    rf = walk.rf if len(shape) == 3 else None
    return LayerReport(**base, settings=settings, output_shape=shape, params=params,
                       receptive_field=rf)


def _linear(base: dict[str, Any], settings: dict[str, Any], walk: _Walk) -> LayerReport:
    shape = walk.shape
    assert shape is not None
    if len(shape) != 1:
        return LayerReport(
            **base, settings=settings, output_shape=None, fix=FIX_INSERT_FLATTEN,
            error=(f"linear gets a {format_shape(shape)} volume; torch would apply it to the last "
                   f"dimension only ({shape[-1]} values per row), which no one means: insert "
                   "a flatten layer before it"))
    in_features, out_features = shape[0], settings["out_features"]
    return LayerReport(**base, settings={"in_features": in_features, **settings},
                       output_shape=(out_features,),
                       params=in_features * out_features + out_features,
                       macs=in_features * out_features)


def _spatial(base: dict[str, Any], type_: str, settings: dict[str, Any],
             walk: _Walk) -> LayerReport:
    shape = walk.shape
    assert shape is not None
    if len(shape) != 3:
        return LayerReport(**base, settings=settings, output_shape=None,
                           error=_needs_volume(type_, shape), torch_would_fail=True)
    channels, height, width = shape
    kernel, stride = settings["kernel_size"], settings["stride"]
    dilation = settings.get("dilation", (1, 1))
    padding = settings["padding"]
    is_conv = layer_type(type_).rule == "conv"
    if padding == "same":
        if stride != (1, 1):
            return LayerReport(**base, settings=settings, output_shape=None,
                               error_field="padding", torch_would_fail=True,
                               error=f'padding="same" needs stride 1 (got stride '
                                     f'{format_pair(stride)}): torch cannot keep the size '
                                     "while skipping positions")
        padding = tuple(d * (k - 1) // 2 for d, k in zip(dilation, kernel))  # before; rest after
    effective = tuple(effective_kernel(k, d) for k, d in zip(kernel, dilation))
    if not is_conv:
        for k, p in zip(kernel, padding):
            if p > k // 2:
                return LayerReport(**base, settings=settings, output_shape=None,
                                   error_field="padding", torch_would_fail=True,
                                   error=f"padding {p} is more than half the kernel size {k} "
                                         f"(at most {k // 2}): a window could then cover "
                                         "only padding")
    same = settings["padding"] == "same"
    symmetric = height == width and all(a == b for a, b in (kernel, stride, padding, dilation))
    axes = (("H_out = W_out", height),) if symmetric else (("H_out", height), ("W_out", width))
    out_hw: list[int] = []
    formulas: list[str] = []
    notes: list[str] = []
    for i, (axis, size) in enumerate(axes):
        k, k_eff, p, s, d = kernel[i], effective[i], padding[i], stride[i], dilation[i]
        if same:
            total = d * (k - 1)
            formulas.append(f"{axis} = {size} (padding='same' pads {total} in total: "
                            f"{total // 2} before, {total - total // 2} after)")
            out_hw.append(size)
            continue
        out = window_output(size, k, s, p, d)
        if out is None:
            what = "kernel" if is_conv else "pooling window"
            dil = f" (dilated to {k_eff})" if d > 1 else ""
            return LayerReport(
                **base, settings=settings, output_shape=None, error_field="kernel_size",
                torch_would_fail=True,
                error=(f"the {what} ({k}{dil}) is larger than the padded input: "
                       f"{size} + 2*{p} = {size + 2 * p} < {k_eff}"))
        formulas.append(size_formula(size, k, s, p, d, lhs=axis))
        if (size + 2 * p - k_eff) % s:
            notes.append(_floor_note(axis, size, k_eff, p, s))
        out_hw.append(out)
    if symmetric:
        out_hw.append(out_hw[0])
    rf = tuple(r + (k - 1) * j for r, k, j in zip(walk.rf, effective, walk.jump))
    walk.jump = tuple(j * s for j, s in zip(walk.jump, stride))
    walk.rf = rf
    out_channels = settings["out_channels"] if is_conv else channels
    output = (out_channels, out_hw[0], out_hw[1])
    params = macs = 0
    if is_conv:
        settings = {"in_channels": channels, **settings}
        weights = channels * kernel[0] * kernel[1]
        params = out_channels * weights + out_channels
        macs = out_channels * out_hw[0] * out_hw[1] * weights
    return LayerReport(**base, settings=settings, output_shape=output, params=params, macs=macs,
                       receptive_field=rf, formulas=tuple(formulas), notes=tuple(notes))


def _floor_note(axis: str, size: int, k_eff: int, p: int, s: int) -> str:
    span = size + 2 * p - k_eff
    left = span % s
    noun = {"H_out": "row", "W_out": "column"}.get(axis, "row and column")
    plural = "s" if left > 1 else ""
    return (f"({size} - {k_eff} + 2*{p}) / {s} = {span / s:g} is floored, so the last "
            f"{left} {noun}{plural} of the padded input {'is' if left == 1 else 'are'} not "
            "covered by any window")


def _needs_volume(type_: str, shape: Shape) -> str:
    return (f"{type_} needs a feature-map volume (channels, height, width) but gets a flat "
            f"vector of {shape[0]} values: move it before the flatten layer")


# ---- the output-size formula (also what the Explain page shows) -----------------------------
OUTPUT_SIZE_FORMULA = "O = floor((W - K + 2P) / S) + 1"  # K: the dilated kernel's span


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """The span a dilated kernel covers: ``d*(k-1)+1``."""
    return dilation * (kernel - 1) + 1


def window_output(size: int, kernel: int, stride: int = 1, padding: int = 0,
                  dilation: int = 1) -> int | None:
    """``floor((W - K_eff + 2P) / S) + 1``, or None when the window does not fit."""
    span = size + 2 * padding - effective_kernel(kernel, dilation)
    return span // stride + 1 if span >= 0 else None


def size_formula(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                 *, lhs: str = "O", show_floor: bool = False) -> str:
    """The formula with the numbers in, e.g. ``O = floor((28 - 5 + 2*2) / 1) + 1 = 28``
    (``show_floor``: with the step ``floor(27) + 1`` in between), or why there is no output."""
    k_eff = effective_kernel(kernel, dilation)
    k_text = f"{k_eff}" if dilation == 1 else f"({dilation}*({kernel}-1)+1)"
    text = f"{lhs} = floor(({size} - {k_text} + 2*{padding}) / {stride}) + 1"
    span = size + 2 * padding - k_eff
    if span < 0:
        return (f"{text}: the window ({k_eff}) is larger than the padded input "
                f"({size + 2 * padding}), so there is no output")
    step = f" = floor({span / stride:g}) + 1" if show_floor else ""
    return f"{text}{step} = {span // stride + 1}"
