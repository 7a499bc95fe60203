"""``python -m cnn_core runs list|show|export`` and ``train --runs-dir``: every training is
recorded, and every problem is one line on stderr with exit status 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cnn_core.__main__ import main
from cnn_core.presets import SMALL_FAST
from cnn_core.runs import RunStart, RunStore

ROOT = Path(__file__).resolve().parent.parent


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_train_records_a_run_that_list_show_and_export_find(tmp_path, capsys):
    runs = str(tmp_path / "runs")
    code, out, err = run(capsys, "train", "--preset", "small", "--epochs", "1",
                         "--batch-size", "256", "--device", "cpu", "--runs-dir", runs)
    assert code == 0, err
    assert f"recorded as run 1 in {runs}" in out.splitlines()
    code, out, _ = run(capsys, "runs", "list", "--runs-dir", runs)
    assert code == 0
    header, row, footer = out.splitlines()
    assert header.split()[:4] == ["id", "started", "status", "design"]
    assert row.split()[0] == "1" and "finished" in row and "small" in row and "20,490" in row
    assert footer == "1 of 1 runs (* pinned)"
    code, out, _ = run(capsys, "runs", "list", "--json", "--runs-dir", runs)
    [listed] = json.loads(out)
    assert listed["id"] == 1 and listed["status"] == "finished" and "owner_hash" not in listed
    code, out, _ = run(capsys, "runs", "show", "1", "--json", "--runs-dir", runs)
    shown = json.loads(out)
    assert shown["test_accuracy"] == listed["test_accuracy"] > 0.5
    assert shown["design"] == SMALL_FAST.to_json() and len(shown["epochs"]) == 1
    assert shown["source"] == "cli" and shown["settings"]["batch_size"] == 256
    code, out, _ = run(capsys, "runs", "show", "1", "--runs-dir", runs)
    assert out.startswith("run 1: small\nstatus: finished (test accuracy ")
    code, out, _ = run(capsys, "runs", "export", "1", str(tmp_path / "out"), "--runs-dir", runs)
    assert code == 0
    assert sorted(Path(p).name for p in out.split()) == [
        "run-1-design.json", "run-1-metrics.csv", "run-1.py", "run-1.safetensors"]
    code, out, err = run(capsys, "runs", "export", "1", str(tmp_path / "out"), "--runs-dir", runs)
    assert code == 2 and err.startswith("error: ") and err.endswith("already exists; export "
                                                                     "to an empty folder\n")


@pytest.mark.slow
def test_train_with_a_broken_store_still_trains_and_says_why(tmp_path, capsys):
    db = tmp_path / "runs.sqlite3"
    db.write_bytes(b"not a database at all" * 50)
    code, out, err = run(capsys, "train", "--preset", "small", "--epochs", "1",
                         "--batch-size", "256", "--device", "cpu", "--runs-dir", str(tmp_path))
    assert code == 0 and "finished: test accuracy" in out
    assert err.startswith("note: Runs are not being kept: the runs database ")
    assert "damaged" in err and err.count("\n") == 1
    assert db.read_bytes() == b"not a database at all" * 50


def test_list_pages_and_sorts(tmp_path, capsys):
    store = RunStore(tmp_path)
    for accuracy in (0.5, 0.9, 0.7):
        run_id = store.begin(RunStart("net", SMALL_FAST.to_json(), {}, 0, "bundled", 1, 1, 1,
                                      "CPU", 10, 10))
        store.finish(run_id, "finished", "", test_accuracy=accuracy)
    code, out, _ = run(capsys, "runs", "list", "--json", "--sort", "test_accuracy",
                       "--limit", "2", "--runs-dir", str(tmp_path))
    assert code == 0 and [r["test_accuracy"] for r in json.loads(out)] == [0.9, 0.7]
    _, out, _ = run(capsys, "runs", "list", "--json", "--sort", "test_accuracy",
                    "--limit", "2", "--page", "2", "--runs-dir", str(tmp_path))
    assert [r["test_accuracy"] for r in json.loads(out)] == [0.5]


@pytest.mark.parametrize("argv", [
    ["runs", "show", "7"],
    ["runs", "export", "7", "OUT"],
])
def test_a_missing_run_is_one_line(tmp_path, capsys, argv):
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in argv]
    code, out, err = run(capsys, *argv, "--runs-dir", str(tmp_path))
    assert (code, out, err) == (2, "", "error: there is no run 7\n")


def test_a_broken_runs_folder_is_one_line_never_a_traceback(tmp_path):
    (tmp_path / "runs.sqlite3").write_bytes(b"\x00garbage" * 100)
    result = subprocess.run([sys.executable, "-m", "cnn_core", "runs", "list", "--runs-dir",
                             str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: the runs database ") and "damaged" in result.stderr
    assert result.stderr.count("\n") == 1
    blocked = tmp_path / "file"
    blocked.write_text("x")
    result = subprocess.run([sys.executable, "-m", "cnn_core", "runs", "list", "--runs-dir",
                             str(blocked / "runs")], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and "cannot create the runs folder" in result.stderr
    assert "Traceback" not in result.stderr
