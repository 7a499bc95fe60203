"""Uploads bounded before they are read: the server's upload limit and the code's agree, the
largest exports import back, hostile zips and ``.pt`` files are refused in one plain sentence
without the server's memory rising by more than 64 MB above the file, and one session cannot
fill the class set."""

from __future__ import annotations

import io
import json
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import on
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as safetensors_save
from zip_bombs import MIB, Raw, bomb, torch_bomb, upload_peak, zip_of

from cnn_core.data.class_data import MAX_SHARE, ClassData
from cnn_core.data.class_files import IDX_IMAGES, IDX_LABELS, MAX_IMPORT_BYTES, files_from_upload
from cnn_core.data.drawings import MAX_DRAWINGS, Refused
from cnn_core.data.idx import idx_bytes
from cnn_core.design.build import build_model
from cnn_core.design.parse import spec_from_dict
from cnn_core.design.presets import SMALL_FAST
from cnn_core.design.spec import MAX_PARAMS
from cnn_core.runs.weights import WeightsError, load_weights
from cnn_core.storage.teacher_key import TeacherKey
from cnn_core.storage.uploads import (
    CHUNK_BYTES,
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_MB,
    MAX_WEIGHTS_BYTES,
    UploadRefused,
    read_entries,
    zip_directory,
)

ROOT = Path(__file__).resolve().parent.parent
BOMB_BYTES = 80 * MIB  # what each bomb unpacks to: past every limit, quick to build
D, B, L = zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA


def digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(64, 256, (n, 28, 28), dtype=np.uint8), \
        (np.arange(n) % 10).astype(np.uint8)


def exported_zip(n: int) -> bytes:
    images, labels = digits(n)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(IDX_IMAGES, idx_bytes(images))
        z.writestr(IDX_LABELS, idx_bytes(labels))
    return buffer.getvalue()


# ---- one limit -----------------------------------------------------------------------------
def test_the_servers_upload_limit_is_the_codes_and_fits_the_largest_exports():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == MAX_UPLOAD_MB
    assert MAX_WEIGHTS_BYTES <= MAX_UPLOAD_BYTES < MAX_WEIGHTS_BYTES + MIB
    assert MAX_PARAMS * 4 < MAX_WEIGHTS_BYTES
    assert MAX_IMPORT_BYTES <= MAX_UPLOAD_BYTES  # the raw images IDX of a full class set


def test_the_largest_weights_the_app_exports_load_back(tmp_path):
    from cnn_core.runs.records import RunStart
    from cnn_core.runs.store import RunStore

    hidden = (MAX_PARAMS - 10) // (28 * 28 + 1 + 10) - 1  # the widest net under the limit
    spec = spec_from_dict({"input_shape": [1, 28, 28], "layers": [
        {"type": "flatten"}, {"type": "linear", "out_features": hidden},
        {"type": "linear", "out_features": 10}]})
    model = build_model(spec)
    params = sum(p.numel() for p in model.parameters())
    assert MAX_PARAMS - 1_000 < params <= MAX_PARAMS
    store = RunStore(tmp_path, max_bytes=10**9)
    run = store.begin(RunStart(name="widest", design=spec.to_json(), settings={}, seed=0,
                               data_source="bundled", train_size=1, val_size=1, test_size=1,
                               device="CPU", params=params, macs=params))
    store.finish(run, "finished", "done", state_dict=model.state_dict())
    exported = store.weights_path(run).read_bytes()  # what the Runs page downloads
    assert len(exported) <= MAX_UPLOAD_BYTES
    loaded = load_weights(spec, exported, f"run-{run}.safetensors")
    assert torch.equal(loaded[1].weight, model[1].weight)
    del exported, loaded
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)  # what the generated script saves
    assert len(buffer.getvalue()) <= MAX_UPLOAD_BYTES
    assert torch.equal(load_weights(spec, buffer.getvalue(), "net.pt")[2].bias, model[2].bias)


