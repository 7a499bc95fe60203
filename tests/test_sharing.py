"""Identical trainings run once: thirty students pressing Train on the same thing get one
training, each its model and the note; a different seed, or "Train it anyway", trains again.

Job-level tests go through the runner's ``start`` as the Train page calls it (``share=True``,
a recorder per student with that student's owner secret); the AppTest drives two sessions of
the real Train page.
"""

from __future__ import annotations

import threading
import time

import pytest
import torch
from digits import first_digits
from helpers import by_label, on_page, record, wait_data
from streamlit.testing.v1 import AppTest

from cnn_core.design.presets import SMALL_FAST
from cnn_core.runs import shares
from cnn_core.runs.recording import Recorder
from cnn_core.runs.store import RunStore
from cnn_core.storage.owners import new_owner_token
from cnn_core.storage.places import runs_dir
from cnn_core.training import sharing
from cnn_core.training.admission import Way
from cnn_core.training.job import TrainingJob
from cnn_core.training.replay import ReplayedTraining
from cnn_core.training.runner import InProcessRunner, Training
from cnn_core.training.shared import FollowedTraining
from cnn_core.training.trainer import TrainConfig
from ui.training_form import form_key

STUDENTS = 30
TINY = TrainConfig(epochs=1, batch_size=64)


@pytest.fixture
def shared_server(monkeypatch, tmp_path):
    monkeypatch.setenv(sharing.SHARE_ENV, "1")
    return InProcessRunner(), RunStore(tmp_path / "runs")


@pytest.fixture(scope="module")
def digits(bundled):
    return first_digits(bundled, 512, 200)


def press_train(runner, store, splits, config=TINY, token=None, join=True):
    """What the Train page's button does, for one student."""
    recorder = Recorder(store, None, "train page", owner_token=token or new_owner_token())
    return runner.start(SMALL_FAST, splits, config, name="Small fast net",
                        recorder=recorder, way=Way.TRAIN_PAGE, share=True, join=join)


def weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for t in model.state_dict().values()]


def same_net(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(weights(a), weights(b), strict=True))


