"""``python -m cnn_core summary``: a table, JSON, and a one-line error with exit status 2."""

import json
import subprocess
import sys
from pathlib import Path

from cnn_core.presets import PYTORCH_TUTORIAL

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "cnn_core", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_table_and_json(tmp_path):
    path = tmp_path / "arch.json"
    path.write_text(PYTORCH_TUTORIAL.to_json_text())
    table = run_cli("summary", str(path))
    assert table.returncode == 0
    assert "64x7x7" in table.stdout and "3136→1000" in table.stdout
    assert "total params 3,199,106" in table.stdout
    result = run_cli("summary", str(path), "--json")
    data = json.loads(result.stdout)
    assert data["total_params"] == 3_199_106
    assert data["layers"][0] == {"type": "conv2d", "output_shape": [32, 28, 28],
                                 "params": 832, "macs": 32 * 28 * 28 * 25}
    assert data["layers"][6]["output_shape"] == [3136]


def test_invalid_designs_exit_2_with_one_line(tmp_path):
    cases = {
        '{"layers": [{"type": "flatten"}, {"type": "conv2d", "out_channels": 2, '
        '"kernel_size": 3}]}': "error: layer 2 (conv2d): conv2d needs a feature-map volume",
        '{"layers": [{"type": "maxpool2d", "kernel_size": 0}]}':
            "error: layer 1 (maxpool2d): kernel_size must be between 1 and 32 (got 0)",
        "{oops": "error: not valid JSON",
    }
    for text, expected in cases.items():
        result = run_cli("summary", "-", stdin=text)
        assert result.returncode == 2
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(expected), result.stderr
    missing = run_cli("summary", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith("error: cannot read")


def test_train_prints_each_epoch_and_the_test_accuracy():
    result = run_cli("train", "--preset", "small", "--epochs", "2", "--batch-size", "128",
                     "--device", "cpu")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("data: Offline: the bundled MNIST test set, 8,000 digits")
    assert lines[1].startswith("epoch 1/2: train loss ") and "validation loss" in lines[1]
    assert lines[2].startswith("epoch 2/2: ")
    accuracy = float(lines[3].split("test accuracy ")[1].split("%")[0])
    assert lines[3].startswith("finished: ") and accuracy > 90
    assert "images/s on CPU (" in lines[3]


def test_train_refuses_bad_settings_before_loading_data(tmp_path):
    bad_lr = run_cli("train", "--preset", "small", "--lr", "0")
    assert bad_lr.returncode == 2 and bad_lr.stdout == ""
    assert bad_lr.stderr.strip() == "error: learning rate must be between 1e-06 and 10 (got 0.0)"
    unknown = run_cli("train", "--preset", "nope")
    assert unknown.returncode == 2 and "invalid choice: 'nope'" in unknown.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"layers": [{"type": "maxpool2d", "kernel_size": 0}]}')
    result = run_cli("train", str(broken))
    assert result.returncode == 2 and result.stderr.startswith("error: layer 1 (maxpool2d)")
