"""Indexes of one event type in one shard.

  store          ts-sorted columnar rows (event_store.py): exact answers for any window and filter
  day / month    customers with >= 1 event per local day and per local month (Pilosa's time
                 quantum): presence over a window of many days is one multi-way union of at most
                 ~2 * 31 day bitmaps + the month bitmaps in between, never one pass per day
  count          all-time events per customer (bit-sliced): count thresholds without a scan
  first / last   all-time first and latest ts per customer (bit-sliced), built from the store on
                 first use and maintained from then on (most types are never asked)
  sums           all-time sum per number attribute (bit-sliced), likewise on first use
  by_value       customers who ever had an event with attribute = value (string and list
                 attributes whose dictionary stays under INVERTED_MAX_VALUES)

The all-time indexes include every ingested event. They answer for an `as_of` only when no event
of the type is later than `as_of` (`answers_all_time`); otherwise the plan scans the store.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from pyroaring import BitMap

from indexes.schema import ValueType
from indexes.shard.bsi import BitSlicedIndex
from indexes.shard.event_store import MISSING_CODE, MISSING_NUMBER, EventStore, ListColumn
from indexes.shard.keyed_bitmaps import KeyedBitmaps
from indexes.timecal import Calendar

INVERTED_MAX_VALUES = 200_000


def month_of_day(day: int) -> int:
    """Months since 1970-01 of a day number (proleptic Gregorian)."""
    date = Calendar.day_to_date(day)
    return (date.year - 1970) * 12 + date.month - 1


def months_of_days(days: np.ndarray) -> np.ndarray:
    """month_of_day for an array of day numbers, vectorised with numpy's calendar."""
    months = np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]")
    return months.astype(np.int64)


def month_first_day(month: int) -> int:
    year, index = divmod(month, 12)
    return Calendar.date_to_day(dt.date(1970 + year, index + 1, 1))


