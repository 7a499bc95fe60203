"""Time the run store with 10,000 runs in it: recording a finished run, listing a page.

Fills a fresh store (in a temporary folder) with 10,000 runs through the store's own API,
each with a realistic record: 3 epochs, a 200-point step curve, a confusion matrix (weights
excluded). ``record`` is one ``begin`` plus one ``finish``; ``list`` is one page of 25 runs
sorted by test accuracy (a random page) plus the count the pager shows. Ends with
``runs=10000 record_ms=X list_ms=Y`` (p95s; target: under 50 ms each).
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_core.design.presets import LENET5
from cnn_core.runs.records import RunStart
from cnn_core.runs.store import PAGE_SIZE, RunStore

RUNS = 10_000


def fake_metrics(rng: random.Random) -> dict:
    steps = [{"step": i * 4, "epoch": i / 66, "loss": rng.random(), "accuracy": rng.random(),
              "smoothed_loss": rng.random(), "smoothed_accuracy": rng.random()}
             for i in range(200)]
    epochs = [{"epoch": e, "elapsed_s": 10.0 * e, "train_loss": rng.random(),
               "train_accuracy": rng.random(), "val_loss": rng.random(),
               "val_accuracy": rng.random()} for e in (1, 2, 3)]
    confusion = [[rng.randrange(200) for _ in range(10)] for _ in range(10)]
    return {"epochs": epochs, "steps": steps, "confusion": confusion,
            "per_class_accuracy": [rng.random() for _ in range(10)]}


def p95(times: list[float]) -> float:
    return sorted(times)[int(0.95 * len(times))]


def main() -> None:
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(folder)
        start = RunStart(name="LeNet-5", design=LENET5.to_json(),
                         settings={"epochs": 3, "batch_size": 64}, seed=0,
                         data_source="bundled", train_size=8000, val_size=2000,
                         test_size=2000, device="CPU", params=61_706, macs=416_520,
                         source="train page", owner_token="session")
        record_ms = []
        for _ in range(RUNS):
            metrics = fake_metrics(rng)
            t0 = time.perf_counter()
            run_id = store.begin(start)
            store.finish(run_id, "finished", "test accuracy", duration_s=30.0,
                         images_per_s=800.0, test_accuracy=rng.random(), **metrics)
            record_ms.append((time.perf_counter() - t0) * 1000)
        list_ms = []
        pages = store.count() // PAGE_SIZE
        for _ in range(300):
            t0 = time.perf_counter()
            store.list_runs(sort="test_accuracy", offset=rng.randrange(pages) * PAGE_SIZE)
            store.count()
            list_ms.append((time.perf_counter() - t0) * 1000)
        size_mb = (Path(folder) / "runs.sqlite3").stat().st_size / 1e6
        print(f"{store.count():,} runs, database {size_mb:.0f} MB")
        print(f"record (begin + finish): p50 {statistics.median(record_ms):.2f} ms, "
              f"p95 {p95(record_ms):.2f} ms; last 1,000: p95 {p95(record_ms[-1000:]):.2f} ms")
        print(f"list one page by accuracy + count: p50 {statistics.median(list_ms):.2f} ms, "
              f"p95 {p95(list_ms):.2f} ms")
        print(f"runs={RUNS} record_ms={p95(record_ms):.2f} list_ms={p95(list_ms):.2f}")


if __name__ == "__main__":
    main()
