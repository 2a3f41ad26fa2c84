"""Saved-segment commands and the shard's clock on a DurableEngine (docs/SAVED_SEGMENTS.md).

A mixin of DurableEngine (indexes/durable/engine.py). Commands are validated under the admission
lock against the applied catalog and the pending schema, and hold that lock until applied, so they
are validated and stored one at a time, in log order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from indexes.durable.engine_limits import APPLY_WAIT_TIMEOUT_MS, WAIT_SLICE_S
from indexes.durable.inflight import InFlight, Ticket
from indexes.durable.ordered_apply import Appended, OrderedApplier
from indexes.engine import Engine
from indexes.engine import now_ms as wall_clock_ms
from indexes.records import Record
from indexes.schema import Schema
from indexes.segments.api import SegmentCommands
from indexes.segments.views import SegmentView


class EngineSegmentCommands(SegmentCommands):
    # DurableEngine's state and its log-first steps (indexes/durable/engine.py).
    _admission: threading.Condition
    _state: threading.Condition
    _engine: Engine
    _inflight: InFlight
    _applier: OrderedApplier
    _pending_schema: Schema
    _closed: bool
    _check_accepting: Callable[[], None]
    _append: Callable[[list[Record], Ticket, int | None, int | None], tuple[int, int, int]]

    def segment_command(self, command: dict, *, now_ms: int | None = None) -> SegmentView | None:
        """Validate against the catalog, append (durably) and apply one segment command; the segment
        afterwards (None after a delete). Raises SegmentError and its kinds or RuleError before
        appending anything, and what `ingest` raises from appending on."""
        wall_ms = now_ms if now_ms is not None else wall_clock_ms()
        with self._admission:  # held until applied: the next command validates against this one
            self._check_accepting()
            with self._state:
                record = self._engine.resolve_segment_command(command, wall_ms, self._pending_schema)
                ticket = self._inflight.add([], [], 0)
            self._append_alone([record], ticket, wall_ms)
        with self._state:
            return self._engine.segment_after(record)

    def advance_clock(self, now_ms: int | None = None) -> bool:
        """Let time pass to now_ms (default now): append a tick (a commit mark alone) if that can change
        a materialized segment; False, appending nothing, otherwise (an idle shard's log stays as is)."""
        wall_ms = now_ms if now_ms is not None else wall_clock_ms()
        with self._admission:
            self._check_accepting()
            with self._state:
                if not self._engine.segments.tick_needed(self._engine.shard, wall_ms):
                    return False
                ticket = self._inflight.add([], [], 0)
            self._append_alone([], ticket, wall_ms)
        return True

    def _append_alone(self, records: list[Record], ticket: Ticket, wall_ms: int) -> None:
        """Append a batch of its own and apply it (admission lock held)."""
        first_lsn, end_lsn, _ = self._append(records, ticket, None, wall_ms)
        self._applier.apply(Appended(first_lsn, end_lsn, records, ticket, wall_ms=wall_ms), APPLY_WAIT_TIMEOUT_MS)

    @property
    def clock_ms(self) -> int:
        with self._state:
            return self._engine.clock_ms

    def wait_for_changes(self, after_seq: int, timeout_ms: int) -> bool:
        """Block until the change log holds an entry after `after_seq` (True) or timeout_ms passed
        (False): what a Watch stream waits on between pages."""
        deadline = time.monotonic() + timeout_ms / 1000
        with self._state:
            # Bounded by the deadline; every apply notifies the condition.
            while self._engine.segments.changes.next_seq <= after_seq + 1:
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0 or self._closed:
                    return False
                self._state.wait(min(WAIT_SLICE_S, remaining_s))
            return True


__all__ = ["EngineSegmentCommands"]
