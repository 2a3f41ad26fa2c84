"""service/wire_records.py against the dict path it replaces: `record_from_pb` (protobuf -> the dict a
JSON Lines line gives) then `validate_batch`. For valid and invalid messages alike, the records (with
their attribute order, which the log's layouts keep) and the errors (index, field, reason) must be
identical, with and without `partial`."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexes.records import BatchResult, RecordBatchError, RecordError, validate_batch
from indexes.schema import Schema, ValueType
from proto.segments.v1 import records_pb2
from service.convert_records import records_from_pb
from service.wire_records import validate_wire

BASE_MS = 1_790_000_000_000


def declared_schema() -> Schema:
    """The standard catalog plus one of every kind the catalog lacks (enums, bools, dates, timestamps,
    scales) so that every converter is reached."""
    schema = Schema()
    for body in (
        {"property": "tier", "type": "enum", "values": ["gold", "silver"]},
        {"property": "active", "type": "bool"},
        {"property": "points", "type": "number", "scale": 0},
        {"event": "visit", "attributes": {"flag": "bool", "at": "timestamp", "score": {"type": "number", "scale": 3},
                                          "pages": "list", "note": "string", "fine": {"type": "number", "scale": 9},
                                          "whole": {"type": "number", "scale": 0}}},
    ):
        schema.apply_declaration(body)
    return schema


SCHEMA = declared_schema()
EVENT_TYPES = ["product_viewed", "order_created", "visit", "page_viewed", "no_such_type", ""]
ATTR_NAMES = ["product_id", "price", "amount", "product_ids", "currency", "flag", "at", "score", "pages", "note",
              "fine", "whole", "url", "unknown_attr"]
PROPERTY_NAMES = ["email", "country", "tags", "total_order_value", "marketing_consent", "birth_date",
                  "consent_updated_at", "tier", "active", "points", "order_count", "unknown_prop"]

STRINGS = st.one_of(
    st.sampled_from(["", "p-1", "granted", "gold", "GOLD@X.COM", "2026-11-20", "2026-02-30", "12.50", "1e2",
                     "-3", " 7 ", "٣", "2026-11-20T10:15:00+03:00", "2026-11-20T10:15:00Z", "true"]),
    st.text(max_size=6),
    st.text(min_size=250, max_size=300, alphabet="ab€"),  # around the 256-character fast path bound
)
NUMBER_TEXTS = ["", ".", "-", "+", ".5", "5.", "12.50", "12.", "-0.001", "+4", "1e3", "1.2345", "1.230", "abc", "1..2",
                "٣", "²", " 7", "007.50", "99999999999999999999", "999999999999999.99", "9999999999999999.9",
                "999999999.123456789", "9999999999.5", "123456789012345678", "9223372036854775807", "9223372036854775808"]
DECIMALS = st.one_of(
    st.sampled_from(NUMBER_TEXTS),
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
)


@st.composite
def values(draw: st.DrawFn) -> records_pb2.Value:
    value = records_pb2.Value()
    kind = draw(st.sampled_from(["string", "decimal", "double", "int", "bool", "list", "null", "none"]))
    if kind == "string":
        value.string_value = draw(STRINGS)
    elif kind == "decimal":
        value.decimal_value = draw(DECIMALS)
    elif kind == "double":
        value.double_value = draw(st.one_of(st.floats(), st.sampled_from([0.0, 1.5, 129.9, 1e300, -2.25])))
    elif kind == "int":
        value.int_value = draw(st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-5, 5),
                                         st.just(BASE_MS)))
    elif kind == "bool":
        value.bool_value = draw(st.booleans())
    elif kind == "list":
        value.list_value.values.extend(draw(st.lists(STRINGS, max_size=4)))
        if draw(st.booleans()):
            value.list_value.SetInParent()
    elif kind == "null":
        value.null_value = draw(st.booleans())
    return value


@st.composite
def fitting_values(draw: st.DrawFn, value_type: ValueType | None) -> records_pb2.Value:
    """Mostly a value the declared type takes (so that whole records are valid and take the one-pass
    path), sometimes any value."""
    if value_type is None or draw(st.integers(0, 5)) == 0:
        return draw(values())
    value = records_pb2.Value()
    kind = value_type.kind
    if kind == "string":
        value.string_value = draw(st.one_of(st.sampled_from(["p-1", "GOLD@X.COM", "Ali@METU.edu"]), STRINGS))
    elif kind == "enum":
        value.string_value = draw(st.sampled_from([*value_type.enum_values, "GRANTED"]))
    elif kind == "number":
        form = draw(st.sampled_from(["decimal", "string", "int", "double"]))
        # Mostly plain text within the scale (the one pass reads it itself), sometimes anything.
        text = draw(st.one_of(
            st.builds(lambda whole, fraction: f"{whole}.{fraction}" if fraction else f"{whole}",
                      st.integers(0, 10**16), st.text("0123456789", max_size=value_type.scale + 1)),
            DECIMALS))
        if form == "decimal":
            value.decimal_value = text
        elif form == "string":
            value.string_value = text
        elif form == "int":
            value.int_value = draw(st.integers(-(10**6), 10**6))
        else:
            value.double_value = draw(st.floats(-1e6, 1e6))
    elif kind == "bool":
        value.bool_value = draw(st.booleans())
    elif kind == "timestamp":
        if draw(st.booleans()):
            value.int_value = BASE_MS + draw(st.integers(-5, 5))
        else:
            value.string_value = draw(st.sampled_from(["2026-11-20T10:15:00+03:00", "2026-11-20T10:15:00Z", "x"]))
    elif kind == "date":
        value.string_value = draw(st.sampled_from(["2026-11-20", "1960-01-31", "2026-02-30", "20261120"]))
    elif kind in ("set", "list"):
        value.list_value.values.extend(draw(st.lists(st.sampled_from(["vip", "b", "a", "vip", "é"]), max_size=4)))
        value.list_value.SetInParent()
    else:
        return draw(values())
    if draw(st.integers(0, 9)) == 0:
        value.Clear()
        value.null_value = True
    return value


@st.composite
def timestamps(draw: st.DrawFn, message: Any) -> None:
    kind = draw(st.sampled_from(["epoch"] * 5 + ["rfc", "rfc", "unset", "zero", "far"]))
    if kind == "epoch":
        message.ts.epoch_ms = BASE_MS + draw(st.integers(-10**6, 10**6))
    elif kind == "rfc":
        message.ts.rfc3339 = draw(st.sampled_from(["2026-11-20T10:15:00+03:00", "2026-11-20T10:15:00.123Z",
                                                   "2026-11-20 10:15", "", "2026-11-20T10:15:00+25:00"]))
    elif kind == "zero":
        message.ts.epoch_ms = 0
    elif kind == "far":
        message.ts.epoch_ms = draw(st.sampled_from([2**62, -(2**62), 253_402_300_799_999]))
    elif draw(st.booleans()):
        message.ts.SetInParent()  # a Timestamp with nothing set


def ids() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(["e-1", "c-1", "x" * 32, "x" * 33, "é" * 40, "ü" * 65, "😀" * 64, ""]),
                     st.text(min_size=1, max_size=70))


@st.composite
def wire_records(draw: st.DrawFn) -> records_pb2.Record:
    record = records_pb2.Record()
    kind = draw(st.sampled_from(["event"] * 6 + ["profile"] * 3 + ["erasure", "none"]))
    if kind == "event":
        event = record.event
        event.event_id = draw(st.one_of(st.just("e-1"), ids()))
        event.customer_id = draw(st.one_of(st.just("c-1"), ids()))
        event.type = draw(st.sampled_from(EVENT_TYPES[:4] * 3 + EVENT_TYPES))
        draw(timestamps(event))
        declared = SCHEMA.events.get(event.type, {})
        names = st.sampled_from(list(declared) or ATTR_NAMES) if draw(st.integers(0, 4)) else st.sampled_from(ATTR_NAMES)
        for name in draw(st.lists(names, max_size=4, unique=True)):
            event.attrs[name].CopyFrom(draw(fitting_values(declared.get(name))))
        event.SetInParent()
    elif kind == "profile":
        profile = record.profile
        profile.customer_id = draw(st.one_of(st.just("c-2"), ids()))
        draw(timestamps(profile))
        for name in draw(st.lists(st.sampled_from(PROPERTY_NAMES), max_size=4, unique=True)):
            profile.properties[name].CopyFrom(draw(fitting_values(SCHEMA.properties.get(name))))
        profile.SetInParent()
    elif kind == "erasure":
        record.erasure.forget_customer = draw(st.one_of(st.just("c-3"), ids()))
        draw(timestamps(record.erasure))
        record.erasure.SetInParent()
    return record


def dict_path(messages: list[records_pb2.Record], schema: Schema, partial: bool) -> BatchResult:
    """The reference: decode to dicts (undecodable records rejected at their index), then validate;
    without `partial`, RecordBatchError with the first 100 errors by index."""
    decoded = records_from_pb(messages)
    checked = validate_batch(decoded.raws, schema, partial=True)
    errors = decoded.errors + [RecordError(decoded.positions[e.index], e.field, e.reason) for e in checked.errors]
    errors.sort(key=lambda e: e.index)
    if errors and not partial:
        raise RecordBatchError(errors[:100])
    return BatchResult(checked.records, [decoded.positions[i] for i in checked.indexes], errors, checked.schema)


def outcome(validate: Any, messages: list[records_pb2.Record], partial: bool) -> Any:
    try:
        result = validate(messages, SCHEMA, partial=partial)
    except RecordBatchError as exc:
        return ("refused", exc.errors)
    # Attribute and property order too: the log stores a record's names in this order.
    ordered = [(type(r), r, list(getattr(r, "attrs", getattr(r, "properties", {})).items())) for r in result.records]
    return ("ok", ordered, result.indexes, result.errors, result.schema)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(wire_records(), min_size=1, max_size=12), st.booleans())
def test_one_pass_equals_the_dict_path(messages: list[records_pb2.Record], partial: bool) -> None:
    assert outcome(validate_wire, messages, partial) == outcome(dict_path, messages, partial)


@settings(max_examples=100, deadline=None)
@given(st.lists(wire_records(), min_size=1, max_size=5))
def test_serialized_records_decode_the_same(messages: list[records_pb2.Record]) -> None:
    """What the shards receive is serialized: parsing again changes nothing (map order included)."""
    parsed = [records_pb2.Record.FromString(m.SerializeToString()) for m in messages]
    assert outcome(validate_wire, parsed, True) == outcome(dict_path, parsed, True)


@pytest.mark.parametrize("text", NUMBER_TEXTS)
@pytest.mark.parametrize("kind", ["decimal_value", "string_value"])
@pytest.mark.parametrize("attr", ["price", "score", "fine", "whole", "flag", "note"])  # scales 2, 3, 9, 0; bool, string
def test_number_texts_read_as_the_dict_path_reads_them(text: str, kind: str, attr: str) -> None:
    record = records_pb2.Record()
    event = record.event
    event.event_id, event.customer_id, event.ts.epoch_ms = "e-1", "c-1", BASE_MS
    event.type = "product_viewed" if attr == "price" else "visit"
    setattr(event.attrs[attr], kind, text)
    for partial in (True, False):
        assert outcome(validate_wire, [record], partial) == outcome(dict_path, [record], partial)


def test_errors_are_capped_like_validate_batch() -> None:
    bad = records_pb2.Record()  # no kind: rejected at its index
    messages = [bad] * 150
    refused = outcome(validate_wire, messages, False)
    assert refused[0] == "refused" and len(refused[1]) == 100 and refused[1][-1].index == 99
    assert outcome(validate_wire, messages, True)[3] == [RecordError(i, "", "no record kind set (one of event, "
                                                                        "profile, erasure)") for i in range(150)]


def test_common_records_take_the_one_pass_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The generated benchmark's forms are accepted without the reference (not only equal to it)."""
    from service import wire_records

    def no_reference(*args: Any) -> None:
        raise AssertionError("the reference path was taken")

    record = records_pb2.Record()
    record.event.event_id, record.event.customer_id, record.event.type = "e-1", "c-1", "order_created"
    record.event.ts.epoch_ms = BASE_MS
    record.event.attrs["amount"].decimal_value = "129.90"
    record.event.attrs["item_count"].string_value = "3.5"
    record.event.attrs["currency"].string_value = "EUR"
    record.event.attrs["product_ids"].list_value.values.extend(["p-2", "p-1"])
    profile = records_pb2.Record()
    profile.profile.customer_id = "c-1"
    profile.profile.ts.rfc3339 = "2026-11-20T10:15:00+03:00"
    profile.profile.properties["email"].string_value = "Ali@X.COM"
    profile.profile.properties["tags"].list_value.values.append("vip")
    profile.profile.properties["country"].null_value = True
    monkeypatch.setattr(wire_records, "reference_record", no_reference)
    event_record, profile_record = validate_wire([record, profile], SCHEMA).records
    assert event_record.attrs == {"amount": 12990, "item_count": 350, "currency": "EUR", "product_ids": ("p-1", "p-2")}
    assert profile_record.properties == {"email": "ali@x.com", "tags": ("vip",), "country": None}
