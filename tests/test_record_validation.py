"""Record validation: every rule of RECORDS.md / SEMANTICS.md, with the index and field named."""

from __future__ import annotations

import datetime as dt

import pytest

from indexes.engine import Engine
from indexes.records import EventRecord, ProfileRecord, RecordBatchError, validate_batch
from indexes.schema import Schema

GOOD_EVENT = {"event_id": "e-1", "customer_id": "c-1", "type": "order_created", "ts": "2026-11-20T10:15:00+03:00",
              "attrs": {"order_id": "o-9", "amount": 129.90, "product_ids": ["p-7", "p-1", "p-7"]}}


def _with(**changes: object) -> dict:
    record = {**GOOD_EVENT, **changes}
    return {k: v for k, v in record.items() if v is not ...}


BAD = [
    (_with(event_id=...), "event_id"),
    (_with(event_id="x" * 129), "event_id"),
    (_with(event_id=""), "event_id"),
    (_with(customer_id="é" * 129), "customer_id"),
    (_with(type="order_made"), "type"),
    (_with(ts=...), "ts"),
    (_with(ts="2026-11-20 10:15:00+03:00"), "ts"),
    (_with(ts="2026-11-20T10:15:00"), "ts"),
    (_with(ts="2026-13-20T10:15:00Z"), "ts"),
    (_with(ts=1.5e12), "ts"),
    (_with(ts=True), "ts"),
    (_with(attrs={"colour": "red"}), "attrs.colour"),
    (_with(attrs={"amount": 1.234}), "attrs.amount"),
    (_with(attrs={"amount": "NaN"}), "attrs.amount"),
    (_with(attrs={"amount": float("inf")}), "attrs.amount"),
    (_with(attrs={"amount": True}), "attrs.amount"),
    (_with(attrs={"order_id": "x" * 1025}), "attrs.order_id"),
    (_with(attrs={"product_ids": ["p"] * 1001}), "attrs.product_ids"),
    (_with(attrs={"product_ids": "p-1"}), "attrs.product_ids"),
    (_with(attrs=[1]), "attrs"),
    (_with(extra=1), "extra"),
    ({"customer_id": "c", "ts": 0, "properties": {"marketing_consent": "yes"}}, "properties.marketing_consent"),
    ({"customer_id": "c", "ts": 0, "properties": {"order_count": 3}}, "properties.order_count"),
    ({"customer_id": "c", "ts": 0, "properties": {"favourite": "x"}}, "properties.favourite"),
    ({"customer_id": "c", "ts": 0, "properties": {"birth_date": "1990-02-30"}}, "properties.birth_date"),
    ({"customer_id": "c", "properties": {"country": "TR"}}, "ts"),
    ({"forget_customer": "", "ts": 0}, "forget_customer"),
    ({"declare": {"property": "and", "type": "string"}}, "declare.property"),
    ({"declare": {"property": "email", "type": "number"}}, "declare.type"),
    ([1, 2], ""),
    ({"hello": 1}, ""),
]


@pytest.mark.parametrize(("record", "field"), BAD)
def test_bad_record_is_reported_with_index_and_field(record: object, field: str) -> None:
    batch = [GOOD_EVENT, record]
    with pytest.raises(RecordBatchError) as caught:
        validate_batch(batch, Schema())
    [error] = caught.value.errors
    assert (error.index, error.field) == (1, field)
    assert error.reason


def test_good_records_are_normalised() -> None:
    result = validate_batch([
        GOOD_EVENT,
        {"customer_id": "c-1", "ts": 5, "properties": {"email": "Ali@METU.edu.com.tr", "tags": ["b", "a", "b"],
                                                       "total_order_value": "10.5", "b2b_status": None}},
    ], Schema())
    event, profile = result.records
    assert isinstance(event, EventRecord) and isinstance(profile, ProfileRecord)
    assert event.ts_ms == int(dt.datetime(2026, 11, 20, 7, 15, tzinfo=dt.UTC).timestamp() * 1000)
    assert event.attrs == {"order_id": "o-9", "amount": 12990, "product_ids": ("p-1", "p-7")}
    assert profile.properties == {"email": "ali@metu.edu.com.tr", "tags": ("a", "b"), "total_order_value": 1050,
                                  "b2b_status": None}


def test_a_rejected_batch_changes_nothing_and_partial_keeps_the_good() -> None:
    engine = Engine()
    batch = [GOOD_EVENT, _with(event_id="e-2", attrs={"amount": "1.001"}), _with(event_id="e-3", customer_id="c-3")]
    with pytest.raises(RecordBatchError):
        engine.ingest(batch)
    assert engine.customer_count() == 0
    result = engine.ingest(batch, partial=True)
    assert result.accepted == 2 and [e.index for e in result.errors] == [1]
    assert engine.customer_count() == 2


def test_declarations_apply_to_later_records_of_the_same_batch() -> None:
    engine = Engine()
    engine.ingest([
        {"declare": {"property": "loyalty_tier", "type": "enum", "values": ["gold", "silver"]}},
        {"declare": {"event": "coupon_redeemed", "attributes": {"code": "string", "value": {"type": "number", "scale": 0}}}},
        {"customer_id": "c-1", "ts": 0, "properties": {"loyalty_tier": "gold"}},
        {"event_id": "x", "customer_id": "c-2", "type": "coupon_redeemed", "ts": 0, "attrs": {"code": "A", "value": 5}},
    ])
    assert engine.count('loyalty_tier = "gold"', 1) == 1
    assert engine.count('sum(coupon_redeemed.value where code = "A") >= 5', 1) == 1
    with pytest.raises(RecordBatchError):  # 0.5 does not fit scale 0
        engine.ingest([{"event_id": "y", "customer_id": "c", "type": "coupon_redeemed", "ts": 0, "attrs": {"value": 0.5}}])


def test_duplicates_are_acknowledged_and_ignored() -> None:
    engine = Engine()
    engine.ingest([GOOD_EVENT])
    result = engine.ingest([_with(attrs={"amount": 5000})])
    assert result.duplicates == 1
    assert engine.count("sum(order_created.amount) = 129.90", 2_000_000_000_000) == 1
