"""``python -m cnn_core runs list|show|export`` and ``train --runs-dir``: every training is
recorded, and every problem is one line on stderr with exit status 2, never a traceback."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnn_core.__main__ import main
from cnn_core.design.presets import SMALL_FAST
from cnn_core.runs.records import RunStart
from cnn_core.runs.store import RunStore

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


def one_line_error(code: int, out: str, err: str) -> str:
    assert (code, out) == (2, "") and err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("argv", [
    ["runs", "show", "100000000000000000000"],
    ["runs", "export", "100000000000000000000", "OUT"],
    ["runs", "list", "--page", "100000000000000000000"],
    ["runs", "list", "--limit", "100000000000000000000"],
    ["runs", "show", "٣"],  # a Unicode digit, which int() would take
    ["runs", "show", "1_0"],
    ["runs", "show", "0"],
    ["runs", "list", "--page", "0"],
    ["runs", "show", "9" * 5000],  # past int()'s 4,300 digits
])
def test_ids_and_pages_out_of_range_are_one_line(tmp_path, capsys, argv):
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in argv]
    err = one_line_error(*run(capsys, *argv, "--runs-dir", str(tmp_path)))
    assert "must be a whole number from 1 to " in err
    assert not (tmp_path / "out").exists()


def test_the_largest_id_sqlite_holds_is_simply_missing(tmp_path, capsys):
    assert run(capsys, "runs", "show", str(2**63 - 1), "--runs-dir", str(tmp_path)) == \
        (2, "", f"error: there is no run {2**63 - 1}\n")
    assert run(capsys, "runs", "list", "--page", "1000000000", "--runs-dir",
               str(tmp_path))[0] == 0


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    store = RunStore(root)
    store.finish(store.begin(RunStart("net", SMALL_FAST.to_json(), {}, 0, "bundled", 1, 1, 1,
                                      "CPU", 10, 10)), "finished", "")
    return root


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=30) | st.from_regex(r"\A[0-9]{15,25}\Z") | st.integers().map(str),
       where=st.sampled_from(["show", "export", "page", "limit"]))
def test_any_text_as_an_id_or_page_is_a_result_or_one_line(fuzz_store, tmp_path_factory,
                                                         capsys, text, where):
    out_dir = tmp_path_factory.mktemp("out")
    argv = {"show": ["runs", "show", text], "export": ["runs", "export", text, str(out_dir)],
            "page": ["runs", "list", "--page", text],
            "limit": ["runs", "list", "--limit", text]}[where]
    code, out, err = run(capsys, *argv, "--runs-dir", str(fuzz_store))
    if code == 0:
        assert err == ""
    else:
        one_line_error(code, out, err)
        assert os.listdir(out_dir) == []  # a refused export writes nothing


def damage(root: Path, sql: str) -> None:
    with sqlite3.connect(root / "runs.sqlite3") as conn:
        conn.execute(sql)


@pytest.mark.parametrize("sql, why", [
    ("UPDATE run_details SET design = 'not json {' WHERE id = 1", "its design is not JSON"),
    ("UPDATE runs SET params = 'many' WHERE id = 1", "its params is not what this app writes"),
])
def test_a_damaged_row_is_listed_as_damaged_and_refused_by_show_and_export(tmp_path, capsys,
                                                                          sql, why):
    store = RunStore(tmp_path)
    for _ in range(2):
        store.finish(store.begin(RunStart("net", SMALL_FAST.to_json(), {}, 0, "bundled", 1, 1,
                                          1, "CPU", 10, 10)), "finished", "")
    damage(tmp_path, sql)
    code, out, err = run(capsys, "runs", "list", "--runs-dir", str(tmp_path))
    assert code == 0 and err == ""
    rows = out.splitlines()
    assert rows[1].split()[0] == "2" and "finished" in rows[1]
    assert rows[2].split()[0] == "1" and "damaged" in rows[2]
    _, out, _ = run(capsys, "runs", "list", "--json", "--runs-dir", str(tmp_path))
    assert json.loads(out)[1]["status"] == "damaged" and json.loads(out)[1]["message"] == why
    for argv in (["show", "1"], ["export", "1", str(tmp_path / "out")]):
        err = one_line_error(*run(capsys, "runs", *argv, "--runs-dir", str(tmp_path)))
        assert err == f"error: run 1 is damaged in the runs database: {why}\n"
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []
    assert run(capsys, "runs", "show", "2", "--runs-dir", str(tmp_path))[0] == 0


@pytest.mark.parametrize("design, why", [
    ('{"layers": [{"type": "warp_drive"}]}', "its design is not one this app can read"),
    ('[1, 2]', "its design is not a JSON object"),
    ('{"layers": ' * 5000, "its design is not JSON"),
])
def test_a_design_this_app_cannot_read_is_one_line(tmp_path, capsys, design, why):
    store = RunStore(tmp_path)
    store.finish(store.begin(RunStart("net", SMALL_FAST.to_json(), {}, 0, "bundled", 1, 1, 1,
                                      "CPU", 10, 10)), "finished", "")
    damage(tmp_path, f"UPDATE run_details SET design = '{design}'")
    for argv in (["show", "1"], ["show", "1", "--json"], ["export", "1", str(tmp_path / "o")]):
        err = one_line_error(*run(capsys, "runs", *argv, "--runs-dir", str(tmp_path)))
        assert err.startswith(f"error: run 1 is damaged in the runs database: {why}")


def test_a_runs_database_linked_to_an_empty_file_elsewhere_is_refused(tmp_path, capsys):
    elsewhere = tmp_path / "someone-elses-file"
    elsewhere.write_bytes(b"")
    os.utime(elsewhere, (0, 0))
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "runs.sqlite3").symlink_to(elsewhere)
    err = one_line_error(*run(capsys, "runs", "list", "--runs-dir", str(runs)))
    assert err == (f"error: the runs database {runs / 'runs.sqlite3'} is a symbolic link, not "
                   "a database file; it was left as it is: move it away to start a new one\n")
    assert elsewhere.read_bytes() == b""


@pytest.mark.parametrize("taken", ["run-1.py", "run-1-metrics.csv", "run-1.safetensors"])
def test_an_export_into_a_folder_holding_one_of_its_files_writes_nothing(tmp_path, capsys,
                                                                          taken):
    from cnn_core.design.build import build_model

    store = RunStore(tmp_path / "runs")
    run_id = store.begin(RunStart("net", SMALL_FAST.to_json(), {}, 0, "bundled", 1, 1, 1,
                                  "CPU", 10, 10))
    store.finish(run_id, "finished", "", state_dict=build_model(SMALL_FAST).state_dict())
    assert store.get_summary(run_id).has_weights
    out = tmp_path / "out"
    out.mkdir()
    (out / taken).write_text("mine")
    err = one_line_error(*run(capsys, "runs", "export", "1", str(out), "--runs-dir",
                              str(tmp_path / "runs")))
    assert err == f"error: {out / taken} already exists; export to an empty folder\n"
    assert os.listdir(out) == [taken] and (out / taken).read_text() == "mine"
    code, printed, _ = run(capsys, "runs", "export", "1", str(tmp_path / "fresh"),
                           "--runs-dir", str(tmp_path / "runs"))
    assert code == 0 and sorted(os.listdir(tmp_path / "fresh")) == sorted(
        Path(p).name for p in printed.split()) == ["run-1-design.json", "run-1-metrics.csv",
                                                   "run-1.py", "run-1.safetensors"]


def test_an_export_to_a_file_or_an_unwritable_place_is_one_line(tmp_path, capsys):
    store = RunStore(tmp_path)
    store.finish(store.begin(RunStart("net", SMALL_FAST.to_json(), {}, 0, "bundled", 1, 1, 1,
                                      "CPU", 10, 10)), "finished", "")
    (tmp_path / "a-file").write_text("x")
    err = one_line_error(*run(capsys, "runs", "export", "1", str(tmp_path / "a-file"),
                              "--runs-dir", str(tmp_path)))
    assert "is not a folder" in err
    one_line_error(*run(capsys, "runs", "export", "1", str(tmp_path / "a-file" / "x"),
                        "--runs-dir", str(tmp_path)))
    one_line_error(*run(capsys, "runs", "export", "1", "/proc/no\nway", "--runs-dir",
                        str(tmp_path)))
