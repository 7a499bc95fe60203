"""The live chart's browser side, in real headless Chromium, outside Streamlit.

For the live updates the component draws the moving line traces itself, on the axes Plotly
laid out (see ``live_chart/frontend/index.html``); Plotly draws everything else. These tests
hold that shortcut to what Plotly itself draws, so that a plotly.js upgrade that changes what
it relies on fails here rather than drawing wrong curves for students.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_helpers import CHART_KEY

from ui import live_chart

pytestmark = pytest.mark.browser

PLOTLY_JS = Path(live_chart._PLOTLY_PACKAGE_DATA) / "plotly.min.js"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # no request lines in the test output
        pass


@pytest.fixture(scope="module")
def chart_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The component's page served as Streamlit serves it: plotly.js one folder up."""
    root = tmp_path_factory.mktemp("live_chart")
    shutil.copytree(live_chart._FRONTEND, root / "frontend")
    (root / "ui.live_chart.plotly_js").mkdir()
    shutil.copy(PLOTLY_JS, root / "ui.live_chart.plotly_js" / "plotly.min.js")
    # A stand-in for the app's page: the chart's frame inside an element keyed as Streamlit
    # marks keyed elements, for the updates a running script streams to it.
    (root / "app.html").write_text(
        f'<div class="st-key-{CHART_KEY}"><iframe src="frontend/index.html" '
        'style="width: 900px; height: 500px"></iframe></div>')
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/frontend/index.html"
    server.shutdown()


def figure(steps: int, epochs_done: int = 0) -> dict:
    """Two subplots like the Train page's: per-step lines, and per-epoch lines with markers."""
    x = [round(i / 50, 4) for i in range(steps)]

    def line(uid: str, y: list[float], axis: str) -> dict:
        return {"type": "scatter", "mode": "lines", "uid": uid, "x": x, "y": y,
                "xaxis": f"x{axis}", "yaxis": f"y{axis}",
                "line": {"simplify": False, "dash": "dot"}}

    def per_epoch(uid: str, y: list[float], axis: str) -> dict:
        return {"type": "scatter", "mode": "lines+markers", "uid": uid,
                "x": list(range(1, epochs_done + 1)) or [None], "y": y or [None],
                "xaxis": f"x{axis}", "yaxis": f"y{axis}"}

    loss = [round(2.3 / (1 + i / 10), 4) for i in range(steps)]
    accuracy = [round(1 - v / 2.5, 4) for v in loss]
    data = [line("loss", loss, ""), per_epoch("val-loss", [0.3] * epochs_done, ""),
            line("accuracy", accuracy, "2"),
            per_epoch("val-accuracy", [0.9] * epochs_done, "2")]
    layout = {"height": 300, "xaxis": {"range": [0, 3], "domain": [0, 0.45]},
              "yaxis": {"range": [0, 2.5]},
              "xaxis2": {"range": [0, 3], "domain": [0.55, 1], "anchor": "y2"},
              "yaxis2": {"range": [0, 1], "anchor": "x2"}}
    return {"data": data, "layout": layout}


RENDER_AND_COUNT = """figure => new Promise(resolve => {
    // Hand the component a figure as Streamlit would; count who drew it.
    const chart = document.getElementById("chart");
    const drawn = {plotly: 0, updates: 0};
    if (chart.on) {
      chart.on("plotly_animated", () => drawn.plotly++);
      chart.on("plotly_afterplot", () => drawn.plotly++);
    }
    chart.addEventListener("live-chart-update", event => {
      drawn.updates++;
      drawn.throughPlotly = event.detail.throughPlotly;
      setTimeout(() => resolve(drawn), 200);  // Plotly's events may follow a moment later
    }, {once: true});
    setTimeout(() => resolve(drawn), 5000);  // no update event at all: report that
    window.postMessage({type: "streamlit:render", args: {figure, config: {}}}, "*");
  })"""

LINE_PATHS = """uids => uids.map(uid =>
    document.querySelector(`#chart .trace${uid} path.js-line`).getAttribute("d"))"""


