"""segments.v1.Value / Timestamp <-> the JSON-equivalent Python values of RECORDS.md.

Server side, a Value becomes exactly what `json.loads` would give for the same record, except that
a decimal_value stays text: the record validator reads number text exactly (indexes.values
parse_fixed), so "129.90" is never rounded through a float. A double_value becomes a float, which
the validator reads through its shortest repr. Client side is the inverse: str, int, float,
Decimal, bool, None, lists of strings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from indexes.values import parse_decimal
from proto.segments.v1 import records_pb2

JsonValue = str | int | float | bool | None | list[str]
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class ConversionError(ValueError):
    """A value that has no meaning as a record field; `field` is its path inside the record."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


# --- protobuf -> Python (server) -----------------------------------------------------------------
# Kinds whose protobuf value is already the JSON-equivalent one (the common case, read inline).
PLAIN_KINDS = frozenset({"string_value", "int_value", "double_value", "bool_value"})


def values_from_pb(values: Any, prefix: str) -> dict[str, JsonValue]:
    """A map<string, Value> (attrs, properties) -> dict; field paths are built only for errors."""
    out: dict[str, JsonValue] = {}
    for name in values:  # iterating keys and indexing is faster than .items() on upb maps
        value = values[name]
        kind = value.WhichOneof("kind")
        out[name] = getattr(value, kind) if kind in PLAIN_KINDS else value_from_pb(value, f"{prefix}.{name}")
    return out


def value_from_pb(value: records_pb2.Value, field: str) -> JsonValue:
    kind = value.WhichOneof("kind")
    if kind in PLAIN_KINDS:
        return getattr(value, kind)
    if kind == "decimal_value":
        text = value.decimal_value
        try:
            parse_decimal(text)  # only the form is checked here; the scale is the validator's
        except ValueError as exc:
            raise ConversionError(field, f"decimal_value {text[:40]!r}: {exc}") from None
        return text
    if kind == "list_value":
        return list(value.list_value.values)
    if kind == "null_value":
        if not value.null_value:
            raise ConversionError(field, "null_value must be true when it is the value set")
        return None
    assert kind is None, kind
    raise ConversionError(field, "no value set (one of string_value, decimal_value, double_value, int_value, "
                                 "bool_value, list_value, null_value)")


def timestamp_from_pb(message: Any, field_name: str = "ts") -> str | int | None:
    """The `ts` of a record message: RFC 3339 text, epoch ms, or None when unset (the validator then
    reports `ts: required`)."""
    if not message.HasField(field_name):
        return None
    ts = getattr(message, field_name)
    kind = ts.WhichOneof("kind")
    if kind == "rfc3339":
        return ts.rfc3339
    if kind == "epoch_ms":
        return ts.epoch_ms
    return None


# --- Python -> protobuf (client) -----------------------------------------------------------------
def value_to_pb(python: Any, out: records_pb2.Value, field: str) -> None:
    """Fill `out` from a JSON-equivalent value; ConversionError for what protobuf cannot carry."""
    if python is None:
        out.null_value = True
    elif isinstance(python, bool):  # before int: bool is an int subclass
        out.bool_value = python
    elif isinstance(python, int):
        if INT64_MIN <= python <= INT64_MAX:
            out.int_value = python
        else:  # exact as text; the server says whether it fits the declared scale and range
            out.decimal_value = str(python)
    elif isinstance(python, float):
        out.double_value = python
    elif isinstance(python, Decimal):
        out.decimal_value = str(python)
    elif isinstance(python, str):
        out.string_value = python
    elif isinstance(python, list | tuple):
        for position, item in enumerate(python):
            if not isinstance(item, str):
                raise ConversionError(field, f"item {position}: must be a string")
        out.list_value.values.extend(python)
    else:
        raise ConversionError(field, f"a {type(python).__name__} is not a record value")


def timestamp_to_pb(python: Any, out: records_pb2.Timestamp, field: str = "ts") -> None:
    if isinstance(python, bool) or not isinstance(python, str | int):
        raise ConversionError(field, "must be an RFC 3339 timestamp or integer epoch milliseconds")
    if isinstance(python, str):
        out.rfc3339 = python
    elif INT64_MIN <= python <= INT64_MAX:
        out.epoch_ms = python
    else:
        raise ConversionError(field, "epoch milliseconds out of range")
