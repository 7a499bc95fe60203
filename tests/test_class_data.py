"""The class's own drawings: adding, refusing, sharing, IDX out and back, training on them."""

from __future__ import annotations

import gzip
import re
import threading
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnn_core.data.class_data import ClassData
from cnn_core.data.class_files import (
    CSV_LABELS,
    IDX_IMAGES,
    IDX_LABELS,
    files_from_upload,
    parse_import,
)
from cnn_core.data.drawings import MAX_DRAWINGS, Refused, is_held_out
from cnn_core.data.idx import IdxError, idx_bytes, parse_idx
from cnn_core.data.mixing import describe_run_data, mix
from cnn_core.data.preprocess import canvas_to_mnist, digit_to_canvas
from cnn_core.storage.teacher_key import TeacherKey


def redrawn(digit) -> tuple[np.ndarray, np.ndarray]:
    """A real MNIST digit drawn back onto the canvas, as a student would: (canvas, 28x28)."""
    canvas = digit_to_canvas(digit.numpy())
    return canvas, canvas_to_mnist(canvas).image


@pytest.fixture
def store(tmp_path):
    return ClassData(tmp_path)


@pytest.fixture
def filled(store, bundled):
    """30 redrawn real digits (three of each), in the order of the bundled held-out set."""
    for i in range(30):
        canvas, image = redrawn(bundled.val_images[i])
        store.add(int(bundled.val_labels[i]), image, canvas, nickname=f"s{i % 3}",
                  owner_token=f"session-{i % 3}")
    return store


def test_a_drawing_is_kept_with_its_label_image_nickname_and_time(store, bundled):
    canvas, image = redrawn(bundled.val_images[0])
    drawing_id = store.add(7, image, canvas, canvas_png=b"\x89PNG...", nickname="ada",
                           owner_token="me")
    [kept] = store.drawings()
    assert (kept.id, kept.label, kept.nickname, kept.has_canvas) == (drawing_id, 7, "ada", True)
    assert kept.image.dtype == np.uint8 and kept.image.shape == (28, 28)
    assert np.array_equal(kept.image, np.round(image * 255).astype(np.uint8))
    assert kept.created_at > 0 and kept.owned_by("me") and not kept.owned_by("you")
    assert store.canvas_png(drawing_id) == b"\x89PNG..."
    assert store.counts() == [0] * 7 + [1] + [0] * 2


def speck() -> np.ndarray:
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = 255
    canvas[130:150, 130:150, :3] = 255  # one dab of a 20-pixel pen
    return canvas


@pytest.mark.parametrize("label, canvas, words", [
    (3, None, "the canvas is empty"),
    (3, np.dstack([np.zeros((280, 280, 3), np.uint8), np.full((280, 280), 255, np.uint8)]),
     "the canvas is empty"),
    (3, speck(), "that is a speck (20 pixels across)"),
    (None, "digit", "pick the digit it shows"),
    (10, "digit", "pick the digit it shows"),
    (True, "digit", "pick the digit it shows"),
])
def test_empty_specks_and_missing_labels_are_refused_and_nothing_is_stored(
        store, bundled, label, canvas, words):
    if isinstance(canvas, str):
        canvas = digit_to_canvas(bundled.val_images[0].numpy())
    image = canvas_to_mnist(canvas).image if canvas is not None else None
    with pytest.raises(Refused, match=re.escape(words)) as info:
        store.add(label, image, canvas)
    assert "\n" not in str(info.value)
    assert store.drawings() == [] and store.counts() == [0] * 10


def test_students_adding_at_the_same_moment_all_keep_their_drawings(store, bundled):
    canvas, image = redrawn(bundled.val_images[1])
    start = threading.Barrier(8)
    errors = []

    def student(n: int) -> None:
        mine = ClassData(store.root)  # each its own connection, as each server thread has
        start.wait()
        try:
            for _ in range(5):
                mine.add(n % 10, image, canvas, nickname=f"student {n}", owner_token=str(n))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=student, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    drawings = store.drawings()
    assert len(drawings) == 40 and len({d.id for d in drawings}) == 40
    assert sorted(d.nickname for d in drawings) == sorted(f"student {n}" for n in range(8)
                                                          for _ in range(5))


