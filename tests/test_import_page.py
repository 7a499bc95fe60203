"""The Design page's Import with the files of issue 20 (item 3), on the real page (AppTest):
each is refused with one clear line, or imported into widgets of the right type, and no page
shows an exception."""

from __future__ import annotations

import json

from helpers import open_design_panels
from hostile_designs import HOSTILE
from streamlit.testing.v1 import AppTest

SORRY = "Sorry, something went wrong"


def design_page() -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    at.switch_page("pages/architecture.py")
    at.run()
    assert not at.exception
    return open_design_panels(at)


def import_text(at: AppTest, text: str) -> list[str]:
    """Paste ``text``, press Import; the error boxes shown afterwards."""
    at.text_area(key="import_text").set_value(text).run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception, at.exception
    return [e.value for e in at.error]


def exported(at: AppTest) -> dict:
    return json.loads(next(c.value for c in at.code if c.language == "json"))


def test_each_hostile_import_is_refused_in_one_line_and_every_page_still_works():
    at = design_page()
    before = exported(at)
    for name in ("400-digit integer", "5,000-digit integer", "10,000-deep nesting",
                 "type as a list", "p as a string", "layers as an object", "NaN", "1e400",
                 "10^12 channels"):
        text, words = HOSTILE[name]
        errors = import_text(at, text)
        assert len(errors) == 1, (name, errors)
        assert errors[0].startswith("Not imported: ") and words in errors[0], (name, errors)
        assert errors[0].endswith(". Your design is unchanged.") and len(errors[0]) < 300
        assert exported(at) == before
    errors = import_text(at, HOSTILE["200,000 characters"][0])
    assert "the text is 200,002 characters; a design is at most 100,000" in errors[0]
    assert at.text_area(key="import_text").value == ""  # megabytes are not kept per session
    for page in ("pages/home.py", "pages/train.py", "pages/architecture.py"):
        at.switch_page(page)
        at.run()
        assert not at.exception and SORRY not in " ".join(e.value for e in at.error), page


def test_whole_floats_and_a_zero_probability_import_into_typed_widgets():
    at = design_page()
    text = ('\ufeff{"layers": [{"type": "conv2d", "out_channels": 8.0, "kernel_size": 3e0}, '
            '{"type": "dropout", "p": 0}, {"type": "flatten"}, '
            '{"type": "linear", "out_features": 10}]}')
    assert import_text(at, text) == []
    assert at.session_state["design_name"] == "Imported design"
    widgets = {n.label: n.value for n in at.number_input}
    assert widgets["out_channels"] == 8 and type(widgets["out_channels"]) is int
    assert widgets["kernel_size"] == 3 and type(widgets["kernel_size"]) is int
    dropout = next(d for d in at.session_state["design_layers"] if d["type"] == "dropout")
    at.selectbox(key="selected_uid").set_value(dropout["uid"]).run()
    at.run()  # the crash came back on every rerun
    assert not at.exception and not at.error
    p = next(n for n in at.number_input if n.label == "p")
    assert p.value == 0.0 and type(p.value) is float
    p.set_value(0.25).run()
    assert not at.exception and exported(at)["layers"][1] == {"type": "dropout", "p": 0.25}
