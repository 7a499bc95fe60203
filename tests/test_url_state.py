"""The page URL: design codes and run ids read defensively, and the app restoring from them."""

from __future__ import annotations

import gc
import time
import weakref

import pytest
from streamlit.testing.v1 import AppTest

from cnn_core.design.design_code import encode_design
from cnn_core.design.presets import LENET5, PYTORCH_TUTORIAL
from cnn_core.design.url_state import design_link, read_design, read_run_id


@pytest.mark.parametrize(("value", "note"), [
    ("zz", "The link's design was ignored: the design code's layer 1 ('zz') is not a layer"),
    ("<script>alert(1)</script>", "is not a layer"),
    ("c" * 100_000, "it is 100,000 characters long"),
    ("c4000k3-flat-fc10", "The link's design was ignored: layer 1 (conv2d): out_channels must "
                          "be between 1 and 1024 (got 4000)"),
    ("flat-c8k3", "The link's design was ignored: layer 2 (conv2d)"),
])
def test_designs_that_are_not_used(value, note):
    spec, message = read_design(value)
    assert spec is None and note in message and "\n" not in message


def test_a_design_and_its_link():
    code = encode_design(LENET5)
    assert read_design(code) == (LENET5, None)
    link = design_link("http://host:8501/architecture?design=old&run=3&job=secret", LENET5)
    assert link == f"http://host:8501/architecture?design={code}"
    assert read_run_id("12") == (12, None)
    assert read_run_id("12; drop")[0] is None and read_run_id("9" * 40)[0] is None
    assert read_run_id(None) == (None, None)


def app_with(**params) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_link_restores_the_design_and_the_url_follows_it():
    code = encode_design(PYTORCH_TUTORIAL)
    at = app_with(design=code)
    assert at.session_state["design_name"] == "Seed tutorial: PyTorch ConvNet"  # a preset
    assert [d["type"] for d in at.session_state["design_layers"]][:3] == \
        ["conv2d", "relu", "maxpool2d"]
    assert at.query_params["design"] in (code, [code])


def test_a_bad_link_opens_the_default_with_one_note():
    at = app_with(design="<script>alert(1)</script>", run="999999", job="not-a-token")
    notes = [c.value for c in at.sidebar.caption if "link" in c.value]
    assert len(notes) == 1 and "The link's design was ignored" in notes[0]
    assert "The link's run 999999 was ignored: there is no run 999999." in notes[0]
    assert at.session_state["design_name"] != "Design from a link"


def on_train_page(at: AppTest) -> AppTest:
    at.switch_page("pages/train.py")
    at.run()
    assert not at.exception, at.exception
    return at


def following(at: AppTest) -> bool:
    """Whether the Train page says this tab only follows the training it shows."""
    return any("following this training from a link" in c.value for c in at.caption)


def test_a_link_to_a_training_follows_it_and_hands_over_nothing(monkeypatch):
    from helpers import by_label, on_page, wait_data

    import ui.ownership

    at = on_page("pages/train.py")
    wait_data(at)
    by_label(at.number_input, "Epochs").set_value(20).run()
    next(b for b in at.button if b.label == "Train").click().run()
    job, owner = at.session_state["job"], at.session_state["owner_token"]
    try:
        token = at.query_params["job"]
        token = token[0] if isinstance(token, list) else token
        assert len(token) >= 24 and not token.isdigit()  # unguessable, not the run number
        assert owner not in str(dict(at.query_params))  # the owner secret is never in the URL
        assert not by_label(at.button, "Stop").disabled and not following(at)
        # another browser opens the copied address: it follows the training, owns nothing
        stranger = app_with(job=token, design=encode_design(LENET5))
        assert stranger.session_state["job"] is job  # the same training, followed
        assert stranger.session_state["owner_token"] != owner
        on_train_page(stranger)
        assert by_label(stranger.button, "Stop").disabled and following(stranger)
        assert job.snapshot().active
        # the owner's own reload: its browser sends back its owner cookie
        monkeypatch.setattr(ui.ownership, "_sent_cookies",
                            lambda: {ui.ownership.OWNER_COOKIE: owner})
        reloaded = on_train_page(app_with(job=token))
        assert reloaded.session_state["job"] is job
        assert reloaded.session_state["owner_token"] == owner
        assert not by_label(reloaded.button, "Stop").disabled and not following(reloaded)
        # a cookie that is not an owner secret is ignored, however long
        for forged in ("x" * 100_000, owner[:-1] + ";", ""):
            monkeypatch.setattr(ui.ownership, "_sent_cookies",
                                lambda v=forged: {ui.ownership.OWNER_COOKIE: v})
            assert app_with(job=token).session_state["owner_token"] not in (owner, forged)
        monkeypatch.undo()
        assert "job" not in app_with(job=token[:-2] + "xx").session_state
    finally:
        job.stop()
        job.join(60)
    # Once no session holds the ended training, its token lets it (and its model) go.
    ended = weakref.ref(job)
    del at, stranger, reloaded, job
    # join() returns as the job ends; its worker thread lets go of it a moment later
    for _ in range(100):
        gc.collect()
        if ended() is None:
            break
        time.sleep(0.1)
    assert ended() is None, "the token kept a finished training of closed tabs alive"
    assert "job" not in app_with(job=token).session_state
