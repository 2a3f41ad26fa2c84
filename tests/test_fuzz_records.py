"""Fuzzing record validation (issue 10): any dict, msgpack bytes or IngestRequest bytes is accepted or
rejected with a RecordError naming the field - never another exception - and an accepted record is one
the log can encode and decode back unchanged. Regression cases for the fuzzers' findings at the bottom."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.fuzz_targets import record_msgpack, record_value, time_bound, wire_records
from indexes.records import validate_batch
from indexes.schema import Schema
from proto.segments.v1 import ingest_pb2
from tests.fuzzing import fuzz_settings
from tests.test_wire_records import ATTR_NAMES, PROPERTY_NAMES
from tests.test_wire_records import wire_records as wire_record_messages

pytestmark = pytest.mark.timeout(120)
PER_INPUT_S = 5.0
FUZZ = fuzz_settings(150)
SURROGATES = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3)
TEXT = st.one_of(st.text(max_size=12), SURROGATES, st.text(min_size=250, max_size=1100, alphabet="aé€😀"),
                 st.sampled_from(["2026-11-20T10:15:00Z", "12.50", "1e400", "NaN", "-0", "gold", "order_created"]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**40), max_value=10**40),
                    st.floats(), TEXT)
JSON = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=5) | st.dictionaries(TEXT, kids, max_size=3),
                    max_leaves=20)
RECORD_KEYS = ["event_id", "customer_id", "type", "ts", "attrs", "properties", "forget_customer", "declare", "x"]


@st.composite
def raw_records(draw: st.DrawFn) -> Any:
    record: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(RECORD_KEYS), max_size=6, unique=True)):
        if key == "attrs":
            record[key] = draw(st.dictionaries(st.sampled_from(ATTR_NAMES) | TEXT, JSON, max_size=4) | JSON)
        elif key == "properties":
            record[key] = draw(st.dictionaries(st.sampled_from(PROPERTY_NAMES) | TEXT, JSON, max_size=4) | JSON)
        elif key == "type":
            record[key] = draw(st.sampled_from(["order_created", "product_viewed", "page_viewed"]) | JSON)
        elif key == "declare":
            record[key] = draw(st.dictionaries(st.sampled_from(["property", "event", "type", "values", "attributes",
                                                                "scale"]), JSON, max_size=4) | JSON)
        else:
            record[key] = draw(st.sampled_from(["c-1", "e-1", 1_793_000_000_000]) | JSON)
    return record if draw(st.integers(0, 9)) else draw(JSON)


@FUZZ
@given(raw_records())
def test_any_dict_is_a_record_or_a_record_error(raw: Any) -> None:
    with time_bound(PER_INPUT_S):
        record_value(raw)


@FUZZ
@given(st.binary(max_size=300))
def test_any_msgpack_bytes_are_a_record_or_a_record_error(data: bytes) -> None:
    with time_bound(PER_INPUT_S):
        record_msgpack(data)


@FUZZ
@given(st.lists(wire_record_messages(), min_size=1, max_size=4), st.lists(st.tuples(st.integers(0), st.integers(0, 255)),
                                                                         max_size=3))
def test_ingest_request_bytes_damaged_or_not_decode_and_validate(messages: list, edits: list[tuple[int, int]]) -> None:
    data = bytearray(ingest_pb2.IngestRequest(records=messages).SerializeToString())
    for position, byte in edits:
        if data:
            data[position % len(data)] = byte
    with time_bound(PER_INPUT_S):
        wire_records(bytes(data))


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_as_an_ingest_request(data: bytes) -> None:
    with time_bound(PER_INPUT_S):
        wire_records(data)


# --- regressions ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "field"), [
    ({"event_id": "e\ud800", "customer_id": "c", "type": "order_created", "ts": 1}, "event_id"),
    ({"event_id": "e1", "customer_id": "\udfff", "type": "order_created", "ts": 1}, "customer_id"),
    ({"event_id": "e1", "customer_id": "c", "type": "order_created", "ts": 1, "attrs": {"currency": "\ud800"}},
     "attrs.currency"),
    ({"customer_id": "c1", "ts": 1, "properties": {"email": "a\udc00"}}, "properties.email"),
    ({"customer_id": "c1", "ts": 1, "properties": {"tags": ["ok", "\udc00"]}}, "properties.tags"),
    ({"forget_customer": "\ud800", "ts": 1}, "forget_customer"),
    ({"declare": {"property": "tier2", "type": "enum", "values": ["gold", "\ud800"]}}, "declare.values"),
])
def test_lone_surrogates_are_record_errors_not_log_failures(raw: dict, field: str) -> None:
    """Found by the fuzzer: JSON's "\\ud800" passed validation, then msgpack refused the whole batch."""
    result = validate_batch([raw], Schema(), partial=True)
    assert [(e.field, "lone surrogate" in e.reason) for e in result.errors] == [(field, True)]


def test_records_at_their_size_limits() -> None:
    limits = [({"event_id": "e" * 129, "customer_id": "c", "type": "order_created", "ts": 1}, "event_id"),
              ({"event_id": "e", "customer_id": "é" * 129, "type": "order_created", "ts": 1}, "customer_id"),
              ({"customer_id": "c", "ts": 1, "properties": {"email": "x" * 1025}}, "properties.email"),
              ({"customer_id": "c", "ts": 1, "properties": {"tags": ["t"] * 1001}}, "properties.tags")]
    for raw, field in limits:
        [error] = validate_batch([raw], Schema(), partial=True).errors
        assert error.field == field
    packed = msgpack.packb({"customer_id": "c", "ts": 1, "properties": {"email": "x" * 1024}})
    record_msgpack(packed)  # at the limit: accepted and encodable
