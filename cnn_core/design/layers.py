"""The layer types a design can use: one entry each, read by everything that handles layers.

Each ``LayerType`` holds its fields (kinds, defaults, ranges), how the shape engine treats it
(``rule``), the torch and Keras classes it becomes and which settings they take, what the
Design page fills in for a new one, and its word in a design code. The parser (``spec``),
the shape engine, ``build``, ``codegen``, ``design_code``, the summary table, the Design page
and the README's field table all read ``LAYERS``: a new layer type is one new entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

FieldKind = Literal["int", "size", "padding", "float"]
# How the shape engine treats a layer: a sliding window with kernels (conv) or without (pool),
# a fully connected layer (dense), flatten, one scale and shift per channel (per_channel), or
# a function applied to each value on its own (elementwise).
ShapeRule = Literal["conv", "pool", "dense", "flatten", "per_channel", "elementwise"]


@dataclass(frozen=True)
class FieldSpec:
    """One setting of a layer type: its kind, default and allowed range.

    ``torch_min``/``torch_max`` are the bounds torch itself enforces; a value outside them is
    one torch cannot run, while a value outside ``minimum``/``maximum`` but inside torch's is
    merely outside what this app allows (too big to train in a classroom).
    """

    name: str
    kind: FieldKind
    minimum: float
    maximum: float
    default: Any = None  # None: required, or the value of the field ``same_as`` names
    required: bool = False
    torch_min: float | None = None
    torch_max: float | None = None
    help: str = ""
    same_as: str | None = None  # left out: takes this other field's value (pooling's stride)
    short: str = ""  # its prefix in the summary table's settings column ("k" for "k5")
    note: str = ""  # a further rule, for the README's table


@dataclass(frozen=True)
class Const:
    """A fixed argument in generated code (not one of the layer's settings)."""

    value: Any


@dataclass(frozen=True)
class Code:
    """How a layer is written for one framework: the class, then the arguments by position
    and by keyword, each a setting's name or a ``Const``. ``optional`` settings are left out
    of generated code when they hold their field's default (``dilation=1``)."""

    cls: str
    args: tuple[str | Const, ...] = ()
    kwargs: tuple[tuple[str, str | Const], ...] = ()
    optional: tuple[str, ...] = ()


def same_names(*names: str) -> tuple[tuple[str, str], ...]:
    """Keyword arguments named as the settings they take: ``stride=stride``."""
    return tuple((n, n) for n in names)


@dataclass(frozen=True)
class LayerType:
    """Everything the app knows about one layer type."""

    name: str
    fields: tuple[FieldSpec, ...]
    rule: ShapeRule
    torch: Code  # a class of torch.nn
    keras: Code  # a class of keras.layers
    word: str  # its word in a design code (``cnn_core.design.design_code``)
    new_layer: dict[str, Any] = field(default_factory=dict)  # the Design page's starting values
    summary: Callable[[dict[str, Any]], str] | None = None  # else each field with its ``short``
    keras_refusal: Callable[[dict[str, Any]], str | None] | None = None  # what Keras refuses

    def field_named(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)


def _size(name: str, lo: int, hi: int, default: Any, help_text: str, **kw: Any) -> FieldSpec:
    return FieldSpec(name, "size", lo, hi, default, help=help_text, **kw)


_KERNEL = _size("kernel_size", 1, 32, None, "height and width of the window", required=True,
                torch_min=1, short="k")
_CONV_STRIDE = _size("stride", 1, 16, 1, "how far the window moves each step", torch_min=1,
                     short="s")
_POOL_STRIDE = _size("stride", 1, 32, None, "how far the window moves (default: kernel_size)",
                     torch_min=1, same_as="kernel_size", short="s")
_DILATION = _size("dilation", 1, 8, 1, "spacing between kernel elements", torch_min=1,
                  short="d")
_POOL_TORCH = same_names("kernel_size", "stride", "padding")
_POOL_KERAS = (("pool_size", "kernel_size"), ("strides", "stride"))


def _pool_padding(help_text: str) -> FieldSpec:
    return _size("padding", 0, 16, 0, help_text, torch_min=0, short="p",
                 note="at most half the kernel")


def _strided_dilation(settings: dict[str, Any]) -> str | None:
    if max(settings["stride"]) > 1 and max(settings["dilation"]) > 1:
        return ("Keras cannot export a convolution with both stride > 1 and dilation > 1 "
                "(Keras refuses strides > 1 together with dilation_rate > 1)")
    return None


def _activation(name: str, torch_cls: str, word: str) -> LayerType:
    """A function with no settings, Keras's ``Activation(name)``."""
    return LayerType(name, (), "elementwise", Code(torch_cls), Code("Activation", (Const(name),)),
                     word=word)


LAYERS: dict[str, LayerType] = {t.name: t for t in (
    LayerType(
        "conv2d",
        (FieldSpec("out_channels", "int", 1, 1024, required=True, torch_min=1,
                   help="number of kernels, i.e. output feature maps"),
         _KERNEL,
         _CONV_STRIDE,
         FieldSpec("padding", "padding", 0, 32, 0, torch_min=0, short="p",
                   help='zeros added on each side, or "same" / "valid"'),
         _DILATION),
        "conv",
        Code("Conv2d", ("in_channels", "out_channels"),
             same_names("kernel_size", "stride", "padding", "dilation"), optional=("dilation",)),
        Code("Conv2D", ("out_channels",),
             (("kernel_size", "kernel_size"), ("strides", "stride"),
              ("padding", "keras_padding"), ("dilation_rate", "dilation")),  # keras_padding:
             # "same" or "valid", set by codegen (explicit padding becomes ZeroPadding2D)
             optional=("dilation",)),
        word="c", new_layer={"out_channels": 8, "kernel_size": 3},
        keras_refusal=_strided_dilation),
    LayerType(
        "maxpool2d",
        (_KERNEL, _POOL_STRIDE, _pool_padding("padding on each side (at most half the kernel)")),
        "pool", Code("MaxPool2d", (), _POOL_TORCH), Code("MaxPooling2D", (), _POOL_KERAS),
        word="max", new_layer={"kernel_size": 2}),
    LayerType(
        "avgpool2d",
        (_KERNEL, _POOL_STRIDE,
         _pool_padding("zero padding on each side (at most half the kernel)")),
        "pool", Code("AvgPool2d", (), _POOL_TORCH), Code("AveragePooling2D", (), _POOL_KERAS),
        word="avg", new_layer={"kernel_size": 2}),
    _activation("relu", "ReLU", "relu"),
    LayerType(
        "leaky_relu",
        (FieldSpec("negative_slope", "float", 0.0, 1.0, 0.01, help="slope for negative inputs",
                   short="slope="),),
        "elementwise", Code("LeakyReLU", (), same_names("negative_slope")),
        Code("LeakyReLU", (), same_names("negative_slope")), word="lrelu"),
    _activation("sigmoid", "Sigmoid", "sig"),
    _activation("tanh", "Tanh", "tanh"),
    LayerType(
        "batchnorm2d", (), "per_channel", Code("BatchNorm2d", ("num_features",)),
        Code("BatchNormalization", (),  # torch's momentum 0.1 and eps in Keras's terms
             (("momentum", Const(0.9)), ("epsilon", Const(1e-5)))),
        word="bn"),
    LayerType(
        "dropout",
        (FieldSpec("p", "float", 0.0, 1.0, 0.5, torch_min=0.0, torch_max=1.0, short="p=",
                   help="probability of zeroing each value during training"),),
        "elementwise", Code("Dropout", (), same_names("p")), Code("Dropout", ("p",)),
        word="drop"),
    LayerType("flatten", (), "flatten", Code("Flatten"), Code("Flatten"), word="flat"),
    LayerType(
        "linear",
        (FieldSpec("out_features", "int", 1, 65536, required=True, torch_min=1,
                   help="number of output values"),),
        "dense", Code("Linear", ("in_features", "out_features")), Code("Dense", ("out_features",)),
        word="fc", new_layer={"out_features": 10},
        summary=lambda s: f"{s.get('in_features', '?')}→{s['out_features']}"),
)}


def layer_type(name: str) -> LayerType:
    """The registry's entry; ``KeyError`` naming the type when there is none."""
    try:
        return LAYERS[name]
    except KeyError:
        raise KeyError(f"no layer type {name!r} in cnn_core.design.layers.LAYERS") from None


def arguments(kind: LayerType, code: Code, settings: dict[str, Any], *, in_text: bool = False
              ) -> tuple[list[Any], list[tuple[str, Any]]]:
    """The values ``code`` passes, by position and by keyword, from a layer's resolved settings.
    ``in_text``: leave out the optional settings that hold their default, as code is written."""
    def value(source: str | Const) -> Any:
        if isinstance(source, Const):
            return source.value
        if source not in settings:
            raise KeyError(f"{kind.name}: {code.cls} takes {source!r}, which the layer's "
                           "settings do not have")
        return settings[source]

    def at_default(source: str | Const) -> bool:
        if not in_text or source not in code.optional:
            return False
        default = kind.field_named(source).default
        return settings[source] in (default, (default, default))

    return ([value(a) for a in code.args],
            [(key, value(source)) for key, source in code.kwargs if not at_default(source)])


def field_text(spec_field: FieldSpec) -> str:
    """One field as the README's table describes it: ``stride`` (1, 1-16)."""
    if spec_field.required:
        default = "required"
    elif spec_field.same_as:
        default = f"= `{spec_field.same_as}`"
    else:
        default = f"{spec_field.default:g}"
    extra = ', or `"same"` / `"valid"`' if spec_field.kind == "padding" else ""
    extra += f"; {spec_field.note}" if spec_field.note else ""
    return (f"`{spec_field.name}` ({default}, {spec_field.minimum:g}-{spec_field.maximum:g}"
            f"{extra})")


def readme_table() -> str:
    """The README's table of layer fields, from ``LAYERS`` (types with the same fields share a
    row); ``tests/test_layers.py`` checks that the README holds exactly this."""
    rows: dict[str, list[str]] = {}
    for t in LAYERS.values():
        rows.setdefault(", ".join(field_text(f) for f in t.fields) or "none", []).append(t.name)
    lines = ["| type | fields (default, allowed range) |", "| --- | --- |"]
    lines += [f"| {', '.join(f'`{n}`' for n in names)} | {fields} |"
              for fields, names in rows.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(readme_table())
