"""The page URL: restored once per session (the design, a training to follow, a run's model,
predict first), then kept naming the session's design, last run and, while it trains, the
token that re-attaches a reload to its training."""

from __future__ import annotations

import secrets
import weakref
from typing import TYPE_CHECKING

import streamlit as st

from cnn_core.design.presets import PRESETS
from cnn_core.design.url_state import (
    DESIGN_PARAM,
    JOB_PARAM,
    RUN_PARAM,
    design_param,
    read_design,
    read_run_id,
)
from ui.app_state import TrainedModel, current_job, run_store, trained_model, use_model
from ui.design_state import current_spec, load_design
from ui.lesson import restore_from_url as restore_lesson
from ui.lesson import url_params as lesson_params
from ui.ownership import remember_owner_in_browser
from ui.predict import restore_from_url as restore_predict_first
from ui.predict import set_enabled as set_predict_first
from ui.predict import url_params as predict_first_params

if TYPE_CHECKING:
    from cnn_core.training.job import TrainingJob


@st.cache_resource(show_spinner=False)
def job_tokens() -> weakref.WeakValueDictionary[str, TrainingJob]:
    """Unguessable token -> training, for every session of this server. Weak: a training
    lives while it runs or a session holds it, so a server forgets a class's models once
    their tabs are gone (a reload within the session's TTL still finds it)."""
    return weakref.WeakValueDictionary()


def job_token(job: TrainingJob) -> str:
    """The token a tab's URL carries while it trains: a reload re-attaches to the job, to
    follow it only (owner rights stay with the browser that started it: ``ui.ownership``)."""
    if st.session_state.get("job_token_for") is not job:
        token = secrets.token_urlsafe(18)
        job_tokens()[token] = job
        st.session_state["job_token"], st.session_state["job_token_for"] = token, job
    return st.session_state["job_token"]


def restore_from_url() -> None:
    """Once per session: the design, the training and the model the URL names."""
    params = st.query_params
    notes = []
    lesson = restore_lesson(params)
    spec, note = read_design(params.get(DESIGN_PARAM))
    notes.append(note)
    if lesson is not None:  # a lesson asks before it tells; a reload keeps the edited design
        set_predict_first(True)
        spec = spec or lesson.design
    if spec is not None:
        same = [name for name, preset in PRESETS.items() if preset == spec]
        load_design(spec, lesson.title if lesson is not None and spec == lesson.design
                    else same[0] if same else "Design from a link")
    job = job_tokens().get(params.get(JOB_PARAM) or "")
    if job is not None:  # a reload or a link during a training: follow it, own nothing
        st.session_state["job"] = job
        st.session_state["job_token"], st.session_state["job_token_for"] = \
            params[JOB_PARAM], job
        job.heartbeat()
    run_id, note = read_run_id(params.get(RUN_PARAM))
    notes.append(note)
    if run_id is not None and job is None:
        notes.append(_use_run_from_link(run_id))
    st.session_state["url_note"] = " ".join(filter(None, notes)) or None
    restore_predict_first(params)


def _use_run_from_link(run_id: int) -> str | None:
    from cnn_core.runs.files import NoWeights, run_model, run_spec
    from cnn_core.runs.records import RunNotFound, StoreError
    from cnn_core.runs.weights import WeightsError

    store, problem = run_store()
    if store is None:
        return f"The link's run {run_id} was ignored: {problem}."
    try:
        record = store.get(run_id)
        model = run_model(store, run_id)
    except (RunNotFound, NoWeights, StoreError, WeightsError) as exc:
        return f"The link's run {run_id} was ignored: {exc}."
    use_model(TrainedModel(model, f"#{record.id} {record.name}", run_spec(record),
                           record.test_accuracy, f"run {record.id}", record.id))
    return None


def sync_url() -> None:
    """Restore from the URL once, then keep it naming the session's design, last run and
    (while it trains) its training token."""
    if "url_restored" not in st.session_state:
        st.session_state["url_restored"] = True
        restore_from_url()
    remember_owner_in_browser()
    wanted = predict_first_params() | lesson_params()
    if (code := design_param(current_spec())) is not None:
        wanted[DESIGN_PARAM] = code
    record = trained_model()
    if record is not None and record.run_id is not None:
        wanted[RUN_PARAM] = str(record.run_id)
    job = current_job()
    if job is not None and job.snapshot().active:
        wanted[JOB_PARAM] = job_token(job)
    if {k: st.query_params.get(k) for k in st.query_params} != wanted:
        st.query_params.from_dict(wanted)
