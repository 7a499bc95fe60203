"""Activation memory is one fact: the Design page's "activations per image" (the design's
report) and the memory a training is admitted with (the budget) count the same bytes, on every
preset and on random valid designs."""

import math

import pytest
from helpers import input_shapes, layers
from hypothesis import HealthCheck, assume, given, settings

from cnn_core.design.presets import PRESETS
from cnn_core.design.report import NetworkReport
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec, Layer
from cnn_core.training.budget import training_memory

# Bytes kept per output value for the backward pass, written out here by hand: a float32
# output, max-pooling's int64 indices beside it, dropout's float noise; flatten is a view.
BY_HAND = {"maxpool2d": 4 + 8, "dropout": 4 + 4, "flatten": 0}


def assert_one_fact(report: NetworkReport) -> None:
    assert report.ok
    inputs = math.prod(report.input_shape)
    by_hand = 4 * inputs + sum(BY_HAND.get(r.type, 4) * math.prod(r.output_shape)
                               for r in report.layers)
    assert report.activation_bytes == by_hand
    for batch in (1, 7, 64):
        for optimizer in ("adam", "sgd"):
            kept = training_memory(report, batch, optimizer).activations
            # the training also holds the batch's uint8 digits, one byte an input value
            assert kept == batch * (report.activation_bytes + inputs)


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_counts_its_activations_once(name):
    assert_one_fact(analyze(PRESETS[name]))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(input_shape=input_shapes, raw_layers=layers)
def test_random_valid_designs_count_their_activations_once(input_shape, raw_layers):
    design = tuple(Layer(d["type"], {k: v for k, v in d.items() if k != "type"})
                   for d in raw_layers)
    first_error = next((r.index for r in analyze(ArchitectureSpec(design, input_shape)).layers
                        if r.error), len(design) + 1)
    valid = design[:first_error - 1]  # the layers before the first error run in torch
    assume(valid)
    assert_one_fact(analyze(ArchitectureSpec(valid, input_shape)))
