"""Generated code: the PyTorch script builds the same network; the Keras one is well formed."""

import ast
import subprocess
import sys

import pytest
import torch

from cnn_core.design.codegen import keras_code, keras_refusals, pytorch_code
from cnn_core.design.presets import PRESETS
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.design.spec import layer as L

ODD = ArchitectureSpec((
    L("conv2d", out_channels=6, kernel_size=[3, 5], stride=[1, 2], padding=[1, 0], dilation=2),
    L("batchnorm2d"), L("leaky_relu", negative_slope=0.2),
    L("avgpool2d", kernel_size=3, stride=2, padding=1),
    L("conv2d", out_channels=4, kernel_size=3, padding="same"), L("tanh"),
    L("maxpool2d", kernel_size=2, padding=1), L("flatten"), L("dropout", p=0.25),
    L("linear", out_features=32), L("sigmoid"), L("linear", out_features=10),
))
# The same, but without the stride > 1 with dilation > 1 that Keras refuses.
ODD_FOR_KERAS = ArchitectureSpec((
    L("conv2d", out_channels=6, kernel_size=[3, 5], stride=[1, 2], padding=[1, 0]),
    *ODD.layers[1:]))
DESIGNS = {**PRESETS, "odd settings": ODD}
KERAS_DESIGNS = {**PRESETS, "odd settings": ODD_FOR_KERAS}


@pytest.mark.parametrize("name", list(DESIGNS))
def test_generated_pytorch_builds_the_same_shapes_and_params(name):
    report = analyze(DESIGNS[name])
    namespace: dict = {"__name__": "generated"}
    exec(compile(pytorch_code(report, name), "net.py", "exec"), namespace)
    model = namespace["model"].eval()
    assert sum(p.numel() for p in model.parameters()) == report.total_params
    x = torch.zeros(2, *report.input_shape)
    for module, r in zip(model.layers, report.layers):
        x = module(x)
        assert tuple(x.shape[1:]) == r.output_shape, r.label


def test_generated_pytorch_runs_as_a_script(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(pytorch_code(analyze(PRESETS["LeNet-5"])))
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, check=True)
    assert "torch.Size([1, 10]) 61706 parameters" in out.stdout


@pytest.mark.parametrize("name", list(KERAS_DESIGNS))
def test_generated_keras_is_valid_python_with_one_entry_per_layer(name):
    report = analyze(KERAS_DESIGNS[name])
    tree = ast.parse(keras_code(report, name))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
             and n.func.value.id == "layers"]
    padding_layers = sum(1 for c in calls if c.func.attr == "ZeroPadding2D")
    assert len(calls) - padding_layers == len(report.layers)
    explicit = [r for r in report.layers
                if isinstance(r.settings.get("padding"), tuple) and r.settings["padding"] != (0, 0)]
    assert padding_layers == len(explicit)


def test_a_design_keras_refuses_gets_a_file_that_says_why():
    report = analyze(ODD)
    assert keras_refusals(report) == [
        "layer 1 (conv2d): Keras cannot export a convolution with both stride > 1 and "
        "dilation > 1 (Keras refuses strides > 1 together with dilation_rate > 1)"]
    code = keras_code(report, "odd")
    assert "cannot be exported to Keras" in code and "layers.Conv2D" not in code
    with pytest.raises(SystemExit, match="cannot be exported to Keras"):
        exec(compile(code, "net_keras.py", "exec"), {})
