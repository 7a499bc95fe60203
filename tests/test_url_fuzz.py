"""Fuzzing what a link carries: ``?design=``, ``?run=`` and ``?job=`` hold any text anyone
types or pastes, and each is read or dropped with one note, never an exception. Also the
other readers of digits that reach ``int()`` (ASCII digits only: ``"²".isdigit()`` is true)."""

from __future__ import annotations

import socket

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from cnn_core.design.url_state import MAX_LINK_CODE, MAX_RUN_ID_DIGITS, read_design, read_run_id
from cnn_core.runs.weights import WeightsError, check_state_dict
from cnn_core.storage.processes import process_alive
from cnn_core.training import budget
from ui.url_sync import job_tokens

FUZZ = settings(max_examples=1000, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
UNICODE_DIGITS = "²³¹⁴₂٣٤۵߁१৩੪๓໕༣၃០᠔௫ⅻ①𝟙０"  # isdigit() or isnumeric(), not all int()-able
LINK_CHARS = "0123456789cxenk.-%&=#?+ \\\"'" + UNICODE_DIGITS


@st.composite
def link_values(draw: st.DrawFn) -> str:
    """Any text; a short piece repeated (what makes regexes backtrack); digits of every
    script; escapes and the characters a URL treats specially."""
    return draw(st.one_of(
        st.text(max_size=200),
        st.text(alphabet=LINK_CHARS, max_size=40),
        st.builds(lambda head, piece, times, tail: head + piece * times + tail,
                  st.sampled_from(["", "c1", "max2", "1", "fc"]),
                  st.one_of(st.text(alphabet="x1en", min_size=1, max_size=4),
                            st.text(alphabet=LINK_CHARS, min_size=1, max_size=4)),
                  st.integers(1, 1000), st.text(alphabet=LINK_CHARS + "Z", max_size=2)),
    ))


@pytest.mark.timeout(60)
@FUZZ
@given(link_values())
def test_any_design_param_is_a_design_or_one_note(value):
    """(On the old reader this hung inside a regex, in C, where no timeout reaches; the
    regression test in test_design_code.py runs its codes in a child process.)"""
    spec, note = read_design(value)
    if spec is None:
        assert note is None if not value else note.startswith("The link's design was ignored")
        assert note is None or "\n" not in note
    else:
        assert note is None and len(value) <= MAX_LINK_CODE


@FUZZ
@given(link_values())
def test_a_run_param_is_ascii_digits_or_one_note(value):
    run_id, note = read_run_id(value)
    wanted = value.isascii() and value.isdigit() and len(value) <= MAX_RUN_ID_DIGITS
    if wanted:
        assert (run_id, note) == (int(value), None)
    elif value:
        assert run_id is None and note == "The link's run was ignored: it is not a run number."


@pytest.mark.parametrize("value", ["²", "٣", "12²", "١٢", "①", "０"])
def test_unicode_digits_are_not_a_run(value):
    assert value.isdigit() or value.isnumeric()
    assert read_run_id(value) == (None, "The link's run was ignored: it is not a run number.")


class Training:
    """Stands for a job: the token table holds its values weakly."""


@FUZZ
@given(link_values())
def test_a_job_param_finds_only_its_own_token(value):
    """``?job=`` is parsed by nothing: the page looks the text up as it is, so only the exact
    token finds its training (not a prefix, another case, or the same with spaces)."""
    job, token = Training(), "Qm9vdHN0cmFwLXRva2VuLTE4"
    job_tokens()[token] = job
    try:
        for probe in (value, token + value, value + token, value.join(token)):
            found = job_tokens().get(probe)
            assert found is (job if probe == token else None)
        assert job_tokens().get(token.lower()) is None and job_tokens().get(token[:-1]) is None
    finally:
        del job_tokens()[token]


@pytest.mark.parametrize("head", ["²", "٣", "9" * 5000])
def test_weights_named_by_a_unicode_or_huge_number_are_refused_in_one_line(head):
    """A state dict's keys come from an uploaded file: ``"².weight"`` made ``int()`` raise."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    state = dict(model.state_dict()) | {f"{head}.weight": torch.zeros(1)}
    with pytest.raises(WeightsError, match="the file has"):
        check_state_dict(model, state, ["layer 1 (flatten)", "layer 2 (linear)"])


@pytest.mark.parametrize("pid", ["²", "٣", "9" * 20, "9" * 5000])
def test_a_run_whose_process_is_not_a_pid_is_not_alive(pid):
    """The runs database names the server process of a running run; a damaged one may hold
    anything there (``int("²")`` raised, ``os.kill`` overflowed)."""
    assert process_alive(f"{socket.gethostname()}:{pid}:") is False


def test_a_container_limit_in_other_digits_is_no_limit(tmp_path, monkeypatch):
    limit = tmp_path / "memory.max"
    monkeypatch.setattr(budget, "CGROUP_LIMITS", (str(limit),))
    limit.write_text("max\n")
    unlimited = budget.machine_memory()
    limit.write_text("²\n")  # str.isdigit() says yes; int() raised ValueError
    assert budget.machine_memory() == unlimited
