"""Input records (RECORDS.md + docs/SEMANTICS.md "Records"): validation into typed records.

A batch is validated against a copy of the schema; declarations met on the way apply to that copy,
so later records of the same batch may use them. The caller installs the returned schema only if it
applies the batch. Errors name the record's index in the batch, the field and the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from indexes.schema import COMPUTED_PROPERTIES, LOWERCASED_PROPERTIES, Schema, SchemaError, ValueType
from indexes.values import (
    MAX_STRING_BYTES,
    MAX_TS_MS,
    MIN_TS_MS,
    check_string,
    check_string_list,
    parse_date_days,
    parse_fixed,
    parse_timestamp_ms,
)

MAX_EVENT_ID_BYTES = 128
MAX_CUSTOMER_ID_BYTES = 256
# Up to these many characters a string is within its byte limit whatever it holds (4 bytes at most
# per character in UTF-8), so only longer ones are encoded to measure them.
_SHORT_EVENT_ID = MAX_EVENT_ID_BYTES // 4
_SHORT_CUSTOMER_ID = MAX_CUSTOMER_ID_BYTES // 4
_SHORT_STRING = MAX_STRING_BYTES // 4

AttrValue = str | int | bool | tuple[str, ...]
PropValue = str | int | bool | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EventRecord:
    event_id: str
    customer_id: str
    type: str
    ts_ms: int
    attrs: dict[str, AttrValue]


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    customer_id: str
    ts_ms: int
    properties: dict[str, PropValue | None]


@dataclass(frozen=True, slots=True)
class ErasureRecord:
    customer_id: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class DeclarationRecord:
    body: dict
    ts_ms: int | None


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    """A saved-segment command as the log holds it: already validated and resolved against the
    catalog it follows (indexes/segments/commands.py), so applying it never fails. Not accepted by
    `validate_batch`: only the segment API writes these (docs/SAVED_SEGMENTS.md)."""

    body: dict
    ts_ms: int


Record = EventRecord | ProfileRecord | ErasureRecord | DeclarationRecord | SegmentRecord

# Validation builds millions of events: set their slots through the descriptors rather than the frozen
# dataclass __init__, which goes through object.__setattr__ per field (measured 0.36 against 0.66 us
# per event). Same object, same equality (the validation tests compare with the constructor).
_new_object = object.__new__
_EVENT_SETTERS = tuple(EventRecord.__dict__[name].__set__ for name in ("event_id", "customer_id", "type", "ts_ms", "attrs"))


@dataclass(frozen=True)
class RecordError:
    index: int
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"record {self.index}: {where}{self.reason}"


class RecordBatchError(ValueError):
    def __init__(self, errors: list[RecordError]) -> None:
        shown = "; ".join(str(e) for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"{len(errors)} rejected record(s): {shown}{more}")
        self.errors = errors


class _Invalid(Exception):
    def __init__(self, field_path: str, reason: str) -> None:
        self.field = field_path
        self.reason = reason


@dataclass
class BatchResult:
    records: list[Record]
    indexes: list[int]
    errors: list[RecordError] = field(default_factory=list)
    schema: Schema = field(default_factory=Schema)


_EVENT_KEYS = frozenset({"event_id", "customer_id", "type", "ts", "attrs"})
_PROFILE_KEYS = frozenset({"customer_id", "ts", "properties"})
_ERASURE_KEYS = frozenset({"forget_customer", "ts"})
_DECLARATION_KEYS = frozenset({"declare", "ts"})


def _bounded_string(value: Any, field_path: str, max_bytes: int) -> str:
    # str.isascii() reads a flag of the string object (O(1)); only other strings are encoded.
    if type(value) is str and 0 < len(value) <= max_bytes // 4 and value.isascii():  # the common case
        return value
    if not isinstance(value, str) or not value:
        raise _Invalid(field_path, f"required: a non-empty string of at most {max_bytes} bytes")
    try:
        check_string(value, max_bytes)
    except ValueError as exc:
        raise _Invalid(field_path, str(exc)) from None
    return value


def _timestamp(value: Any, field_path: str) -> int:
    if type(value) is int and MIN_TS_MS <= value <= MAX_TS_MS:  # the fast path: epoch ms
        return value
    if value is None:
        raise _Invalid(field_path, "required")
    try:
        return parse_timestamp_ms(value)
    except ValueError as exc:
        raise _Invalid(field_path, str(exc)) from None


def _unknown_keys(raw: dict, allowed: frozenset[str]) -> None:
    if raw.keys() <= allowed:  # one C-level set comparison; the loop below only names the culprit
        return
    for key in raw:
        if key not in allowed:
            raise _Invalid(str(key), "unknown field")


def _string(value: Any, value_type: ValueType) -> str:
    if type(value) is str and len(value) <= _SHORT_STRING and value.isascii():
        return value
    return check_string(value)


def _number(value: Any, value_type: ValueType) -> int:
    return parse_fixed(value, value_type.scale)


def _enum(value: Any, value_type: ValueType) -> str:
    check_string(value)
    if value not in value_type.enum_values:
        raise ValueError(f"must be one of {', '.join(value_type.enum_values)}")
    return value  # type: ignore[no-any-return]


def _bool(value: Any, value_type: ValueType) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _timestamp_value(value: Any, value_type: ValueType) -> int:
    return parse_timestamp_ms(value)


def _date(value: Any, value_type: ValueType) -> int:
    return parse_date_days(value)


def _string_list(value: Any, value_type: ValueType) -> tuple[str, ...]:
    return check_string_list(value)


# One converter per value kind: a dict lookup instead of a chain of comparisons per value. Each
# raises ValueError with the reason; the caller adds the field path (built only on that path).
_CONVERTERS: dict[str, Callable[[Any, ValueType], AttrValue]] = {
    "string": _string,
    "number": _number,
    "enum": _enum,
    "bool": _bool,
    "timestamp": _timestamp_value,
    "date": _date,
    "set": _string_list,
    "list": _string_list,
}


def convert_value(value: Any, value_type: ValueType, field_path: str) -> AttrValue:
    """A JSON value -> storage form for its declared type (see module docstring of records)."""
    converter = _CONVERTERS.get(value_type.kind)
    if converter is None:
        raise _Invalid(field_path, f"unsupported type {value_type.kind}")
    try:
        return converter(value, value_type)
    except ValueError as exc:
        raise _Invalid(field_path, str(exc)) from None


def _event(raw: dict, schema: Schema) -> EventRecord:
    # The common case of each check is decided inline (a type test and a length bound); anything
    # else goes to the full check, which raises with the reason. Validation runs once per ingested
    # event, so its Python steps are counted: ~0.3 us per event saved this way (measured).
    if not raw.keys() <= _EVENT_KEYS:
        _unknown_keys(raw, _EVENT_KEYS)
    event_id = raw.get("event_id")
    if type(event_id) is not str or not 0 < len(event_id) <= _SHORT_EVENT_ID or not event_id.isascii():
        event_id = _bounded_string(event_id, "event_id", MAX_EVENT_ID_BYTES)
    customer_id = raw.get("customer_id")
    if type(customer_id) is not str or not 0 < len(customer_id) <= _SHORT_CUSTOMER_ID or not customer_id.isascii():
        customer_id = _bounded_string(customer_id, "customer_id", MAX_CUSTOMER_ID_BYTES)
    event_type = raw.get("type")
    if not isinstance(event_type, str):
        raise _Invalid("type", "required: a declared event type")
    declared = schema.events.get(event_type)
    if declared is None:
        raise _Invalid("type", f"unknown event type {event_type!r}")
    ts_ms = raw.get("ts")
    if type(ts_ms) is not int or not MIN_TS_MS <= ts_ms <= MAX_TS_MS:
        ts_ms = _timestamp(ts_ms, "ts")
    raw_attrs = raw.get("attrs")
    attrs: dict[str, AttrValue] = {}
    if raw_attrs is not None:
        if not isinstance(raw_attrs, dict):
            raise _Invalid("attrs", "must be an object")
        converters = _CONVERTERS
        for name, value in raw_attrs.items():
            value_type = declared.get(name)
            if value_type is None:
                raise _Invalid(f"attrs.{name}", f"not an attribute of {event_type}")
            kind = value_type.kind
            if kind == "string" and type(value) is str and len(value) <= _SHORT_STRING and value.isascii():
                attrs[name] = value
                continue
            if value is None:
                continue  # an absent attribute, written explicitly
            converter = converters.get(kind)
            if converter is None:
                raise _Invalid(f"attrs.{name}", f"unsupported type {kind}")
            try:
                attrs[name] = converter(value, value_type)
            except ValueError as exc:
                raise _Invalid(f"attrs.{name}", str(exc)) from None
    set_id, set_customer, set_type, set_ts, set_attrs = _EVENT_SETTERS
    record = _new_object(EventRecord)
    set_id(record, event_id)
    set_customer(record, customer_id)
    set_type(record, event_type)
    set_ts(record, ts_ms)
    set_attrs(record, attrs)
    return record  # type: ignore[no-any-return]


def _profile(raw: dict, schema: Schema) -> ProfileRecord:
    _unknown_keys(raw, _PROFILE_KEYS)
    customer_id = _bounded_string(raw.get("customer_id"), "customer_id", MAX_CUSTOMER_ID_BYTES)
    ts_ms = _timestamp(raw.get("ts"), "ts")
    raw_properties = raw.get("properties")
    if not isinstance(raw_properties, dict):
        raise _Invalid("properties", "must be an object")
    properties: dict[str, PropValue | None] = {}
    for name, value in raw_properties.items():
        path = f"properties.{name}"
        if name in COMPUTED_PROPERTIES:
            raise _Invalid(path, "a computed property cannot be written")
        value_type = schema.properties.get(name)
        if value_type is None:
            raise _Invalid(path, "unknown property")
        if value is None:
            properties[name] = None
            continue
        converted = convert_value(value, value_type, path)
        if name in LOWERCASED_PROPERTIES and isinstance(converted, str):
            converted = converted.lower()
        properties[name] = converted
    return ProfileRecord(customer_id, ts_ms, properties)


def _erasure(raw: dict) -> ErasureRecord:
    _unknown_keys(raw, _ERASURE_KEYS)
    customer_id = _bounded_string(raw.get("forget_customer"), "forget_customer", MAX_CUSTOMER_ID_BYTES)
    return ErasureRecord(customer_id, _timestamp(raw.get("ts"), "ts"))


def _declaration(raw: dict, schema: Schema) -> DeclarationRecord:
    _unknown_keys(raw, _DECLARATION_KEYS)
    ts_ms = _timestamp(raw["ts"], "ts") if raw.get("ts") is not None else None
    try:
        schema.apply_declaration(raw.get("declare"))
    except SchemaError as exc:
        raise _Invalid(exc.field, exc.reason) from None
    return DeclarationRecord(dict(raw["declare"]), ts_ms)


def _validate(raw: Any, schema: Schema) -> Record:
    if not isinstance(raw, dict):
        raise _Invalid("", "a record must be a JSON object")
    if "event_id" in raw or "type" in raw:
        return _event(raw, schema)
    if "properties" in raw:
        return _profile(raw, schema)
    if "forget_customer" in raw:
        return _erasure(raw)
    if "declare" in raw:
        return _declaration(raw, schema)
    raise _Invalid("", "not an event (event_id), profile (properties), erasure (forget_customer) or declaration")


def validate_record(raw: Any, schema: Schema, index: int = 0) -> Record:
    """One record; declarations apply to `schema` itself. Raises RecordBatchError([error])."""
    try:
        return _validate(raw, schema)
    except _Invalid as exc:
        raise RecordBatchError([RecordError(index, exc.field, exc.reason)]) from None


def validate_batch(
    raws: Sequence[Any], schema: Schema, *, partial: bool = False, max_errors: int = 100
) -> BatchResult:
    """Validate in order against a copy of `schema`.

    Without `partial`, any error raises RecordBatchError with the errors found (up to max_errors).
    With `partial`, invalid records are dropped and reported, valid ones returned.
    """
    working = schema.copy()
    records: list[Record] = []
    indexes: list[int] = []
    errors: list[RecordError] = []
    for index, raw in enumerate(raws):
        try:
            records.append(_validate(raw, working))
            indexes.append(index)
        except _Invalid as exc:
            errors.append(RecordError(index, exc.field, exc.reason))
            if len(errors) >= max_errors and not partial:
                break
    if errors and not partial:
        raise RecordBatchError(errors)
    return BatchResult(records, indexes, errors, working)
