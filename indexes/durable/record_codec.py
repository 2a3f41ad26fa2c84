"""Validated records <-> the msgpack arrays the event log stores, and back without re-validation.

Records are validated once, before they are appended (indexes/records.py); what the log holds is
already in storage form (ts in ms, numbers as scaled ints, dates as day numbers, sets and lists as
tuples). Decoding only rebuilds the records, so replay pays no validation. Every log item is an array
whose first element says what it is; customer id and ts sit at the same places in events, profiles
and erasures, so replay pulls them out of a run of records with one C-level pass each:

| kind | log item |
| --- | --- |
| event | `[0, customer_id, ts_ms, "type:name1,name2,...", event_id, value1, value2, ...]` (attributes) |
| profile | `[1, customer_id, ts_ms, "name1,name2,...", value1, value2, ...]` (properties; nil removes) |
| erasure | `[2, customer_id, ts_ms]` |
| declaration | `[3, body, ts_ms or nil]` |
| control | `[4, wall_ms]` commit (`[4]` before saved segments), `[5]` abort, `[6, digests]` tombstone (indexes/durable/control.py) |
| saved segment | `[7, body, ts_ms]`: a resolved segment command (indexes/segments/commands.py) |

A commit mark carries the wall-clock time its batch was encoded: the shard's clock, which saved
segments are materialized at, is the running maximum of those times, so a replay moves it exactly as
the live engine did (docs/SAVED_SEGMENTS.md). A mark without one (`[4]`, older logs) leaves it alone.

Arrays rather than maps: msgpack builds no key strings and no dict per record, which makes decoding
an event about twice as fast (0.38-0.5 us against 0.85-0.93 us for a 7-attribute event, measured).
The names of a record's attributes (or properties) are one string, its *layout*, and the values
follow in that order; an event's layout string starts with its type. One string object per record
instead of one per name (and none for the type), so replay groups a run's events by that one string
and reads each value position of a group as a column (indexes/durable/log_columns.py). Names match
[a-z_][a-z0-9_]* (indexes/schema.py), so neither ":" nor "," ever occurs in one. Validation keeps
the order names arrive in, so the records of one producer and type share a layout.

msgpack returns arrays as lists (as tuples with use_list=False, as replay reads them); the only
array-valued fields are list attributes and set properties, which `decode` turns into tuples.
Exact: decode(encode(r)) == r.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from indexes.records import (
    DeclarationRecord,
    ErasureRecord,
    EventRecord,
    ProfileRecord,
    Record,
    SegmentRecord,
)

LogItem = list[Any] | tuple[Any, ...]  # replay decodes arrays as tuples (indexes/durable/replay.py)

EVENT = 0
PROFILE = 1
ERASURE = 2
DECLARATION = 3
COMMIT = 4
ABORT = 5
TOMBSTONE = 6
SEGMENT = 7
MARKS = (COMMIT, ABORT, TOMBSTONE)  # control items; every other kind is a data record
LAST_KIND = SEGMENT
# Positions in event items.
CUSTOMER_AT = 1  # events, profiles, erasures
TS_AT = 2  # events, profiles, erasures
TYPE_LAYOUT_AT = 3  # an event's "type:name1,name2,..."
EVENT_ID_AT = 4
EVENT_VALUES_AT = 5
PROFILE_LAYOUT_AT = 3  # a profile's "name1,name2,..."; the values follow
TYPE_SEPARATOR = ":"
LAYOUT_SEPARATOR = ","
DIGEST_BYTES = 16  # one XXH3-128 event-id digest (indexes/event_ids.py), big-endian halves


class CodecError(ValueError):
    """A log item that is not a record this codec wrote (a foreign or damaged log)."""


class _Mark:
    """A control record without payload: every instance of one mark class is equal to the others."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))


class Commit:
    """Ends an ingest batch: the records since the previous commit or abort are applied together.

    `wall_ms`: when the batch was encoded (the shard clock's input); None in marks of older logs."""

    __slots__ = ("wall_ms",)

    def __init__(self, wall_ms: int | None = None) -> None:
        assert wall_ms is None or type(wall_ms) is int
        self.wall_ms = wall_ms

    def __eq__(self, other: object) -> bool:
        return type(other) is Commit and other.wall_ms == self.wall_ms

    def __hash__(self) -> int:
        return hash((Commit, self.wall_ms))


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
_COMMIT_ITEM: LogItem = [COMMIT]
_ABORT_ITEM: LogItem = [ABORT]


def encode(record: Record) -> LogItem:
    kind = type(record)
    if kind is SegmentRecord:
        return [SEGMENT, record.body, record.ts_ms]  # type: ignore[union-attr]
    if kind is EventRecord:
        attrs = record.attrs  # type: ignore[union-attr]
        type_layout = record.type + TYPE_SEPARATOR + LAYOUT_SEPARATOR.join(attrs)  # type: ignore[union-attr]
        return [EVENT, record.customer_id, record.ts_ms, type_layout, record.event_id, *attrs.values()]  # type: ignore[union-attr]
    if kind is ProfileRecord:
        properties = record.properties  # type: ignore[union-attr]
        return [PROFILE, record.customer_id, record.ts_ms,  # type: ignore[union-attr]
                LAYOUT_SEPARATOR.join(properties), *properties.values()]
    if kind is ErasureRecord:
        return [ERASURE, record.customer_id, record.ts_ms]  # type: ignore[union-attr]
    if kind is DeclarationRecord:
        return [DECLARATION, record.body, record.ts_ms]  # type: ignore[union-attr]
    raise TypeError(f"not a validated record: {kind.__name__}")


