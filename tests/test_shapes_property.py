"""Property test: the shape engine agrees with torch on thousands of random designs.

For every random design, torch builds and runs it layer by layer from the raw JSON values.
If the engine accepts the design, torch must run it with the same shapes and parameter
count. If the engine rejects a layer as one torch cannot run, torch must fail on exactly
that layer (and not before).
"""

import warnings

import torch
from helpers import input_shapes, layers
from hypothesis import HealthCheck, given, settings
from torch import nn

from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec, Layer


def _tuple(v):
    return tuple(v) if isinstance(v, list) else v


def torch_module(raw: dict, x: torch.Tensor) -> nn.Module:
    """Build the layer straight from the raw JSON values, as torch takes them."""
    kw = {k: _tuple(v) for k, v in raw.items() if k != "type"}
    match raw["type"]:
        case "conv2d":
            return nn.Conv2d(x.shape[1], kw.pop("out_channels"), **kw)
        case "maxpool2d":
            return nn.MaxPool2d(**kw)
        case "avgpool2d":
            return nn.AvgPool2d(**kw)
        case "batchnorm2d":
            return nn.BatchNorm2d(x.shape[1])
        case "linear":
            return nn.Linear(x.shape[-1], kw["out_features"])
        case "leaky_relu":
            return nn.LeakyReLU(**kw)
        case "dropout":
            return nn.Dropout(**kw)
    return {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
            "flatten": nn.Flatten}[raw["type"]]()


def run_in_torch(input_shape, raw_layers):
    """Shapes and params per layer, and the 1-based index of the layer torch fails on."""
    x = torch.zeros(2, *input_shape)
    shapes, params = [], []
    for index, raw in enumerate(raw_layers, 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = torch_module(raw, x).eval()
                x = module(x)
        except (RuntimeError, ValueError, TypeError, IndexError):
            return shapes, params, index
        shapes.append(tuple(x.shape[1:]))
        params.append(sum(p.numel() for p in module.parameters()))
    return shapes, params, None


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(input_shape=input_shapes, raw_layers=layers)
def test_engine_agrees_with_torch(input_shape, raw_layers):
    spec = ArchitectureSpec(tuple(Layer(d["type"], {k: v for k, v in d.items() if k != "type"})
                                  for d in raw_layers), input_shape)
    report = analyze(spec)
    shapes, params, torch_failed_at = run_in_torch(input_shape, raw_layers)
    first_error = next((r for r in report.layers if r.error), None)
    if first_error is None:
        assert torch_failed_at is None, f"engine accepted, torch failed at {torch_failed_at}"
        assert shapes == [r.output_shape for r in report.layers]
        assert params == [r.params for r in report.layers]
        assert report.total_params == sum(params)
    elif first_error.torch_would_fail:
        assert torch_failed_at == first_error.index, (first_error.error, torch_failed_at)
    else:  # a design error torch would run (linear on a volume): torch got that far
        assert torch_failed_at is None or torch_failed_at > first_error.index
