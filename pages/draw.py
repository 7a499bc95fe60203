"""Draw & test: draw a digit, see it become an MNIST input, and what the network thinks."""

from __future__ import annotations

from ui.page_guard import need_torch, require_frame

require_frame()  # first, before the imports below load torch (see page_guard)
need_torch()

import base64

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from cnn_core.data.class_data import ClassDataError
from cnn_core.data.drawings import Refused
from cnn_core.data.preprocess import (
    CANVAS_PX,
    PNG_DATA_URL_PREFIX,
    CanvasImageError,
    canvas_png_to_rgba,
    canvas_to_mnist,
)
from cnn_core.explain.activations import first_conv_kernels
from cnn_core.explain.learning_view import framed, tile
from cnn_core.explain.svg import probability_svg
from cnn_core.passes import predict_drawing
from cnn_core.training.admission import NotAdmitted, Way
from ui import predict
from ui.app_state import (
    TrainedModel,
    class_data,
    current_job,
    owner_token,
    quick_model,
    trained_model,
)
from ui.attribution_view import why_panel
from ui.lesson import shows
from ui.predict.draw import ask_digit, challenge

UNSURE_BELOW = 0.6
MAX_MAPS_SHOWN = 16
MAP_COLUMNS = 8
STEP_PX = 112  # each preparation step's image
TILE_PX = 84  # a map's tile about this wide, as on the Train page
KERNEL_PX = 48  # a kernel's tile
CANVAS_KEY = "digit_canvas"


@st.fragment(run_every=0.5)
def quick_model_progress() -> None:
    job = quick_model().job
    if job is None:
        return
    snap = job.snapshot()
    if not snap.active:
        st.rerun(scope="app")
    st.progress(snap.fraction, text=f"Training the quick model: {snap.fraction:.0%} · "
                                    f"{snap.images_per_second:,.0f} images/s")


def start_quick_model() -> None:
    try:
        quick_model().start()
    except NotAdmitted as exc:  # told to the student who pressed, this once
        st.session_state["quick_refusal"] = str(exc)


def model_banner() -> TrainedModel | None:
    record = trained_model()
    job = current_job()
    if record is None:
        quick = quick_model()
        state = quick.job.snapshot().state if quick.job else None
        st.info("No trained model yet. Train one on the **Train** page, or train the small "
                "fast net here in about 10 seconds (shared with everyone on this server).")
        if state in ("queued", "running", "paused"):
            quick_model_progress()
        else:
            if state == "failed":
                st.error(f"The quick model failed: {quick.job.snapshot().message}")
            if refusal := st.session_state.pop("quick_refusal", None):
                st.error(f"The quick model was not trained: {refusal}.",
                         icon=":material/block:")
            st.button("Train a quick model", icon=":material/bolt:", type="primary",
                      on_click=start_quick_model)
        return None
    accuracy = f", test accuracy {record.test_accuracy:.1%}" if record.test_accuracy else ""
    st.caption(f":material/psychology: Answering: **{record.name}**{accuracy} ({record.source}).")
    if job is not None and job.snapshot().active:
        st.info("A training is running on the Train page: the last finished model answers "
                "until it is done.", icon=":material/hourglass_top:")
    return record


def add_drawing() -> None:
    """Keep the drawing on the canvas, with its label, in the class set (a callback: it
    runs before the page, so its message survives the rerun)."""
    store, problem = class_data()
    if store is None:
        st.session_state["class_notice"] = ("error", problem)
        return
    data = ((st.session_state.get(CANVAS_KEY) or {}).get("drawing") or {}).get("data")
    if data is not None and data == st.session_state.get("class_last_added"):
        st.session_state["class_notice"] = ("warning", "This drawing is already in the class "
                                            "set: clear the canvas and draw the next one.")
        return
    try:
        rgba = canvas_png_to_rgba(data, CANVAS_PX, CANVAS_PX) if data is not None else None
        prepared = canvas_to_mnist(rgba) if rgba is not None else None
        png = base64.b64decode(data[len(PNG_DATA_URL_PREFIX):]) if rgba is not None else None
        drawing_id = store.add(st.session_state.get("class_label"),
                               prepared.image if prepared else None, rgba, png,
                               st.session_state.get("nickname", ""), owner_token())
    except (Refused, CanvasImageError, ClassDataError) as exc:
        st.session_state["class_notice"] = ("error", f"Not added: {exc}.")
        return
    st.session_state["class_last_added"] = data
    st.session_state["class_notice"] = (
        "success", f"Added drawing #{drawing_id} as a {st.session_state['class_label']}: the "
                   f"class set now has {sum(store.counts()):,} drawings. Clear the canvas and "
                   "draw the next one.")


def add_panel() -> None:
    """Label the drawing and add it to the class's own dataset."""
    c = st.columns([2, 3], vertical_alignment="bottom")
    c[0].selectbox("This is a", range(10), index=None, placeholder="Pick the digit",
                   key="class_label")
    c[1].button("Add to the class set", icon=":material/group_add:", on_click=add_drawing,
                width="stretch", help="Kept on this server for the whole class: see the "
                                      "Class data page")
    if notice := st.session_state.pop("class_notice", None):
        getattr(st, notice[0])(notice[1])


