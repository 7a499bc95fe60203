"""The layer registry is the one place a layer type is described: every consumer reads it.

A dummy type added here (and only here) must work everywhere a layer goes: the parser, the
shape engine, the torch model, the generated PyTorch and Keras code, the design code, the CLI's
summary and the Design page's widgets; a broken entry must fail with its name.
"""

import ast
import re
from pathlib import Path

import pytest
import torch
from helpers import open_design_panels
from streamlit.testing.v1 import AppTest
from torch import nn

from cnn_core.__main__ import summary_table
from cnn_core.design.build import DesignError, build_model
from cnn_core.design.codegen import keras_code, pytorch_code
from cnn_core.design.design_code import decode_design, encode_design
from cnn_core.design.layers import LAYERS, Code, FieldSpec, LayerType, readme_table, same_names
from cnn_core.design.parse import spec_from_dict
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.design.spec import layer as L

ROOT = Path(__file__).resolve().parent.parent
ELU = LayerType("elu", (FieldSpec("alpha", "float", 0.0, 10.0, 1.0, short="alpha=",
                                  help="the value negative inputs approach"),),
                "elementwise", Code("ELU", (), same_names("alpha")),
                Code("ELU", (), same_names("alpha")), word="elu", new_layer={"alpha": 0.5})
WITH_ELU = ArchitectureSpec((L("conv2d", out_channels=4, kernel_size=3), L("elu", alpha=0.5),
                             L("flatten"), L("linear", out_features=10)))


@pytest.fixture
def elu(monkeypatch):
    monkeypatch.setitem(LAYERS, "elu", ELU)


def test_the_readme_holds_the_registrys_field_table():
    assert readme_table() in (ROOT / "README.md").read_text()


def test_the_design_code_format_documents_every_types_word():
    import cnn_core.design.design_code

    tokens = " ".join(re.findall(r"``([^`]+)``", cnn_core.design.design_code.__doc__)).split()
    documented = {re.match(r"[a-z]+", t).group() for t in tokens if re.match(r"[a-z]", t)}
    assert {t.word for t in LAYERS.values()} <= documented


def test_every_entry_names_a_real_torch_class_and_unique_words():
    assert all(hasattr(nn, t.torch.cls) for t in LAYERS.values())
    words = [t.word for t in LAYERS.values()]
    assert len(set(words)) == len(words)
    for t in LAYERS.values():  # a design code writes the fields after the first by letter
        letters = [f.name[0] for f in t.fields[1:]]
        assert len(set(letters)) == len(letters), t.name


def test_a_new_type_works_in_the_engine_torch_codegen_and_the_cli(elu):
    spec = spec_from_dict(WITH_ELU.to_json())
    report = analyze(spec)
    assert report.ok and report.layers[1].output_shape == (4, 26, 26)
    model = build_model(spec)
    assert isinstance(model[1], nn.ELU) and model[1].alpha == 0.5
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    code = pytorch_code(report)
    assert "nn.ELU(alpha=0.5)" in code
    namespace: dict = {"__name__": "generated"}
    exec(compile(code, "net.py", "exec"), namespace)
    assert sum(p.numel() for p in namespace["model"].parameters()) == report.total_params
    keras = keras_code(report)
    ast.parse(keras)
    assert "layers.ELU(alpha=0.5)," in keras
    assert decode_design(encode_design(spec)) == spec
    row = next(line for line in summary_table(report).splitlines() if line.startswith("2 "))
    assert "elu" in row and "alpha=0.5" in row


def test_a_broken_entry_fails_with_its_name(monkeypatch):
    monkeypatch.setitem(LAYERS, "elu", LayerType(
        "elu", (), "elementwise", Code("NoSuchModule"), Code("ELU"), word="elu"))
    with pytest.raises(DesignError, match=re.escape(
            "layer 2 (elu): torch.nn has no class 'NoSuchModule'")):
        build_model(ArchitectureSpec((L("relu"), L("elu"))))
    monkeypatch.setitem(LAYERS, "elu", LayerType(
        "elu", (), "mystery", Code("ELU"), Code("ELU"), word="elu"))
    with pytest.raises(ValueError, match="layer type 'elu' has shape rule 'mystery'"):
        analyze(ArchitectureSpec((L("elu"),)))
    monkeypatch.setitem(LAYERS, "elu", LayerType(
        "elu", (), "elementwise", Code("ELU", (), same_names("alpha")), Code("ELU"), word="elu"))
    with pytest.raises(KeyError, match="elu: ELU takes 'alpha'"):
        build_model(ArchitectureSpec((L("elu"),)))


def test_the_design_page_offers_the_new_type_with_its_widgets(elu):
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    at.switch_page("pages/architecture.py")
    at.run()
    assert "elu" in at.selectbox(key="new_layer_type").options
    at.selectbox(key="new_layer_type").set_value("elu").run()
    next(b for b in at.button if b.label.startswith("＋ Add")).click().run()
    assert not at.exception, at.exception
    alpha = next(n for n in at.number_input if n.label == "alpha")
    assert alpha.value == 0.5  # the registry's new_layer value
    alpha.set_value(0.25).run()
    assert not at.exception
    table = at.table[0].value  # the Design page's layers
    assert list(table[table["layer"] == "elu"]["settings"]) == ["alpha=0.25"]
    open_design_panels(at)
    assert any("nn.ELU(alpha=0.25)" in c.value for c in at.code if c.language == "python")
