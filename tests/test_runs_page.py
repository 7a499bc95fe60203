"""The Runs page through AppTest: two real trainings compared, one used on the Draw page,
weights uploaded, deleting refused without the teacher key, and a broken store explained."""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers import on_page, runs_page, wait_data
from streamlit.testing.v1 import AppTest

from cnn_core.data import augment
from cnn_core.design.presets import LENET5, SMALL_FAST
from cnn_core.runs.recording import Recorder
from cnn_core.runs.store import RunStore
from cnn_core.storage.places import runs_dir
from cnn_core.training.job import TrainingJob
from cnn_core.training.trainer import TrainConfig
from ui.training_form import INTERNAL, form_fields, form_key


@pytest.fixture(scope="module")
def two_runs(bundled):
    """Two designs trained for real (300 digits, 1 epoch) and recorded in the app's store."""
    splits = replace(bundled, train_images=bundled.train_images[:300],
                     train_labels=bundled.train_labels[:300])
    store = RunStore(runs_dir())
    ids = []
    for spec, name in ((SMALL_FAST, "Small fast net"), (LENET5, "LeNet-5")):
        recorder = Recorder(store, source="cli", label="tester")
        job = TrainingJob(spec, splits, TrainConfig(epochs=1, device="cpu"), name=name,
                          recorder=recorder)
        job.start()
        job.join()
        ids.append(recorder.run_id)
    return store, ids


def test_compare_two_runs_and_use_one_on_the_draw_page(two_runs):
    _, (small, lenet) = two_runs
    at = runs_page()
    listed = at.dataframe[0].value
    assert {small, lenet} <= set(listed["run"])
    assert listed["run"].iloc[0] == max(listed["run"])  # newest first
    at.multiselect(key="runs_compare").set_value([small, lenet]).run()
    assert not at.exception
    charts = [c for c in at.get("plotly_chart")]
    assert len(charts) >= 3  # accuracy, loss, and the scatter of every run
    diff = at.dataframe[1].value
    assert list(diff.columns) == [f"#{small} Small fast net · tester",
                                  f"#{lenet} LeNet-5 · tester"]
    assert "1 ≠" in diff.index  # the first conv layers differ (16 k3 against 6 k5)
    at.selectbox(key="runs_one").set_value(lenet).run()
    at.button(key="runs_use").click().run()
    assert not at.exception
    assert not at.warning, [w.value for w in at.warning]
    assert at.success[0].value == f"The Draw page now answers with #{lenet} LeNet-5 · tester."
    at.switch_page("pages/draw.py")
    at.run()
    assert not at.exception
    assert any(f"#{lenet} LeNet-5" in c.value and f"run {lenet}" in c.value for c in at.caption)


def test_sorting_by_accuracy_and_mine(two_runs):
    at = runs_page()
    at.selectbox(key="runs_sort").set_value("test_accuracy").run()
    accuracies = list(at.dataframe[0].value["test accuracy"].dropna())
    assert accuracies == sorted(accuracies, reverse=True)
    at.segmented_control(key="runs_show").set_value("mine").run()
    assert not at.exception
    assert any("No runs yet" in i.value for i in at.info)  # this session started none


def test_deleting_another_sessions_run_needs_the_teacher_key(two_runs):
    store, (small, _) = two_runs
    at = runs_page()
    at.selectbox(key="runs_one").set_value(small).run()
    at.text_input(key="runs_teacher_key").set_value("wrong").run()
    at.button(key="runs_delete").click().run()
    assert not at.exception
    assert at.error[0].value == "no teacher key is set on this server (CNN_EXPLAINER_TEACHER_KEY)"
    assert store.get(small).id == small
    assert "wrong" not in str([e.value for e in at.error])


def test_train_again_loads_the_design_and_settings(two_runs):
    _, (_, lenet) = two_runs
    at = runs_page()
    at.selectbox(key="runs_one").set_value(lenet).run()
    at.button(key="runs_again").click().run()
    assert not at.exception
    assert at.session_state["design_name"] == "LeNet-5"
    assert at.session_state[form_key("epochs")] == 1 and at.session_state[form_key("seed")] == 0
    assert at.session_state[form_key("augment")] is False  # every setting, augmentation too


@pytest.fixture(scope="module")
def augmented_run(bundled):
    """A real training with every setting away from its default, augmentation on."""
    splits = replace(bundled, train_images=bundled.train_images[:200],
                     train_labels=bundled.train_labels[:200])
    config = TrainConfig(epochs=2, batch_size=32, optimizer="sgd", learning_rate=0.02,
                         seed=77, device="cpu", augment=True)
    recorder = Recorder(RunStore(runs_dir()), source="cli", label="tester")
    job = TrainingJob(SMALL_FAST, splits, config, name="Augmented net", recorder=recorder)
    job.start()
    job.join()
    assert job.snapshot().state == "finished", job.snapshot().message
    return recorder.run_id, config


