"""The exported Keras code, built in real Keras 3 (torch backend): every preset and random
valid designs give the trainable parameter count and output shapes ``analyze`` gives, and a
design Keras refuses is refused by the export too, with the same rule Keras applies."""

import math
import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported

import keras
import pytest
from helpers import input_shapes, layers
from hypothesis import HealthCheck, assume, given, settings

from cnn_core.design.codegen import keras_code, keras_refusals
from cnn_core.design.presets import PRESETS
from cnn_core.design.report import NetworkReport
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec, Layer
from cnn_core.design.spec import layer as L


def build_keras(report: NetworkReport) -> keras.Sequential:
    namespace: dict = {}
    code = keras_code(report).replace("model.summary()", "")
    exec(compile(code, "net_keras.py", "exec"), namespace)
    return namespace["model"]


def assert_same_as_analyze(report: NetworkReport) -> None:
    model = build_keras(report)
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    assert trainable == report.total_params
    shapes = [tuple(layer.output.shape[1:]) for layer in model.layers
              if not isinstance(layer, keras.layers.ZeroPadding2D)]
    channels_first = [(s[2], s[0], s[1]) if len(s) == 3 else s for s in shapes]
    assert channels_first == [r.output_shape for r in report.layers]


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_builds_in_keras_as_analyzed(name):
    assert_same_as_analyze(analyze(PRESETS[name]))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(input_shape=input_shapes, raw_layers=layers)
def test_random_valid_designs_build_in_keras_as_analyzed(input_shape, raw_layers):
    spec = ArchitectureSpec(tuple(Layer(d["type"], {k: v for k, v in d.items() if k != "type"})
                                  for d in raw_layers), input_shape)
    report = analyze(spec)
    assume(report.ok and not keras_refusals(report))
    assert_same_as_analyze(report)


@pytest.mark.parametrize(("stride", "dilation"), [(1, 1), (2, 1), (1, 2), (2, 2), ([1, 2], 2),
                                                  (2, [1, 2]), ([2, 1], [1, 2])])
def test_the_export_refuses_exactly_what_keras_refuses(stride, dilation):
    report = analyze(ArchitectureSpec((L("conv2d", out_channels=2, kernel_size=3, stride=stride,
                                         dilation=dilation),)))
    assert report.ok
    try:
        keras.layers.Conv2D(2, kernel_size=3, strides=stride, dilation_rate=dilation)
        keras_refuses = False
    except ValueError:
        keras_refuses = True
    assert bool(keras_refusals(report)) == keras_refuses
    if keras_refuses:
        with pytest.raises(SystemExit, match="cannot be exported to Keras"):
            build_keras(report)
    else:
        assert_same_as_analyze(report)


def test_every_registry_entry_names_a_real_keras_layer():
    from cnn_core.design.layers import LAYERS

    assert [t.name for t in LAYERS.values() if not hasattr(keras.layers, t.keras.cls)] == []
