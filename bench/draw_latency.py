"""Canvas array -> MNIST-style input -> prediction and every feature map, on the CPU.

The seed tutorial's PyTorch ConvNet (trained briefly on the bundled digits so activations are
realistic), 200 drawings made from real held-out digits drawn back onto a 280x280 RGBA canvas
at varied sizes and positions. Ends with ``p50_ms=X p95_ms=Y`` (target p95 < 50 ms).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "harness"))  # digits

from digits import first_digits

from cnn_core.data.mnist import load_bundled
from cnn_core.data.preprocess import canvas_to_mnist, digit_to_canvas
from cnn_core.design.presets import PYTORCH_TUTORIAL
from cnn_core.explain.activations import predict_with_maps
from cnn_core.training.job import train_to_completion
from cnn_core.training.trainer import TrainConfig


def main() -> None:
    splits = load_bundled()
    small = first_digits(splits, 2000, 200)
    model = train_to_completion(PYTORCH_TUTORIAL, small, TrainConfig(epochs=1)).model
    drawings = [digit_to_canvas(splits.val_images[i].numpy(), digit_px=120 + (i * 7) % 140,
                                offset=((i * 13) % 41 - 20, (i * 17) % 41 - 20))
                for i in range(200)]
    for rgba in drawings[:5]:  # warm-up
        predict_with_maps(model, canvas_to_mnist(rgba).image)
    times, correct = [], 0
    for i, rgba in enumerate(drawings):
        start = time.perf_counter()
        prepared = canvas_to_mnist(rgba)
        prediction = predict_with_maps(model, prepared.image)
        times.append((time.perf_counter() - start) * 1000)
        correct += prediction.digit == int(splits.val_labels[i])
    times.sort()
    p50, p95 = statistics.median(times), times[int(0.95 * len(times)) - 1]
    print(f"seed ConvNet, {torch.get_num_threads()} CPU threads, 200 drawings: p50 {p50:.1f} ms, "
          f"p95 {p95:.1f} ms, max {times[-1]:.1f} ms; {correct}/200 predicted right "
          f"({len(prediction.feature_maps)} feature-map layers each)")
    print(f"p50_ms={p50:.1f} p95_ms={p95:.1f}")


if __name__ == "__main__":
    main()