def test_the_largest_class_set_exports_and_imports_back(tmp_path):
    teacher = TeacherKey("sesame")
    full = ClassData(tmp_path / "a")
    images, labels = digits(MAX_DRAWINGS)
    assert full.import_idx(idx_bytes(images), idx_bytes(labels), teacher=teacher,
                           key="sesame") == MAX_DRAWINGS
    exported = full.export_zip()
    raw = full.export_files()
    assert max(len(exported), len(raw[IDX_IMAGES])) <= MAX_UPLOAD_BYTES
    again = ClassData(tmp_path / "b")
    assert again.import_idx(*files_from_upload({"class-set.zip": exported}), teacher=teacher,
                            key="sesame") == MAX_DRAWINGS
    assert again.export_files()[IDX_IMAGES] == raw[IDX_IMAGES]


# ---- hostile uploads, in a fresh process each ----------------------------------------------
@pytest.fixture(scope="session")
def hostile(tmp_path_factory) -> Path:
    """Each hostile upload as a file, and a small good one of each kind (to warm up with)."""
    folder = tmp_path_factory.mktemp("hostile")
    expected = MAX_IMPORT_BYTES  # a full class set's images: what a lying header claims
    full_entry = bomb("x", B, expected)
    files = {
        # each claims the size of a full class set and unpacks to 80 MiB
        **{f"{kind}-lying.zip": zip_of([bomb(IDX_IMAGES, method, BOMB_BYTES, expected),
                                        bomb(IDX_LABELS, method, 8)])
           for kind, method in (("deflate", D), ("bzip2", B), ("lzma", L))},
        # an honest bomb: it says what it unpacks to
        "deflate-honest.zip": zip_of([bomb(IDX_IMAGES, D, BOMB_BYTES), bomb(IDX_LABELS, D, 8)]),
        # the Class data page's 87 KB zip, smaller: many entries of a full set's size each
        "bzip2-600.zip": zip_of([Raw(f"part-{i}", B, full_entry.data, full_entry.crc,
                                     full_entry.size) for i in range(600)]),
        "bzip2-30.zip": zip_of([Raw(f"part-{i}", B, full_entry.data, full_entry.crc,
                                    full_entry.size) for i in range(30)]),
        "many-entries.zip": zip_of([Raw(f"e{i}", 0, b"", 0, 0) for i in range(60_000)]),
        "bomb.pt": torch_bomb(BOMB_BYTES),
        "many-tensors.safetensors": safetensors_save(
            {f"t{i}": torch.zeros(0) for i in range(200_000)}),
        "warm.zip": exported_zip(3),
    }
    good = io.BytesIO()
    torch.save(build_model(SMALL_FAST).state_dict(), good)
    files["warm.pt"] = good.getvalue()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


CLASS_CASES = ["deflate-lying.zip", "bzip2-lying.zip", "lzma-lying.zip", "deflate-honest.zip",
               "bzip2-600.zip", "bzip2-30.zip", "many-entries.zip"]
WEIGHT_CASES = ["bomb.pt", "many-tensors.safetensors"]


@pytest.mark.parametrize("case", CLASS_CASES + WEIGHT_CASES)
def test_a_hostile_upload_raises_memory_by_at_most_64_mb_above_its_size(hostile, tmp_path,
                                                                          case):
    kind, warm = ("class", "warm.zip") if case in CLASS_CASES else ("weights", "warm.pt")
    result = upload_peak(ROOT, kind, hostile / case, hostile / warm, tmp_path)
    assert result["message"] is not None, "the hostile upload was accepted"
    assert result["message"].split(":")[0] in ("Refused", "WeightsError"), result["message"]
    assert "\n" not in result["message"] and "\x1b" not in result["message"]
    assert result["rise"] <= result["size"] + 64 * MIB, \
        f"{case}: memory rose {result['rise'] / MIB:.0f} MiB ({result['message']})"


