"""Shard state: every index of up to 2**20 customers, built only by applying validated records.

`apply` takes records in log order. Events and profiles between two erasures / declarations are
order-independent (events are facts, profiles are last-writer-wins by ts), so such a run is applied
in bulk with numpy; an erasure or a declaration ends the run and is applied on its own, which is
what makes "forget, then see the id again" and "declare, then use" follow the log order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress

import numpy as np
from pyroaring import BitMap

from indexes.event_ids import EventIdSet
from indexes.records import ErasureRecord, EventRecord, ProfileRecord, Record
from indexes.schema import Schema
from indexes.shard.bsi import BitSlicedIndex
from indexes.shard.dense_ids import MAX_CUSTOMERS_PER_SHARD, DenseIds, ShardFullError
from indexes.shard.event_index import EventTypeIndex
from indexes.shard.event_store import MISSING_NUMBER
from indexes.shard.property_index import Column, new_column
from indexes.timecal import Calendar

ORDER_EVENT = "order_created"
REFUND_EVENT = "order_refunded"
AMOUNT_ATTR = "amount"


@dataclass
class _Run:
    """Events and profiles between two barrier records, and the customer ids they name in order."""

    events: list[EventRecord] = field(default_factory=list)
    profiles: list[ProfileRecord] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


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
        steps: list[_Run | Record] = []
        run = _Run()
        for record in records:
            kind = type(record)
            if kind is EventRecord:
                run.events.append(record)  # type: ignore[arg-type]
            elif kind is ProfileRecord:
                run.profiles.append(record)  # type: ignore[arg-type]
            else:
                steps += [run, record]
                run = _Run()
                continue
            run.names.append(record.customer_id)  # type: ignore[union-attr]
        steps.append(run)
        self._check_capacity(steps)
        for step in steps:
            if isinstance(step, _Run):
                self._apply_run(step, stats)
            elif isinstance(step, ErasureRecord):
                self.forget(step.customer_id)
                stats.erasures += 1
            else:
                self._declare(step.body)  # type: ignore[union-attr]
                stats.declarations += 1
        return stats

    def _check_capacity(self, steps: list[_Run | Record]) -> None:
        # Refuse before changing anything: a half-applied batch is never visible. An id erased
        # earlier in the batch and named again needs a fresh dense id, so it counts as new.
        fresh = 0
        erased: set[str] = set()
        for step in steps:
            if isinstance(step, _Run):
                names = set(step.names)
                fresh += self.ids.count_unknown(names) + len(names & erased)
            elif isinstance(step, ErasureRecord):
                erased.add(step.customer_id)
        if self.ids.would_overflow(fresh):
            raise ShardFullError(
                f"batch would add {fresh} customers to a shard holding {self.ids.allocated} of "
                f"{self.ids.capacity} ids"
            )

    def _apply_run(self, run: _Run, stats: ApplyStats) -> None:
        self.ids.create_in_order(run.names)
        if run.events:
            fresh_mask, keys = self.event_ids.filter_new([e.event_id for e in run.events])
            fresh = list(compress(run.events, fresh_mask.tolist()))
            stats.duplicates += len(run.events) - len(fresh)
            self._apply_events(fresh)
            self.event_ids.add(keys)
            stats.events += len(fresh)
        if run.profiles:
            self._apply_profiles(run.profiles)
            stats.profiles += len(run.profiles)

    def _apply_events(self, events: list[EventRecord]) -> None:
        if not events:
            return
        by_type: dict[str, list[EventRecord]] = {}
        for event in events:
            by_type.setdefault(event.type, []).append(event)
        all_customers: list[np.ndarray] = []
        all_ts: list[np.ndarray] = []
        value_deltas: dict[int, int] = {}
        for event_type, rows in by_type.items():
            customers = self.ids.dense_array([r.customer_id for r in rows])
            ts = np.fromiter((r.ts_ms for r in rows), dtype=np.int64, count=len(rows))
            index = self._event_index_for(event_type)
            index.append(customers, ts, [r.attrs for r in rows], self.calendar.local_days(ts))
            all_customers.append(customers)
            all_ts.append(ts)
            if event_type in (ORDER_EVENT, REFUND_EVENT):
                sign = 1 if event_type == ORDER_EVENT else -1
                for dense, row in zip(customers.tolist(), rows, strict=True):
                    amount = row.attrs.get(AMOUNT_ATTR)
                    value_deltas[dense] = value_deltas.get(dense, 0) + sign * (0 if amount is None else int(amount))
        self.event_count += len(events)
        self._update_last_seen(np.concatenate(all_customers), np.concatenate(all_ts))
        if value_deltas:
            ids = np.fromiter(value_deltas.keys(), dtype=np.uint32, count=len(value_deltas))
            self.lifetime_value.add_many(ids, np.fromiter(value_deltas.values(), dtype=np.int64, count=len(ids)))

    def _update_last_seen(self, customers: np.ndarray, ts: np.ndarray) -> None:
        order = np.lexsort((ts, customers))
        customers, ts = customers[order], ts[order]
        last_of_run = np.concatenate([np.flatnonzero(np.diff(customers)), [len(customers) - 1]])
        ids, latest = customers[last_of_run], ts[last_of_run]
        previous = self.last_seen.values_or(ids, MISSING_NUMBER)
        self.last_seen.set_many(ids, np.maximum(previous, latest))

    def _apply_profiles(self, profiles: list[ProfileRecord]) -> None:
        dense = self.ids.dense_array([p.customer_id for p in profiles])
        ts = np.fromiter((p.ts_ms for p in profiles), dtype=np.int64, count=len(profiles))
        rows: dict[str, list[int]] = {}
        values: dict[str, list[object]] = {}
        for row, profile in enumerate(profiles):
            for prop, value in profile.properties.items():
                if prop not in rows:
                    rows[prop], values[prop] = [], []
                rows[prop].append(row)
                values[prop].append(value)
        for prop, prop_rows in rows.items():
            column = self.columns.get(prop)
            if column is None:
                column = self.columns[prop] = new_column(self.schema.properties[prop])
            picked = np.array(prop_rows, dtype=np.int64)
            column.write_many(dense[picked], ts[picked], values[prop])

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

    # --- stats ------------------------------------------------------------------------------
    def size_bytes(self) -> int:
        total = self.lifetime_value.size_bytes() + self.last_seen.size_bytes() + self.event_ids.size_bytes()
        total += sum(c.size_bytes() for c in self.columns.values())
        total += sum(i.size_bytes() for i in self.events.values())
        return total
