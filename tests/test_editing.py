"""The Design page's edits as plain functions (cnn_core.design.editing): each edit on its own,
then arbitrary sequences of them, which never raise and always leave a design the shape
engine either accepts or reports layer by layer, and that its JSON carries or refuses in a line."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnn_core.design import editing
from cnn_core.design.layers import LAYERS
from cnn_core.design.parse import MAX_MESSAGE_CHARS, SpecFormatError, spec_from_json_text
from cnn_core.design.presets import LENET5, PRESETS
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import MAX_LAYERS, ArchitectureSpec


def fresh(spec: ArchitectureSpec = LENET5) -> tuple[list[editing.Entry], itertools.count]:
    uids = itertools.count(1)
    return editing.with_uids(spec, lambda: next(uids)), uids


def types(entries):
    return [e["type"] for e in entries]


def test_with_uids_and_to_spec_round_trip_a_design():
    entries, _ = fresh()
    assert [e["uid"] for e in entries] == list(range(1, len(LENET5.layers) + 1))
    assert editing.to_spec(entries, LENET5.input_shape) == LENET5
    spec = editing.to_spec(entries, LENET5.input_shape)
    entries[0]["params"]["out_channels"] = 99  # the spec is a copy, not a view
    assert spec == LENET5


def test_insert_adds_a_fresh_layer_with_its_starting_values():
    entries, uids = fresh()
    uid = editing.insert(entries, 1, "dropout", lambda: next(uids))
    assert entries[1] == {"uid": uid, "type": "dropout",
                          "params": dict(LAYERS["dropout"].new_layer)}
    assert editing.insert(entries, 999, "flatten", lambda: next(uids)) == entries[-1]["uid"]
    assert editing.insert(entries, 0, "no such layer", lambda: next(uids)) is None


def test_insert_refuses_past_the_layer_limit():
    entries, uids = fresh(ArchitectureSpec(()))
    for _ in range(MAX_LAYERS):
        assert editing.insert(entries, 0, "relu", lambda: next(uids)) is not None
    assert editing.insert(entries, 0, "relu", lambda: next(uids)) is None
    assert len(entries) == MAX_LAYERS


def test_remove_selects_the_neighbour_and_an_empty_design_selects_nothing():
    entries, _ = fresh()
    second, third = entries[1]["uid"], entries[2]["uid"]
    assert editing.remove(entries, second) == third  # the next layer moves into its place
    assert editing.remove(entries, entries[-1]["uid"]) == entries[-1]["uid"]  # the one before
    while entries:
        editing.remove(entries, entries[0]["uid"])
    assert editing.remove(entries, second) is None


def test_move_swaps_neighbours_and_stops_at_the_ends():
    entries, _ = fresh()
    order = types(entries)
    first = entries[0]["uid"]
    assert not editing.move(entries, first, -1)
    assert editing.move(entries, first, 1)
    assert types(entries) == [order[1], order[0], *order[2:]]
    assert not editing.move(entries, entries[-1]["uid"], 1)
    assert not editing.move(entries, 12345, 1)


def test_change_type_replaces_the_layer_in_place_with_a_new_id():
    entries, uids = fresh()
    old = entries[2]["uid"]
    new = editing.change_type(entries, old, "avgpool2d", lambda: next(uids))
    assert new != old and entries[2]["uid"] == new and entries[2]["type"] == "avgpool2d"
    assert entries[2]["params"] == dict(LAYERS["avgpool2d"].new_layer)
    assert editing.change_type(entries, old, "relu", lambda: next(uids)) is None  # stale
    assert editing.change_type(entries, new, "nope", lambda: next(uids)) is None


def test_set_param_keeps_whole_numbers_whole_and_floats_float():
    entries, uids = fresh()
    conv = entries[0]["uid"]
    assert editing.set_param(entries, conv, "out_channels", 12.0)
    assert entries[0]["params"]["out_channels"] == 12
    assert isinstance(entries[0]["params"]["out_channels"], int)
    assert editing.set_param(entries, conv, "kernel_size", editing.field_value(3.0, 5.0, True))
    assert entries[0]["params"]["kernel_size"] == [3, 5]
    drop = editing.insert(entries, 0, "dropout", lambda: next(uids))
    assert editing.set_param(entries, drop, "p", 1)
    assert entries[0]["params"]["p"] == 1 and not editing.set_param(entries, drop, "stride", 2)
    assert editing.set_param(entries, conv, "stride", None)  # back to its default
    assert "stride" not in entries[1]["params"]
    assert not editing.set_param(entries, 12345, "stride", 2)


def test_field_value_pairs_height_and_width_only_when_both_are_given():
    assert editing.field_value(3) == 3
    assert editing.field_value(3, 4, split=True) == [3, 4]
    assert editing.field_value(3, None, split=True) is None
    assert editing.field_value(None, 4, split=True) is None


def test_padding_modes():
    entries, _ = fresh()
    conv = entries[0]["uid"]
    assert editing.set_padding_mode(entries, conv, "same")
    assert entries[0]["params"]["padding"] == "same"
    assert editing.set_padding_mode(entries, conv, "number")
    assert entries[0]["params"]["padding"] == 0
    assert not editing.set_padding_mode(entries, conv, "reflect")
    relu = next(e["uid"] for e in entries if e["type"] == "relu")
    assert not editing.set_padding_mode(entries, relu, "same")  # a relu has no padding


def test_an_edited_preset_says_so_once():
    assert editing.edited_name("LeNet-5") == "LeNet-5 (edited)"
    assert editing.edited_name("LeNet-5 (edited)") == "LeNet-5 (edited)"
    assert editing.edited_name("Custom") == "Custom"


# ---- arbitrary edit sequences -------------------------------------------------------------
FIELD = st.integers(0, 7)  # one of the layer's fields, or one it does not have
TYPES = [*LAYERS, "not_a_layer"]
# What a field may be handed: what its widgets send, and much that they never would.
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8)
    | st.sampled_from(["same", "valid"]),
    lambda inner: st.lists(inner, max_size=3), max_leaves=4)
WHERE = st.integers(-3, 12)  # an index into the layers, or past them (a stale click)
EDITS = st.one_of(
    st.tuples(st.just("set"), WHERE, FIELD, VALUES),
    st.tuples(st.just("pair"), WHERE, FIELD, VALUES, VALUES),
    st.tuples(st.just("padding"), WHERE, st.sampled_from([*editing.PADDING_MODES, "x"])),
    st.tuples(st.just("type"), WHERE, st.sampled_from(TYPES)),
    st.tuples(st.just("move"), WHERE, st.sampled_from([-1, 1, 5])),
    st.tuples(st.just("remove"), WHERE),
    st.tuples(st.just("insert"), WHERE, st.sampled_from(TYPES)),
)


def apply(entries, uids, edit) -> None:
    kind, where, *args = edit
    uid = entries[where]["uid"] if 0 <= where < len(entries) else 10**9 + where
    new_uid = lambda: next(uids)  # noqa: E731
    if kind in ("set", "pair"):
        fields = [f.name for f in LAYERS[entries[where]["type"]].fields] if uid < 10**9 else []
        args[0] = [*fields, "bogus"][args[0] % (len(fields) + 1)]
    match kind:
        case "set":
            editing.set_param(entries, uid, args[0], args[1])
        case "pair":
            editing.set_param(entries, uid, args[0], editing.field_value(args[1], args[2], True))
        case "padding":
            editing.set_padding_mode(entries, uid, args[0])
        case "type":
            editing.change_type(entries, uid, args[0], new_uid)
        case "move":
            editing.move(entries, uid, args[0])
        case "remove":
            editing.remove(entries, uid)
        case "insert":
            editing.insert(entries, where, args[0], new_uid)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(PRESETS)), st.lists(EDITS, max_size=25))
def test_any_edit_sequence_leaves_a_design_that_is_valid_or_clearly_reported(preset, edits):
    entries, uids = fresh(PRESETS[preset])
    for edit in edits:
        apply(entries, uids, edit)  # never raises
        assert len(entries) <= MAX_LAYERS
        assert len({e["uid"] for e in entries}) == len(entries)  # widget keys stay unique
        assert all(e["type"] in LAYERS for e in entries)
    spec = editing.to_spec(entries, PRESETS[preset].input_shape)
    report = analyze(spec)
    failed = False  # a layer has an output shape, or its own error, or follows one that has
    for layer in report.layers:
        if layer.error:
            assert layer.error.strip() and "\n" not in layer.error
        assert layer.output_shape is not None or layer.error or failed
        failed = failed or bool(layer.error)
    assert report.ok == (not report.errors)
    assert not report.ok or report.output_shape is not None
    try:  # its JSON comes back as the same design, or is refused in one short line
        assert spec_from_json_text(spec.to_json_text()) == spec
    except SpecFormatError as exc:
        assert len(str(exc)) <= MAX_MESSAGE_CHARS and "\n" not in str(exc)