# ---- the bounded reader itself -------------------------------------------------------------
@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, D, B, L])
def test_each_method_reads_back_exactly_and_a_lie_is_refused(method):
    data = bytes(range(256)) * 5000 + b"tail"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as z:
        z.writestr("a", data)
        z.writestr("b", b"")
    archive = buffer.getvalue()
    infos = zip_directory(archive, "x.zip", 4)
    assert read_entries(archive, "x.zip", infos, len(data), len(data)) == {"a": data, "b": b""}
    with pytest.raises(UploadRefused, match="at most"):  # its declared size is over
        read_entries(archive, "x.zip", infos, len(data) - 1, 10**9)
    with pytest.raises(UploadRefused, match="at most"):  # the archive's total
        read_entries(archive, "x.zip", infos, 10**9, len(data) - 1)
    for info in infos:  # a header that says less than the entry holds
        info.file_size = 10
    with pytest.raises(UploadRefused, match=r"unpacks to|more than") as refused:
        read_entries(archive, "x.zip", infos[:1], 20, 10**9)
    assert "\n" not in str(refused.value)


def test_a_bomb_is_refused_after_the_limit_plus_one_chunk(monkeypatch):
    """Counted where it happens: no decompression call returns more than one chunk, and the
    reader stops at the first that passes the limit."""
    import cnn_core.storage.uploads as uploads

    entry = bomb("images", B, 64 * MIB, 1_000)
    archive = zip_of([entry])
    taken = []
    real = uploads._inflate.__globals__["bz2"].BZ2Decompressor

    class Counting:
        def __init__(self):
            self.inner = real()

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def decompress(self, data, max_length=-1):
            out = self.inner.decompress(data, max_length)
            taken.append(len(out))
            return out

    monkeypatch.setattr(uploads.bz2, "BZ2Decompressor", Counting)
    with pytest.raises(UploadRefused, match="unpacks to more than"):
        read_entries(archive, "b.zip", zip_directory(archive, "b.zip", 4), 5 * MIB, 10 * MIB)
    assert max(taken) <= CHUNK_BYTES and sum(taken) <= 5 * MIB + CHUNK_BYTES


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_damaged_zip_is_refused_in_one_line_or_read(data):
    archive = bytearray(exported_zip(2))
    for _ in range(data.draw(st.integers(1, 6))):
        archive[data.draw(st.integers(0, len(archive) - 1))] = data.draw(st.integers(0, 255))
    try:
        files_from_upload({"set.zip": bytes(archive)})
    except Refused as exc:
        assert "\n" not in str(exc)


# ---- plain refusals ------------------------------------------------------------------------
def test_torchs_refusal_is_one_plain_sentence_without_unsafe_advice():
    class Code:
        def __reduce__(self):
            return (print, ("ran",))

    buffer = io.BytesIO()
    torch.save({"0.weight": Code()}, buffer)
    for name in ("evil.pt", "\x1b[31mred\nname.pt"):
        with pytest.raises(WeightsError) as refused:
            load_weights(SMALL_FAST, buffer.getvalue(), name)
        message = str(refused.value)
        assert "\x1b" not in message and "\n" not in message
        assert "weights_only" not in message and "trust" not in message
        assert message.endswith("save only the state dict")


# ---- one session's share of the class set --------------------------------------------------
def test_one_session_cannot_fill_the_class_set_and_the_teacher_key_lifts_its_share(tmp_path):
    store, teacher = ClassData(tmp_path), TeacherKey("sesame")
    images, labels = digits(MAX_SHARE + 1)
    with pytest.raises(Refused, match=f"each session adds at most {MAX_SHARE:,}"):
        store.import_idx(idx_bytes(images), idx_bytes(labels), owner_token="big")
    assert store.counts() == [0] * 10  # all or nothing
    assert store.import_idx(idx_bytes(images[:MAX_SHARE]), idx_bytes(labels[:MAX_SHARE]),
                            owner_token="big") == MAX_SHARE
    with pytest.raises(Refused, match="each session adds at most"):
        store.import_idx(idx_bytes(images[:1]), idx_bytes(labels[:1]), owner_token="big")
    assert store.import_idx(idx_bytes(images[:5]), idx_bytes(labels[:5]),
                            owner_token="another") == 5  # everyone else still has room
    with pytest.raises(Refused, match="not the teacher key"):
        store.import_idx(idx_bytes(images), idx_bytes(labels), owner_token="big",
                         teacher=teacher, key="guess")
    assert store.import_idx(idx_bytes(images), idx_bytes(labels), owner_token="big",
                            teacher=teacher, key="sesame") == MAX_SHARE + 1
    assert sum(store.counts()) == 2 * MAX_SHARE + 6


