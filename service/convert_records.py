"""segments.v1.Record <-> RECORDS.md record dicts (event, profile, erasure).

The server decodes every record into the dict a JSON Lines line would give and leaves validation to
the backend (one validator for files, the CLI and gRPC). Only what JSON cannot express is caught
here (a Value or a Record with nothing set); such records are reported like invalid ones, with
their index and field. Field names are those of RECORDS.md, which the messages share.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from indexes.records import RecordBatchError, RecordError
from proto.segments.v1 import records_pb2
from service.convert_values import (
    ConversionError,
    timestamp_from_pb,
    timestamp_to_pb,
    value_to_pb,
    values_from_pb,
)


@dataclass
class DecodedBatch:
    raws: list[dict[str, Any]]  # the decodable records, in request order
    positions: list[int]  # positions[i] = index in the request of raws[i]
    errors: list[RecordError] = field(default_factory=list)  # undecodable records, by request index


def record_from_pb(record: records_pb2.Record) -> dict[str, Any]:
    kind = record.WhichOneof("kind")
    if kind == "event":
        event = record.event
        return {
            "event_id": event.event_id,
            "customer_id": event.customer_id,
            "type": event.type,
            "ts": timestamp_from_pb(event),
            "attrs": values_from_pb(event.attrs, "attrs"),
        }
    if kind == "profile":
        profile = record.profile
        return {
            "customer_id": profile.customer_id,
            "ts": timestamp_from_pb(profile),
            "properties": values_from_pb(profile.properties, "properties"),
        }
    if kind == "erasure":
        return {"forget_customer": record.erasure.forget_customer, "ts": timestamp_from_pb(record.erasure)}
    assert kind is None, kind
    raise ConversionError("", "no record kind set (one of event, profile, erasure)")


def records_from_pb(records: Sequence[records_pb2.Record]) -> DecodedBatch:
    batch = DecodedBatch([], [])
    for index, record in enumerate(records):
        try:
            batch.raws.append(record_from_pb(record))
        except ConversionError as exc:
            batch.errors.append(RecordError(index, exc.field, exc.reason))
            continue
        batch.positions.append(index)
    return batch


def records_from_wire(items: Sequence[bytes]) -> DecodedBatch:
    """Serialized Records (WireBatch.record) -> dicts; positions and errors by index in `items`."""
    parse = records_pb2.Record.FromString
    return records_from_pb([parse(item) for item in items])


# --- client ----------------------------------------------------------------------------------------
_EVENT_KEYS = ("event_id", "customer_id", "type", "ts", "attrs")
_PROFILE_KEYS = ("customer_id", "ts", "properties")
_ERASURE_KEYS = ("forget_customer", "ts")


def _only(raw: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in raw:
        if key not in allowed:
            raise ConversionError(str(key), "unknown field")


def _string(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str):
        raise ConversionError(key, "must be a string")
    return value


def _values(raw: dict[str, Any], key: str, out: Any) -> None:
    values = raw.get(key)
    if values is None:
        return
    if not isinstance(values, dict):
        raise ConversionError(key, "must be an object")
    for name, value in values.items():
        if not isinstance(name, str):
            raise ConversionError(key, "keys must be strings")
        value_to_pb(value, out[name], f"{key}.{name}")


def _ts(raw: dict[str, Any], out: Any) -> None:
    if raw.get("ts") is not None:
        timestamp_to_pb(raw["ts"], out.ts)


def record_to_pb(raw: Any) -> records_pb2.Record:
    """One RECORDS.md dict -> Record; ConversionError (field, reason) for what cannot be sent.

    The kind is told as the validator tells it. Declarations are not records over gRPC: they go
    through SchemaService.Declare (records.proto)."""
    if not isinstance(raw, dict):
        raise ConversionError("", "a record must be an object (dict)")
    record = records_pb2.Record()
    if "event_id" in raw or "type" in raw:
        _only(raw, _EVENT_KEYS)
        event = record.event
        event.event_id, event.customer_id, event.type = (_string(raw, k) for k in ("event_id", "customer_id", "type"))
        _ts(raw, event)
        _values(raw, "attrs", event.attrs)
        record.event.SetInParent()
    elif "properties" in raw:
        _only(raw, _PROFILE_KEYS)
        profile = record.profile
        profile.customer_id = _string(raw, "customer_id")
        _ts(raw, profile)
        _values(raw, "properties", profile.properties)
        profile.SetInParent()
    elif "forget_customer" in raw:
        _only(raw, _ERASURE_KEYS)
        record.erasure.forget_customer = _string(raw, "forget_customer")
        _ts(raw, record.erasure)
        record.erasure.SetInParent()
    elif "declare" in raw:
        raise ConversionError("declare", "declarations go through SchemaService.Declare (client.declare)")
    else:
        raise ConversionError("", "not an event (event_id), profile (properties) or erasure (forget_customer)")
    return record


def records_to_pb(raws: Iterable[Any]) -> list[records_pb2.Record]:
    """Every record converted, or RecordBatchError naming each one that cannot be (index, field)."""
    out: list[records_pb2.Record] = []
    errors: list[RecordError] = []
    for index, raw in enumerate(raws):
        try:
            out.append(record_to_pb(raw))
        except ConversionError as exc:
            errors.append(RecordError(index, exc.field, exc.reason))
    if errors:
        raise RecordBatchError(errors)
    return out