def test_export_then_import_round_trips_the_idx_files_byte_for_byte(filled, tmp_path):
    exported = filled.export_files()
    images = exported[IDX_IMAGES]
    assert images[:4] == b"\x00\x00\x08\x03" and int.from_bytes(images[4:8], "big") == 30
    assert len(images) == 16 + 30 * 784 and len(exported[IDX_LABELS]) == 8 + 30
    csv_lines = exported[CSV_LABELS].decode().splitlines()
    assert csv_lines[0] == "index,label,nickname,added_utc" and len(csv_lines) == 31
    other = ClassData(tmp_path / "another class")
    assert other.import_idx(*files_from_upload({"set.zip": filled.export_zip()})) == 30
    again = other.export_files()
    assert again[IDX_IMAGES] == images and again[IDX_LABELS] == exported[IDX_LABELS]
    # the gzipped files MNIST itself ships come in too
    third = ClassData(tmp_path / "third")
    third.import_idx(gzip.compress(images), gzip.compress(exported[IDX_LABELS]))
    assert third.export_files()[IDX_IMAGES] == images


def bad_imports(images: bytes, labels: bytes) -> list[tuple[bytes, bytes, str]]:
    out_of_range = bytearray(labels)
    out_of_range[8 + 4] = 12
    mislabelled = bytearray(images)
    mislabelled[4:8] = (31).to_bytes(4, "big")  # says 31 images, holds 30
    return [
        (images[:-100], labels, "cut short"),
        (images[:10], labels, "cut short inside its header"),
        (bytes(mislabelled), labels, "should be 24,320 bytes for 31 items"),
        (images + b"\x00" * 784, labels, "too long"),
        (idx_bytes(np.zeros((2, 32, 32), np.uint8)), labels[:10], "holds 32x32 items"),
        (b"P5\n28 28\n255\n" + bytes(784), labels, "not an IDX file"),
        (labels, images, "1 dimensions; 3 were expected"),
        (images, bytes(out_of_range), "label 12 (item 5) is out of range"),
        (images, idx_bytes(np.zeros(29, np.uint8)), "30 images but the labels file 29"),
        (b"\x00\x00\x0d\x03" + images[4:], labels, "IDX type 0x0d"),
        (gzip.compress(images)[:-30], labels, "gzip"),
        (idx_bytes(np.zeros((1, 28, 28), np.uint8)), idx_bytes(np.zeros(1, np.uint8)),
         "image 1 is blank"),
    ]


def test_bad_imports_are_refused_with_the_reason_and_change_nothing(filled):
    exported = filled.export_files()
    before = filled.export_files()
    for images, labels, words in bad_imports(exported[IDX_IMAGES], exported[IDX_LABELS]):
        with pytest.raises(Refused) as info:
            filled.import_idx(images, labels)
        assert words in str(info.value) and "\n" not in str(info.value), (words, info.value)
        assert filled.export_files() == before


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000) | st.builds(
    lambda head, tail: head + tail,
    st.sampled_from([b"\x00\x00\x08\x03", b"\x00\x00\x08\x01", b"\x1f\x8b", b"\x00\x00\x08"]),
    st.binary(max_size=4000)))
def test_the_idx_parser_refuses_random_bytes_with_one_line(data):
    for shape in ((0, 28, 28), (0,)):
        try:
            array = parse_idx(data, "the file", shape, MAX_DRAWINGS)
        except IdxError as exc:
            assert "\n" not in str(exc) and len(str(exc)) < 200
        else:
            assert array.shape[1:] == shape[1:] and array.dtype == np.uint8
    try:
        images, labels = parse_import(data, data)
    except Refused as exc:
        assert "\n" not in str(exc)
    else:
        assert len(images) == len(labels)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=600))
def test_an_upload_that_is_not_the_exported_zip_is_refused_with_one_line(data):
    try:
        files_from_upload({"class-set.zip": b"PK\x03\x04" + data})
    except Refused as exc:
        assert "\n" not in str(exc)


def test_uploads_must_name_their_images_and_labels():
    with pytest.raises(Refused, match="one images IDX file and one labels IDX file"):
        files_from_upload({"a.bin": b"x", "b.bin": b"y"})
    with pytest.raises(Refused, match="not a zip"):
        files_from_upload({"set.zip": b"PK\x03\x04 broken"})


def test_only_the_owner_or_the_teacher_key_removes_a_drawing(filled):
    first, second = filled.drawings()[:2]
    filled.remove(first.id, owner_token="session-0")
    teacher = TeacherKey("owl-7")
    with pytest.raises(Refused, match="only the teacher key"):
        filled.remove(second.id, owner_token="session-0")
    with pytest.raises(Refused, match="not the teacher key"):
        filled.remove(second.id, owner_token="session-0", teacher=teacher, key="guess")
    filled.remove(second.id, teacher=teacher, key="owl-7")
    assert len(filled.drawings()) == 28


