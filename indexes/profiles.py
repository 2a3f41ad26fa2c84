"""Customers' values as text, a block of customers at a time (issue 7 items 4 and 5): member pages with
chosen columns, one customer's whole profile, and the rows of an export.

A `ColumnReader` is made once per column and request (computed properties build their per-customer
array once: counts and sums from the all-time bit-sliced indexes when no event is later than as_of,
else from the rows up to as_of), then reads blocks of dense ids with array indexing; only the final
formatting to text is per value. Values read as the records wrote them: numbers as exact decimal
text, timestamps as RFC 3339 in the workspace zone, dates as YYYY-MM-DD, sets joined with "|".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from indexes.insights import amount_scale, lifetime_values
from indexes.schema import ValueType
from indexes.shard.bsi import BitSlicedIndex
from indexes.shard.event_store import MISSING_BOOL, MISSING_NUMBER
from indexes.shard.property_index import BoolColumn, NumericColumn, SetColumn, StringColumn
from indexes.shard.shard import AMOUNT_ATTR, ORDER_EVENT, Shard
from indexes.text_columns import dates_text, instants_text, numbers_text

CUSTOMER_ID = "customer_id"
COMPUTED = ("order_count", "lifetime_value", "first_order_at", "last_order_at", "last_seen_at")
SET_SEPARATOR = "|"
MAX_COLUMNS = 64
EPOCH_DAY = dt.date(1970, 1, 1)


class UnknownColumnError(ValueError):
    def __init__(self, column: str) -> None:
        super().__init__(f"unknown column {column!r}: a property, a computed property or customer_id")
        self.column = column


@dataclass(frozen=True)
class Formats:
    zone: ZoneInfo

    def instant(self, t_ms: int) -> str:
        return dt.datetime.fromtimestamp(t_ms / 1000, tz=self.zone).isoformat(timespec="milliseconds")

    @staticmethod
    def number(scaled: int, scale: int) -> str:
        """Exact: integer arithmetic, never a float."""
        if scale == 0:
            return str(scaled)
        whole, fraction = divmod(abs(scaled), 10**scale)
        return f"{'-' if scaled < 0 else ''}{whole}.{fraction:0{scale}d}"

    @staticmethod
    def date(day: int) -> str:
        return (EPOCH_DAY + dt.timedelta(days=day)).isoformat()


Reader = Callable[[np.ndarray], list[str | None]]


class ColumnReader:
    """Values of one column for blocks of dense ids; `sort_keys` orders customers by it."""

    def __init__(self, shard: Shard, name: str, as_of_ms: int) -> None:
        self.name = name
        self._shard = shard
        self._formats = Formats(ZoneInfo(shard.calendar.name))
        self._read, self._keys = self._build(name, as_of_ms)

    def read(self, ids: np.ndarray) -> list[str | None]:
        return self._read(ids)

    def sort_keys(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(missing, key) per id: numbers/times by value, strings by their text; missing sort last."""
        return self._keys(ids)

    def _build(self, name: str, as_of_ms: int) -> tuple[Reader, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]]:
        shard = self._shard
        if name == CUSTOMER_ID:
            def read_ids(ids: np.ndarray) -> list[str | None]:
                return shard.ids.externals(ids.tolist())  # type: ignore[return-value]

            return read_ids, lambda ids: (np.zeros(len(ids), bool), np.array(read_ids(ids), dtype=object))
        if name in COMPUTED:
            values, present, kind = _computed(shard, name, as_of_ms)
            return self._numeric(values, present, kind, amount_scale(shard))
        value_type = shard.schema.property_type(name)
        if value_type is None:
            raise UnknownColumnError(name)
        column = shard.column(name)
        if column is None:
            return (lambda ids: [None] * len(ids)), (lambda ids: (np.ones(len(ids), bool), np.zeros(len(ids))))
        if isinstance(column, StringColumn):
            words = np.array([*column.dictionary.values, None], dtype=object)  # code -1 -> None
            ranks: list[np.ndarray] = []  # built on the first sort only (exports never sort)

            def codes(ids: np.ndarray) -> np.ndarray:
                inside = ids < len(column.code_of)
                out = np.full(len(ids), -1, dtype=np.int64)
                out[inside] = column.code_of[ids[inside]]
                return out

            def string_keys(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                if not ranks:
                    rank = np.zeros(len(words), dtype=np.int64)
                    rank[:-1] = np.argsort(np.argsort(np.array(column.dictionary.values, dtype=object)))
                    ranks.append(rank)
                found = codes(ids)
                return found < 0, ranks[0][found]

            return (lambda ids: words[codes(ids)].tolist()), string_keys
        if isinstance(column, NumericColumn):
            bsi = column.bsi
            return self._numeric(*_bsi_arrays(bsi, shard), value_type.kind, value_type.scale)
        if isinstance(column, BoolColumn):
            def read_bools(ids: np.ndarray) -> list[str | None]:
                return [None if v is None else ("true" if v else "false") for v in map(column.current, ids.tolist())]

            return read_bools, lambda ids: (np.array([column.current(i) is None for i in ids.tolist()], dtype=bool),
                                            np.array([bool(column.current(i)) for i in ids.tolist()]))
        assert isinstance(column, SetColumn)

        def read_sets(ids: np.ndarray) -> list[str | None]:
            out: list[str | None] = []
            for dense in ids.tolist():
                held = column.current(dense)
                out.append(None if held is None else SET_SEPARATOR.join(held))
            return out

        def set_keys(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            texts = read_sets(ids)
            return np.array([t is None for t in texts]), np.array([t or "" for t in texts], dtype=object)

        return read_sets, set_keys

    def _numeric(self, values: np.ndarray, present: np.ndarray, kind: str,
                 scale: int) -> tuple[Reader, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]]:
        calendar = self._shard.calendar

        def gather(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            inside = ids < len(values)
            has = np.zeros(len(ids), dtype=bool)
            got = np.zeros(len(ids), dtype=np.int64)
            has[inside] = present[ids[inside]]
            got[inside] = values[ids[inside]]
            return has, got

        def read(ids: np.ndarray) -> list[str | None]:
            has, got = gather(ids)
            if kind == "timestamp":
                text = instants_text(got, calendar)
            elif kind == "date":
                text = dates_text(got)
            else:
                text = numbers_text(got, 0 if kind == "count" else scale)
            out: list[str | None] = text.tolist()
            for missing in np.flatnonzero(~has).tolist():
                out[missing] = None
            return out

        def keys(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            has, got = gather(ids)
            return ~has, got

        return read, keys


def _bsi_arrays(bsi: BitSlicedIndex, shard: Shard) -> tuple[np.ndarray, np.ndarray]:
    size = shard.ids.allocated + 1
    values = np.zeros(size, dtype=np.int64)
    present = np.zeros(size, dtype=bool)
    held = min(size, len(bsi.values))
    values[:held] = bsi.values[:held]
    present[:held] = bsi.present[:held]
    return values, present


def _computed(shard: Shard, name: str, as_of_ms: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Per-dense-id (values, present, kind) of a computed property at as_of."""
    size = shard.ids.allocated + 1
    alive = np.zeros(size, dtype=bool)
    alive[np.fromiter(shard.alive, dtype=np.int64, count=len(shard.alive))] = True
    if name == "lifetime_value":
        return lifetime_values(shard, as_of_ms), alive, "number"
    if name == "last_seen_at":
        latest = np.full(size, MISSING_NUMBER, dtype=np.int64)
        for index in shard.events.values():
            rows = index.store.window(None, as_of_ms)
            np.maximum.at(latest, rows.customers, rows.ts)
        return latest, alive & (latest != MISSING_NUMBER), "timestamp"
    index = shard.event_index(ORDER_EVENT)
    if index is None:
        empty = np.zeros(size, dtype=np.int64)
        return empty, alive if name == "order_count" else np.zeros(size, dtype=bool), (
            "count" if name == "order_count" else "timestamp")
    rows = index.store.window(None, as_of_ms, (AMOUNT_ATTR,))
    if name == "order_count":
        return np.bincount(rows.customers, minlength=size)[:size].astype(np.int64), alive, "count"
    if name == "first_order_at":
        first = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, rows.customers, rows.ts)
        return first, alive & (first != np.iinfo(np.int64).max), "timestamp"
    assert name == "last_order_at", name
    last = np.full(size, MISSING_NUMBER, dtype=np.int64)
    np.maximum.at(last, rows.customers, rows.ts)
    return last, alive & (last != MISSING_NUMBER), "timestamp"


def readers(shard: Shard, columns: Sequence[str], as_of_ms: int) -> list[ColumnReader]:
    if not 1 <= len(columns) <= MAX_COLUMNS:
        raise ValueError(f"between 1 and {MAX_COLUMNS} columns (got {len(columns)})")
    return [ColumnReader(shard, name, as_of_ms) for name in columns]


def available_columns(shard: Shard) -> list[str]:
    return [CUSTOMER_ID, *sorted(shard.schema.properties), *COMPUTED]


# --- one customer ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CustomerProfile:
    customer_id: str
    properties: dict[str, str]  # every set property, as text (sets joined with "|")
    computed: dict[str, str | None]
    recent_events: list[tuple[str, str, dict[str, Any]]]  # (type, ts, attributes), newest first


MAX_RECENT_EVENTS = 200


def customer_profile(shard: Shard, customer_id: str, as_of_ms: int, recent: int = 20) -> CustomerProfile | None:
    """One customer's properties, computed properties and latest events up to as_of; None if unknown.
    The events are found by a masked pass over each type's rows (vectorised; no per-customer index)."""
    assert 0 <= recent <= MAX_RECENT_EVENTS
    dense = shard.ids.lookup(customer_id)
    if dense is None or dense not in shard.alive:
        return None
    ids = np.array([dense], dtype=np.int64)
    properties: dict[str, str] = {}
    for name in sorted(shard.schema.properties):
        if shard.column(name) is None:
            continue
        value = ColumnReader(shard, name, as_of_ms).read(ids)[0]
        if value is not None:
            properties[name] = value
    computed = {name: ColumnReader(shard, name, as_of_ms).read(ids)[0] for name in COMPUTED}
    formats = Formats(ZoneInfo(shard.calendar.name))
    found: list[tuple[int, str, dict[str, Any]]] = []
    for event, index in sorted(shard.events.items()):
        attrs = tuple(sorted(index.store.attributes))
        rows = index.store.window(None, as_of_ms, attrs)
        mine = np.flatnonzero(rows.customers == dense)[-recent:] if recent else np.zeros(0, dtype=np.int64)
        for row in mine.tolist():
            values: dict[str, Any] = {}
            for attr in attrs:
                value = _row_value(index.store, rows.columns[attr], attr, row, formats)
                if value is not None:
                    values[attr] = value
            found.append((int(rows.ts[row]), event, values))
    found.sort(key=lambda item: (-item[0], item[1]))
    events = [(event, formats.instant(ts), values) for ts, event, values in found[:recent]]
    return CustomerProfile(customer_id, properties, computed, events)


def _row_value(store: Any, column: Any, attr: str, row: int, formats: Formats) -> Any:
    value_type = store.attributes[attr]
    if value_type.kind == "list":
        start, stop = int(column.offsets[row]), int(column.offsets[row + 1])
        words = store.dictionaries[attr].values
        return sorted(words[c] for c in column.codes[start:stop].tolist())
    raw = int(column[row])
    if value_type.kind == "string":
        return None if raw < 0 else store.dictionaries[attr].values[raw]
    if value_type.kind == "bool":
        return None if raw == MISSING_BOOL else bool(raw)
    if raw == MISSING_NUMBER:
        return None
    return property_text(value_type, raw, formats)


def property_text(value_type: ValueType, stored: Any, formats: Formats) -> Any:
    kind = value_type.kind
    if kind == "number":
        return formats.number(int(stored), value_type.scale)
    if kind == "timestamp":
        return formats.instant(int(stored))
    if kind == "date":
        return formats.date(int(stored))
    if kind in ("set", "list"):
        return sorted(stored)
    return stored
