"""What one committed batch touched, per customer: the input of a data maintenance step.

Filled while the batch's shard steps apply (indexes/segments/batch.py): for each run, the dense ids
its accepted events and profile writes landed on (looked up after the run applied, so a customer
erased and seen again in one batch is attributed to the right dense id), and the dense ids erasures
retired. Events are kept in batch order so an entry can name the customer's last event of the batch
that the segment reads (its `event_id` detail).
"""

from __future__ import annotations

import numpy as np
from pyroaring import BitMap

from indexes.segments.footprint import Footprint
from indexes.shard.bitmaps import bitmap_from_ids
from indexes.shard.run_columns import RunColumns


class BatchTouch:
    def __init__(self, allocated_before: int) -> None:
        self.allocated_before = allocated_before  # dense ids from here on are customers new in the batch
        self.erased = BitMap()
        self.type_names: list[str] = []
        self._type_codes: dict[str, int] = {}
        self._event_dense: list[np.ndarray] = []
        self._event_types: list[np.ndarray] = []
        self._event_ids: list[str] = []
        self._profiles: dict[str, list[np.ndarray]] = {}
        self._finished: tuple[np.ndarray, np.ndarray] | None = None
        # Per set of event types read (None: every type): the batch's customers with such events, and
        # each one's last such event row. A batch's 100 segments share a handful of footprints, so each is
        # worked out once per batch instead of once per segment. Cleared when a run is added.
        self._customers_by_types: dict[frozenset[str] | None, BitMap] = {}
        self._last_rows_by_types: dict[frozenset[str] | None, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def empty(self) -> bool:
        return not self._event_ids and not self._profiles and not self.erased

    def add_erasure(self, dense: int) -> None:
        self.erased.add(dense)

    def add_run(self, run: RunColumns, dense_after: np.ndarray, fresh: np.ndarray | None) -> None:
        """A run that just applied: `dense_after` = the dense id of each record's customer now (-1:
        none, e.g. a customer named only by duplicate events); `fresh` = which of its events were
        accepted (None: all)."""
        assert len(dense_after) == len(run.names)
        self._finished = None
        self._customers_by_types.clear()
        self._last_rows_by_types.clear()
        if run.events is not None:
            events = run.events
            at = run.event_at if run.event_at is not None else np.arange(len(run.names))
            dense = dense_after[at]
            types = np.zeros(len(events), dtype=np.int32)
            for group in events.by_type:
                code = self._type_codes.get(group.event_type)
                if code is None:
                    code = self._type_codes[group.event_type] = len(self.type_names)
                    self.type_names.append(group.event_type)
                if group.rows is None:
                    types[:] = code
                else:
                    types[group.rows] = code
            keep = dense >= 0
            if fresh is not None:
                keep &= fresh
            rows = np.flatnonzero(keep)
            self._event_dense.append(dense[rows].astype(np.uint32))
            self._event_types.append(types[rows])
            ids = events.event_ids
            self._event_ids.extend(ids[row] for row in rows.tolist())
        if run.profiles is not None:
            assert run.profile_at is not None
            profile_dense = dense_after[run.profile_at]
            for prop, (rows, _values) in run.profiles.properties.items():
                landed = profile_dense[rows]
                self._profiles.setdefault(prop, []).append(landed[landed >= 0].astype(np.uint32))

    def _events(self) -> tuple[np.ndarray, np.ndarray]:
        if self._finished is None:
            dense = np.concatenate(self._event_dense) if self._event_dense else np.zeros(0, dtype=np.uint32)
            types = np.concatenate(self._event_types) if self._event_types else np.zeros(0, dtype=np.int32)
            self._finished = (dense, types)
        return self._finished

    @staticmethod
    def _types_key(footprint: Footprint | None) -> frozenset[str] | None:
        return None if footprint is None or footprint.every_event_type else footprint.event_types

    def _type_mask(self, types_read: frozenset[str] | None) -> np.ndarray:
        """Which batch event rows are of a type read (None: any type)."""
        dense, types = self._events()
        if types_read is None:
            return np.ones(len(dense), dtype=bool)
        # Type codes are 0..len(type_names)-1: a lookup table beats np.isin's fixed cost (~0.1 ms a call).
        wanted = np.zeros(len(self.type_names), dtype=bool)
        wanted[[self._type_codes[t] for t in types_read if t in self._type_codes]] = True
        return wanted[types]

    def event_customers(self, footprint: Footprint | None) -> BitMap:
        """The batch's customers with an accepted event of a type the footprint reads. Callers must not
        change the bitmap (it is shared by every footprint reading the same types)."""
        key = self._types_key(footprint)
        found = self._customers_by_types.get(key)
        if found is None:
            dense, _ = self._events()
            found = self._customers_by_types[key] = bitmap_from_ids(dense[self._type_mask(key)])
        return found

    def profile_customers(self, properties: frozenset[str]) -> BitMap:
        parts = [bitmap_from_ids(np.concatenate(self._profiles[p])) for p in properties if p in self._profiles]
        return BitMap.union(*parts) if parts else BitMap()

    def last_events(self, customers: np.ndarray, footprint: Footprint | None) -> list[str | None]:
        """For each dense id in `customers`, its last accepted event of the batch of a type the
        footprint reads (None: any type), or None."""
        owners, last_rows = self._last_rows(self._types_key(footprint))
        if len(owners) == 0 or len(customers) == 0:
            return [None] * len(customers)
        at = np.searchsorted(owners, customers)
        at[at == len(owners)] = 0
        hit = owners[at] == customers
        event_ids = self._event_ids
        return [event_ids[row] if is_hit else None for row, is_hit in zip(last_rows[at].tolist(), hit.tolist(), strict=True)]

    def _last_rows(self, key: frozenset[str] | None) -> tuple[np.ndarray, np.ndarray]:
        """(customers with an event of the types, ascending; the row of each one's last such event)."""
        found = self._last_rows_by_types.get(key)
        if found is None:
            dense, _ = self._events()
            latest = np.flatnonzero(self._type_mask(key))[::-1]
            owners, first = np.unique(dense[latest], return_index=True)
            found = self._last_rows_by_types[key] = (owners, latest[first])
        return found
