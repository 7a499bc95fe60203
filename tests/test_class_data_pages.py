"""The class set through the pages (AppTest): add from the Draw page's canvas, see it on the
Class data page, train and test on it, and datasets whose class count the design must match."""

from __future__ import annotations

import base64
from collections import Counter
from xml.etree import ElementTree

import numpy as np
import pytest
from helpers import canvas_state, handwriting_and_a_run, idx_bytes, on, wait_data
from streamlit.testing.v1 import AppTest

from cnn_core.data.preprocess import digit_to_canvas
from ui.training_form import form_key


def add(at: AppTest, rgba: np.ndarray | None, label: int | None) -> list[str]:
    """Draw ``rgba`` on the canvas, pick ``label`` and press Add; the messages shown."""
    if rgba is not None:
        at.session_state["digit_canvas"] = canvas_state(rgba)
        at.run()
    at.selectbox(key="class_label").set_value(label).run()
    next(b for b in at.button if b.label == "Add to the class set").click().run()
    assert not at.exception, at.exception
    return [m.value for m in [*at.success, *at.error, *at.warning]]


def speck() -> np.ndarray:
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = 255
    canvas[130:150, 130:150, :3] = 255
    return canvas


def test_drawings_added_on_the_draw_page_are_stored_and_listed(fresh_class_set, bundled):
    from ui.app_state import class_data

    at = on("pages/draw.py")
    assert add(at, None, 4) == ["Not added: the canvas is empty: draw a digit first."]
    assert add(at, speck(), 4)[0].startswith("Not added: that is a speck (20 pixels across)")
    digits = [(bundled.val_images[i].numpy(), int(bundled.val_labels[i])) for i in range(3)]
    for n, (digit, label) in enumerate(digits, 1):
        shown = add(at, digit_to_canvas(digit), label)
        assert shown[0].startswith(f"Added drawing #{n} as a {label}: the class set now has "
                                   f"{n} drawings"), shown
    assert add(at, None, 1)[0].startswith("This drawing is already in the class set")
    store, _ = class_data()
    kept = store.drawings()
    assert [d.label for d in kept] == [label for _, label in digits]
    assert all(d.has_canvas and store.canvas_png(d.id).startswith(b"\x89PNG") for d in kept)

    at.switch_page("pages/class_data.py")
    at.run()
    assert not at.exception, at.exception
    assert any("**3 drawings.**" in m.value for m in at.markdown)
    counts = Counter(label for _, label in digits)
    assert [t.label for t in at.tabs] == [f"{d} ({counts[d]})" for d in range(10)]
    # removing someone else's drawing needs the teacher key; one's own does not
    at.number_input(key="class_remove_id").set_value(kept[0].id).run()
    next(b for b in at.button if b.label == "Remove").click().run()
    assert any(f"Removed drawing #{kept[0].id}" in s.value for s in at.success)
    assert len(store.drawings()) == 2


def test_training_on_mnist_and_testing_on_the_class_set(fresh_class_set, bundled):
    from ui.app_state import class_data

    store, _ = class_data()
    for i in range(12):
        canvas = digit_to_canvas(bundled.val_images[i].numpy())
        from cnn_core.data.preprocess import canvas_to_mnist

        store.add(int(bundled.val_labels[i]), canvas_to_mnist(canvas).image, canvas)
    at = on("pages/train.py")
    wait_data(at)
    at.selectbox(key="test_on").set_value("class").run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any("Training is allowed, but the class set has fewer than 10 drawings of" in w
               for w in warnings), warnings
    assert any("testing on the class's drawings (12)" in c.value for c in at.caption)
    at.number_input(key=form_key("epochs")).set_value(1).run()
    train = next(b for b in at.button if b.label == "Train")
    assert not train.disabled
    train.click().run()
    job = at.session_state["job"]
    job.join(120)
    at.run()
    assert not at.exception, at.exception
    assert job.splits.test_data == "class" and len(job.splits.test_labels) == 12
    assert any(h.value.startswith("Results on the class's 12 drawings") for h in at.subheader)
    accuracy = next(m for m in at.metric if m.label == "Test accuracy").value
    assert accuracy == f"{job.evaluation.accuracy:.2%}"


@pytest.fixture
def emnist_on_disk(tmp_path, monkeypatch):
    raw = tmp_path / "EMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for part, n in (("train", 60), ("test", 26)):
        (raw / f"emnist-letters-{part}-images-idx3-ubyte").write_bytes(
            idx_bytes(rng.integers(0, 256, (n, 28, 28))))
        (raw / f"emnist-letters-{part}-labels-idx1-ubyte").write_bytes(
            idx_bytes(np.arange(n) % 26 + 1))
    from ui.app_state import dataset_store, mnist_store

    mnist_store()  # made first, where conftest's settings put it: it is the process's for good
    monkeypatch.setenv("CNN_EXPLAINER_DATA", str(tmp_path))
    dataset_store.clear()
    yield
    dataset_store.clear()


