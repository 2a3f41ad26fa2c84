"""Shard state: every index of up to 2**20 customers, built only by applying validated records.

`apply` takes records in log order. Events and profiles between two erasures / declarations are
order-independent (events are facts, profiles are last-writer-wins by ts), so such a run is applied
in bulk with numpy; an erasure or a declaration ends the run and is applied on its own, which is
what makes "forget, then see the id again" and "declare, then use" follow the log order.

A run is applied as columns (indexes/shard/run_columns.py); `apply_steps` takes runs already in
column form (replay builds them from the log without a record object per event).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress

import numpy as np
from pyroaring import BitMap

from indexes.event_ids import EventIdSet
from indexes.records import DeclarationRecord, ErasureRecord, EventRecord, ProfileRecord, Record
from indexes.schema import Schema
from indexes.shard.bsi import BitSlicedIndex
from indexes.shard.dense_ids import MAX_CUSTOMERS_PER_SHARD, DenseIds, ShardFullError
from indexes.shard.event_index import EventTypeIndex, sums_by_customer
from indexes.shard.event_store import MISSING_NUMBER
from indexes.shard.property_index import Column, WritePlan, new_column
from indexes.shard.run_columns import EventColumns, ProfileColumns, RunColumns, run_of_records
from indexes.timecal import Calendar

ORDER_EVENT = "order_created"
REFUND_EVENT = "order_refunded"
AMOUNT_ATTR = "amount"

Step = RunColumns | ErasureRecord | DeclarationRecord  # what `apply_steps` takes, in log order


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
        """Apply validated records in log order."""
        records = list(records)
        barriers = [i for i, r in enumerate(records) if type(r) is not EventRecord and type(r) is not ProfileRecord]
        # Runs of (events, profiles) separated by single barrier records.
        steps: list[Step] = []
        start = 0
        for stop in [*barriers, len(records)]:
            if stop > start:
                steps.append(run_of_records(records[start:stop]))  # type: ignore[arg-type]
            if stop < len(records):
                steps.append(records[stop])  # type: ignore[arg-type]
            start = stop + 1
        return self.apply_steps(steps)

    def apply_steps(self, steps: list[Step]) -> ApplyStats:
        """Apply runs (in column form) and barrier records, in log order. Nothing changes when the
        shard would overflow (ShardFullError)."""
        stats = ApplyStats()
        self._apply_steps(steps, stats)
        return stats

    def _apply_steps(self, steps: list[Step], stats: ApplyStats) -> None:
        first_found = self._check_capacity(steps)
        for position, step in enumerate(steps):
            if type(step) is RunColumns:
                self._apply_run(step, stats, first_found if position == 0 else None)
            elif type(step) is ErasureRecord:
                self.forget(step.customer_id)
                stats.erasures += 1
            else:
                self._declare(step.body)  # type: ignore[union-attr]
                stats.declarations += 1

    def _check_capacity(self, steps: list[Step]) -> np.ndarray | None:
        """Refuse before changing anything: a half-applied batch is never visible. An id erased
        earlier in the batch and named again needs a fresh dense id, so it counts as new.
        Returns the first run's id lookups (-1 where unknown) for reuse."""
        fresh = 0
        erased: set[str] = set()
        first_found: np.ndarray | None = None
        for position, step in enumerate(steps):
            if type(step) is RunColumns:
                found = self.ids.lookup_array(step.names)
                if position == 0:
                    first_found = found
                missing = found < 0
                unknown = set(compress(step.names, missing.tolist())) if missing.any() else set()
                fresh += len(unknown) + len(set(step.names) & erased) if erased else len(unknown)
            elif type(step) is ErasureRecord:
                erased.add(step.customer_id)
        if self.ids.would_overflow(fresh):
            raise ShardFullError(
                f"batch would add {fresh} customers to a shard holding {self.ids.allocated} of "
                f"{self.ids.capacity} ids"
            )
        return first_found

    def _apply_run(self, run: RunColumns, stats: ApplyStats, found: np.ndarray | None) -> None:
        keys = None
        if run.events is not None:
            fresh_mask, keys = self.event_ids.filter_new_sorted(run.events.event_ids)
            if not fresh_mask.all():
                # A duplicate is acknowledged and ignored: it does not even create its customer.
                stats.duplicates += len(run.events) - int(fresh_mask.sum())
                run = run.without_events(fresh_mask)
                found = None
        dense = self.ids.assign(run.names, found)
        if run.profiles is not None:
            self._apply_profiles(run.profiles, dense[run.profile_at])
            stats.profiles += len(run.profiles)
        if run.events is not None:
            self._apply_events(run.events, dense if run.event_at is None else dense[run.event_at])
            stats.events += len(run.events)
        if keys is not None:
            self.event_ids.add(keys)

    def _apply_events(self, events: EventColumns, customers: np.ndarray) -> None:
        ts = events.ts_ms
        days = self.calendar.local_days(ts)
        for group in events.by_type:
            rows = group.rows
            index = self._event_index_for(group.event_type)
            if rows is None:
                columns = index.append(customers, ts, group.attrs, days)
                type_customers = customers
            else:
                type_customers = customers[rows]
                columns = index.append(type_customers, ts[rows], group.attrs, days[rows])
            if group.event_type in (ORDER_EVENT, REFUND_EVENT):
                ids, sums = sums_by_customer(type_customers, columns[AMOUNT_ATTR])  # type: ignore[arg-type]
                self.lifetime_value.add_many(ids, sums if group.event_type == ORDER_EVENT else -sums)
        self.event_count += len(events)
        self._update_last_seen(customers, ts)

    def _update_last_seen(self, customers: np.ndarray, ts: np.ndarray) -> None:
        latest = np.full(int(customers.max()) + 1, MISSING_NUMBER, dtype=np.int64)
        np.maximum.at(latest, customers, ts)
        ids = np.flatnonzero(latest != MISSING_NUMBER).astype(np.uint32)
        newest = latest[ids]
        # Only customers whose last-seen time moves: late and replayed events often do not move it,
        # and every id set costs a pass over the BSI's ~41 slices.
        moved = newest > self.last_seen.values_or(ids, MISSING_NUMBER)
        self.last_seen.set_many(ids[moved], newest[moved])

    def _apply_profiles(self, profiles: ProfileColumns, dense: np.ndarray) -> None:
        ts = profiles.ts_ms
        every_row = None  # one write plan (one sort) for the properties every profile names
        for prop, (rows, values) in profiles.properties.items():  # sorted by property
            column = self.columns.get(prop)
            if column is None:
                column = self.columns[prop] = new_column(self.schema.properties[prop])
            if len(rows) == len(ts):
                if every_row is None:
                    every_row = WritePlan(dense, ts)
                column.write_planned(every_row, values)
            else:
                column.write_many(dense[rows], ts[rows], values)

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
