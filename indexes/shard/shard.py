"""Shard state: every index of up to 2**20 customers, built only by applying validated records.

`apply` takes records in log order. Events and profiles between two erasures / declarations are
order-independent (events are facts, profiles are last-writer-wins by ts), so such a run is applied
in bulk with numpy; an erasure or a declaration ends the run and is applied on its own, which is
what makes "forget, then see the id again" and "declare, then use" follow the log order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress

import numpy as np
from pyroaring import BitMap

from indexes.event_ids import EventIdSet
from indexes.records import ErasureRecord, EventRecord, ProfileRecord, Record
from indexes.schema import Schema
from indexes.shard.bsi import BitSlicedIndex
from indexes.shard.dense_ids import MAX_CUSTOMERS_PER_SHARD, DenseIds, ShardFullError
from indexes.shard.event_index import EventTypeIndex, sums_by_customer
from indexes.shard.event_store import MISSING_NUMBER
from indexes.shard.property_index import Column, new_column
from indexes.timecal import Calendar

_ABSENT = object()  # a property a profile record does not name (None would mean "remove")
ORDER_EVENT = "order_created"
REFUND_EVENT = "order_refunded"
AMOUNT_ATTR = "amount"


@dataclass
class _Run:
    """Events and profiles between two barrier records, and the customer ids they name in order."""

    records: list[EventRecord | ProfileRecord]
    events: list[EventRecord]
    profiles: list[ProfileRecord]
    names: list[str]

    @staticmethod
    def of(records: list) -> _Run:
        events = [r for r in records if type(r) is EventRecord]
        profiles = [r for r in records if type(r) is ProfileRecord] if len(events) < len(records) else []
        return _Run(records, events, profiles, [r.customer_id for r in records])


def _group_rows_by_type(events: list[EventRecord]) -> list[tuple[str, np.ndarray]]:
    """(type, row positions) for each event type in the batch, types in first-seen order."""
    types = [e.type for e in events]
    first = types[0]
    if types.count(first) == len(types):
        return [(first, np.arange(len(types)))]
    codes: dict[str, int] = {}
    type_codes = np.array([codes.setdefault(t, len(codes)) for t in types], dtype=np.int32)
    order = np.argsort(type_codes, kind="stable")  # stable: rows keep log order within a type
    bounds = np.searchsorted(type_codes[order], np.arange(len(codes) + 1))
    return [(name, order[bounds[code] : bounds[code + 1]]) for name, code in codes.items()]


@dataclass
class ApplyStats:
    events: int = 0
    duplicates: int = 0
    profiles: int = 0
    erasures: int = 0
    declarations: int = 0


class Shard:
    def __init__(self, schema: Schema | None = None, tz: str = "UTC", capacity: int = MAX_CUSTOMERS_PER_SHARD):
        self.schema = schema.copy() if schema is not None else Schema()
        self.calendar = Calendar(tz)
        self.ids = DenseIds(capacity)
        self.event_ids = EventIdSet()
        self.columns: dict[str, Column] = {}
        self.events: dict[str, EventTypeIndex] = {}
        # Computed properties that no single event type holds (docs/SEMANTICS.md).
        self.lifetime_value = BitSlicedIndex()
        self.last_seen = BitSlicedIndex()
        self.event_count = 0

    @property
    def alive(self) -> BitMap:
        return self.ids.alive

    def column(self, prop: str) -> Column | None:
        return self.columns.get(prop)

    def event_index(self, event: str) -> EventTypeIndex | None:
        return self.events.get(event)

    # --- apply ------------------------------------------------------------------------------
    def apply(self, records: Sequence[Record]) -> ApplyStats:
        stats = ApplyStats()
        # Split the log into runs of (events, profiles) separated by single barrier records.
        records = list(records)
        barriers = [i for i, r in enumerate(records) if type(r) is not EventRecord and type(r) is not ProfileRecord]
        steps: list[_Run | Record] = []
        start = 0
        for stop in [*barriers, len(records)]:
            if stop > start:
                steps.append(_Run.of(records[start:stop]))
            if stop < len(records):
                steps.append(records[stop])
            start = stop + 1
        first_found = self._check_capacity(steps)
        for position, step in enumerate(steps):
            if isinstance(step, _Run):
                self._apply_run(step, stats, first_found if position == 0 else None)
            elif isinstance(step, ErasureRecord):
                self.forget(step.customer_id)
                stats.erasures += 1
            else:
                self._declare(step.body)  # type: ignore[union-attr]
                stats.declarations += 1
        return stats

    def _check_capacity(self, steps: list[_Run | Record]) -> list[int | None] | None:
        """Refuse before changing anything: a half-applied batch is never visible. An id erased
        earlier in the batch and named again needs a fresh dense id, so it counts as new.
        Returns the first run's id lookups (None where unknown) for reuse."""
        fresh = 0
        erased: set[str] = set()
        first_found: list[int | None] | None = None
        for position, step in enumerate(steps):
            if isinstance(step, _Run):
                found = self.ids.lookup_many(step.names)
                if position == 0:
                    first_found = found
                unknown = set(compress(step.names, [f is None for f in found])) if None in found else set()
                fresh += len(unknown) + len(set(step.names) & erased) if erased else len(unknown)
            elif isinstance(step, ErasureRecord):
                erased.add(step.customer_id)
        if self.ids.would_overflow(fresh):
            raise ShardFullError(
                f"batch would add {fresh} customers to a shard holding {self.ids.allocated} of "
                f"{self.ids.capacity} ids"
            )
        return first_found

    def _apply_run(self, run: _Run, stats: ApplyStats, found: list[int | None] | None) -> None:
        keys = None
        if run.events:
            fresh_mask, keys = self.event_ids.filter_new([e.event_id for e in run.events])
            if not fresh_mask.all():
                # A duplicate is acknowledged and ignored: it does not even create its customer.
                stats.duplicates += len(run.events) - int(fresh_mask.sum())
                dropped = {id(e) for e, fresh in zip(run.events, fresh_mask.tolist(), strict=True) if not fresh}
                run = _Run.of([r for r in run.records if id(r) not in dropped])
                found = None
        dense = self.ids.assign(run.names, found)
        event_dense = dense
        if run.profiles:
            is_event = np.fromiter((type(r) is EventRecord for r in run.records), dtype=bool, count=len(dense))
            event_dense = dense[is_event]
            self._apply_profiles(run.profiles, dense[~is_event])
            stats.profiles += len(run.profiles)
        if run.events:
            self._apply_events(run.events, event_dense)
            stats.events += len(run.events)
        if keys is not None:
            self.event_ids.add(keys)

    def _apply_events(self, events: list[EventRecord], customers: np.ndarray) -> None:
        if not events:
            return
        ts = np.fromiter((e.ts_ms for e in events), dtype=np.int64, count=len(events))
        days = self.calendar.local_days(ts)
        for event_type, rows in _group_rows_by_type(events):
            picked = [events[row] for row in rows.tolist()] if len(rows) < len(events) else events
            index = self._event_index_for(event_type)
            columns = index.append(customers[rows], ts[rows], [e.attrs for e in picked], days[rows])
            if event_type in (ORDER_EVENT, REFUND_EVENT):
                ids, sums = sums_by_customer(customers[rows], columns[AMOUNT_ATTR])  # type: ignore[arg-type]
                self.lifetime_value.add_many(ids, sums if event_type == ORDER_EVENT else -sums)
        self.event_count += len(events)
        self._update_last_seen(customers, ts)

    def _update_last_seen(self, customers: np.ndarray, ts: np.ndarray) -> None:
        latest = np.full(int(customers.max()) + 1, MISSING_NUMBER, dtype=np.int64)
        np.maximum.at(latest, customers, ts)
        ids = np.flatnonzero(latest != MISSING_NUMBER).astype(np.uint32)
        previous = self.last_seen.values_or(ids, MISSING_NUMBER)
        self.last_seen.set_many(ids, np.maximum(previous, latest[ids]))

    def _apply_profiles(self, profiles: list[ProfileRecord], dense: np.ndarray) -> None:
        ts = np.fromiter((p.ts_ms for p in profiles), dtype=np.int64, count=len(profiles))
        named: set[str] = set()
        for profile in profiles:
            named.update(profile.properties)
        for prop in sorted(named):
            values = [p.properties.get(prop, _ABSENT) for p in profiles]
            picked = np.fromiter((v is not _ABSENT for v in values), dtype=bool, count=len(values))
            if not picked.all():
                values = list(compress(values, picked.tolist()))
            column = self.columns.get(prop)
            if column is None:
                column = self.columns[prop] = new_column(self.schema.properties[prop])
            column.write_many(dense[picked], ts[picked], values)

    def _event_index_for(self, event_type: str) -> EventTypeIndex:
        index = self.events.get(event_type)
        if index is None:
            index = self.events[event_type] = EventTypeIndex(event_type, self.schema.events[event_type])
        return index

    def _declare(self, body: dict) -> None:
        self.schema.apply_declaration(body)
        event = body.get("event")
        index = self.events.get(event) if isinstance(event, str) else None
        if index is not None:
            for attr, value_type in self.schema.events[event].items():
                if attr not in index.store.attributes:
                    index.add_attribute(attr, value_type)
        prop = body.get("property")
        column = self.columns.get(prop) if isinstance(prop, str) else None
        if column is not None and column.value_type != self.schema.properties[prop]:
            column.value_type = self.schema.properties[prop]  # an enum grew; storage is unchanged

    def forget(self, customer_id: str) -> bool:
        """Erase a customer from every index at once (rows stay until compaction, masked by alive)."""
        dense = self.ids.retire(customer_id)
        if dense is None:
            return False
        for column in self.columns.values():
            column.forget(dense)
        for index in self.events.values():
            index.forget(dense)
        removed = BitMap([dense])
        self.lifetime_value.remove_many(removed)
        self.last_seen.remove_many(removed)
        return True

    def flush_buffers(self) -> None:
        """Fold ingest buffers (event-store tails, deferred bitmap inserts) into the read-optimised
        indexes. Queries do this on demand; calling it after a bulk load makes the first query
        and the memory figures not pay for it."""
        for index in self.events.values():
            index.flush_buffers()

    # --- stats ------------------------------------------------------------------------------
    def size_bytes(self) -> int:
        total = self.lifetime_value.size_bytes() + self.last_seen.size_bytes() + self.event_ids.size_bytes()
        total += sum(c.size_bytes() for c in self.columns.values())
        total += sum(i.size_bytes() for i in self.events.values())
        return total
