"""The run store: a real training recorded and reloaded, concurrency, broken stores, the cap,
deleting with and without the teacher key, and weights files that must be refused."""

from __future__ import annotations

import csv
import io
import os
import pickle
import runpy
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from helpers import record, start
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as safetensors_save

from cnn_core.design.build import build_model
from cnn_core.design.presets import LENET5, SMALL_FAST
from cnn_core.runs.files import NoWeights, downloads, export_run, run_model
from cnn_core.runs.recording import Recorder, open_store
from cnn_core.runs.records import NotAllowed, RunNotFound, StoreError
from cnn_core.runs.schema import MIGRATIONS
from cnn_core.runs.store import RunStore
from cnn_core.runs.weights import MAX_WEIGHTS_BYTES, WeightsError, load_weights
from cnn_core.storage.owners import new_owner_token
from cnn_core.storage.teacher_key import TeacherKey
from cnn_core.training.evaluate import evaluate
from cnn_core.training.job import TrainingJob
from cnn_core.training.trainer import TrainConfig

ROOT = Path(__file__).resolve().parent.parent


def bundled_small():
    from cnn_core.data.mnist import load_bundled

    b = load_bundled()
    return replace(b, train_images=b.train_images[:100], train_labels=b.train_labels[:100])


@pytest.fixture(scope="module")
def trained(bundled, tmp_path_factory):
    """One real training on 800 bundled digits, recorded in a fresh store."""
    splits = replace(bundled, train_images=bundled.train_images[:800],
                     train_labels=bundled.train_labels[:800])
    config = TrainConfig(epochs=1, batch_size=32, device="cpu", seed=3)
    store = RunStore(tmp_path_factory.mktemp("runs"))
    recorder = Recorder(store, source="cli", label="ada", owner_token="session-a")
    job = TrainingJob(SMALL_FAST, splits, config, name="Small fast net", recorder=recorder)
    job.start()
    job.join()
    assert recorder.problem is None
    return store, recorder.run_id, job, splits


def test_a_real_training_is_recorded_with_every_field(trained):
    store, run_id, job, splits = trained
    run = store.get(run_id)
    assert run.status == "finished" and run.message == job.snapshot().message
    assert run.started_at <= run.ended_at
    assert run.name == "Small fast net" and run.label == "ada" and run.source == "cli"
    assert run.design == SMALL_FAST.to_json()
    assert run.settings == {"epochs": 1, "batch_size": 32, "optimizer": "adam",
                            "learning_rate": 1e-3, "momentum": 0.9, "device": "cpu",
                            "speedups": True, "augment": False, "schedule": "constant",
                            "stop_at_accuracy": 0,
                            "data": {"dataset": "mnist", "train": "dataset", "test": "dataset"}}
    assert run.seed == 3
    assert (run.data_source, run.train_size, run.val_size, run.test_size) == \
        ("bundled", 800, len(splits.val_images), len(splits.test_images))
    assert run.device.startswith("CPU") and run.params == 20_490 and run.macs > 0
    assert run.images_per_s > 0 and run.duration_s > 0
    assert run.test_accuracy == pytest.approx(job.evaluation.accuracy)
    assert run.per_class_accuracy == pytest.approx(job.evaluation.per_class_accuracy)
    assert run.confusion == job.evaluation.confusion
    assert sum(map(sum, run.confusion)) == run.test_size
    epoch = job.snapshot().epochs_done[0]
    assert run.epochs[0]["val_accuracy"] == pytest.approx(epoch.val_accuracy)
    assert run.epochs[0]["train_loss"] == pytest.approx(epoch.train_loss)
    assert 0 < run.epochs[0]["elapsed_s"] <= run.duration_s
    assert 0 < len(run.steps) <= 200 and run.steps[-1]["step"] == 25  # 800 / 32
    assert run.has_weights and not run.pinned
    assert store.get_summary(run_id).owned_by("session-a")
    assert not store.get_summary(run_id).owned_by("session-b")