def test_emnist_letters_needs_26_outputs_and_train_says_which_layer(emnist_on_disk):
    at = on("pages/architecture.py")
    note = next(c.value for c in at.caption if "must match the classes" in c.value)
    assert "EMNIST letters: 26 outputs" in note and "This design outputs 10" in note
    at.switch_page("pages/train.py")
    at.run()
    wait_data(at)
    offered = at.selectbox(key="train_dataset")
    assert offered.options == ["MNIST", "EMNIST letters"]  # offline: what is on disk
    assert any("Fashion-MNIST and KMNIST are not on this server's disk" in c.value
               for c in at.caption)
    offered.set_value("emnist_letters").run()
    wait_data(at)
    assert not at.exception, at.exception
    train = next(b for b in at.button if b.label == "Train")
    assert train.disabled
    refusal = [e.value for e in at.error if "Training is disabled" in e.value]
    assert refusal and "the last layer must output 26 values (one per letter)" in refusal[0]
    assert "layer" in refusal[0] and "(linear) outputs 10; set its out_features to 26" in \
        refusal[0]
    assert at.selectbox(key="train_on").disabled and at.selectbox(key="test_on").disabled


def test_one_click_trained_on_mnist_tested_on_our_handwriting(fresh_class_set, bundled):
    from cnn_core.training.evaluate import evaluate

    drawings, recorder, job = handwriting_and_a_run(bundled, 200, 20, 500, "handwriting")
    at = on("pages/runs.py")
    at.selectbox(key="runs_one").set_value(recorder.run_id).run()
    at.button(key="runs_handwriting").click().run()
    assert not at.exception, at.exception
    import torch

    images, labels = drawings.arrays()
    expected = evaluate(job.model, torch.from_numpy(images), torch.from_numpy(labels))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["On our 20 drawings"] == f"{expected.accuracy:.1%}"
    assert metrics["On its own test set"] == f"{job.evaluation.accuracy:.1%}"


def test_import_on_the_class_data_page_adds_all_or_nothing(fresh_class_set, bundled, tmp_path):
    from cnn_core.data.class_data import ClassData
    from cnn_core.data.class_files import IDX_IMAGES, IDX_LABELS
    from cnn_core.data.preprocess import canvas_to_mnist
    from ui.app_state import class_data

    elsewhere = ClassData(tmp_path / "another class")
    for i in range(3):
        canvas = digit_to_canvas(bundled.val_images[i].numpy())
        elsewhere.add(int(bundled.val_labels[i]), canvas_to_mnist(canvas).image, canvas)
    files = elsewhere.export_files()
    at = on("pages/class_data.py")
    uploader = at.file_uploader(key="class_import")
    uploader.set_value([("class-images-idx3-ubyte", files[IDX_IMAGES][:-5], "x"),
                        ("class-labels-idx1-ubyte", files[IDX_LABELS], "x")]).run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [
        "Nothing imported: the images file should be 2,368 bytes for 3 items but is 2,363 "
        "(cut short)."]
    store, _ = class_data()
    assert store.counts() == [0] * 10
    # each import empties the uploader (its files are dropped): the next is a new widget
    at.file_uploader(key="class_import1").set_value(
        ("class-set.zip", elsewhere.export_zip(), "application/zip")).run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert [s.value for s in at.success] == ["Imported 3 drawings."]
    assert store.export_files()[IDX_IMAGES] == files[IDX_IMAGES]


@pytest.fixture
def fashion_on_disk(tmp_path, monkeypatch):
    """A tiny Fashion-MNIST (random images, the real format) where torchvision looks for it."""
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for part, n in (("train", 96), ("t10k", 20)):
        (raw / f"{part}-images-idx3-ubyte").write_bytes(
            idx_bytes(rng.integers(0, 256, (n, 28, 28))))
        (raw / f"{part}-labels-idx1-ubyte").write_bytes(idx_bytes(np.arange(n) % 10))
    from ui.app_state import dataset_store, mnist_store

    mnist_store()  # made first, where conftest's settings put it: it is the process's for good
    monkeypatch.setenv("CNN_EXPLAINER_DATA", str(tmp_path))
    dataset_store.clear()
    yield
    dataset_store.clear()


def test_fashion_class_names_in_the_results_and_on_the_draw_page(fashion_on_disk, bundled):
    at = on("pages/train.py")
    wait_data(at)
    at.selectbox(key="train_dataset").set_value("fashion_mnist").run()
    wait_data(at)
    assert any("Fashion-MNIST: 80 training, 16 validation and 20 test images" in c.value
               for c in at.caption)
    at.number_input(key=form_key("epochs")).set_value(1).run()
    next(b for b in at.button if b.label == "Train").click().run()
    job = at.session_state["job"]
    job.join(60)
    at.run()
    assert not at.exception, at.exception
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
             "Sneaker", "Bag", "Ankle boot"]
    assert any(h.value.startswith("Results on the 20 Fashion-MNIST test images")
               for h in at.subheader)
    confusion = next(image.proto.imgs[0].url for image in at.get("image")
                     if image.captions[0].startswith("Confusion matrix"))
    svg = base64.b64decode(confusion.split("base64,", 1)[1]).decode()  # an inline SVG
    texts = [t.text for t in ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
    assert texts.count("T-shirt/top") == 2 and texts.count("Ankle boot") == 2  # row, column
    first = job.evaluation.misclassified[0]  # random images: it gets most of them wrong
    true = names[int(job.splits.test_labels[first])]
    said = names[int(job.evaluation.predictions[first])]
    captions = [c for image in at.get("image") for c in image.captions]
    assert f"#1: true {true} → said {said}" in captions  # the gallery names both classes
    at.switch_page("pages/draw.py")
    at.run()
    at.session_state["digit_canvas"] = canvas_state(digit_to_canvas(bundled.val_images[0]
                                                                    .numpy()))
    at.run()
    assert not at.exception, at.exception
    verdict = next(m.value for m in at.markdown if m.value.startswith("## It is a"))
    assert any(f"**{name}**" in verdict for name in names), verdict
