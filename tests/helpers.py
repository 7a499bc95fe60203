"""What several test files share: opening pages in AppTest, files and runs to test with, and
random designs. One module, so that no test file imports another (shared fixtures live in
conftest.py; what benchmarks use too, such as the app served headless, the browser helpers and
hostile designs, in harness/)."""

import base64
import io
import json
import time
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from PIL import Image
from streamlit.testing.v1 import AppTest

from cnn_core.design.presets import SMALL_FAST
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.runs.records import RunStart
from cnn_core.runs.store import RunStore

ROOT = Path(__file__).resolve().parent.parent


def wait_for(predicate, timeout: float = 60.0, every: float = 0.02) -> float:
    """Poll until ``predicate()``; the seconds it took."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(every)
    return time.monotonic() - start


FIRST_START_S = 240  # a Ray worker's first start imports torch; on a busy 2-core machine, slow


# ---- pages in AppTest ("../app.py" is relative to this file, as AppTest reads it) ------------
def app() -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    assert not at.exception
    return at


def on_page(page: str) -> AppTest:
    at = app()
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


on = on_page  # the name some files use


def runs_page() -> AppTest:
    return on_page("pages/runs.py")


DESIGN_PANELS = ("design_link_open", "design_json_open", "design_code_open")


def open_design_panels(at: AppTest) -> AppTest:
    """Open the Design page's three expanders (link, JSON, code): they draw only when open."""
    for key in DESIGN_PANELS:
        at.session_state[key] = True
    at.run()
    assert not at.exception, at.exception
    return at


def import_design(at, spec: ArchitectureSpec):
    open_design_panels(at)
    at.text_area(key="import_text").set_value(spec.to_json_text()).run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception, at.exception


def by_label(elements, label: str):
    return next(e for e in elements if e.label == label)


def wait_data(at: AppTest):
    for _ in range(100):
        if any(b.label == "Train" for b in at.button):
            return
        time.sleep(0.2)
        at.run()
    raise AssertionError("MNIST never became ready")


def live_chart_args(at: AppTest) -> dict:
    """What the Train page hands its live chart component."""
    charts = [e for e in at.get("component_instance")
              if e.proto.component_name == "ui.live_chart.chart"]
    assert len(charts) == 1, "one live chart on the Train page"
    return json.loads(charts[0].proto.json_args)


def canvas_state(rgba) -> dict:
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    data = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return {"drawing": {"raw": {"objects": [], "background": "#000000"}, "data": data},
            "backgroundFit": None}


# ---- files and runs ----------------------------------------------------------------------
def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file, as MNIST's are: magic 0x0000080N, sizes, then the bytes."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def start(name: str = "net", owner: str | None = None, params: int = 100) -> RunStart:
    return RunStart(name=name, design=SMALL_FAST.to_json(), settings={"epochs": 1}, seed=0,
                    data_source="bundled", train_size=800, val_size=200, test_size=200,
                    device="CPU", params=params, macs=params * 10, owner_token=owner)


def record(store: RunStore, accuracy: float | None = 0.5, owner: str | None = None,
           params: int = 100, weights: dict | None = None) -> int:
    run_id = store.begin(start(owner=owner, params=params))
    store.finish(run_id, "finished", "done", test_accuracy=accuracy, duration_s=1.0,
                 epochs=[{"epoch": 1, "val_accuracy": accuracy or 0.0, "val_loss": 1.0}],
                 state_dict=weights)
    return run_id


# ---- random designs for hypothesis: raw JSON layers, many of them impossible ---------------
def sizes(lo, hi):
    one = st.integers(lo, hi)
    return st.one_of(one, st.lists(one, min_size=2, max_size=2))


conv = st.fixed_dictionaries(
    {"type": st.just("conv2d"), "out_channels": st.integers(1, 4), "kernel_size": sizes(0, 7)},
    optional={"stride": sizes(0, 4), "padding": st.one_of(sizes(-1, 4),
                                                          st.sampled_from(["same", "valid"])),
              "dilation": sizes(0, 3)})
pool = st.fixed_dictionaries(
    {"type": st.sampled_from(["maxpool2d", "avgpool2d"]), "kernel_size": sizes(0, 6)},
    optional={"stride": sizes(0, 4), "padding": sizes(-1, 3)})
simple = st.fixed_dictionaries({"type": st.sampled_from(
    ["relu", "sigmoid", "tanh", "batchnorm2d", "flatten"])})
leaky = st.fixed_dictionaries({"type": st.just("leaky_relu")},
                              optional={"negative_slope": st.floats(0, 1)})
dropout = st.fixed_dictionaries({"type": st.just("dropout"), "p": st.floats(-0.5, 1.5)})
linear = st.fixed_dictionaries({"type": st.just("linear"), "out_features": st.integers(1, 12)})
layers = st.lists(st.one_of(conv, conv, pool, pool, simple, leaky, dropout, linear),
                  min_size=1, max_size=7)
input_shapes = st.tuples(st.integers(1, 3), st.integers(1, 24), st.integers(1, 24))


def handwriting_and_a_run(bundled, first: int, drawn: int, trained: int, label: str):
    """The Runs page's "tested on our handwriting" set-up: the class set gets ``drawn`` held-out
    digits (from ``first``) as drawings, and the small net trains one epoch on ``trained``
    digits as a recorded run. Returns (drawings, recorder, job)."""
    from dataclasses import replace

    from cnn_core.data.preprocess import canvas_to_mnist, digit_to_canvas
    from cnn_core.runs.recording import Recorder
    from cnn_core.training.job import train_to_completion
    from cnn_core.training.trainer import TrainConfig
    from ui.app_state import class_data, run_store

    drawings, _ = class_data()
    for i in range(first, first + drawn):
        canvas = digit_to_canvas(bundled.val_images[i].numpy())
        drawings.add(int(bundled.val_labels[i]), canvas_to_mnist(canvas).image, canvas)
    splits = replace(bundled, train_images=bundled.train_images[:trained],
                     train_labels=bundled.train_labels[:trained])
    recorder = Recorder(run_store()[0], source="cli", label=label)
    job = train_to_completion(SMALL_FAST, splits, TrainConfig(epochs=1, device="cpu"),
                              recorder=recorder)
    return drawings, recorder, job