def test_downloaded_weights_give_the_recorded_accuracy(trained, tmp_path):
    store, run_id, _, splits = trained
    paths = {p.name: p for p in export_run(store, run_id, tmp_path)}
    assert sorted(paths) == [f"run-{run_id}-design.json", f"run-{run_id}-metrics.csv",
                             f"run-{run_id}.py", f"run-{run_id}.safetensors"]
    recorded = store.get(run_id).test_accuracy
    model = load_weights(SMALL_FAST, paths[f"run-{run_id}.safetensors"].read_bytes(),
                         "run.safetensors")
    assert evaluate(model, splits.test_images, splits.test_labels).accuracy == \
        pytest.approx(recorded)
    assert evaluate(run_model(store, run_id), splits.test_images,
                    splits.test_labels).accuracy == pytest.approx(recorded)
    # the script rebuilds the net and loads the weights next to it, on its own
    namespace = runpy.run_path(str(paths[f"run-{run_id}.py"]))
    script_model = namespace["model"]
    assert not script_model.training
    assert evaluate(script_model, splits.test_images, splits.test_labels).accuracy == \
        pytest.approx(recorded)
    rows = list(csv.DictReader(io.StringIO(paths[f"run-{run_id}-metrics.csv"].read_text())))
    assert len(rows) == 1 and float(rows[0]["test_accuracy"]) == pytest.approx(recorded)
    with pytest.raises(FileExistsError):  # an export never overwrites
        export_run(store, run_id, tmp_path)


def test_four_writers_fifty_runs_each(tmp_path):
    store = RunStore(tmp_path)
    errors = []

    def writer(n: int) -> None:
        try:
            for i in range(50):
                record(store, accuracy=i / 50, owner=f"writer-{n}",
                       weights={"w": torch.full((4,), float(n))} if i % 10 == 0 else None)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count() == 200
    assert all(store.count(f"writer-{n}") == 50 for n in range(4))
    runs = store.list_runs(limit=500)
    assert len({r.id for r in runs}) == 200 and {r.status for r in runs} == {"finished"}
    assert sum(r.has_weights for r in runs) == 20


def test_sorting_paging_and_mine(tmp_path):
    store = RunStore(tmp_path)
    ids = [record(store, accuracy=a, owner=o, params=p) for a, o, p in
           [(0.9, "me", 300), (None, "you", 100), (0.7, "me", 200), (0.95, "you", 50)]]
    assert [r.id for r in store.list_runs()] == ids[::-1]  # newest first
    assert [r.test_accuracy for r in store.list_runs(sort="test_accuracy")] == \
        [0.95, 0.9, 0.7, None]  # no accuracy: last, either way
    assert [r.test_accuracy for r in store.list_runs(sort="test_accuracy", descending=False)] \
        == [0.7, 0.9, 0.95, None]
    assert [r.params for r in store.list_runs(sort="params", limit=2, offset=1)] == [200, 100]
    assert {r.id for r in store.list_runs(owner_token="me")} == {ids[0], ids[2]}
    with pytest.raises(ValueError):
        store.list_runs(sort="id; DROP TABLE runs")


def test_reopening_keeps_runs_and_a_newer_schema_is_refused_untouched(tmp_path):
    run_id = record(RunStore(tmp_path))
    assert RunStore(tmp_path).get(run_id).status == "finished"
    with sqlite3.connect(tmp_path / "runs.sqlite3") as conn:
        conn.execute("PRAGMA user_version = 99")
    before = (tmp_path / "runs.sqlite3").read_bytes()
    with pytest.raises(StoreError, match="newer version"):
        RunStore(tmp_path)
    assert (tmp_path / "runs.sqlite3").read_bytes() == before


