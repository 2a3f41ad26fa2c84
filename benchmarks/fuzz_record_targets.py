"""Fuzz targets of the record readers: a raw record (edited valid records, JSON Lines, msgpack) through
validation and the log's encoding, and IngestRequest bytes as the gRPC ingest path reads them."""

from __future__ import annotations

import json
from typing import Any

import msgpack
from google.protobuf.message import DecodeError

from benchmarks.fuzz_inputs import MAX_INPUT_BYTES, Choices, edit_tree, input_text, schema
from indexes.durable import record_codec
from indexes.log.codec import new_packer, pack_record, unpack_record
from indexes.records import RecordBatchError, validate_batch
from proto.segments.v1 import ingest_pb2
from service.wire_records import validate_wire


def seed_records() -> list[dict]:
    """Valid records of every kind: the seeds of the record targets."""
    return [
        {"event_id": "e1", "customer_id": "c1", "type": "order_created", "ts": 1_793_000_000_000,
         "attrs": {"amount": "12.50", "currency": "EUR", "product_ids": ["p1", "p2"]}},
        {"event_id": "e2", "customer_id": "c2", "type": "product_viewed", "ts": "2026-10-26T10:00:00+03:00",
         "attrs": {"category": "shoes", "price": 5.5}},
        {"customer_id": "c1", "ts": 1_793_000_000_000,
         "properties": {"email": "A@X.com", "tags": ["vip"], "country": "TR", "total_order_value": None}},
        {"forget_customer": "c3", "ts": 1_793_000_000_001},
    ]


def record_value(raw: Any) -> None:
    """One raw record (a JSON Lines line, decoded) through validation, then the log's encoding."""
    try:
        result = validate_batch([raw], schema(), partial=True)
    except RecordBatchError as exc:  # partial=True reports instead of raising
        raise AssertionError(f"partial validation raised: {exc}") from exc
    assert len(result.records) + len(result.errors) == 1
    for record in result.records:
        item = record_codec.encode(record)
        body = pack_record(new_packer(), item, 0)
        decoded = record_codec.decode(unpack_record(body))
        assert decoded == record, f"log encoding changed the record: {record!r:.200}"


RECORD_KEYS = ["event_id", "customer_id", "type", "ts", "attrs", "properties", "forget_customer", "declare",
               "amount", "currency", "product_ids", "category", "price", "email", "tags", "country", "city",
               "total_order_value", "marketing_consent", "birth_date", "property", "event", "attributes", "values",
               "scale", "string", "enum", "number", "list", "x"]


def record_shaped(data: bytes) -> None:
    """A valid record with up to four edits (field names, edge values): most inputs reach past the
    first check, many are still valid."""
    choices = Choices(data)
    raw: Any = choices.pick(seed_records())
    for _ in range(choices.byte() % 5):
        raw = edit_tree(raw, choices, RECORD_KEYS)
    record_value(raw)


def record_json(data: bytes) -> None:
    """A JSON Lines line, read as indexes/jsonl.py reads it."""
    try:
        raw = json.loads(input_text(data))
    except ValueError:  # JSONDecodeError, and Python's limit on integer digits
        return
    except RecursionError:
        return  # json's own bound on nesting: the line is reported as unreadable by the reader
    record_value(raw)


def record_msgpack(data: bytes) -> None:
    try:
        raw = msgpack.unpackb(data[:MAX_INPUT_BYTES], strict_map_key=False)
    except Exception:  # noqa: BLE001 - msgpack raises several unrelated types; not the code under test
        return
    record_value(raw)


def wire_records(data: bytes) -> None:
    """IngestRequest bytes, as the gRPC ingest path decodes and validates them."""
    try:
        request = ingest_pb2.IngestRequest.FromString(data[:MAX_INPUT_BYTES])
    except DecodeError:
        return
    result = validate_wire(list(request.records), schema(), partial=True)
    assert len(result.records) + len(result.errors) == len(request.records)