def test_thirty_identical_requests_make_one_training(shared_server, digits):
    runner, store = shared_server
    tokens = [new_owner_token() for _ in range(STUDENTS)]
    trainings: list = [None] * STUDENTS
    go = threading.Barrier(STUDENTS)

    def student(i: int) -> None:
        go.wait()  # all thirty press at the same instant
        trainings[i] = press_train(runner, store, digits, token=tokens[i])

    threads = [threading.Thread(target=student, args=(i,)) for i in range(STUDENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for training in trainings:
        training.join(120)
    started = [t for t in trainings if isinstance(t, TrainingJob)]
    assert len(started) == 1 and store.count() == 1
    source = started[0]
    run_id = source.recorder.run_id
    followers = [t for t in trainings if t is not source]
    assert all(isinstance(t, FollowedTraining) and isinstance(t, Training) for t in followers)
    for follower in followers:
        snap = follower.snapshot()
        assert snap.state == "finished" and len(snap.epochs_done) == 1
        assert follower.model is not None and same_net(follower.model, source.model)
        assert follower.model is not source.model  # a copy of its own
        assert follower.evaluation.accuracy == source.evaluation.accuracy
        assert follower.note.startswith("The same training started at ")
        assert f"as run {run_id}" in follower.note and "change the seed" in follower.note
        assert follower.recorder.run_id == run_id  # the page's link and "Mine" name that run
        assert follower.set_learning_rate(0.01) is not None  # steering another's: refused
    summary = store.get_summary(run_id)
    assert summary.shared == STUDENTS - 1
    for token in tokens:  # each requester finds it under "Mine", once
        assert [r.id for r in store.list_runs(owner_token=token)] == [run_id]
        assert store.count(token) == 1
    assert not summary.owned_by(tokens[1]) or tokens[1] == source.recorder.owner_token

    # Later, the same request is a replay of the recorded run, skipped to the end.
    late = press_train(runner, store, digits)
    assert isinstance(late, ReplayedTraining) and isinstance(late, Training)
    assert store.count() == 1
    assert late.note.startswith("The same training ran at ") and f"run {run_id}:" in late.note
    assert late.snapshot().state == "running" and late.model is None  # replaying
    late.skip_to_end()
    snap = late.snapshot()
    assert snap.state == "finished" and len(snap.steps) == len(source.snapshot().steps)
    assert same_net(late.model, source.model)
    assert late.evaluation.accuracy == pytest.approx(source.evaluation.accuracy)
    assert store.get_summary(run_id).shared == STUDENTS


def test_a_replay_plays_at_the_recorded_pace(shared_server, digits):
    runner, store = shared_server
    first = press_train(runner, store, digits)
    first.join(120)
    replay = press_train(runner, store, digits)
    assert isinstance(replay, ReplayedTraining)
    replay.duration_s = 0.6  # the pace of a quick run, whatever this machine did
    assert replay.snapshot().state == "running"
    replay.join(10)
    assert replay.snapshot().state == "finished" and replay.model is not None


def test_different_seeds_train_separately(shared_server, digits):
    runner, store = shared_server
    a = press_train(runner, store, digits, TrainConfig(epochs=1, batch_size=64, seed=0))
    b = press_train(runner, store, digits, TrainConfig(epochs=1, batch_size=64, seed=1))
    for job in (a, b):
        job.join(120)
    assert isinstance(a, TrainingJob) and isinstance(b, TrainingJob)
    assert store.count() == 2 and not same_net(a.model, b.model)


def test_train_it_anyway_trains_again(shared_server, digits):
    runner, store = shared_server
    first = press_train(runner, store, digits)
    first.join(120)
    again = press_train(runner, store, digits, join=False)
    assert isinstance(again, TrainingJob)
    again.join(120)
    assert store.count() == 2 and same_net(first.model, again.model)  # same seed, same net


def test_a_follower_trains_its_own_when_the_source_is_stopped(shared_server, digits):
    runner, store = shared_server
    config = TrainConfig(epochs=30, batch_size=16)  # long enough to stop midway
    source = press_train(runner, store, digits, config)
    follower = press_train(runner, store, digits, config)
    assert isinstance(follower, FollowedTraining)
    deadline = time.monotonic() + 30  # a training stopped while queued keeps no run
    while source.snapshot().state != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    source.stop()
    source.join(60)
    deadline = time.monotonic() + 30
    while follower.snapshot().state != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert follower.snapshot().state == "running" and follower.note is None
    assert follower.set_learning_rate(0.01) is None  # its own now: it may steer
    follower.stop()
    follower.join(60)
    assert store.count() == 2


def test_the_key_names_every_condition(digits):
    base = sharing.conditions(SMALL_FAST, digits, TINY, "cpu", threads=2)
    key = sharing.share_key(base)
    assert sharing.share_key(dict(reversed(base.items()))) == key  # canonical: order-free
    for changed in (sharing.conditions(SMALL_FAST, digits, TINY, "cuda", threads=2),
                    sharing.conditions(SMALL_FAST, digits, TINY, "cpu", threads=1),
                    sharing.conditions(SMALL_FAST, digits, TrainConfig(epochs=1, batch_size=32),
                                       "cpu", threads=2),
                    sharing.conditions(SMALL_FAST, first_digits(digits, 511, 200), TINY, "cpu",
                                       threads=2),
                    {**base, "torch": "0.0.1"}):
        assert sharing.share_key(changed) != key


def test_a_steered_training_is_not_given_to_anyone(shared_server, digits):
    runner, store = shared_server
    config = TrainConfig(epochs=2, batch_size=16)
    steered = press_train(runner, store, digits, config)
    assert steered.set_learning_rate(0.01) is None
    assert steered.wait_until_started(30)
    while not steered.snapshot().lr_changes and steered.running_thread:
        time.sleep(0.01)
    later = press_train(runner, store, digits, config)  # while it trains, and after
    assert isinstance(later, TrainingJob)
    steered.join(120)
    later.join(120)
    assert isinstance(press_train(runner, store, digits, config), ReplayedTraining)
    assert store.get_summary(later.recorder.run_id).shared == 1
    assert store.get_summary(steered.recorder.run_id).shared == 0


def test_a_recorded_key_finds_its_run(tmp_path):
    store = RunStore(tmp_path)
    assert sharing.find_finished(store, "k") is None
    owner = new_owner_token()
    run_id = record(store, owner=owner, weights={"w": torch.zeros(2)})
    shares.keep_key(store, run_id, "k")
    assert sharing.find_finished(store, "k") == run_id
    assert shares.requested_by(store, "t" * 32) == set()
    shares.add_requester(store, run_id, "t" * 32)
    assert shares.requested_by(store, "t" * 32) == {run_id}
    store.delete(run_id, owner)  # its shares go with it
    assert shares.requested_by(store, "t" * 32) == set()


# ---- two sessions of the real Train page --------------------------------------------------
@pytest.mark.slow
def test_two_sessions_on_the_train_page_share_one_training(monkeypatch):
    monkeypatch.setenv(sharing.SHARE_ENV, "1")
    def session():
        at = on_page("pages/train.py")
        wait_data(at)
        at.number_input(key=form_key("epochs")).set_value(1)
        at.number_input(key=form_key("seed")).set_value(987_654)  # no earlier test's run
        return at.run()

    sessions = [session(), session()]
    for at in sessions:
        next(b for b in at.button if b.label == "Train").click().run()
    first, second = (at.session_state["job"] for at in sessions)
    assert isinstance(first, TrainingJob) and isinstance(second, FollowedTraining)
    first.join(120)
    for at in sessions:
        at.run()
    notes = [i.value for i in sessions[1].info if "The same training" in i.value]
    assert len(notes) == 1 and "change the seed to train your own" in notes[0]
    assert not [i for i in sessions[0].info if "The same training" in i.value]
    accuracies = [by_label(at.metric, "Test accuracy").value for at in sessions]
    assert accuracies[0] == accuracies[1]
    assert same_net(second.model, first.model)

    late = session()  # after it finished: the recorded run, replayed, or skipped to its end
    next(b for b in late.button if b.label == "Train").click().run()
    assert isinstance(late.session_state["job"], ReplayedTraining)
    assert any("The same training ran at " in i.value for i in late.info)
    next(b for b in late.button if b.label == "Skip to the end").click().run()
    assert by_label(late.metric, "Test accuracy").value == accuracies[0]

    anyway = session()
    anyway.checkbox(key="train_anyway").check().run()
    next(b for b in anyway.button if b.label == "Train").click().run()
    trained_anyway = anyway.session_state["job"]
    assert isinstance(trained_anyway, TrainingJob)
    trained_anyway.stop()  # a training thread alive at exit aborts the interpreter (rc 134)
    trained_anyway.join(60)


def test_the_runs_page_lists_a_shared_run_once_with_its_count():
    store = RunStore(runs_dir())  # the app's (a temporary folder under the tests)
    owner, requester = new_owner_token(), new_owner_token()
    run_id = record(store, owner=owner, weights={"w": torch.zeros(2)})
    for token in (requester, new_owner_token(), requester):  # asking twice counts once
        shares.add_requester(store, run_id, token)
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.session_state["owner_token"], at.session_state["owner_token_kept"] = requester, True
    at.run()
    at.switch_page("pages/runs.py")
    at.run()
    rows = at.dataframe[0].value
    row = rows[rows["run"] == run_id]
    assert len(row) == 1 and int(row["shared"].iloc[0]) == 2 and bool(row["mine"].iloc[0])
    at.segmented_control(key="runs_show").set_value("mine").run()
    assert list(at.dataframe[0].value["run"]) == [run_id]  # the requester's own, once
    at.selectbox(key="runs_one").set_value(run_id).run()
    assert any("given to 2 more" in c.value for c in at.caption)