def test_a_damaged_database_is_reported_and_left_as_it_is(tmp_path):
    db = tmp_path / "runs.sqlite3"
    db.write_bytes(b"this is not a database" * 100)
    before = db.read_bytes()
    store, problem = open_store(tmp_path)
    assert store is None
    assert problem.startswith("Runs are not being kept: the runs database")
    assert "damaged" in problem and "\n" not in problem
    assert db.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["runs.sqlite3",
                                                                          "weights"]
    recorder = Recorder(store, problem)  # a training with no store records nothing, quietly
    assert recorder.begin(SMALL_FAST, bundled_small(), TrainConfig(), "CPU", "net") is None
    assert recorder.problem == problem


def test_a_runs_folder_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    store, problem = open_store(blocker / "runs")
    assert store is None and "cannot create the runs folder" in problem
    assert blocker.read_text() == "keep me"


READ_ONLY = """
import os, sys
from cnn_core.runs.records import RunStart, StoreError
from cnn_core.runs.store import RunStore
root = sys.argv[1]
start = RunStart("net", {"layers": []}, {}, 0, "bundled", 1, 1, 1, "CPU", 1, 1)
store = RunStore(root)
store.finish(store.begin(start), "finished", "ok", test_accuracy=0.5)
store.close()
before = open(os.path.join(root, "runs.sqlite3"), "rb").read()
os.chmod(root, 0o500)
try:
    RunStore(root).begin(start)
    print("recorded anyway")
except StoreError as exc:
    print("StoreError:", exc)
print("unchanged:", open(os.path.join(root, "runs.sqlite3"), "rb").read() == before)
"""


