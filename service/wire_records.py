"""segments.v1.Record messages -> validated records in one pass, without the intermediate dict.

The reference is the dict path: `record_from_pb` (service/convert_records.py) gives the dict a JSON
Lines line would, and the validator (indexes/records.py) turns it into a storage-form record or names
the field at fault. That costs two passes and a dict per record (~5 us + ~3 us at the shard, measured
with benchmarks/shard_ingest_profile.py). Here the common case of every check is read straight off
the message - a Value's oneof already says what it holds - and values go through the validator's own
converters (`_CONVERTERS`), so they are stored exactly as the dict path stores them.

Anything this pass does not accept at once (any error, and a few valid but rare forms such as strings
of more than 256 characters, decimal text with an exponent, RFC 3339 with a bad offset) sends that one
record to the reference path, which either accepts it or says why not. So every error (index, field,
reason) is the reference's by construction, and tests/test_wire_records.py checks with hypothesis that
accepted records are identical too, for valid and invalid input.

Wire records are never declarations (those go through SchemaService.Declare), so the schema is the
same for every record of a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from indexes.records import (
    _CONVERTERS,  # the validator's converters: one conversion of each value kind, shared
    MAX_CUSTOMER_ID_BYTES,
    MAX_EVENT_ID_BYTES,
    BatchResult,
    ErasureRecord,
    EventRecord,
    ProfileRecord,
    Record,
    RecordBatchError,
    RecordError,
    validate_record,
)
from indexes.schema import COMPUTED_PROPERTIES, LOWERCASED_PROPERTIES, Schema, ValueType
from indexes.values import MAX_STRING_BYTES, MAX_TS_MS, MIN_TS_MS, parse_timestamp_ms
from service.convert_records import record_from_pb
from service.convert_values import ConversionError

# Up to these many characters a string is within its byte limit whatever it holds (UTF-8: at most 4
# bytes a character); longer ones are measured by the reference path.
_SHORT_EVENT_ID = MAX_EVENT_ID_BYTES // 4
_SHORT_CUSTOMER_ID = MAX_CUSTOMER_ID_BYTES // 4
_SHORT_STRING = MAX_STRING_BYTES // 4
_ZEROS = ["0" * n for n in range(10)]  # scales are 0..9 (indexes/schema.py MAX_SCALE)
_MAX_SCALED_DIGITS = 18
_PLAIN_KINDS = frozenset({"string_value", "int_value", "double_value", "bool_value"})
_new_object = object.__new__
# Events are built through their slot descriptors, as indexes/records.py builds them (same object).
_set_id, _set_customer, _set_type, _set_ts, _set_attrs = (
    EventRecord.__dict__[name].__set__ for name in ("event_id", "customer_id", "type", "ts_ms", "attrs"))


class _Refer(Exception):
    """This record is for the reference path (an error, or a form only it checks)."""


def validate_wire(messages: Sequence[Any], schema: Schema, *, partial: bool = False, max_errors: int = 100) -> BatchResult:
    """`validate_batch` of the dicts `record_from_pb` would give for `messages` (segments.v1.Record),
    with a record that cannot be decoded rejected at its index like an invalid one."""
    reader = _Reader(schema)
    event_of = reader.event
    records: list[Record] = []
    indexes: list[int] = []
    errors: list[RecordError] = []
    for index, message in enumerate(messages):
        try:
            # A non-empty event id can only be read from a record whose kind is event (an unset
            # sub-message reads as empty): the common case costs no WhichOneof.
            event = message.event
            event_id = event.event_id
            record = event_of(event, event_id) if event_id else reader.other(message)
        except _Refer:
            outcome = reference_record(message, schema, index)
            if type(outcome) is RecordError:
                errors.append(outcome)
                if len(errors) >= max_errors and not partial:
                    break
                continue
            record = outcome  # type: ignore[assignment]
        records.append(record)
        indexes.append(index)
    if errors and not partial:
        raise RecordBatchError(errors)
    return BatchResult(records, indexes, errors, schema.copy())


def reference_record(message: Any, schema: Schema, index: int) -> Record | RecordError:
    """The dict path for one message: its record, or the error that names it."""
    try:
        raw = record_from_pb(message)
    except ConversionError as exc:
        return RecordError(index, exc.field, exc.reason)
    try:
        return validate_record(raw, schema, index)
    except RecordBatchError as exc:
        return exc.errors[0]


def _customer(customer_id: str) -> str:
    if 0 < len(customer_id) <= _SHORT_CUSTOMER_ID:
        return customer_id
    raise _Refer


def _ts(ts: Any) -> int:
    ms = ts.epoch_ms  # non-zero only when epoch_ms is the kind set
    if ms and MIN_TS_MS <= ms <= MAX_TS_MS:
        return ms  # type: ignore[no-any-return]
    kind = ts.WhichOneof("kind")
    if kind == "rfc3339":
        try:
            return parse_timestamp_ms(ts.rfc3339)
        except ValueError:
            raise _Refer from None
    if kind == "epoch_ms" and MIN_TS_MS <= ms <= MAX_TS_MS:
        return ms  # type: ignore[no-any-return]
    raise _Refer  # unset (required), or out of range


def _python_value(value: Any) -> Any:
    """What `value_from_pb` gives for a Value whose string_value is not the non-empty kind set."""
    kind = value.WhichOneof("kind")
    if kind in _PLAIN_KINDS:
        return getattr(value, kind)
    if kind == "decimal_value":
        text = value.decimal_value
        # Only plain decimals here: the dict path checks other text with parse_decimal first.
        if text and _plain_decimal(text):
            return text
        raise _Refer
    if kind == "list_value":
        return list(value.list_value.values)
    if kind == "null_value" and value.null_value:
        return None
    raise _Refer  # nothing set, or null_value false


def _plain_decimal(text: str) -> bool:
    """[+-]?[0-9]+(.[0-9]*)? - a form parse_decimal accepts (and parse_fixed reads without Decimal)."""
    body = text[1:] if text[0] in "+-" else text
    whole, _, fraction = body.partition(".")
    return bool(whole) and whole.isascii() and whole.isdigit() and (not fraction or (fraction.isascii() and fraction.isdigit()))


def _convert(value: Any, value_type: ValueType) -> Any:
    if type(value) is str and value_type.kind == "number":
        # Plain unsigned decimal text within the scale, the common number: what parse_fixed gives,
        # without its regular expression; anything else goes to the converter.
        whole, _, fraction = value.partition(".")
        scale = value_type.scale
        # At most 18 digits scaled: below 10**18, within int64 (parse_fixed's bound) whatever they are.
        if (0 < len(whole) <= _MAX_SCALED_DIGITS - scale and len(fraction) <= scale and whole.isdigit()
                and whole.isascii() and (not fraction or (fraction.isdigit() and fraction.isascii()))):
            return int(whole + fraction + _ZEROS[scale - len(fraction)])
    converter = _CONVERTERS.get(value_type.kind)
    if converter is None:
        raise _Refer
    try:
        return converter(value, value_type)
    except ValueError:
        raise _Refer from None


class _Reader:
    """One batch's reading against one schema: per event type, the attributes declared as strings (the
    common value, taken as it is when short), looked up once per batch."""

    def __init__(self, schema: Schema) -> None:
        self._events = schema.events
        self._properties = schema.properties
        self._string_attrs: dict[str, frozenset[str]] = {}

    def _strings_of(self, event_type: str) -> frozenset[str]:
        declared = self._events.get(event_type)
        if declared is None:
            raise _Refer
        strings = frozenset(name for name, value_type in declared.items() if value_type.kind == "string")
        self._string_attrs[event_type] = strings
        return strings

    def event(self, event: Any, event_id: str) -> EventRecord:
        if len(event_id) > _SHORT_EVENT_ID:
            raise _Refer
        customer_id = event.customer_id
        if not 0 < len(customer_id) <= _SHORT_CUSTOMER_ID:
            raise _Refer
        event_type = event.type
        strings = self._string_attrs.get(event_type)
        if strings is None:
            strings = self._strings_of(event_type)
        ts = event.ts
        ts_ms = ts.epoch_ms  # non-zero only when epoch_ms is the kind set
        if not ts_ms or not MIN_TS_MS <= ts_ms <= MAX_TS_MS:
            ts_ms = _ts(ts)
        attrs: dict[str, Any] = {}
        values = event.attrs
        for name in values:  # keys and indexing: faster than .items() on upb maps
            value = values[name]
            text = value.string_value  # non-empty only when string_value is the kind set
            if text and name in strings and len(text) <= _SHORT_STRING:
                attrs[name] = text
                continue
            value_type = self._events[event_type].get(name)
            if value_type is None:
                raise _Refer
            python = text if text else _python_value(value)
            if python is not None:  # None: an absent attribute, written explicitly
                attrs[name] = _convert(python, value_type)
        record = _new_object(EventRecord)
        _set_id(record, event_id)
        _set_customer(record, customer_id)
        _set_type(record, event_type)
        _set_ts(record, ts_ms)
        _set_attrs(record, attrs)
        return record  # type: ignore[no-any-return]

    def other(self, message: Any) -> Record:
        kind = message.WhichOneof("kind")
        if kind == "profile":
            return _profile(message.profile, self._properties)
        if kind == "erasure":
            erasure = message.erasure
            return ErasureRecord(_customer(erasure.forget_customer), _ts(erasure.ts))
        raise _Refer  # no kind, or an event without id


def _profile(profile: Any, declared: dict[str, ValueType]) -> ProfileRecord:
    customer_id = _customer(profile.customer_id)
    ts_ms = _ts(profile.ts)
    properties: dict[str, Any] = {}
    values = profile.properties
    for name in values:
        value = values[name]
        value_type = declared.get(name)
        if value_type is None or name in COMPUTED_PROPERTIES:
            raise _Refer
        text = value.string_value
        python = text if text else _python_value(value)
        if python is None:
            properties[name] = None  # removes the property
            continue
        converted = _convert(python, value_type)
        if name in LOWERCASED_PROPERTIES and isinstance(converted, str):
            converted = converted.lower()
        properties[name] = converted
    return ProfileRecord(customer_id, ts_ms, properties)