def points(path: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", path)]


@pytest.fixture
def chart_page(page_for, chart_url):
    page = page_for()
    page.goto(chart_url)
    page.wait_for_function("typeof Plotly !== 'undefined'")
    page.evaluate(RENDER_AND_COUNT, figure(20))
    return page


def test_live_updates_draw_the_lines_plotly_would(chart_page):
    page = chart_page
    drawn = page.evaluate(RENDER_AND_COUNT, figure(60))
    assert drawn == {"plotly": 0, "updates": 1, "throughPlotly": False}, \
        "a points-only update went through Plotly, not the fast path"
    ours = page.evaluate(LINE_PATHS, ["loss", "accuracy"])
    assert page.evaluate("() => document.getElementById('chart').data[0].x.length") == 60

    page.evaluate("""figure => Plotly.react(document.getElementById("chart"), figure.data,
                                            figure.layout)""", figure(60))
    plotly = page.evaluate(LINE_PATHS, ["loss", "accuracy"])
    for mine, theirs in zip(ours, plotly, strict=True):
        assert len(points(mine)) == len(points(theirs)) == 120  # 60 points, x and y each
        assert max(abs(a - b) for a, b in zip(points(mine), points(theirs), strict=True)) \
            < 0.02


def test_new_epoch_markers_go_through_plotly(chart_page):
    drawn = chart_page.evaluate(RENDER_AND_COUNT, figure(60, epochs_done=1))
    assert drawn["updates"] == 1 and drawn["plotly"] >= 1 and drawn["throughPlotly"]


CALC_POINTS = "() => document.getElementById('chart').calcdata[0].length"


def test_plotly_catches_up_when_the_updates_stop(chart_page):
    """Plotly's zoom and resize redraw from its own last drawing: once the live updates stop
    (a training ended), Plotly is brought up to date."""
    page = chart_page
    page.evaluate(RENDER_AND_COUNT, figure(60))
    assert page.evaluate(CALC_POINTS) == 20  # the fast update passed Plotly by
    page.wait_for_function(f"() => ({CALC_POINTS})() === 60", timeout=5_000)


def test_pointing_at_the_chart_brings_plotly_up_to_date(chart_page):
    """Plotly's hover reads its own last drawing: a pointer moving over the chart brings it up
    to date, and updates go through Plotly while it moves; one resting there (left where
    Train was as the page reflowed) does not keep them off the fast path."""
    page = chart_page
    page.evaluate(RENDER_AND_COUNT, figure(60))
    assert page.evaluate(CALC_POINTS) == 20
    box = page.locator("#chart .nsewdrag").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function(f"() => ({CALC_POINTS})() === 60", timeout=1_000)
    drawn = page.evaluate(RENDER_AND_COUNT, figure(80))
    assert drawn["plotly"] >= 1 and drawn["throughPlotly"]
    assert page.evaluate(CALC_POINTS) == 80
    page.wait_for_timeout(1_500)  # the pointer rests
    drawn = page.evaluate(RENDER_AND_COUNT, figure(100))
    assert drawn == {"plotly": 0, "updates": 1, "throughPlotly": False}, \
        "a resting pointer kept updates on Plotly"
    page.mouse.move(box["x"] + box["width"] / 3, box["y"] + box["height"] / 2)
    page.wait_for_function(f"() => ({CALC_POINTS})() === 100", timeout=1_000)


class _SlotRecorder:
    """Takes the place of the ``st.empty()`` slot: keeps the HTML that would go into it."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def html(self, body: str, *, unsafe_allow_javascript: bool = False) -> None:
        assert unsafe_allow_javascript, "without it the browser would not run the script"
        self.bodies.append(body)


def streamed_html(fig: dict, progress_text: str) -> str:
    slot = _SlotRecorder()
    live_chart.stream_to_live_chart(slot, fig, key=CHART_KEY, progress=0.5,
                                    progress_text=progress_text)
    (body,) = slot.bodies
    return body


# Parsed as HTML, as the app's page does with an st.html element's body, scripts included.
INSERT_HTML = """body => document.body.append(
    document.createRange().createContextualFragment(body))"""


def test_updates_streamed_from_the_app_page_reach_the_chart(page_for, chart_url):
    page = page_for()
    page.goto(chart_url.replace("frontend/index.html", "app.html"))
    frame = page.frame_locator("iframe")
    page.wait_for_function("() => { const frame = document.querySelector('iframe'); "
                           "return frame && frame.contentWindow.Plotly !== undefined; }")
    count = "() => (document.getElementById('chart').data || [{x: []}])[0].x.length"
    chart = page.frames[1]
    page.evaluate("""figure => document.querySelector("iframe").contentWindow.postMessage(
        {type: "streamlit:render", args: {figure, config: {}}}, "*")""", figure(20))
    chart.wait_for_function(f"({count})() === 20")

    # Text that would end the script early, were it not escaped, must arrive as text.
    text = "epoch 2/3 </script><b>not bold</b>"
    page.evaluate(INSERT_HTML, streamed_html(figure(60), text))
    chart.wait_for_function(f"({count})() === 60")
    assert frame.locator("#progress-text").inner_text() == text
    assert frame.locator("#progress-bar").get_attribute("aria-valuenow") == "50"

    # Only the app's page may send updates: a message from anywhere else is ignored.
    chart.evaluate("""figure => window.postMessage(
        {type: "live-chart:update", args: {figure}}, "*")""", figure(5))
    page.wait_for_timeout(500)
    assert chart.evaluate(count) == 60
