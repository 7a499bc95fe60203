"""The 28x28 datasets the app can train on, as facts that need no torch (the Design page
shows them before torch has loaded); ``cnn_core.data.mnist`` loads them through torchvision."""

from __future__ import annotations

from dataclasses import dataclass

from cnn_core.design.formatting import format_shape
from cnn_core.design.report import NetworkReport

INPUT_SHAPE = (1, 28, 28)


@dataclass(frozen=True)
class Dataset:
    key: str
    title: str
    torchvision_class: str  # its class in torchvision.datasets; the folder is named after it
    outputs: int  # classes: what the design's last layer must output
    noun: str  # what one image is
    split: str | None = None  # EMNIST's split
    label_offset: int = 0  # EMNIST letters are labelled 1-26
    transposed: bool = False  # EMNIST stores images transposed
    download_bytes: int = 0  # the compressed files' size, for the progress bar


DATASETS: dict[str, Dataset] = {d.key: d for d in (
    Dataset("mnist", "MNIST", "MNIST", 10, "digit", download_bytes=11_594_722),
    Dataset("fashion_mnist", "Fashion-MNIST", "FashionMNIST", 10, "garment",
            download_bytes=30_878_645),
    Dataset("kmnist", "KMNIST", "KMNIST", 10, "character", download_bytes=20_334_757),
    Dataset("emnist_letters", "EMNIST letters", "EMNIST", 26, "letter", split="letters",
            label_offset=1, transposed=True, download_bytes=561_753_746),
)}


def output_refusal(report: NetworkReport, dataset: Dataset) -> str | None:
    """Why the design cannot be trained on ``dataset`` (input or output shape), naming the
    layer and the count it needs; None when it can (or when it cannot be built at all)."""
    if tuple(report.input_shape) != INPUT_SHAPE:
        return (f"{dataset.title} images are 1x28x28, but this design expects "
                f"{format_shape(tuple(report.input_shape))}")
    if report.output_shape is None or report.output_shape == (dataset.outputs,):
        return None
    last = report.layers[-1] if report.layers else None
    where = last.label if last else "this design"
    fix = (f"set its out_features to {dataset.outputs}" if last and last.type == "linear"
           else f"end with linear out_features={dataset.outputs}")
    return (f"{dataset.title} has {dataset.outputs} classes, so the last layer must output "
            f"{dataset.outputs} values (one per {dataset.noun}), but {where} outputs "
            f"{format_shape(report.output_shape)}; {fix}")


def outputs_note(report: NetworkReport) -> str:
    """One line for the Design page: which datasets this design's output fits."""
    needs = {}
    for d in DATASETS.values():
        needs.setdefault(d.outputs, []).append(d.title)
    parts = [f"{' / '.join(titles)}: {n} outputs" for n, titles in needs.items()]
    fits = [d.title for d in DATASETS.values() if output_refusal(report, d) is None]
    shown = format_shape(report.output_shape) if report.output_shape else "nothing yet"
    return (f"The last layer's outputs must match the classes: {'; '.join(parts)}. This design "
            f"outputs {shown}" + (f", so it can train on {', '.join(fits)}." if fits else
                                  ", so it fits none of them."))
