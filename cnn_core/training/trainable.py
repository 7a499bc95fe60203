"""Whether a design can train on a dataset at all, decided from its shape report alone.

Pure (no torch, no data): the command line calls it before it loads anything, and the
admission check every way of training goes through can call it too. Without it, a design
that does not fit the data starts, loads the digits and then fails at its first step with
torch's own words ("optimizer got an empty parameter list", "Target 3 is out of bounds", or
a conv layer expecting 16 channels of a 1x28x28 digit).
"""

from __future__ import annotations

from cnn_core.data.datasets import Dataset, output_refusal
from cnn_core.design.report import NetworkReport


def trainability_refusal(report: NetworkReport, dataset: Dataset) -> str | None:
    """Why this design cannot be trained on ``dataset`` (one sentence), or None when it can:
    it must build, take the dataset's input shape, output one value per class, and have
    weights to learn."""
    if not report.ok:
        return report.errors[0]
    if refusal := output_refusal(report, dataset):
        return refusal
    if report.total_params == 0:
        return ("this design has no weights to learn (no conv2d, linear or batch norm layer), "
                "so training cannot change it: add a conv2d or linear layer")
    return None