class EventTypeIndex:
    def __init__(self, name: str, attributes: dict[str, ValueType]) -> None:
        self.name = name
        self.store = EventStore(attributes)
        self.day_customers = KeyedBitmaps()
        self.month_customers = KeyedBitmaps()
        self.count = BitSlicedIndex()
        self._first_ts: BitSlicedIndex | None = None
        self._last_ts: BitSlicedIndex | None = None
        self._sums: dict[str, BitSlicedIndex] = {}
        self.by_value: dict[str, KeyedBitmaps | None] = {
            attr: KeyedBitmaps() for attr, t in attributes.items() if t.kind in ("string", "list")
        }
        self.max_ts: int | None = None

    def add_attribute(self, name: str, value_type: ValueType) -> None:
        self.store.add_attribute(name, value_type)
        if value_type.kind in ("string", "list"):
            self.by_value[name] = KeyedBitmaps()

    def flush_buffers(self) -> None:
        self.store.flush()
        for keyed in (self.day_customers, self.month_customers, *self.by_value.values()):
            if keyed is not None:
                keyed.flush()

    def answers_all_time(self, as_of_ms: int) -> bool:
        return self.max_ts is None or self.max_ts <= as_of_ms

    # --- ingest -----------------------------------------------------------------------------
    def append(self, customers: np.ndarray, ts: np.ndarray, attrs: dict[str, list], days: np.ndarray) -> dict:
        """Add rows (validated values, one list per attribute, None where absent); `days` are the
        local days of `ts` in the workspace zone. Returns the rows' attribute columns in storage form."""
        count = len(ts)
        if count == 0:
            return {}
        columns = self.store.encode(attrs, count)
        self.store.append(customers, ts, columns)
        batch_max = int(ts.max())
        self.max_ts = batch_max if self.max_ts is None else max(self.max_ts, batch_max)
        self._index_presence(customers, days)
        self._index_aggregates(customers, ts, columns)
        self._index_values(customers, columns)
        return columns

    def _index_presence(self, customers: np.ndarray, days: np.ndarray) -> None:
        self.day_customers.add(days, customers)
        self.month_customers.add(months_of_days(days), customers)

    def _index_aggregates(self, customers: np.ndarray, ts: np.ndarray, columns: dict) -> None:
        ids, counts = _count_by_customer(customers)
        self.count.add_many(ids, counts)
        if self._first_ts is not None or self._last_ts is not None:
            size = int(customers.max()) + 1
        if self._first_ts is not None:
            first = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
            np.minimum.at(first, customers, ts)
            self._first_ts.set_many(ids, np.minimum(self._first_ts.values_or(ids, first[ids]), first[ids]))
        if self._last_ts is not None:
            last = np.full(size, np.iinfo(np.int64).min, dtype=np.int64)
            np.maximum.at(last, customers, ts)
            self._last_ts.set_many(ids, np.maximum(self._last_ts.values_or(ids, last[ids]), last[ids]))
        for attr, bsi in self._sums.items():
            _add_sums(bsi, customers, columns[attr])

    # --- all-time aggregates built on first use -------------------------------------------
    @property
    def first_ts(self) -> BitSlicedIndex:
        if self._first_ts is None:
            self._first_ts = self._built_extreme(np.minimum, np.iinfo(np.int64).max)
        return self._first_ts

    @property
    def last_ts(self) -> BitSlicedIndex:
        if self._last_ts is None:
            self._last_ts = self._built_extreme(np.maximum, np.iinfo(np.int64).min)
        return self._last_ts

    def sum_index(self, attr: str) -> BitSlicedIndex:
        bsi = self._sums.get(attr)
        if bsi is None:
            bsi = BitSlicedIndex()
            rows = self.store.window(None, None, (attr,))
            _add_sums(bsi, rows.customers, rows.columns[attr])  # type: ignore[arg-type]
            self._sums[attr] = bsi
        return bsi

    def _built_extreme(self, ufunc: np.ufunc, identity: int) -> BitSlicedIndex:
        bsi = BitSlicedIndex()
        rows = self.store.window(None, None)
        if len(rows):
            best = np.full(int(rows.customers.max()) + 1, identity, dtype=np.int64)
            ufunc.at(best, rows.customers, rows.ts)
            ids = np.flatnonzero(best != identity).astype(np.uint32)
            bsi.set_many(ids, best[ids])
        return bsi

    def _index_values(self, customers: np.ndarray, columns: dict) -> None:
        for attr, index in self.by_value.items():
            if index is None:
                continue
            if len(self.store.dictionaries[attr]) > INVERTED_MAX_VALUES:
                self.by_value[attr] = None  # too many values to pay a bitmap each: scan instead
                continue
            column = columns[attr]
            if isinstance(column, ListColumn):
                index.add(column.codes, np.repeat(customers, np.diff(column.offsets)))
            else:
                present = column != MISSING_CODE
                index.add(column[present], customers[present])

    def forget(self, dense: int) -> None:
        """Remove a customer from the bitmap indexes (store rows are masked by `alive`)."""
        removed = BitMap([dense])
        for bsi in self._bsis():
            bsi.remove_many(removed)
        for keyed in (self.day_customers, self.month_customers, *self.by_value.values()):
            if keyed is not None:
                keyed.discard_everywhere(dense)

    def _bsis(self) -> list[BitSlicedIndex]:
        built = [b for b in (self._first_ts, self._last_ts) if b is not None]
        return [self.count, *built, *self._sums.values()]

    # --- reads ------------------------------------------------------------------------------
    def present_on_days(self, first_day: int, last_day: int) -> BitMap:
        """Customers with an event on any local day in [first_day, last_day] (whole days)."""
        if first_day > last_day or not self.day_customers:
            return BitMap()
        parts: list[BitMap] = []
        day = first_day
        months_walked = 0
        while day <= last_day:
            months_walked += 1
            assert months_walked <= 200_000, "unbounded month walk"
            month = month_of_day(day)
            next_month_start = month_first_day(month + 1)
            if day == month_first_day(month) and next_month_start - 1 <= last_day:
                whole = self.month_customers.get(month)
                parts += [whole] if whole else []
            else:
                for partial_day in range(day, min(next_month_start - 1, last_day) + 1):
                    bitmap = self.day_customers.get(partial_day)
                    if bitmap:
                        parts.append(bitmap)
            day = next_month_start
        return BitMap.union(*parts) if parts else BitMap()

    def value_customers(self, attr: str, values: tuple[str, ...]) -> BitMap | None:
        """Customers who ever had an event with attr in values; None if not indexed."""
        index = self.by_value.get(attr)
        if index is None:
            return None
        dictionary = self.store.dictionaries[attr]
        parts = [index.get(c) for c in dictionary.codes(values)]
        present = [p for p in parts if p is not None]
        return BitMap.union(*present) if present else BitMap()

    def size_bytes(self) -> int:
        total = self.store.size_bytes()
        for bsi in self._bsis():
            total += bsi.size_bytes()
        for keyed in (self.day_customers, self.month_customers, *self.by_value.values()):
            if keyed is not None:
                total += keyed.size_bytes()
        return total


def sums_by_customer(customers: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact int64 per-customer sums of fixed-point values, missing counting as 0: (ids, sums)
    for every customer in `customers`."""
    order = np.argsort(customers)
    by_customer = customers[order]
    starts = np.flatnonzero(np.concatenate([[True], by_customer[1:] != by_customer[:-1]]))
    amounts = np.where(values == MISSING_NUMBER, 0, values)[order]
    return by_customer[starts].astype(np.uint32), np.add.reduceat(amounts, starts)


def _add_sums(bsi: BitSlicedIndex, customers: np.ndarray, values: np.ndarray) -> None:
    """Add per-customer sums of fixed-point values; only customers with a value get an entry."""
    present = values != MISSING_NUMBER
    if present.any():
        bsi.add_many(*sums_by_customer(customers[present], values[present]))


def _count_by_customer(customers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids, events per id) for the customers of a batch, ids ascending. A bincount allocates and
    scans an array as long as the largest dense id (1 M at 1 M customers) for every event type of
    every batch; a sort of the batch's own rows is cheaper when they are few in comparison."""
    if len(customers) * 16 < int(customers.max()):
        ids, counts = np.unique(customers, return_counts=True)
        return ids.astype(np.uint32), counts.astype(np.int64)
    counts = np.bincount(customers)
    ids = np.flatnonzero(counts)
    return ids.astype(np.uint32), counts[ids]
