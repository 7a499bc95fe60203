"""Designs a hostile (or curious) student could submit, for the tests and benchmarks."""

import json

from cnn_core.design.spec import ArchitectureSpec
from cnn_core.design.spec import layer as L

# Issue #20, case 1: within every design limit (94 layers, 73,738 parameters, 813k MACs) but
# 379,471 KiB kept per image for the backward pass: about 31 GB to train at batch 64.
MEMORY_BOMB = ArchitectureSpec((
    L("conv2d", out_channels=1024, kernel_size=1),
    *[ly for _ in range(30) for ly in (L("batchnorm2d"), L("relu"), L("dropout"))],
    L("maxpool2d", kernel_size=28), L("flatten"), L("linear", out_features=10)))


# The imports that broke pages (issue 20, item 3), as JSON text a student could paste or upload.
def conv(**fields) -> str:
    return json.dumps({"layers": [{"type": "conv2d", "out_channels": 8, "kernel_size": 3,
                                   **fields}]})


HOSTILE = {  # name: (JSON text, words of the one-line refusal)
    "400-digit integer": (conv().replace('"out_channels": 8', '"out_channels": ' + "9" * 400),
                          "is 400 characters long"),
    "5,000-digit integer": (conv().replace("3}", "-" + "9" * 5000 + "}"),
                            "is 5,001 characters long"),
    "10,000-deep nesting": ("[" * 10_000 + "]" * 10_000, "nests more than 8 levels deep"),
    "type as a list": ('{"layers": [{"type": ["conv2d"]}]}',
                       'layer 1 has unknown type ["conv2d"]'),
    "p as a string": ('{"layers": [{"type": "dropout", "p": "0.5"}]}',
                      'layer 1 (dropout): p must be a number (got "0.5")'),
    "layers as an object": ('{"layers": {}}', 'a design needs a "layers" list, not an object'),
    "NaN": ('{"layers": [{"type": "dropout", "p": NaN}]}', "NaN is not a number"),
    "Infinity": (conv(stride=float("inf")), "Infinity is not a number"),
    "-Infinity": ('{"layers": [{"type": "leaky_relu", "negative_slope": -Infinity}]}',
                  "-Infinity is not a number"),
    "1e400": ('{"layers": [{"type": "dropout", "p": 1e400}]}', "the number 1e400 is too large"),
    "10^12 channels": (conv(out_channels=10**12),
                       "out_channels 1000000000000 is far out of range"),
    "a boolean size": (conv(padding=True), "padding must be a whole number or [height, width], "
                                           '"same" or "valid" (got true)'),
    "a fraction of a channel": (conv(out_channels=8.5),
                                "out_channels must be a whole number (got 8.5)"),
    "a long field name": (conv(**{"k" * 90_000: 1}), "has unknown field 'kkkk"),
    "a long type": ('{"layers": [{"type": "' + "x" * 99_000 + '"}]}', 'unknown type "xxx'),
    "200,000 characters": (" " * 200_000 + "{}", "the text is 200,002 characters"),
    "empty": ("  \n", "the text is empty"),
    "not UTF-8": (b'{"layers": [{"type": "\xff"}]}', "not UTF-8 text (byte 23"),
}

