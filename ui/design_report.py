"""The Design page's report as text and tables, computed apart from the widgets that show it:
each layer's formula in words, the per-layer table and the server's limits for one training."""

from __future__ import annotations

import pandas as pd

from cnn_core.design.formatting import format_shape, summary_rows
from cnn_core.design.layers import layer_type
from cnn_core.design.report import LayerReport, NetworkReport
from cnn_core.design.shapes import OUTPUT_SIZE_FORMULA
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.training.budget import (
    FULL_TRAIN_IMAGES,
    MAX_BATCH_SIZE,
    Limits,
    expected_seconds,
    format_bytes,
    format_seconds,
    is_calibrated,
    largest_fitting_batch,
    max_epochs,
    memory_refusal,
    training_memory,
)
from cnn_core.training.settings import recipe


def layer_explanation(r: LayerReport) -> str | None:
    """The formula with the user's numbers, and what the layer does to the shape, as
    Markdown; None for a layer with an error (its error says why instead)."""
    if r.error or r.output_shape is None:
        return None
    lines = [f"`{format_shape(r.input_shape)}` → `{format_shape(r.output_shape)}`"]
    if r.formulas:
        lines.append(f"Output size, `{OUTPUT_SIZE_FORMULA}`:")
        lines.extend(f"- `{f}`" for f in r.formulas)
    lines.extend(f"- ✂️ {note}" for note in r.notes)
    rule = layer_type(r.type).rule
    if rule == "conv":
        s = r.settings
        kh, kw = s["kernel_size"]
        lines.append(f"- params = {s['out_channels']} kernels × ({s['in_channels']} × {kh} × "
                     f"{kw} weights + 1 bias) = **{r.params:,}**")
    elif rule == "dense":
        s = r.settings
        lines.append(f"- params = {s['in_features']} × {s['out_features']} weights + "
                     f"{s['out_features']} biases = **{r.params:,}**")
    if r.receptive_field:
        lines.append(f"- each output value sees a {r.receptive_field[0]}×"
                     f"{r.receptive_field[1]} patch of the input (receptive field)")
    return "\n".join(lines)


def layer_table(report: NetworkReport) -> pd.DataFrame:
    """The per-layer table (``shapes.summary_rows``), after a row for the input."""
    rows = [{"#": 0, "layer": "input", "settings": "", "output": format_shape(report.input_shape),
             "params": 0, "MACs": 0, "receptive field": "1x1", "status": ""}]
    rows += [{"#": r.index, "layer": r.layer, "settings": r.settings, "output": r.output,
              "params": r.params, "MACs": r.macs, "receptive field": r.receptive_field,
              "status": f"✗ {r.error}" if r.error else "✓"} for r in summary_rows(report)]
    return pd.DataFrame(rows)


def budget_text(spec: ArchitectureSpec, report: NetworkReport) -> tuple[str, str | None]:
    """The server's limits for one training of this design at the settings it starts from
    (its recipe), and why it is too big to train at them (None when it fits)."""
    limits = Limits.from_env()
    settings = recipe(spec)
    batch, optimizer = int(settings["batch_size"]), str(settings["optimizer"])
    memory = training_memory(report, batch, optimizer).total
    fits = largest_fitting_batch(report, optimizer, limits.memory_bytes)
    epoch_s = expected_seconds(report, FULL_TRAIN_IMAGES, 1, limits, batch)
    measured = " as measured on this server" if is_calibrated(report) else ""
    epochs = max_epochs(report, FULL_TRAIN_IMAGES, limits, batch)
    batches = ("any batch size fits" if fits >= MAX_BATCH_SIZE
               else f"batch sizes up to {fits:,} fit")
    text = (f"**Limits for one training on this server:** {format_bytes(limits.memory_bytes)} "
            f"of memory and {format_seconds(limits.seconds)}. This design at batch {batch} "
            f"with Adam needs about {format_bytes(memory)} ({batches}); an epoch over "
            f"{FULL_TRAIN_IMAGES:,} digits takes about {format_seconds(epoch_s)}{measured} "
            f"(at most {epochs:,} epochs).")
    refused = memory_refusal(report, batch, optimizer, limits)
    if refused or fits == 0 or epochs == 0:
        return text, refused or "see above"
    return text, None
