"""``python -m cnn_core summary``: a table, JSON, and a one-line error with exit status 2."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT
from hostile_designs import HOSTILE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnn_core.__main__ import build_parser, fill_from_recipe, main
from cnn_core.design.parse import MAX_MESSAGE_CHARS
from cnn_core.design.presets import LENET5, PYTORCH_TUTORIAL
from cnn_core.design.spec import ArchitectureSpec


def run_cli(*args, stdin=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "cnn_core", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


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


LENET5_EDITED = ArchitectureSpec(LENET5.layers[:-1] + LENET5.layers[-1:] * 2)  # no preset


def test_train_options_default_to_trainconfig_and_state_its_limits(capsys):
    from cnn_core.training.trainer import TrainConfig

    args = build_parser().parse_args(["train", "design.json"])
    fill_from_recipe(args, LENET5_EDITED)  # a design of one's own: the defaults
    default = TrainConfig()
    for name in ("epochs", "batch_size", "learning_rate", "seed", "optimizer", "schedule"):
        assert getattr(args, name) == getattr(default, name), name
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    helps = " ".join(capsys.readouterr().out.split())
    for name, limit in TrainConfig.LIMITS.items():
        words = name.replace("_", " ")
        assert f"{words}, {limit.describe_range()} (default {limit.default:g}" in helps


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


@pytest.mark.slow
def test_train_prints_each_epoch_and_the_test_accuracy():
    result = run_cli("train", "--preset", "small", "--epochs", "2", "--batch-size", "128",
                     "--device", "cpu", timeout=600)
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


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_files_give_one_short_line_and_exit_2(name, tmp_path, capsys):
    path = _write(tmp_path / "design.json", HOSTILE[name][0])
    assert main(["summary", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and HOSTILE[name][1] in err
    assert err.count("\n") == 1 and len(err) <= len("error: \n") + MAX_MESSAGE_CHARS


def test_a_52_megabyte_file_is_refused_after_reading_400_kilobytes(tmp_path, capsys):
    path = _write(tmp_path / "big.json", '{"layers": [{"type": "' + "x" * 52_000_000 + '"}]}')
    assert main(["summary", str(path)]) == 2
    assert capsys.readouterr().err == ("error: the file is more than 400,000 bytes; a design "
                                       "is at most 100,000 characters\n")


def test_whole_floats_and_a_byte_order_mark_are_a_design(tmp_path, capsys):
    text = ('\ufeff{"layers": [{"type": "conv2d", "out_channels": 8.0, "kernel_size": 3e0}, '
            '{"type": "dropout", "p": 0}, {"type": "flatten"}, '
            '{"type": "linear", "out_features": 1e1}]}')
    assert main(["summary", "--json", str(_write(tmp_path / "d.json", text))]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["layers"][0]["output_shape"] == [8, 26, 26]
    assert summary["layers"][-1]["output_shape"] == [10]


def test_the_worst_files_in_a_real_process_exit_2_without_a_traceback(tmp_path):
    deep = _write(tmp_path / "deep.json", HOSTILE["10,000-deep nesting"][0])
    result = run_cli("summary", str(deep))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "error: the JSON nests more than 8 levels deep; a design needs 4\n"
    result = run_cli("summary", "-", stdin=HOSTILE["5,000-digit integer"][0])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "is 5,001 characters long" in result.stderr


NO_WEIGHTS = {"layers": [{"type": "maxpool2d", "kernel_size": 28}, {"type": "flatten"}]}
ONE_OUTPUT = {"layers": [{"type": "flatten"}, {"type": "linear", "out_features": 1}]}
BIG_INPUT = {"input_shape": [16, 512, 512], "layers": [
    {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2},
    {"type": "maxpool2d", "kernel_size": 32}, {"type": "flatten"},
    {"type": "linear", "out_features": 10}]}


@pytest.mark.parametrize("design, message", [
    (NO_WEIGHTS, "error: MNIST has 10 classes, so the last layer must output 10 values (one "
                 "per digit), but layer 2 (flatten) outputs 1; end with linear out_features=10"),
    (ONE_OUTPUT, "error: MNIST has 10 classes, so the last layer must output 10 values (one "
                 "per digit), but layer 2 (linear) outputs 1; set its out_features to 10"),
    (BIG_INPUT, "error: MNIST images are 1x28x28, but this design expects 16x512x512"),
])
def test_train_refuses_a_design_that_cannot_fit_the_data_before_starting(tmp_path, capsys,
                                                                         monkeypatch, design,
                                                                         message):
    """They used to load the digits, start, and fail at the first step with torch's words
    (exit 1 after 10 s: "optimizer got an empty parameter list", "Target 3 is out of bounds",
    "expected input[1, 1, 28, 28] to have 16 channels"), recording a failed run."""
    import cnn_core.data.dataset_store

    def no_data(*args, **kwargs):
        raise AssertionError("the data was loaded")

    monkeypatch.setattr(cnn_core.data.dataset_store, "MnistStore", no_data)
    path = _write(tmp_path / "design.json", json.dumps(design))
    assert main(["train", str(path), "--batch-size", "32", "--runs-dir",
                 str(tmp_path / "runs")]) == 2  # batch 32: within the memory limit
    out, err = capsys.readouterr()
    assert (out, err) == ("", message + "\n")
    assert not (tmp_path / "runs").exists()  # nothing was recorded


def test_a_design_without_weights_is_refused_by_the_pure_check():
    from cnn_core.data.datasets import DATASETS, Dataset
    from cnn_core.design.parse import spec_from_dict
    from cnn_core.design.shapes import analyze
    from cnn_core.training.trainable import trainability_refusal

    four = Dataset("four", "Four", "Four", 4, "thing")  # 1x28x28 pooled to 2x2 = 4 values
    design = spec_from_dict({"layers": [{"type": "maxpool2d", "kernel_size": 14},
                                        {"type": "flatten"}]})
    assert trainability_refusal(analyze(design), four) == (
        "this design has no weights to learn (no conv2d, linear or batch norm layer), so "
        "training cannot change it: add a conv2d or linear layer")
    assert trainability_refusal(analyze(PYTORCH_TUTORIAL), DATASETS["mnist"]) is None
    assert trainability_refusal(analyze(PYTORCH_TUTORIAL), DATASETS["emnist_letters"]) \
        .startswith("EMNIST letters has 26 classes")


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(max_size=12) | st.sampled_from(
    ["runs", "show", "list", "export", "--page", "--limit", "--json", "train", "summary",
     "--epochs", "--sort", "-", "1", "10" * 12]), max_size=5))
def test_any_arguments_give_a_result_or_one_line(tmp_path_factory, capsys, argv):
    """Every mistake on the command line is one line with status 2, never a traceback or a
    usage block (argparse's own errors included)."""
    if "train" in argv or "summary" in argv or any(a.startswith("-h") or a.startswith("--h")
                                                   for a in argv):
        argv = ["runs", "list", *argv]  # no training or help page from a fuzzer
    root = tmp_path_factory.mktemp("cli")
    code = main([*argv, "--runs-dir", str(root)])
    out, err = capsys.readouterr()
    assert code in (0, 2)
    if code == 2:
        assert out == "" and err.startswith("error: ") and err.count("\n") == 1, err
