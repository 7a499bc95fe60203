"""Time one shape-table update (what the Design page does on every edit) for a 20-layer net.

The update is: analyse the spec (shapes, formulas, params, MACs, receptive fields) and build
the table rows the page shows. Prints p50/p95 over many repeats and ends with
``layers=20 p50_ms=X p95_ms=Y`` (target: under 20 ms).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_core.design.formatting import SummaryRow, summary_rows
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.design.spec import layer as L


def twenty_layers() -> ArchitectureSpec:
    block = [L("conv2d", out_channels=32, kernel_size=3, padding=1), L("batchnorm2d"),
             L("relu")]
    layers = block * 2 + [L("maxpool2d", kernel_size=2)] + block * 2 + [
        L("maxpool2d", kernel_size=2), L("conv2d", out_channels=64, kernel_size=3),
        L("batchnorm2d"), L("relu"), L("flatten"), L("dropout", p=0.3),
        L("linear", out_features=10)]
    spec = ArchitectureSpec(tuple(layers))
    assert len(spec.layers) == 20
    return spec


def update(spec: ArchitectureSpec) -> list[SummaryRow]:
    return summary_rows(analyze(spec))


def main() -> None:
    spec = twenty_layers()
    rows = update(spec)
    assert rows[-1].output == "10", rows[-1]
    times = []
    for _ in range(2000):
        start = time.perf_counter()
        update(spec)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p50, p95 = statistics.median(times), times[int(0.95 * len(times))]
    print(f"20-layer design, {len(times)} updates: p50 {p50:.3f} ms, p95 {p95:.3f} ms, "
          f"max {times[-1]:.3f} ms")
    print(f"layers=20 p50_ms={p50:.3f} p95_ms={p95:.3f}")


if __name__ == "__main__":
    main()
