"""service/convert_*: RECORDS.md dicts -> protobuf (client) -> dicts (server) keep their meaning."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexes.records import RecordBatchError, validate_batch
from indexes.schema import Schema
from indexes.values import parse_decimal, parse_fixed
from proto.segments.v1 import query_pb2, records_pb2, schema_pb2
from service.client import rule_pb
from service.convert_records import record_from_pb, record_to_pb, records_from_pb, records_to_pb
from service.convert_rules import rule_from_pb
from service.convert_schema import declaration_from_body, declaration_to_body, request_path
from service.convert_values import ConversionError, value_from_pb, value_to_pb
from service.errors import InvalidArgument
from tests.strategies_records import record_batches

INT64 = st.integers(-(2**63), 2**63 - 1)
STRINGS = st.text(max_size=20)
JSON_SCALARS = st.one_of(
    STRINGS, INT64, st.floats(allow_nan=False), st.booleans(), st.none(), st.lists(STRINGS, max_size=5)
)


def round_trip_value(python: Any) -> Any:
    message = records_pb2.Value()
    value_to_pb(python, message, "x")
    return value_from_pb(records_pb2.Value.FromString(message.SerializeToString()), "x")


@given(JSON_SCALARS)
def test_json_values_round_trip_unchanged(python: Any) -> None:
    back = round_trip_value(python)
    assert back == python and type(back) is type(python)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4))
def test_decimals_travel_as_text_and_stay_exact(number: Decimal) -> None:
    back = round_trip_value(number)
    assert isinstance(back, str) and parse_decimal(back) == number


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_doubles_reach_the_validator_as_floats_read_through_repr(number: float) -> None:
    back = round_trip_value(number)
    assert back == number and parse_decimal(back) == Decimal(repr(number))


def test_number_text_is_exact_where_a_float_is_not() -> None:
    assert parse_fixed(round_trip_value(Decimal("129.90")), 2) == 12990
    assert parse_fixed(round_trip_value("0.30"), 2) == 30  # a string value stays a string
    huge = 10**30  # beyond int64: sent as decimal text, refused later by the scale's range
    assert round_trip_value(huge) == str(huge)


def test_null_and_empty_values() -> None:
    assert round_trip_value(None) is None
    assert round_trip_value([]) == []
    with pytest.raises(ConversionError, match="no value set"):
        value_from_pb(records_pb2.Value(), "attrs.amount")
    with pytest.raises(ConversionError, match="null_value must be true"):
        value_from_pb(records_pb2.Value(null_value=False), "properties.tags")
    with pytest.raises(ConversionError, match="decimal_value"):
        value_from_pb(records_pb2.Value(decimal_value="12,5"), "attrs.amount")
    with pytest.raises(ConversionError, match="item 1: must be a string"):
        value_to_pb(["a", 2], records_pb2.Value(), "tags")
    with pytest.raises(ConversionError, match="not a record value"):
        value_to_pb({"nested": 1}, records_pb2.Value(), "attrs.x")
    assert math.isnan(round_trip_value(float("nan")))  # sent as is; the validator rejects it


def _normalized(raw: dict[str, Any]) -> dict[str, Any]:
    """What the server hands the validator for a client dict: every field present."""
    if "forget_customer" in raw:
        return {"forget_customer": raw["forget_customer"], "ts": raw.get("ts")}
    if "properties" in raw:
        return {"customer_id": raw["customer_id"], "ts": raw.get("ts"), "properties": raw["properties"]}
    return {**raw, "attrs": raw.get("attrs", {}), "ts": raw.get("ts")}


@settings(max_examples=60, deadline=None)
@given(record_batches(min_records=1, max_records=30))
def test_records_round_trip_and_validate_the_same(batches: list[list[dict]]) -> None:
    raws = [record for batch in batches for record in batch]
    messages = [records_pb2.Record.FromString(m.SerializeToString()) for m in records_to_pb(raws)]
    decoded = records_from_pb(messages)
    assert not decoded.errors and decoded.positions == list(range(len(raws)))
    assert decoded.raws == [_normalized(r) for r in raws]
    direct = validate_batch(raws, Schema(), partial=True)
    through_grpc = validate_batch(decoded.raws, Schema(), partial=True)
    assert through_grpc.records == direct.records and through_grpc.errors == direct.errors


def test_undecodable_records_are_named_by_index_and_field() -> None:
    event = records_pb2.Record(event=records_pb2.Event(event_id="e", customer_id="c", type="order_created",
                                                       ts=records_pb2.Timestamp(epoch_ms=1)))
    event.event.attrs["amount"].CopyFrom(records_pb2.Value())
    decoded = records_from_pb([record_to_pb({"forget_customer": "c", "ts": 1}), records_pb2.Record(), event])
    assert decoded.positions == [0]
    assert [(e.index, e.field) for e in decoded.errors] == [(1, ""), (2, "attrs.amount")]


def test_client_refuses_what_protobuf_cannot_carry() -> None:
    with pytest.raises(RecordBatchError) as caught:
        records_to_pb([
            {"event_id": "e", "customer_id": "c", "type": "t", "ts": 1, "bogus": 1},
            {"declare": {"property": "x", "type": "string"}},
            {"customer_id": "c", "ts": True, "properties": {}},
            "not a dict",
        ])
    assert [(e.index, e.field) for e in caught.value.errors] == [(0, "bogus"), (1, "declare"), (2, "ts"), (3, "")]


def test_missing_ts_reaches_the_validator_as_required() -> None:
    raw = record_from_pb(record_to_pb({"event_id": "e", "customer_id": "c", "type": "order_created"}))
    with pytest.raises(RecordBatchError) as caught:
        validate_batch([raw], Schema())
    assert caught.value.errors[0].field == "ts"


# --- rules ---------------------------------------------------------------------------------------------
def test_rule_forms() -> None:
    assert rule_from_pb(rule_pb("order_count >= 5")).value == "order_count >= 5"
    as_dict = {"property": "country", "op": "eq", "value": "TR"}
    decoded = rule_from_pb(rule_pb(as_dict))
    assert decoded.value == as_dict and decoded.form == "json"
    assert rule_from_pb(rule_pb(' {"property": "country", "op": "exists"}')).form == "json"
    assert rule_from_pb(rule_pb(as_dict)).digest == decoded.digest != rule_from_pb(rule_pb("order_count >= 5")).digest


@pytest.mark.parametrize(("rule", "field"), [
    (query_pb2.Rule(), "rule"),
    (query_pb2.Rule(text="  "), "rule.text"),
    (query_pb2.Rule(json="{not json"), "rule.json"),
    (query_pb2.Rule(json="[1, 2]"), "rule.json"),
])
def test_unusable_rules_name_the_field(rule: query_pb2.Rule, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        rule_from_pb(rule)
    assert caught.value.violations[0][0] == field


# --- declarations ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [
    {"property": "tier", "type": "enum", "values": ["gold", "silver"]},
    {"property": "score", "type": "number", "scale": 0},
    {"property": "nickname", "type": "string"},
    {"event": "ticket_opened", "attributes": {"priority": {"type": "number", "scale": 0}, "labels": {"type": "list"}}},
    {"event": "ping", "attributes": {}},
])
def test_declarations_round_trip(body: dict[str, Any]) -> None:
    message = schema_pb2.Declaration.FromString(declaration_from_body(body).SerializeToString())
    assert declaration_to_body(message) == body
    Schema().apply_declaration(declaration_to_body(message))  # and the schema takes it


def test_declaration_errors_become_request_paths() -> None:
    assert request_path(2, "declare") == "declarations[2]"
    assert request_path(0, "declare.property") == "declarations[0].property.name"
    assert request_path(0, "declare.type") == "declarations[0].property.type.type"
    assert request_path(1, "declare.values") == "declarations[1].property.type.values"
    assert request_path(1, "declare.event") == "declarations[1].event.name"
    assert request_path(3, "declare.attributes.size.type") == "declarations[3].event.attributes.size.type"
