"""Validated records <-> the compact dicts the event log stores, and back without re-validation.

Records are validated once, before they are appended (indexes/records.py); what the log holds is
already in storage form (ts in ms, numbers as scaled ints, dates as day numbers, sets and lists as
tuples). Decoding only rebuilds the dataclasses, so replay pays no validation. The short keys keep
log bodies small; the first key tells the kind apart, events first because they are the bulk:

| kind | log dict |
| --- | --- |
| event | `{"e": event_id, "c": customer_id, "t": type, "s": ts_ms, "a": attrs, "l": [tuple-valued attrs]}` |
| profile | `{"p": properties, "c": customer_id, "s": ts_ms, "l": [tuple-valued properties]}` |
| erasure | `{"f": customer_id, "s": ts_ms}` |
| declaration | `{"d": body, "s": ts_ms or nil}` |
| control | `{"x": "c"}` commit, `{"x": "a"}` abort, `{"x": "t", "h": digests}` tombstone (indexes/durable/control.py) |

`a` and `l` are omitted when empty. msgpack returns arrays as lists; `l` names the values to turn back
into tuples, so decoding does not test the type of every value. Exact: decode(encode(r)) == r.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from indexes.records import DeclarationRecord, ErasureRecord, EventRecord, ProfileRecord, Record

LogDict = dict[str, Any]

CONTROL_KEY = "x"
COMMIT = "c"
ABORT = "a"
TOMBSTONE = "t"
DIGEST_BYTES = 16  # one XXH3-128 event-id digest (indexes/event_ids.py), big-endian halves


class CodecError(ValueError):
    """A log dict that is not a record this codec wrote (a foreign or damaged log)."""


class _Mark:
    """A control record without payload: every instance of one mark class is equal to the others."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))


class Commit(_Mark):
    """Ends an ingest batch: the records since the previous commit or abort are applied together."""

    __slots__ = ()


class Abort(_Mark):
    """Written on open when the log ends inside a batch (a torn append): that batch is discarded."""

    __slots__ = ()


class Tombstone:
    """Digests of event ids whose records compaction removed: they stay "seen" (idempotency is forever).

    Carries only the 16-byte digests, never an event id or a customer id."""

    __slots__ = ("keys",)

    def __init__(self, keys: np.ndarray) -> None:
        assert keys.ndim == 2 and keys.shape[1] == 2 and keys.dtype == np.uint64
        self.keys = keys

    def __eq__(self, other: object) -> bool:
        return type(other) is Tombstone and np.array_equal(self.keys, other.keys)

    def __hash__(self) -> int:
        return hash(self.keys.tobytes())


Control = Commit | Abort | Tombstone
COMMIT_MARK = Commit()
ABORT_MARK = Abort()
_COMMIT_DICT: LogDict = {CONTROL_KEY: COMMIT}
_ABORT_DICT: LogDict = {CONTROL_KEY: ABORT}


def _tuple_keys(values: dict[str, Any]) -> list[str] | None:
    if tuple not in map(type, values.values()):  # a C-level scan: most records hold no tuple
        return None
    return [name for name, value in values.items() if type(value) is tuple]


def encode(record: Record) -> LogDict:
    kind = type(record)
    if kind is EventRecord:
        out: LogDict = {"e": record.event_id, "c": record.customer_id, "t": record.type, "s": record.ts_ms}  # type: ignore[union-attr]
        attrs = record.attrs  # type: ignore[union-attr]
        if attrs:
            out["a"] = attrs
            listed = _tuple_keys(attrs)
            if listed:
                out["l"] = listed
        return out
    if kind is ProfileRecord:
        out = {"p": record.properties, "c": record.customer_id, "s": record.ts_ms}  # type: ignore[union-attr]
        listed = _tuple_keys(record.properties)  # type: ignore[union-attr]
        if listed:
            out["l"] = listed
        return out
    if kind is ErasureRecord:
        return {"f": record.customer_id, "s": record.ts_ms}  # type: ignore[union-attr]
    if kind is DeclarationRecord:
        return {"d": record.body, "s": record.ts_ms}  # type: ignore[union-attr]
    raise TypeError(f"not a validated record: {kind.__name__}")