def test_refusals_name_no_more_than_a_line_of_the_senders_text():
    long_name = "x" * 5_000 + "\n" + "\x1b[2J"
    with pytest.raises(Refused) as refused:
        files_from_upload({long_name: b"PK\x03\x04" + b"\0" * 100})
    assert len(str(refused.value)) < 300 and "\n" not in str(refused.value)
    assert json.dumps(str(refused.value)).count("\\u001b") == 0


# ---- on the pages (AppTest): a refusal is one sentence in st.error, and nothing changes -----
@pytest.mark.usefixtures("fresh_class_set")
def test_the_class_data_page_refuses_a_bomb_and_imports_a_big_set_with_the_teacher_key(
        monkeypatch, hostile):
    from ui.app_state import class_data
    from ui.ownership import teacher_keys

    monkeypatch.setenv("CNN_EXPLAINER_TEACHER_KEY", "sesame")
    teacher_keys.clear()
    at = on("pages/class_data.py")
    at.file_uploader(key="class_import").set_value(
        ("class-set.zip", (hostile / "bzip2-lying.zip").read_bytes(), "application/zip")).run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [
        "Nothing imported: 'class-images-idx3-ubyte' in class-set.zip unpacks to more than "
        "15.7 MB, the limit."]
    store, _ = class_data()
    assert store.counts() == [0] * 10
    big = exported_zip(MAX_SHARE + 1)
    at.file_uploader(key="class_import1").set_value(("class-set.zip", big, "x")).run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert at.error[0].value.startswith(f"Nothing imported: that would make {MAX_SHARE + 1:,}")
    at.file_uploader(key="class_import2").set_value(("class-set.zip", big, "x")).run()
    at.text_input(key="class_import_key").set_value("sesame").run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert [s.value for s in at.success] == [f"Imported {MAX_SHARE + 1:,} drawings."]
    teacher_keys.clear()


def test_the_runs_page_refuses_a_pt_bomb_in_one_line(hostile):
    from helpers import runs_page

    at = runs_page()
    at.file_uploader(key="runs_upload").set_value(
        ("bomb.pt", (hostile / "bomb.pt").read_bytes(), "application/octet-stream")).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "bomb.pt says it holds 83.9 MB of records; the limit is 81.0 MB"]
    assert "trained_model" not in at.session_state


def test_sessions_that_keep_re_sending_cannot_hold_the_upload_store_full(monkeypatch):
    """Three connected sessions re-sending their largest file every few seconds kept every
    other student's upload refused (503); now the largest holders' files go first."""
    from starlette.exceptions import HTTPException
    from streamlit.runtime.uploaded_file_manager import UploadedFileRec

    from ui import streamlit_internals

    monkeypatch.setattr(streamlit_internals, "_limits", lambda: (100, 300))
    monkeypatch.setattr(streamlit_internals, "_connected", lambda session: True)
    store = streamlit_internals._bounded_manager_class()("/upload")

    def send(session: str, name: str, size: int = 100) -> None:
        store.add_file(session, UploadedFileRec(name, name, "application/zip", bytes(size)))

    for round_ in range(3):  # young, connected, and each at the per-session bound
        for session in "abc":
            send(session, f"{session}{round_}")
    send("d", "d0")  # a fourth student: one of the largest holders' files goes, not d's
    assert "d0" in store.file_storage["d"] and store._total_bytes <= 300
    send("a", "a9")
    assert "d0" in store.file_storage["d"]  # d holds no more than the others: kept
    send("d", "d1", 40)
    send("d", "d2", 60)  # d's own older file goes first within its bound
    assert sum(len(f.data) for f in store.file_storage["d"].values()) <= 100
    with pytest.raises(HTTPException):  # alone over the server bound: refused
        lone = streamlit_internals._bounded_manager_class()("/upload")
        lone.add_file("e", UploadedFileRec("e0", "e0", "application/zip", bytes(400)))