@pytest.mark.slow
def test_train_again_shows_every_setting_of_the_run_on_the_train_page(augmented_run):
    run_id, config = augmented_run
    at = runs_page()
    at.selectbox(key="runs_one").set_value(run_id).run()
    at.button(key="runs_again").click().run()
    assert not at.exception
    at.switch_page("pages/train.py")
    wait_data(at)
    assert not at.exception and not at.error and not at.warning, [
        e.value for e in [*at.error, *at.warning]]
    shown = {}
    for field in form_fields():
        widgets = {"number": at.number_input, "choice": at.selectbox,
                   "checkbox": at.checkbox}[field.widget]
        shown[field.name] = widgets(key=field.key).value
    assert shown == {f.name: getattr(config, f.name) for f in form_fields()}
    assert shown["augment"] is True and shown["optimizer"] == "sgd"
    assert augment.NOTE in [c.value for c in at.caption]  # its preview is drawn too
    assert at.session_state["design_name"] == "Augmented net"


def test_a_setting_this_server_lacks_is_said_on_the_train_page_not_dropped_silently():
    from ui.training_form import restorable

    device = next(f for f in form_fields() if f.name == "device")
    assert restorable(device, "cpu") and not restorable(device, "tpu")
    batch = next(f for f in form_fields() if f.name == "batch_size")
    assert restorable(batch, 100) and not restorable(batch, 0)  # a CLI run's batch of 100
    augment = next(f for f in form_fields() if f.name == "augment")
    assert not restorable(augment, "yes")


def test_the_form_covers_every_training_setting():
    from dataclasses import fields

    names = [f.name for f in form_fields()]
    # momentum is fixed (SGD_MOMENTUM) and speedups off only for checking the loop
    assert names == [f.name for f in fields(TrainConfig) if f.name not in INTERNAL]
    assert len(set(map(form_key, names))) == len(names)


def test_a_new_setting_in_the_registry_appears_on_the_train_page(monkeypatch):
    """A setting added to TrainConfig and the settings registry needs no page edit; one the
    registry does not describe is refused by name."""
    from dataclasses import dataclass

    from cnn_core.training import settings
    from ui import training_form

    @dataclass(frozen=True)
    class WithWarmup(TrainConfig):
        warmup_epochs: int = 0
        loss: str = "cross_entropy"

    monkeypatch.setattr(training_form, "TrainConfig", WithWarmup)
    with pytest.raises(TypeError, match=r"TrainConfig\.warmup_epochs \(int\) is in neither"):
        form_fields()
    monkeypatch.setitem(settings.SETTINGS, "warmup_epochs", settings.Setting(0, 5, 0))
    with pytest.raises(TypeError, match=r"TrainConfig\.loss"):
        form_fields()
    monkeypatch.setitem(settings.CHOICES, "loss", ("cross_entropy", "nll"))
    at = on_page("pages/train.py")
    wait_data(at)
    assert not at.exception
    assert at.number_input(key=form_key("warmup_epochs")).label == "Warmup epochs"
    assert at.selectbox(key=form_key("loss")).options == ["cross_entropy", "nll"]


def test_a_broken_store_is_one_line(tmp_path, monkeypatch):
    from ui.app_state import run_store

    (tmp_path / "runs.sqlite3").write_bytes(b"garbage" * 100)
    monkeypatch.setenv("CNN_EXPLAINER_RUNS", str(tmp_path))
    run_store.clear()
    try:
        at = runs_page()
        [warning] = at.warning
        assert warning.value.startswith("Runs are not being kept: the runs database ")
        assert "damaged" in warning.value
    finally:
        monkeypatch.undo()
        run_store.clear()


def test_a_link_to_a_run_answers_on_the_draw_page(two_runs):
    _, (_, lenet) = two_runs
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.query_params["run"] = str(lenet)
    at.run()
    at.switch_page("pages/draw.py")
    at.run()
    assert not at.exception
    assert any(f"#{lenet} LeNet-5" in c.value and f"run {lenet}" in c.value for c in at.caption)
    assert at.query_params["run"] in (str(lenet), [str(lenet)])


def test_uploaded_weights_answer_on_the_draw_page_and_bad_files_change_nothing(two_runs,
                                                                                tmp_path):
    import io
    import os

    import torch

    from cnn_core.design.build import build_model

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    at = runs_page()
    evil = io.BytesIO()
    torch.save({"0.weight": Payload()}, evil)
    for name, data in (("evil.pt", evil.getvalue()), ("noise.safetensors", os.urandom(999)),
                       ("empty.pth", b"")):
        at.file_uploader(key="runs_upload").set_value((name, data, "application/octet-stream"))
        at.run()
        assert not at.exception
        [error] = at.error
        assert name in error.value and "\n" not in error.value
        assert "trained_model" not in at.session_state
    assert not (tmp_path / "pwned").exists()
    good = io.BytesIO()
    torch.save(build_model(SMALL_FAST).state_dict(), good)  # the default design: small fast
    at.file_uploader(key="runs_upload").set_value(("mine.pt", good.getvalue(),
                                                   "application/octet-stream"))
    at.run()
    assert at.success[0].value == "The Draw page now answers with mine.pt."
    at.run()  # read once: a rerun neither says it again nor replaces a run chosen since
    assert not at.success
    at.switch_page("pages/draw.py")
    at.run()
    assert any("mine.pt" in c.value and "uploaded weights" in c.value for c in at.caption)
