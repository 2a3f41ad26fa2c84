"""Apply appended batches in LSN order; consecutive ready batches go to the shard in one call.

Producers append concurrently, so their batches reach the log in an order no producer controls, and
their appends return in any order. The state must follow the log: a batch is applied only after
every batch before it. Each producer registers its appended batch and waits for its ticket; whichever
thread finds the batch at `applied_lsn` ready applies it *and every consecutive ready batch after it*
in one shard call (up to MAX_COALESCED_RECORDS). A shard call has a fixed cost of a few hundred
microseconds (numpy set-up per event type), which dominates small batches; coalescing lets many
producers of small batches share it, as group commit lets them share an fsync.

Applying several batches in one call equals applying them one by one: the shard applies records in
order, treating erasures and declarations as barriers, and runs of events and profiles are
order-independent (indexes/shard/shard.py). Capacity: the shard's check over the concatenation counts
at most what the batches' separate bounds reserved (indexes/durable/capacity.py).

Saved segments are maintained per committed batch, so that the change log a replay builds is the one
built live (docs/SAVED_SEGMENTS.md): while a segment is active, each batch of a chain is applied on its
own with its commit mark's wall time; so are batches carrying segment commands or tombstones. Without
an active segment, batches coalesce as above and only move the clock to their latest time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from indexes.durable.event_id_keys import add_unseen
from indexes.durable.inflight import InFlight, Ticket
from indexes.engine import Engine
from indexes.log import LogFailedError
from indexes.records import Record
from indexes.segments.batch import is_plain

MAX_COALESCED_RECORDS = 100_000
_WAIT_SLICE_S = 0.5


@dataclass(eq=False)
class Appended:
    """A batch the log acknowledged: LSNs first_lsn..end_lsn-1 (its commit mark included)."""

    first_lsn: int
    end_lsn: int
    records: list[Record]
    ticket: Ticket
    tombstone_keys: np.ndarray | None = field(default=None)  # a tombstone batch instead of records
    wall_ms: int | None = None  # the wall-clock time in its commit mark


class OrderedApplier:
    """Guarded by the engine's state condition `state` (its lock is taken here)."""

    def __init__(self, state: threading.Condition, engine: Engine, inflight: InFlight, applied_lsn: int,
                 on_failure: Callable[[BaseException], None]) -> None:
        self._state = state
        self._engine = engine
        self._inflight = inflight
        self.applied_lsn = applied_lsn
        self.broken = False  # an apply failed: the state no longer follows the log
        self._ready: dict[int, Appended] = {}  # by first_lsn: appended, not yet applied
        self._on_failure = on_failure
        self.coalesced_calls = 0  # shard calls that applied more than one batch (a metric)

    def apply(self, batch: Appended, timeout_ms: int) -> None:
        """Register `batch` and return once it is applied; LogFailedError if it never will be."""
        deadline = time.monotonic() + timeout_ms / 1000
        with self._state:
            assert batch.first_lsn >= self.applied_lsn and batch.first_lsn not in self._ready
            self._ready[batch.first_lsn] = batch
            while not batch.ticket.done:
                if self.applied_lsn in self._ready and not self.broken:
                    self._apply_chain()
                    continue
                if self.broken:
                    self._abandon_all()
                    break
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0:
                    error = TimeoutError(f"LSN {batch.first_lsn} not applied after {timeout_ms} ms")
                    self._fail(error)
                    raise error
                self._state.wait(min(_WAIT_SLICE_S, remaining_s))
            if not batch.ticket.ok:
                raise LogFailedError(f"the batch at LSN {batch.first_lsn} could not be applied: reopen the engine")

    def _apply_chain(self) -> None:
        chain: list[Appended] = []
        count = 0
        lsn = self.applied_lsn
        # Bounded by the batches registered (each is taken once) and by MAX_COALESCED_RECORDS.
        while lsn in self._ready and (not chain or count + len(self._ready[lsn].records) <= MAX_COALESCED_RECORDS):
            batch = self._ready.pop(lsn)
            chain.append(batch)
            count += len(batch.records)
            lsn = batch.end_lsn
        try:
            self._apply(chain)
        except BaseException as exc:
            for batch in chain:
                self._inflight.release(batch.ticket, ok=False)
            self._fail(exc)
            return
        assert lsn > self.applied_lsn
        self.applied_lsn = lsn
        self.coalesced_calls += len(chain) > 1
        for batch in chain:
            self._inflight.release(batch.ticket, ok=True)
        self._state.notify_all()

    def _apply(self, chain: list[Appended]) -> None:
        engine = self._engine
        pending: list[Record] = []
        pending_wall: int | None = None
        for batch in chain:
            alone = engine.segments.maintains() or batch.tombstone_keys is not None or not is_plain(batch.records)
            if not alone:
                pending.extend(batch.records)
                pending_wall = batch.wall_ms if pending_wall is None else max(pending_wall, batch.wall_ms or 0)
                continue
            if pending or pending_wall is not None:
                engine.apply_committed(pending, pending_wall)
                pending, pending_wall = [], None
            if batch.tombstone_keys is not None:
                add_unseen(engine.shard.event_ids, batch.tombstone_keys)
                engine.segments.note_rewrite()
            engine.apply_committed(batch.records, batch.wall_ms)
        if pending or pending_wall is not None:
            engine.apply_committed(pending, pending_wall)

    def _fail(self, exc: BaseException) -> None:
        self.broken = True
        self._on_failure(exc)
        self._abandon_all()

    def _abandon_all(self) -> None:
        for batch in self._ready.values():
            self._inflight.release(batch.ticket, ok=False)
        self._ready.clear()
        self._state.notify_all()
