"""DurableEngine: the embedded engine over a data directory; nothing acknowledged is ever lost.

    with DurableEngine.open("data", tz="Europe/Istanbul") as engine:
        engine.ingest(records)            # returns once the batch is in the log (fsynced) and applied
        engine.count("order_count >= 5", as_of_ms=...)
        engine.snapshot()

    data/
      workspace.json    time zone and creation time, written once (indexes/durable/workspace.py)
      log/              the event log (indexes/log): every accepted record, the truth
      snapshots/        shard state at a batch boundary of the log (indexes/snapshot)

Open = newest usable snapshot + replay of the log from the LSN it covers (indexes/durable/replay.py).

Ingest, from any number of threads (docs/DURABILITY.md, "Ordered apply"):
1. admission, under `_admit_lock`: validate against the schema every admitted batch leaves behind,
   drop events whose id was accepted before (applied, in flight, or earlier in the batch), check that
   the shard has room, and reserve. Nothing is appended for a batch that fails here.
2. append to the log with a commit mark, outside the lock: concurrent producers share fsyncs (the
   log's group commit). A batch carrying declarations keeps the lock until its LSNs are given, so no
   batch validated against a declaration can precede it in the log.
3. apply in LSN order: each producer waits until the batch before its LSN is applied, applies its own
   under the state lock, and only then returns (acknowledges). Queries read under the same lock, so
   they see only durable state, and the in-memory state is always the replay of a log prefix.

Two phases, for a caller that must make several engines agree (the sharded cluster, actors/): `prepare`
is step 1 alone and returns a PreparedBatch (nothing appended, its reservation held); `commit` is
steps 2 and 3; `release` drops the reservation instead. `ingest` = prepare + commit. A prepared batch
carrying declarations is the only one of its kind until committed or released (a second one waits in
`prepare`), and the schema later batches validate against changes only when its commit has LSNs, as in
the one-phase path. The engine does not expire prepared batches (the caller bounds their life, see
actors/prepared.py); `close` releases those left over.

A failed append (write or fsync error) is never acknowledged, and the engine then refuses all ingest
(the log never retries, docs/LOG.md): close and reopen to continue.

Saved segments (docs/SAVED_SEGMENTS.md): every batch's commit mark carries the wall-clock time it was
encoded, which moves the shard's clock. Segment commands are validated under the admission lock
against the applied catalog and the pending schema, and hold that lock until applied, so commands are
validated and stored one at a time in log order. `advance_clock` appends a commit mark alone (a tick)
only when the passing time can change a materialized segment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from indexes.durable.capacity import customers_needed
from indexes.durable.control import tombstone_batch
from indexes.durable.engine_limits import (
    APPLY_WAIT_TIMEOUT_MS,
    CLOSE_TIMEOUT_MS,
    DECLARATION_WAIT_TIMEOUT_MS,
    MAX_BATCH_RECORDS,
    WAIT_SLICE_S,
)
from indexes.durable.engine_open import EngineOpening, EngineOpenReport
from indexes.durable.engine_queries import EngineQueries
from indexes.durable.engine_segment_commands import EngineSegmentCommands
from indexes.durable.engine_segment_reads import EngineSegmentReads
from indexes.durable.engine_snapshot import KEEP_SNAPSHOTS, EngineSnapshot
from indexes.durable.engine_stats import EngineStats, EngineStatsReport
from indexes.durable.inflight import Deduplicated, InFlight, Ticket
from indexes.durable.ordered_apply import Appended, OrderedApplier
from indexes.durable.prepared_batch import (
    COMMITTED,
    COMMITTING,
    FAILED,
    PREPARED,
    RELEASED,
    PreparedBatch,
    PreparedBatchError,
    Validator,
)
from indexes.durable.record_codec import encode_batch, encode_control
from indexes.durable.recovery import LOG_DIR, SNAPSHOTS_DIR
from indexes.durable.workspace import Workspace
from indexes.engine import Engine, IngestResult
from indexes.engine import now_ms as _wall_ms
from indexes.log import FileLog, LogBackpressureError, LogFailedError
from indexes.records import DeclarationRecord, Record, validate_batch
from indexes.schema import Schema
from indexes.shard.dense_ids import ShardFullError


class DurableEngine(
    EngineOpening, EngineSegmentCommands, EngineSegmentReads, EngineQueries, EngineSnapshot, EngineStatsReport
):
    """Use `DurableEngine.open`. Thread-safe: ingest from many threads, query from any.

    Ingest (prepare / commit / release) and its locks live here; opening, queries, saved segments,
    snapshots and stats are the mixins' (indexes/durable/engine_*.py), over the same state."""

    def __init__(self, data_dir: Path, workspace: Workspace, log: FileLog, engine: Engine, applied_lsn: int) -> None:
        self.data_dir = data_dir
        self.workspace = workspace
        self._log = log
        self._engine = engine
        self._admit_lock = threading.Lock()
        self._admission = threading.Condition(self._admit_lock)  # wakes declaration batches in prepare
        self._prepared: set[PreparedBatch] = set()  # guarded by _admit_lock: prepared, not yet committed
        self._declaring: PreparedBatch | None = None  # guarded by _admit_lock: the one prepared declaration batch
        self._state = threading.Condition(threading.RLock())
        self._pending_schema: Schema = engine.schema.copy()  # guarded by _admit_lock
        self._inflight = InFlight()  # guarded by _state
        self._refusal: BaseException | None = None  # set once: ingest is refused from then on
        self._applier = OrderedApplier(self._state, engine, self._inflight, applied_lsn, self._refuse)
        self._closed = False

    # --- close -------------------------------------------------------------------------------
    def close(self) -> None:
        """Refuse new ingest, release prepared batches nobody committed, wait for batches in flight,
        then sync and close the log."""
        with self._admit_lock:
            if self._closed:
                return
            self._closed = True
            for prepared in list(self._prepared):
                self._release_prepared(prepared)
        with self._state:
            self._wait(lambda: self._inflight.count == 0, CLOSE_TIMEOUT_MS, "batches in flight to finish")
        self._log.close()

    def __enter__(self) -> DurableEngine:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- ingest -------------------------------------------------------------------------------
    def ingest(self, raws: Sequence[Any], *, partial: bool = False, timeout_ms: int | None = None,
               now_ms: int | None = None) -> IngestResult:
        """Validate, deduplicate, append durably, apply in log order, then return (acknowledge).

        Without `partial`, one bad record rejects the batch (RecordBatchError naming index, field and
        reason) and nothing is appended. Events whose event_id was accepted before count as
        duplicates: acknowledged, not appended. Raises ShardFullError before appending when the shard
        could overflow, LogBackpressureError when the log's queue stays full for `timeout_ms`, and
        LogFailedError when the log failed (then and for every later call). `now_ms`: the wall-clock
        time its commit mark carries (default: when it is encoded), which moves the clock."""
        return self.commit(self.prepare(raws, partial=partial), timeout_ms, now_ms=now_ms)

    def prepare(self, raws: Sequence[Any], *, partial: bool = False, validate: Validator = validate_batch) -> PreparedBatch:
        """Admission alone: validate, deduplicate, check capacity and reserve; nothing is appended.

        `validate` reads `raws` into records against the admission schema; another reader of records
        in another form (the service's protobuf messages, service/wire_records.py) must give what
        `validate_batch` gives for their dict form, errors included.

        Raises what `ingest` raises before appending (RecordBatchError, ShardFullError, LogFailedError
        when refusing), and TimeoutError when a declaration batch waited DECLARATION_WAIT_TIMEOUT_MS for
        another prepared declaration batch. The result must go to `commit` or `release`."""
        if len(raws) > MAX_BATCH_RECORDS:
            raise ValueError(f"a batch holds at most {MAX_BATCH_RECORDS} records (got {len(raws)}): split it")
        deadline = time.monotonic() + DECLARATION_WAIT_TIMEOUT_MS / 1000
        with self._admission:
            # Bounded by the deadline; only a declaration batch meeting another prepared one waits.
            while True:
                self._check_accepting()
                base = self._pending_schema
                batch = validate(raws, base, partial=partial)
                declares = any(type(r) is DeclarationRecord for r in batch.records)
                if not declares or self._declaring is None:
                    break
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0:
                    raise TimeoutError(
                        f"a declaration batch waited {DECLARATION_WAIT_TIMEOUT_MS} ms for another "
                        "prepared declaration batch; retry"
                    )
                self._admission.wait(min(WAIT_SLICE_S, remaining_s))
            kept, ticket = self._admit(batch.records)
            duplicate_indexes: list[int] = []
            if kept.duplicates:
                kept_ids = {id(r) for r in kept.records}
                duplicate_indexes = [i for r, i in zip(batch.records, batch.indexes, strict=True) if id(r) not in kept_ids]
            assert len(duplicate_indexes) == kept.duplicates
            prepared = PreparedBatch(
                records=kept.records, ticket=ticket, waits=kept.waits, duplicate_indexes=duplicate_indexes,
                errors=list(batch.errors), schema=batch.schema, base_schema=base, declares=declares,
            )
            assert not declares or ticket is not None, "a declaration is never a duplicate"
            self._prepared.add(prepared)
            if declares:
                self._declaring = prepared
        return prepared

    def commit(self, prepared: PreparedBatch, timeout_ms: int | None = None, *, now_ms: int | None = None) -> IngestResult:
        """Append a prepared batch (group commit), apply it in log order, wait for the originals of its
        duplicates, then return (acknowledge). Raises PreparedBatchError when it is no longer prepared
        (released, e.g. by `close`), and what `ingest` raises from appending on."""
        records, ticket = prepared.records, prepared.ticket
        first_lsn = end_lsn = -1
        wall_ms = now_ms
        with self._admission:
            if prepared.state != PREPARED:
                raise PreparedBatchError(f"the batch is {prepared.state}, not prepared: prepare it again")
            prepared.state = COMMITTING
            self._prepared.discard(prepared)
            if prepared.declares:
                # Hold admission until the declaration has its LSNs: every later batch may use it.
                assert self._declaring is prepared and ticket is not None
                assert prepared.base_schema is self._pending_schema, "only declarations change it, one at a time"
                try:
                    first_lsn, end_lsn, wall_ms = self._append(records, ticket, timeout_ms, wall_ms)
                    self._pending_schema = prepared.schema
                except BaseException:
                    prepared.state = FAILED
                    raise
                finally:
                    self._declaring = None
                    self._admission.notify_all()
        try:
            if ticket is not None:
                if not prepared.declares:
                    first_lsn, end_lsn, wall_ms = self._append(records, ticket, timeout_ms, wall_ms)
                self._applier.apply(Appended(first_lsn, end_lsn, records, ticket, wall_ms=wall_ms), APPLY_WAIT_TIMEOUT_MS)
            if prepared.waits:
                self._await_tickets(prepared.waits)
        except BaseException:
            prepared.state = FAILED
            raise
        prepared.state = COMMITTED
        return IngestResult(
            accepted=len(records), duplicates=prepared.duplicates, errors=list(prepared.errors),
            duplicate_indexes=list(prepared.duplicate_indexes),
        )

    def release(self, prepared: PreparedBatch) -> bool:
        """Drop a prepared batch's reservation; nothing of it is stored. Idempotent: False when it was
        not prepared any more (already released, or committed / being committed)."""
        with self._admission:
            return self._release_prepared(prepared)

    def _release_prepared(self, prepared: PreparedBatch) -> bool:
        """Admission lock held."""
        if prepared.state != PREPARED:
            return False
        prepared.state = RELEASED
        self._prepared.discard(prepared)
        if self._declaring is prepared:
            self._declaring = None
            self._admission.notify_all()
        if prepared.ticket is not None:
            # Duplicates in other batches waiting on this one's events fail (and are retried).
            self._release(prepared.ticket, ok=False)
        return True

    @property
    def prepared_count(self) -> int:
        """Batches prepared and neither committed nor released."""
        with self._admit_lock:
            return len(self._prepared)

    def _admit(self, records: list[Record]) -> tuple[Deduplicated, Ticket | None]:
        """Deduplicate, bound new customers and reserve (admission lock held). The ticket is None when
        nothing is left to append."""
        with self._state:
            shard = self._engine.shard
            kept = self._inflight.deduplicate(records, shard.event_ids)
            if not kept.records:
                return kept, None
            needed = customers_needed(kept.records, shard.ids.lookup_many, self._inflight.erased)
            reserved = self._inflight.reserved_customers
            if shard.ids.allocated + reserved + needed > shard.ids.capacity:
                raise ShardFullError(
                    f"batch may add {needed} customers to a shard holding {shard.ids.allocated} "
                    f"(+{reserved} reserved by batches in flight) of {shard.ids.capacity} ids"
                )
            return kept, self._inflight.add(kept.records, kept.keys, needed)

    def _append(self, records: list[Record], ticket: Ticket, timeout_ms: int | None,
                wall_ms: int | None) -> tuple[int, int, int]:
        """(first LSN, end LSN, the wall time in the commit mark: wall_ms, default now)."""
        wall_ms = _wall_ms() if wall_ms is None else wall_ms
        try:
            result = self._log.append(encode_batch(records, wall_ms), timeout_ms=timeout_ms)
        except LogBackpressureError:
            self._release(ticket, ok=False)  # nothing appended; the engine goes on
            raise
        except BaseException as exc:
            # Failure is final for the log; it may or may not hold the batch after a reopen.
            self._refuse(exc)
            self._release(ticket, ok=False)
            raise
        return result.first_lsn, result.last_lsn + 1, wall_ms

    def _release(self, ticket: Ticket, *, ok: bool) -> None:
        with self._state:
            self._inflight.release(ticket, ok=ok)
            self._state.notify_all()

    def _await_tickets(self, tickets: list[Ticket]) -> None:
        with self._state:
            self._wait(lambda: all(t.done for t in tickets), APPLY_WAIT_TIMEOUT_MS, "in-flight originals")
            if not all(t.ok for t in tickets):
                raise LogFailedError("the original of a duplicate event failed to commit; retry the batch")

    def _wait(self, done: Any, timeout_ms: int, what: str) -> None:
        """Wait on the state condition (held) until done(); bounded."""
        deadline = time.monotonic() + timeout_ms / 1000
        while not done():
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                error = RuntimeError(f"gave up after {timeout_ms} ms waiting for {what}")
                self._refuse(error)
                raise error
            self._state.wait(min(WAIT_SLICE_S, remaining_s))

    def _refuse(self, cause: BaseException) -> None:
        with self._state:
            if self._refusal is None:
                self._refusal = cause

    def _check_accepting(self) -> None:
        if self._closed:
            raise LogFailedError(f"engine on {self.data_dir} is closed")
        if self._refusal is not None:
            raise LogFailedError(
                f"engine on {self.data_dir} refuses ingest after a failure ({self._refusal!r}); "
                "nothing since was acknowledged: close and reopen it"
            ) from self._refusal

    # --- control records ----------------------------------------------------------------------
    def append_tombstones(self, keys: np.ndarray) -> int:
        """Append tombstones for event-id digests ((n, 2) uint64; none is allowed) as one committed
        batch; compaction's step before it rewrites the log (it also ends the change log's epoch).
        Applied like replay applies it: only unseen digests are added (normally none: their events
        were applied). Returns the LSN after the batch."""
        with self._admit_lock:
            self._check_accepting()
            with self._state:
                ticket = self._inflight.add([], [], 0)
            wall_ms = _wall_ms()
            items = [encode_control(mark) for mark in tombstone_batch(keys, wall_ms)]
            try:
                result = self._log.append(items)
            except BaseException as exc:
                self._refuse(exc)
                self._release(ticket, ok=False)
                raise
            batch = Appended(result.first_lsn, result.last_lsn + 1, [], ticket, tombstone_keys=keys, wall_ms=wall_ms)
            self._applier.apply(batch, APPLY_WAIT_TIMEOUT_MS)
            return batch.end_lsn


__all__ = [
    "APPLY_WAIT_TIMEOUT_MS",
    "CLOSE_TIMEOUT_MS",
    "DECLARATION_WAIT_TIMEOUT_MS",
    "KEEP_SNAPSHOTS",
    "LOG_DIR",
    "MAX_BATCH_RECORDS",
    "SNAPSHOTS_DIR",
    "DurableEngine",
    "EngineOpenReport",
    "EngineStats",
    "PreparedBatch",
    "PreparedBatchError",
    "Validator",
]
