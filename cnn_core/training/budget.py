"""Budgets checked before anything runs: a training's peak memory and time, from the design.

One student's design must not take the server down for the class: the Design page shows the
limits, the Train page and the CLI refuse a training over them (naming the layer that costs
most and the batch size that would fit), and the Draw page bounds its forward pass the same
way. Pure arithmetic on the shape report, without torch, so the Design page can show it before
PyTorch has loaded. ``bench/memory_budget.py`` holds the estimate against real peak memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cnn_core.design.formatting import format_shape
from cnn_core.design.layers import layer_type
from cnn_core.design.report import (
    FLOAT,
    LayerReport,
    NetworkReport,
    kept_bytes,
    largest_values,
    layer_values,
    numel,
)
from cnn_core.training.calibration import PACES
from cnn_core.training.settings import SETTINGS

MEMORY_ENV = "CNN_EXPLAINER_TRAINING_MEMORY_MB"
SECONDS_ENV = "CNN_EXPLAINER_TRAINING_SECONDS"
RATE_ENV = "CNN_EXPLAINER_TRAINING_MACS_PER_S"
DRAW_MEMORY_ENV = "CNN_EXPLAINER_DRAW_MEMORY_MB"
PASSES_MEMORY_ENV = "CNN_EXPLAINER_PASSES_MEMORY_MB"
MAX_TRAININGS_ENV = "CNN_EXPLAINER_MAX_TRAININGS"

MB = 1024 * 1024
# Where a container's memory limit is (cgroup v2, v1): Docker, Streamlit Community Cloud.
CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
SERVER_RESERVE = 1536 * MB  # the server itself: torch, the digits, the sessions' pages
MAX_DEFAULT_MEMORY = 4096 * MB  # no MNIST training needs more; the rest is for everyone else
MIN_DEFAULT_MEMORY = 512 * MB
DEFAULT_SECONDS = 300.0  # "a few minutes": a lesson has no time for longer
# The time model's constants, fitted together (least squares on relative error) to one-epoch
# trainings of nine designs at batch 16 to 256 on 2 quiet cores, each within 0.83-1.39x of
# its real epoch (docs/benchmarks.md#the-time-estimates-costs). Multiply-adds per second per
# core, forward and backward:
MACS_PER_S_PER_CORE = 3.9e10
# Layers without multiply-adds, in conv-MAC equivalents per output value: elementwise ones
# (ReLU, tanh, batch norm, dropout alike: memory-bound), and pooling by its window's size.
VALUE_COST_MACS = 87
POOL_BASE_MACS, POOL_ELEMENT_MACS = 105, 11
# Every step pays Python, the optimizer's update and the loop's bookkeeping whatever its size,
# and each layer its autograd node and kernel launches: what small nets are bound by.
STEP_OVERHEAD_S = 0.0004
LAYER_STEP_OVERHEAD_S = 0.000075
DEFAULT_DRAW_MEMORY = 256 * MB
DEFAULT_PASSES_MEMORY = 512 * MB  # drawings, "why" and handwriting tests at once, all students
DEFAULT_BATCH_SIZE = int(SETTINGS["batch_size"].default)  # shown on the Design page
FULL_TRAIN_IMAGES = 55_000  # MNIST's training digits less the 5,000 held out for validation
MAX_BATCH_SIZE = int(SETTINGS["batch_size"].maximum)  # the largest the trainer accepts

# Copies of the parameters each optimizer keeps: Adam's two moments, SGD's momentum.
OPTIMIZER_COPIES = {"adam": 2, "sgd": 1}
# Evaluation runs without gradients, in batches sized so their largest layer output fits this.
EVAL_MEMORY = 128 * MB
MAX_EVAL_BATCH = 1000
# Real peak memory over the tensors counted (allocator, scratch buffers, a process's first
# thread pools), fitted by bench/memory_budget.py.
OVERHEAD = 1.3
FIRST_TRAINING = 192 * MB


@dataclass(frozen=True)
class Limits:
    """What one training, or one heavy pass outside trainings (a drawing, a "why", a test on
    the class's drawings), may use on this server; and what all such passes at once may."""

    memory_bytes: int
    seconds: float
    macs_per_s: float
    draw_memory_bytes: int = DEFAULT_DRAW_MEMORY
    passes_memory_bytes: int = DEFAULT_PASSES_MEMORY

    @classmethod
    def from_env(cls) -> Limits:
        """The settings (docs/class-server.md), else defaults from this machine's memory,
        cores and slots."""
        memory = _env_number(MEMORY_ENV)
        draw = _env_number(DRAW_MEMORY_ENV)
        passes = _env_number(PASSES_MEMORY_ENV)
        draw_bytes = int(draw * MB) if draw else DEFAULT_DRAW_MEMORY
        return cls(
            memory_bytes=int(memory * MB) if memory else default_memory(),
            seconds=_env_number(SECONDS_ENV) or DEFAULT_SECONDS,
            macs_per_s=_env_number(RATE_ENV) or default_rate(),
            draw_memory_bytes=draw_bytes,
            passes_memory_bytes=max(draw_bytes, int(passes * MB) if passes
                                    else DEFAULT_PASSES_MEMORY))


def _env_number(name: str) -> float | None:
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return None
    return value if value > 0 and value != float("inf") else None


def machine_memory() -> int:
    """Physical memory, or the container's limit when lower (Streamlit Cloud, Docker)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 4096 * MB
    for path in CGROUP_LIMITS:
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isascii() and text.isdigit():  # "²".isdigit() too, and int() refuses it
            total = min(total, int(text))
    return total


def default_limit() -> int:
    """``$CNN_EXPLAINER_MAX_TRAININGS``, else one training per two CPU cores (at least one):
    how many trainings run at once, which the memory and time shares divide by."""
    try:
        configured = int(os.environ.get(MAX_TRAININGS_ENV, "0"))
    except ValueError:
        configured = 0
    return configured if configured > 0 else max(1, (os.cpu_count() or 1) // 2)


def default_memory() -> int:
    """Half of what the server leaves free, shared by the trainings that run at once."""
    share = (machine_memory() - SERVER_RESERVE) // 2 // default_limit()
    return max(MIN_DEFAULT_MEMORY, min(MAX_DEFAULT_MEMORY, share))


def default_rate() -> float:
    """Multiply-accumulates per second one training gets: its share of the cores."""
    cores = os.cpu_count() or 1
    return MACS_PER_S_PER_CORE * max(1, cores // default_limit())


# ---- memory -------------------------------------------------------------------------------
@dataclass(frozen=True)
class MemoryEstimate:
    """A training's peak memory in bytes, by what holds it."""

    weights: int
    gradients: int
    optimizer_state: int
    activations: int  # kept for the backward pass, whole batch
    backward: int  # the gradients flowing back through the largest layer
    evaluation: int  # the validation pass between epochs (no gradients)
    costliest: LayerReport | None  # the layer that holds the most

    @property
    def total(self) -> int:
        training = (self.weights + self.gradients + self.optimizer_state + self.activations
                    + self.backward)
        # Validation runs between steps, so the gradients and the optimizer's state are alive
        evaluating = self.weights + self.gradients + self.optimizer_state + self.evaluation
        return FIRST_TRAINING + int(OVERHEAD * max(training, evaluating))


def eval_batch_size(largest: int) -> int:
    """Images per evaluation batch: as many as keep its largest output within EVAL_MEMORY."""
    return max(1, min(MAX_EVAL_BATCH, EVAL_MEMORY // (2 * FLOAT * max(1, largest))))


def training_memory(report: NetworkReport, batch_size: int, optimizer: str) -> MemoryEstimate:
    """Peak memory of training ``report``'s design at ``batch_size`` with ``optimizer``."""
    params = report.total_params * FLOAT
    largest = largest_values(report)
    # What the forward pass keeps (the design's own figure), and the uint8 digits of the batch
    per_image = report.activation_bytes + numel(report.input_shape)
    costliest = max(report.layers, key=lambda r: batch_size * kept_bytes(r) + 4 * r.params,
                    default=None)
    return MemoryEstimate(
        weights=params, gradients=params,
        optimizer_state=OPTIMIZER_COPIES.get(optimizer, 2) * params,
        activations=batch_size * per_image,
        backward=batch_size * 2 * FLOAT * largest,
        evaluation=eval_batch_size(largest) * 2 * FLOAT * largest,
        costliest=costliest)


def largest_fitting_batch(report: NetworkReport, optimizer: str, budget: int) -> int:
    """The largest batch size whose estimate fits ``budget``; 0 when not even one image does."""
    low, high = 0, 1
    while high <= 1 << 20 and training_memory(report, high, optimizer).total <= budget:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if training_memory(report, middle, optimizer).total <= budget:
            low = middle
        else:
            high = middle
    return low


def memory_refusal(report: NetworkReport, batch_size: int, optimizer: str,
                   limits: Limits) -> str | None:
    """Why this training would use too much memory, in one line; None when it fits."""
    estimate = training_memory(report, batch_size, optimizer)
    if estimate.total <= limits.memory_bytes:
        return None
    layer = estimate.costliest
    cost = ""
    if layer is not None:
        what = (f"keeps {format_shape(layer.output_shape)} values per "
                "image for the backward pass" if kept_bytes(layer) * batch_size >= 4 * layer.params
                else f"has {layer.params:,} parameters")
        cost = f"; the costliest layer is {layer.label}, which {what}"
    fits = largest_fitting_batch(report, optimizer, limits.memory_bytes)
    advice = (f"batch size {fits} would fit" if fits else
              "not even batch size 1 fits: make the layers smaller")
    return (f"training at batch size {batch_size} needs about {format_bytes(estimate.total)} of "
            f"memory, over the {format_bytes(limits.memory_bytes)} one training may use on "
            f"this server{cost}; {advice}")


# ---- time -----------------------------------------------------------------------------------
def layer_work(layer: LayerReport) -> int:
    """One image's pass through ``layer`` in conv-MAC equivalents: its multiply-adds, or the
    work its output values cost (pooling by its window's size)."""
    if layer.macs or layer_type(layer.type).rule == "flatten":
        return layer.macs
    if layer_type(layer.type).rule == "pool":
        kernel_h, kernel_w = layer.settings.get("kernel_size", (1, 1))
        return (POOL_BASE_MACS + POOL_ELEMENT_MACS * kernel_h * kernel_w) * layer_values(layer)
    return VALUE_COST_MACS * layer_values(layer)


def work_per_image(report: NetworkReport) -> int:
    """One image's forward pass in conv-MAC equivalents, every layer's work included."""
    return sum(layer_work(r) for r in report.layers)


def training_seconds(report: NetworkReport, images: int, epochs: int, macs_per_s: float,
                     batch_size: int = DEFAULT_BATCH_SIZE) -> float:
    """Estimated training time: forward and backward (3 passes) over every image and each
    step's fixed costs, each epoch."""
    steps = -(-images // max(1, batch_size))
    step_overhead = STEP_OVERHEAD_S + LAYER_STEP_OVERHEAD_S * len(report.layers)
    return epochs * (3 * work_per_image(report) * images / macs_per_s + steps * step_overhead)


def expected_seconds(report: NetworkReport, images: int, epochs: int, limits: Limits,
                     batch_size: int = DEFAULT_BATCH_SIZE) -> float:
    """The estimate shown and admitted on: this server's measured pace for the design
    (``calibration``) where a training of it has run, else the arithmetic. Measured at
    another batch size, the arithmetic's ratio between the two batch sizes carries it over."""
    paces = PACES.paces(report)
    model = training_seconds(report, images, epochs, limits.macs_per_s, batch_size)
    if not paces:
        return model
    steps = epochs * -(-images // max(1, batch_size))
    if batch_size in paces:
        return steps * paces[batch_size]
    near = min(paces, key=lambda b: abs(b - batch_size))
    per_step_there = training_seconds(report, near, 1, limits.macs_per_s, near)
    return model * paces[near] / per_step_there


def is_calibrated(report: NetworkReport) -> bool:
    """Whether the estimate for this design comes from a training measured on this server."""
    return bool(PACES.paces(report))


def max_epochs(report: NetworkReport, images: int, limits: Limits,
               batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """How many epochs over ``images`` fit the time limit (0: not even one)."""
    one = expected_seconds(report, images, 1, limits, batch_size)
    return int(limits.seconds // one) if one > 0 else 10**9


def time_refusal(report: NetworkReport, images: int, epochs: int, limits: Limits,
                 batch_size: int = DEFAULT_BATCH_SIZE) -> str | None:
    """Why this training would take too long, in one line; None when it fits."""
    seconds = expected_seconds(report, images, epochs, limits, batch_size)
    if seconds <= limits.seconds:
        return None
    fits = max_epochs(report, images, limits, batch_size)
    advice = (f"{fits} epoch{'s' * (fits != 1)} would fit" if fits else
              "not even one epoch fits: use fewer or smaller layers")
    measured = " (measured on this server)" if is_calibrated(report) else ""
    return (f"{epochs} epoch{'s' * (epochs != 1)} over {images:,} digits would take about "
            f"{format_seconds(seconds)} here{measured}, over the "
            f"{format_seconds(limits.seconds)} one training may take on this server; {advice}")


def training_refusal(report: NetworkReport, batch_size: int, optimizer: str, epochs: int,
                     images: int, limits: Limits | None = None) -> str | None:
    """The one check every way of starting a training makes: None, or why not, in one line."""
    limits = limits or Limits.from_env()
    return (memory_refusal(report, batch_size, optimizer, limits)
            or time_refusal(report, images, epochs, limits, batch_size))


# ---- the Draw page's forward pass -------------------------------------------------------
def drawing_memory(report: NetworkReport) -> int:
    """Peak memory of one drawing's pass with its feature maps: the weights, the two tensors
    alive at each step, and a copy of every conv and pool output (the maps shown)."""
    maps = sum(layer_values(r) for r in report.layers
               if layer_type(r.type).rule in ("conv", "pool"))
    return int(OVERHEAD * FLOAT * (report.total_params + 2 * largest_values(report) + maps))


# ---- formatting ---------------------------------------------------------------------------
def format_bytes(n: float) -> str:
    if n >= 1024 * MB:
        return f"{n / (1024 * MB):.1f} GB"
    if n < 10 * MB:  # "1 MB, over the 1 MB" would say nothing
        return f"{n / MB:.1f} MB"
    return f"{round(n / MB):,} MB"


def format_seconds(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"