def test_the_split_is_fixed_by_id_and_holds_out_about_a_fifth():
    held = [is_held_out(i) for i in range(1, 2001)]
    assert 0.15 < sum(held) / len(held) < 0.25
    assert held == [is_held_out(i) for i in range(1, 2001)]


def test_mixing_class_drawings_into_the_splits(filled, bundled):
    images, _ = filled.arrays()
    alone = mix(bundled, filled, "class", "class")
    assert alone.refusal is None
    held = alone.splits.test_labels
    assert len(held) + len(alone.splits.train_labels) == 30 and len(held) > 0
    assert alone.splits.val_labels is held  # validation is the held-out fifth too
    both = mix(bundled, filled, "dataset+class", "dataset")
    assert len(both.splits.train_images) == len(bundled.train_images) + 30
    assert both.splits.test_images is bundled.test_images
    on_ours = mix(bundled, filled, "dataset", "class")
    assert np.array_equal(on_ours.splits.test_images.numpy(), images)  # every drawing
    assert on_ours.splits.train_images is bundled.train_images
    assert on_ours.warnings == ("the class set has fewer than 10 drawings of 0, 1, 2, 3, 4, "
                                "5, 6, 7, 8, 9: results for those digits say little",)
    assert "tested on the class's drawings" in on_ours.splits.description.replace(
        "testing", "tested")


def test_mixing_refuses_what_cannot_work(store, bundled):
    assert "the class set is empty" in mix(bundled, store, "class", "class").refusal
    fashion = replace(bundled, dataset="fashion_mnist")
    assert "use them with MNIST" in mix(fashion, store, "dataset", "class").refusal
    assert mix(bundled, None, "dataset", "dataset").splits is bundled


def test_a_net_trained_on_mnist_reports_its_accuracy_on_our_redrawn_digits(bundled, tmp_path):
    """Trained on 2,000 MNIST digits, tested on 40 real digits redrawn on the canvas."""
    import torch

    from cnn_core.design.presets import SMALL_FAST
    from cnn_core.runs.recording import Recorder
    from cnn_core.runs.store import RunStore
    from cnn_core.training.evaluate import evaluate
    from cnn_core.training.job import train_to_completion
    from cnn_core.training.trainer import TrainConfig

    store = ClassData(tmp_path)
    for i in range(40):
        canvas, image = redrawn(bundled.val_images[100 + i])
        store.add(int(bundled.val_labels[100 + i]), image, canvas)
    base = replace(bundled, train_images=bundled.train_images[:2000],
                   train_labels=bundled.train_labels[:2000])
    splits = mix(base, store, "dataset", "class").splits
    runs = RunStore(tmp_path / "runs")
    recorder = Recorder(runs)
    job = train_to_completion(SMALL_FAST, splits, TrainConfig(epochs=1, device="cpu"),
                              recorder=recorder)
    assert job.snapshot().state == "finished"
    images, labels = store.arrays()
    direct = evaluate(job.model, torch.from_numpy(images), torch.from_numpy(labels))
    assert job.evaluation.accuracy == pytest.approx(direct.accuracy)
    assert len(job.evaluation.predictions) == 40
    assert job.evaluation.accuracy > 0.6  # the redrawn digits are still digits
    record = runs.get(recorder.run_id)
    assert record.test_accuracy == pytest.approx(direct.accuracy) and record.test_size == 40
    assert describe_run_data(record.settings, record.data_source) == (
        "trained on MNIST (bundled digits), tested on the class's drawings")


def test_a_runs_data_in_words():
    assert describe_run_data({}, "bundled") == (
        "trained on MNIST (bundled digits), tested on held-out MNIST images")
    assert describe_run_data({"data": {"dataset": "mnist", "train": "dataset+class",
                                       "test": "class"}}, "full") == (
        "trained on MNIST + the class's drawings, tested on the class's drawings")
    assert describe_run_data({"data": {"dataset": "kmnist", "train": "dataset",
                                       "test": "dataset"}}, "full") == (
        "trained on KMNIST, tested on held-out KMNIST images")


def test_a_folder_that_cannot_hold_the_set_or_a_damaged_file_is_one_line(tmp_path):
    from cnn_core.data.class_data import DB_NAME, ClassDataError

    (tmp_path / "a file").write_text("not a folder")
    with pytest.raises(ClassDataError, match="cannot create the folder"):
        ClassData(tmp_path / "a file" / "runs")
    (tmp_path / DB_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(ClassDataError, match="failed: file is not a database") as info:
        ClassData(tmp_path)
    assert "\n" not in str(info.value)