def encode_control(mark: Control) -> LogDict:
    if type(mark) is Commit:
        return _COMMIT_DICT
    if type(mark) is Abort:
        return _ABORT_DICT
    assert type(mark) is Tombstone
    return {CONTROL_KEY: TOMBSTONE, "h": mark.keys.astype(">u8").tobytes()}


def encode_batch(records: list[Record]) -> list[LogDict]:
    """An ingest batch as the log stores it: its records, then a commit mark."""
    out = [encode(record) for record in records]
    out.append(_COMMIT_DICT)
    return out


# Replay builds events through the slots' descriptors: the frozen dataclass __init__ sets each field
# through object.__setattr__, which costs ~0.25 us more per record (measured), and replay builds
# millions. Same object, same equality: the record round-trip tests compare with the constructor.
_new_object = object.__new__
_EVENT_SLOTS = tuple(EventRecord.__dict__[name].__set__ for name in ("event_id", "customer_id", "type", "ts_ms", "attrs"))


def decode_run(items: list[LogDict], start: int, out: list[Record]) -> int:
    """Decode items[start:] into `out` up to the first control mark; return its index (len(items)
    when there is none). The replay's hot loop: events inline, the other kinds through `decode`."""
    set_id, set_customer, set_type, set_ts, set_attrs = _EVENT_SLOTS
    append = out.append
    index = start
    try:
        for index in range(start, len(items)):  # noqa: B007 - `index` is the return value
            item = items[index]
            event_id = item.get("e")
            if event_id is None:
                if CONTROL_KEY in item:
                    return index
                append(decode(item))  # type: ignore[arg-type]
                continue
            attrs = item.get("a")
            if attrs is None:
                attrs = {}
            else:
                listed = item.get("l")
                if listed is not None:
                    for name in listed:
                        attrs[name] = tuple(attrs[name])
            record = _new_object(EventRecord)
            set_id(record, event_id)
            set_customer(record, item["c"])
            set_type(record, item["t"])
            set_ts(record, item["s"])
            set_attrs(record, attrs)
            append(record)
    except (KeyError, TypeError) as exc:
        raise CodecError(f"malformed log record at {index}: {exc!r}") from None
    return len(items)


def decode(item: LogDict) -> Record | Control:
    """The record a log dict holds. No validation: it was validated before it was appended."""
    try:
        if "e" in item:  # the hot path of replay
            attrs = item.get("a")
            if attrs is None:
                attrs = {}
            else:
                listed = item.get("l")
                if listed is not None:
                    for name in listed:
                        attrs[name] = tuple(attrs[name])
            return EventRecord(item["e"], item["c"], item["t"], item["s"], attrs)
        if "p" in item:
            properties = item["p"]
            listed = item.get("l")
            if listed is not None:
                for name in listed:
                    properties[name] = tuple(properties[name])
            return ProfileRecord(item["c"], item["s"], properties)
        if "f" in item:
            return ErasureRecord(item["f"], item["s"])
        if "d" in item:
            return DeclarationRecord(item["d"], item["s"])
        mark = item[CONTROL_KEY]
        if mark == COMMIT:
            return COMMIT_MARK
        if mark == ABORT:
            return ABORT_MARK
        if mark == TOMBSTONE:
            blob = item["h"]
            if len(blob) % DIGEST_BYTES:
                raise CodecError(f"tombstone of {len(blob)} bytes is not a whole number of digests")
            return Tombstone(np.frombuffer(blob, dtype=">u8").astype(np.uint64).reshape(-1, 2))
    except (KeyError, TypeError) as exc:
        raise CodecError(f"malformed log record {sorted(item)!r}: {exc!r}") from None
    raise CodecError(f"unknown control mark {mark!r}")
