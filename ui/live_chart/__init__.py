"""A Plotly chart that updates in place, for the live training curves.

Why not ``st.plotly_chart``: in Streamlit 1.67 a chart's identity is derived from its figure,
so whenever the data changes the browser unmounts the chart and draws a new one from scratch
(streamlit/streamlit#16052), which at two updates a second takes the CPU a training on the
same machine needs. This component keeps one Plotly instance per ``key``:

- when only the points of ``mode="lines"`` traces change (the live updates), it draws their
  new paths itself on the axes Plotly laid out (far cheaper than ``Plotly.animate``). Such
  traces need a ``uid`` (it finds them by it)
  and ``line.simplify`` off (so that Plotly draws every point too, as the component does).
  For a second after the pointer moves over the chart, updates go through Plotly, whose
  hover reads its own last drawing (a pointer resting there does not slow them);
- when other traces' points change (a new epoch's marker), ``Plotly.animate`` moves them;
- otherwise ``Plotly.react`` redraws what changed.

Each update ends with a ``live-chart-update`` event on the chart's element, its
``detail.throughPlotly`` saying whether Plotly drew it (for tests and benchmarks).

Updates reach the chart in one of two ways:

- ``live_plotly_chart`` draws it, or updates it, from a script or fragment run;
- ``stream_to_live_chart`` sends the same chart new data from a run that is still going, as
  a small script in an ``st.html`` element that passes the data on to the chart's frame.
  A fragment that loops, streaming an update every half second, costs the browser one small
  element update each time instead of a whole fragment run (six messages, each a redraw).

The browser gets plotly.js from the installed ``plotly`` package (so it matches the figures
the Python side builds and works offline); the component's page loads it from
``../ui.live_chart.plotly_js/plotly.min.js``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import plotly
import streamlit.components.v1 as components
from streamlit.delta_generator import DeltaGenerator

from ui.streamlit_internals import component_frame

_FRONTEND = Path(__file__).parent / "frontend"
_PLOTLY_PACKAGE_DATA = Path(plotly.__file__).parent / "package_data"

# Declared only so that Streamlit serves plotly.min.js to the chart's page; never rendered.
components.declare_component("plotly_js", path=str(_PLOTLY_PACKAGE_DATA))
_chart = components.declare_component("chart", path=str(_FRONTEND))


def live_plotly_chart(figure: dict[str, Any], *, key: str,
                      config: dict[str, Any] | None = None,
                      progress: float | None = None, progress_text: str = "") -> None:
    """Show ``figure`` (a plotly figure as a plain dict: ``{"data": [...], "layout": {...}}``),
    with an optional progress bar (``progress`` from 0 to 1, and its ``progress_text``) above.

    Calls with the same ``key`` update one chart in place. Build the dict directly rather than
    through ``plotly.graph_objects``: validating a figure object takes tens of milliseconds
    holding the GIL, which a training thread in the same process feels. The progress bar is
    drawn here rather than with ``st.progress`` because every Streamlit element in a live
    fragment is re-rendered by the browser on each update: one element costs it less than two.
    """
    _chart(**_chart_args(figure, config, progress, progress_text), key=key, default=None)


def stream_to_live_chart(slot: DeltaGenerator, figure: dict[str, Any], *, key: str,
                         config: dict[str, Any] | None = None,
                         progress: float | None = None, progress_text: str = "") -> None:
    """Send new data to the chart that ``live_plotly_chart(key=key)`` drew earlier in this run,
    through ``slot`` (an ``st.empty()`` below it, reused for every update of the run).

    Within one run Streamlit allows one call of a component per key, so a run that keeps
    going (a fragment streaming updates) cannot call ``live_plotly_chart`` again. The script
    in the slot finds the chart's frame by its key (``streamlit_internals.component_frame``)
    and posts it the same arguments a Streamlit render would carry. The data is
    this app's own numbers and labels; ``<`` is escaped all the same, so that no text in it
    can close the script.
    """
    args = json.dumps(_chart_args(figure, config, progress, progress_text),
                      separators=(",", ":")).replace("<", "\\u003c")
    selector = json.dumps(component_frame(key))
    slot.html(f"<script>(() => {{ const frame = document.querySelector({selector}); "
              f"if (frame) frame.contentWindow.postMessage({{type: \"live-chart:update\", "
              f"args: {args}}}, window.location.origin); }})();</script>",
              unsafe_allow_javascript=True)


def _chart_args(figure: dict[str, Any], config: dict[str, Any] | None,
                progress: float | None, progress_text: str) -> dict[str, Any]:
    bar = None if progress is None else {"value": min(max(progress, 0.0), 1.0),
                                         "text": progress_text}
    return {"figure": figure, "config": config or {}, "progress": bar}