def test_a_read_only_runs_folder():
    """As an ordinary user (root writes anywhere): refused in one line, the database intact."""
    command = [sys.executable, "-c", READ_ONLY]
    folder = Path(tempfile.mkdtemp(prefix="cnn-runs-read-only-"))
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv to drop to an ordinary user")
        os.chown(folder, 65534, 65534)
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    try:
        result = subprocess.run([*command, str(folder)], cwd=ROOT, capture_output=True,
                                text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
        lines = result.stdout.splitlines()
        assert lines[0].startswith("StoreError: the runs folder ") and "not writable" in lines[0], \
            result.stdout + result.stderr
        assert lines[1] == "unchanged: True" and "Traceback" not in result.stderr
    finally:
        os.chmod(folder, 0o700)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_locked_database(tmp_path):
    store = RunStore(tmp_path, busy_timeout_s=0.2)
    other = sqlite3.connect(tmp_path / "runs.sqlite3", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        recorder = Recorder(store)
        assert recorder.begin(SMALL_FAST, bundled_small(), TrainConfig(), "CPU", "n") is None
        assert recorder.problem == (f"Runs are not being kept: the runs database "
                                    f"{tmp_path / 'runs.sqlite3'} is locked by another program")
    finally:
        other.execute("ROLLBACK")
    assert store.begin(start()) == 1  # free again: nothing was lost


DISK_FULL = """
import resource, signal, sys, torch
from cnn_core.runs.records import StoreError
from cnn_core.runs.store import RunStore
store = RunStore(sys.argv[1])
run_id = store.begin(__import__("tests.helpers", fromlist=["start"]).start())
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))
try:
    store.finish(run_id, "finished", "ok", test_accuracy=0.5,
                 state_dict={"w": torch.zeros(1_000_000)})
except StoreError as exc:
    print("StoreError:", exc)
"""


def test_a_full_disk_keeps_the_record_and_every_existing_file(tmp_path):
    store = RunStore(tmp_path)
    old = record(store, weights={"w": torch.ones(10)})
    old_weights = store.weights_path(old).read_bytes()
    result = subprocess.run([sys.executable, "-c", DISK_FULL, str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.startswith("StoreError: cannot write the weights of run 2"), \
        result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    run = store.get(2)
    assert run.status == "finished" and run.test_accuracy == 0.5 and not run.has_weights
    assert store.weights_path(old).read_bytes() == old_weights
    assert sorted(os.listdir(tmp_path / "weights")) == [f"{old}.safetensors"]  # no half file


def test_a_run_left_running_by_a_dead_server_is_interrupted(tmp_path):
    store = RunStore(tmp_path)
    alive = store.begin(start())
    dead = store.begin(start())
    gone = subprocess.Popen(["true"])
    gone.wait()
    with sqlite3.connect(tmp_path / "runs.sqlite3") as conn:
        process = conn.execute("SELECT process FROM runs WHERE id = ?", (dead,)).fetchone()[0]
        host = process.split(":")[0]
        conn.execute("UPDATE runs SET process = ? WHERE id = ?", (f"{host}:{gone.pid}:", dead))
    RunStore(tmp_path)  # a server (or the CLI) starting
    assert store.get(dead).status == "interrupted"
    assert "interrupted" in store.get(dead).message
    assert store.get(alive).status == "running"  # its trainer is this process: still alive


def test_the_cap_drops_the_oldest_unpinned_weights_and_keeps_records(tmp_path):
    weights = {"w": torch.zeros(25_000)}  # 100 kB each
    store = RunStore(tmp_path, max_bytes=410_000)  # four fit; one run may take 102.5 kB
    first, second, third, fourth = (record(store, weights=weights) for _ in range(4))
    store.set_pinned(first, True)
    fifth = record(store, weights=weights)
    assert store.get_summary(first).has_weights  # pinned
    assert not store.get_summary(second).has_weights  # oldest unpinned
    assert not store.weights_path(second).exists()
    assert store.get(second).status == "finished"  # its record stays
    assert "size limit" in store.get_summary(second).weights_note
    assert all(store.get_summary(i).has_weights for i in (third, fourth, fifth))
    store.set_pinned(first, False)  # still under the cap: nothing goes
    assert store.get_summary(first).has_weights
    sixth = record(store, weights=weights)  # unpinned, the first is now the oldest
    assert store.weights(first) is None and store.weights(sixth) is not None
    assert store.count() == 6


def kb(n: int) -> dict:
    """Weights of about ``n`` kB (plus the file's ~80-byte header)."""
    return {"w": torch.zeros(n * 250)}


def test_one_students_big_runs_never_push_out_everyone_elses_weights(tmp_path):
    """The issue's row, scaled down (cap 1 MB): three trainings of one student's design whose
    weights are 2 MB each (over a quarter of the cap) used to remove every other run's."""
    store = RunStore(tmp_path, max_bytes=1_000_000)
    others = [record(store, owner=o, weights=kb(100)) for o in ("bea", "carl", "bea")]
    big = [record(store, owner="ada", weights=kb(2_000)) for _ in range(3)]
    assert all(store.get_summary(i).has_weights for i in others)
    for run_id in big:
        summary = store.get_summary(run_id)
        assert not summary.has_weights and summary.status == "finished"
        assert summary.weights_note == ("not kept: they are 2 MB, and one run may keep at "
                                        "most 0.25 MB (a quarter of the runs folder's 1 MB, "
                                        "shared by the class)")
        with pytest.raises(NoWeights, match=r"one run may keep at most 0\.25 MB"):
            run_model(store, run_id)
    assert sorted(os.listdir(tmp_path / "weights")) == [f"{i}.safetensors" for i in others]


def test_a_students_weights_push_out_their_own_oldest_first(tmp_path):
    store = RunStore(tmp_path, max_bytes=1_000_000)
    others = [record(store, owner=o, weights=kb(190)) for o in ("bea", "carl")]  # oldest
    ada = [record(store, owner="ada", weights=kb(190)) for _ in range(3)]  # 0.95 MB in all
    assert all(store.get_summary(i).has_weights for i in others + ada)
    newest = record(store, owner="ada", weights=kb(190))  # over: ada's own oldest goes
    assert [store.get_summary(i).has_weights for i in others + ada + [newest]] == \
        [True, True, False, True, True, True]
    store.set_pinned(ada[1], True)
    record(store, owner="ada", weights=kb(190))  # ada's oldest unpinned: ada[2]
    assert [store.get_summary(i).has_weights for i in others + ada] == \
        [True, True, False, True, False]
    anonymous = record(store, weights=kb(190))  # no owner: the oldest unpinned of all
    assert not store.get_summary(others[0]).has_weights
    assert store.get_summary(others[1]).has_weights and store.get_summary(anonymous).has_weights
    total = sum(os.path.getsize(p) for p in (tmp_path / "weights").iterdir())
    assert total <= 1_000_000


def test_weights_whose_run_was_deleted_mid_write_are_gone_by_the_next_start(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.begin(start(owner="ada"))
    store.finish(run_id, "finished", "done")
    store.delete(run_id, owner_token="ada")  # while its weights were being written ...
    store.weights_folder.save(run_id, kb(10))  # ... which end after the delete
    assert os.listdir(tmp_path / "weights") == []
    kept = record(store, weights=kb(10))
    lost = record(store, weights=kb(10))
    weights = tmp_path / "weights"
    (weights / f"{lost}.safetensors").unlink()  # its file went missing
    (weights / "77.safetensors").write_bytes(b"w")  # a run that no longer exists
    (weights / ".77.safetensors.0a1b2c3d.tmp").write_bytes(b"w")  # a dead write of it
    (weights / f".{kept}.safetensors.00000000.tmp").write_bytes(b"w")  # a write going on
    (weights / "notes.txt").write_text("not ours")
    RunStore(tmp_path)  # the next start
    assert sorted(os.listdir(weights)) == [f".{kept}.safetensors.00000000.tmp",
                                           f"{kept}.safetensors", "notes.txt"]
    assert store.get_summary(kept).has_weights and not store.get_summary(lost).has_weights
    assert store.get_summary(lost).weights_note == "the weights file was missing"


def test_an_older_schema_is_upgraded_in_place_and_keeps_its_runs(tmp_path):
    with sqlite3.connect(tmp_path / "runs.sqlite3") as conn:  # as the first version made it
        conn.executescript(MIGRATIONS[0])
        conn.execute("PRAGMA user_version = 1")
    store = RunStore(tmp_path)
    run_id = record(store, weights=kb(1))
    assert store.get(run_id).has_weights and store.get(run_id).weights_note == ""
    assert store.get(run_id).shared == 0  # shares came with the third version
    with sqlite3.connect(tmp_path / "runs.sqlite3") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 3


def test_delete_own_runs_teacher_key_and_slowing_wrong_keys(tmp_path):
    store = RunStore(tmp_path)
    now = [0.0]
    teacher = TeacherKey("s3cret-teacher", clock=lambda: now[0])
    mine, theirs, third = (record(store, owner=o) for o in ("me", "them", "them"))
    store.delete(mine, owner_token="me")
    with pytest.raises(RunNotFound):
        store.get(mine)
    with pytest.raises(NotAllowed, match="another session"):
        store.delete(theirs, owner_token="me")
    for _ in range(3):
        with pytest.raises(NotAllowed, match="not the teacher key") as refused:
            store.delete(theirs, owner_token="me", teacher=teacher, key="guess")
        assert "s3cret" not in str(refused.value)
    with pytest.raises(NotAllowed, match="too many wrong teacher keys"):
        store.delete(theirs, owner_token="me", teacher=teacher, key="s3cret-teacher")
    assert store.count() == 2
    now[0] += 2  # the lockout (1 s after the third wrong key) has passed
    store.delete(theirs, owner_token="me", teacher=teacher, key="s3cret-teacher")
    with pytest.raises(NotAllowed, match="no teacher key is set"):
        store.delete(third, owner_token="me", teacher=TeacherKey(""), key="anything")
    running = store.begin(start(owner="me"))
    with pytest.raises(NotAllowed, match="still training"):
        store.delete(running, owner_token="me")
    assert store.clear(teacher, "s3cret-teacher") == 1  # the running one stays
    assert [r.id for r in store.list_runs()] == [running]


# ---- load_weights -----------------------------------------------------------------------------
class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("filename", ["evil.pt", "evil.pth", "evil.safetensors"])
def test_a_pickle_that_runs_code_never_runs(tmp_path, filename):
    marker = tmp_path / "pwned"
    for payload in (_Payload(marker), {"0.weight": _Payload(marker)}):
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        for data in (buffer.getvalue(), pickle.dumps(payload)):
            with pytest.raises(WeightsError) as refused:
                load_weights(SMALL_FAST, data, filename)
            assert "\n" not in str(refused.value)
    assert not marker.exists()


def test_weights_for_another_design_name_the_first_layer(tmp_path):
    lenet = build_model(LENET5).state_dict()
    with pytest.raises(WeightsError, match=r"layer 1 \(conv2d\) '0.weight' is 6x1x5x5 in the "
                                           r"file but 16x1x3x3 in this design"):
        load_weights(SMALL_FAST, safetensors_save(lenet), "lenet.safetensors")
    small = build_model(SMALL_FAST).state_dict()
    missing = {k: v for k, v in small.items() if k != "3.bias"}
    with pytest.raises(WeightsError, match=r"layer 4 \(conv2d\) needs '3.bias' \(32\)"):
        load_weights(SMALL_FAST, safetensors_save(missing), "m.safetensors")
    extra = {**small, "9.weight": torch.zeros(3)}
    with pytest.raises(WeightsError, match=r"the file has '9.weight' \(3\)"):
        load_weights(SMALL_FAST, safetensors_save(extra), "x.safetensors")
    nan = {**small, "0.bias": torch.full((16,), float("nan"))}
    with pytest.raises(WeightsError, match="NaN or infinite"):
        load_weights(SMALL_FAST, safetensors_save(nan), "n.safetensors")


def test_torch_files_checkpoints_and_the_scripts_key_names(tmp_path):
    model = build_model(SMALL_FAST)
    x = torch.randn(2, 1, 28, 28)
    for obj in (model.state_dict(), {"state_dict": model.state_dict(), "epoch": 3},
                {f"layers.{k}": v for k, v in model.state_dict().items()}):
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        loaded = load_weights(SMALL_FAST, buffer.getvalue(), "net.pth")
        assert torch.equal(loaded(x), model.eval()(x))
    buffer = io.BytesIO()
    torch.save([1, 2, 3], buffer)
    with pytest.raises(WeightsError, match="does not hold a state dict"):
        load_weights(SMALL_FAST, buffer.getvalue(), "list.pt")


@pytest.mark.parametrize(("data", "filename", "message"), [
    (b"", "empty.safetensors", "empty.safetensors is empty"),
    (b"", "empty.pt", "empty.pt is empty"),
    (b"\x00" * (MAX_WEIGHTS_BYTES + 1), "big.pt", "the limit is 81 MB"),
    (os.urandom(5000), "noise.safetensors", "not a valid .safetensors file"),
    (os.urandom(5000), "noise.pt", "not a PyTorch state dict"),
    (b"weights", "weights.txt", "upload a .safetensors, .pt or .pth file"),
])
def test_bad_uploads_get_one_line(data, filename, message):
    with pytest.raises(WeightsError, match=message) as refused:
        load_weights(SMALL_FAST, data, filename)
    assert "\n" not in str(refused.value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=4096),
       filename=st.sampled_from(["w.safetensors", "w.pt", "w.pth", "W.PT"]))
def test_random_bytes_are_refused_with_weights_error(data, filename):
    with pytest.raises(WeightsError):
        load_weights(SMALL_FAST, data, filename)


def test_downloads_without_weights(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.begin(start())
    store.finish(run_id, "failed", "the loss became nan")
    files = downloads(store, run_id)
    assert sorted(files) == ["design", "metrics", "script"]
    with pytest.raises(LookupError, match="it failed"):
        run_model(store, run_id)
    assert new_owner_token() != new_owner_token()