def show_maps(maps: np.ndarray, caption: str, signed: bool = False,
              tile_px: int = TILE_PX) -> None:
    """The first maps as grey tiles, ``MAP_COLUMNS`` to a row, each scaled on its own, as
    on the Train page. An image, not a plotly heatmap: a drawing redraws every grid, and a
    heatmap costs the browser about five times what an image does."""
    shown = maps[:MAX_MAPS_SHOWN]
    scale = max(1, tile_px // shown.shape[-1])
    st.image(tile(shown, MAP_COLUMNS, signed=signed, scale=scale), clamp=True, caption=caption)


st.title("Draw a digit")
st.caption("Draw one digit, 0 to 9, large and centred or not: it is prepared the way MNIST "
           "digits were, then the network answers when you lift the pen.")
record = model_banner()
predict.switch("draw")

left, right = st.columns([2, 3], gap="large")
with left:
    stroke = st.slider("Pen width", 8, 40, 20, help="MNIST strokes are about 2 to 3 pixels "
                                                     "of 28: a 20-pixel pen on this canvas")
    st_canvas(stroke_width=stroke, stroke_color="#FFFFFF", background_color="#000000",
              height=CANVAS_PX, width=CANVAS_PX, drawing_mode="freedraw", update_streamlit=True,
              return_image_data=True, key=CANVAS_KEY)
    st.caption("Use the canvas toolbar to undo or clear.")
    if shows("class-set"):
        add_panel()

# The PNG comes from the browser, so it is checked before it is decoded: read from the
# component's state, never through the result's image_data, which decodes whatever arrives.
drawing = (st.session_state.get(CANVAS_KEY) or {}).get("drawing") or {}
rgba, refused = None, None
if drawing.get("data") is not None:
    try:
        rgba = canvas_png_to_rgba(drawing["data"], CANVAS_PX, CANVAS_PX)
    except CanvasImageError as exc:
        refused = str(exc)
prepared = canvas_to_mnist(rgba) if rgba is not None else None
with right:
    if refused:
        st.error(f"This drawing was not used: {refused}. Clear the canvas and draw again.",
                 icon=":material/block:")
    elif prepared is None or prepared.empty:
        st.info("Draw a digit on the canvas.", icon=":material/edit:")
    else:
        st.session_state["last_drawing"] = prepared.image
        st.image([framed(image, STEP_PX) for _, image in prepared.steps], width=STEP_PX,
                 clamp=True, caption=[title for title, _ in prepared.steps])
        if prepared.message:
            st.warning(prepared.message)
        try:
            prediction = (predict_drawing(record.model, record.spec, prepared.image)
                          if record is not None else None)
        except NotAdmitted as exc:
            st.error(f"Not run: {exc}.", icon=":material/block:")
            prediction = record = None
        if record is not None:
            st.session_state["last_prediction"] = prediction
            names = [record.classes[i] if i < len(record.classes) else str(i)
                     for i in range(len(prediction.probabilities))]
            if not ask_digit(prepared.image, prediction.digit, names):
                st.stop()  # predict first: the verdict, "why" and the maps wait for a guess
            st.markdown(f"## It is a **{names[prediction.digit]}** "
                        f"({prediction.confidence:.0%} sure)")
            if prediction.confidence < UNSURE_BELOW:
                st.warning(f"The network is unsure (top probability below "
                           f"{UNSURE_BELOW:.0%}): try drawing it larger or more clearly.")
            st.image(probability_svg(prediction.probabilities, names, prediction.digit),
                     caption="Probability of each class")

drawn = record is not None and prepared is not None and not prepared.empty
if drawn and shows("why"):
    st.subheader("Why this answer?")
    st.caption("Which pixels pushed the network towards a digit, and which held it back. "
               "Pick another digit to ask why it did not answer that.")
    if len(record.classes) == 10:  # the panel's picker offers ten digits
        why = why_panel(record.model, record.spec, prepared.image,
                        st.session_state["last_prediction"].digit, key="draw_why",
                        way=Way.DRAW_WHY)
        challenge(prepared.image, st.session_state["last_prediction"].digit, why)
    else:
        st.caption(f"The heatmap is for ten-class models; this one has "
                   f"{len(record.classes)} classes.")

if drawn and shows("maps"):
    st.subheader("Inside the network")
    st.caption("Each tile is one feature map: what one kernel found in your digit, in order "
               "row by row. Bright means a strong response (each map on its own scale).")
    prediction = st.session_state["last_prediction"]
    kernels = first_conv_kernels(record.model)
    if kernels is not None:
        show_maps(kernels, "First conv layer's kernels: grey is 0, white positive, black "
                           "negative", signed=True, tile_px=KERNEL_PX)
    for name, maps in prediction.feature_maps:
        extra = f" (first {MAX_MAPS_SHOWN} of {len(maps)})" if len(maps) > MAX_MAPS_SHOWN else ""
        show_maps(maps, f"Layer {name}: {maps.shape[0]}×{maps.shape[1]}×{maps.shape[2]}{extra}")