def encode_control(mark: Control) -> LogItem:
    if type(mark) is Commit:
        return _COMMIT_ITEM if mark.wall_ms is None else [COMMIT, mark.wall_ms]
    if type(mark) is Abort:
        return _ABORT_ITEM
    assert type(mark) is Tombstone
    return [TOMBSTONE, mark.keys.astype(">u8").tobytes()]


def encode_batch(records: list[Record], wall_ms: int | None = None) -> list[LogItem]:
    """An ingest batch as the log stores it: its records, then a commit mark carrying `wall_ms`.
    No records at all is a clock tick: the mark alone."""
    out = list(map(encode, records))
    out.append(_COMMIT_ITEM if wall_ms is None else [COMMIT, wall_ms])
    return out


def commit_wall_ms(item: LogItem) -> int | None:
    """The wall-clock time a commit mark carries (None for a mark of an older log)."""
    if len(item) < 2:
        return None
    wall_ms = item[1]
    if type(wall_ms) is not int:
        raise CodecError(f"commit mark with a non-integer time: {item!r:.80}")
    return wall_ms  # type: ignore[no-any-return]


def kind_of(item: LogItem) -> int:
    """The kind tag of a log item; CodecError for anything this codec did not write."""
    if type(item) not in (list, tuple) or not item or type(item[0]) is not int or not EVENT <= item[0] <= LAST_KIND:
        raise CodecError(f"not a log item of this format: {item!r:.80}")
    return item[0]  # type: ignore[no-any-return]


def customer_of(item: LogItem) -> str | None:
    """The customer an event, profile or erasure names; None for declarations, segment commands and marks."""
    return item[CUSTOMER_AT] if kind_of(item) <= ERASURE else None  # type: ignore[no-any-return]


def _tuples(values: dict[str, Any]) -> dict[str, Any]:
    """msgpack may give arrays back as lists; the validated form of a list or set value is a tuple."""
    for name, value in values.items():
        if type(value) is list:
            values[name] = tuple(value)
    return values


def _as_lists(value: Any) -> Any:
    """A declaration body as JSON gives it (lists, not the tuples of a replay's decoding)."""
    if isinstance(value, dict):
        return {key: _as_lists(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_as_lists(inner) for inner in value]
    return value


def layout_names(layout: str) -> list[str]:
    return layout.split(LAYOUT_SEPARATOR) if layout else []


def split_type_layout(type_layout: str) -> tuple[str, str]:
    """An event's "type:name1,name2" -> ("type", "name1,name2")."""
    event_type, separator, layout = type_layout.partition(TYPE_SEPARATOR)
    if not separator or not event_type:
        raise CodecError(f"not an event's type and layout: {type_layout!r:.80}")
    return event_type, layout


def _named(item: LogItem, layout: str, values_at: int) -> dict[str, Any]:
    names = layout_names(layout)
    if len(item) != values_at + len(names):
        raise CodecError(f"log item of {len(item)} elements for {len(names)} names")
    return dict(zip(names, item[values_at:], strict=True))


def decode(item: LogItem) -> Record | Control:
    """The record a log item holds. No validation: it was validated before it was appended."""
    kind = kind_of(item)
    try:
        if kind == EVENT:
            event_type, layout = split_type_layout(item[TYPE_LAYOUT_AT])
            attrs = _tuples(_named(item, layout, EVENT_VALUES_AT))
            return EventRecord(item[EVENT_ID_AT], item[CUSTOMER_AT], event_type, item[TS_AT], attrs)
        if kind == PROFILE:
            properties = _tuples(_named(item, item[PROFILE_LAYOUT_AT], PROFILE_LAYOUT_AT + 1))
            return ProfileRecord(item[CUSTOMER_AT], item[TS_AT], properties)
        if kind == ERASURE:
            return ErasureRecord(item[CUSTOMER_AT], item[TS_AT])
        if kind == DECLARATION:
            return DeclarationRecord(_as_lists(item[1]), item[2])
        if kind == SEGMENT:
            if type(item[1]) is not dict or type(item[2]) is not int:
                raise CodecError(f"malformed saved-segment item: {item!r:.80}")
            return SegmentRecord(_as_lists(item[1]), item[2])
        if kind == COMMIT:
            return COMMIT_MARK if len(item) < 2 else Commit(commit_wall_ms(item))
        if kind == ABORT:
            return ABORT_MARK
        blob = item[1]
        if len(blob) % DIGEST_BYTES:
            raise CodecError(f"tombstone of {len(blob)} bytes is not a whole number of digests")
        return Tombstone(np.frombuffer(blob, dtype=">u8").astype(np.uint64).reshape(-1, 2))
    except (IndexError, TypeError, AttributeError) as exc:
        raise CodecError(f"malformed log item of kind {kind}: {exc!r}") from None
