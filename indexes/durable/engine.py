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

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from pyroaring import BitMap

from indexes.durable.capacity import customers_needed
from indexes.durable.control import tombstone_batch
from indexes.durable.inflight import Deduplicated, InFlight, Ticket
from indexes.durable.ordered_apply import Appended, OrderedApplier
from indexes.durable.record_codec import encode_batch, encode_control
from indexes.durable.recovery import SNAPSHOTS_DIR, recover
from indexes.durable.replay import ReplayReport
from indexes.durable.workspace import Workspace, WorkspaceError, open_workspace
from indexes.engine import Engine, IngestResult, RuleInput
from indexes.log import FileLog, LogBackpressureError, LogFailedError, OpenReport
from indexes.log.file_log import DEFAULT_MAX_PENDING_RECORDS
from indexes.log.fsio import Fsync
from indexes.log.segment_writer import DEFAULT_SEGMENT_SIZE_BYTES
from indexes.plan.compile import Plan
from indexes.records import BatchResult, DeclarationRecord, Record, RecordError, validate_batch
from indexes.rules.model import Node
from indexes.schema import Schema
from indexes.segments.api import SegmentCommands
from indexes.segments.templates import TEMPLATES, Template
from indexes.segments.views import ChangePage, DryRun, SegmentStats, SegmentView
from indexes.shard.dense_ids import MAX_CUSTOMERS_PER_SHARD, ShardFullError
from indexes.snapshot import (
    SnapshotInfo,
    list_snapshots,
    prune_snapshots,
    write_snapshot,
)

LOG_DIR = "log"
# One batch must fit the log's pending queue (200 000 records, 64 MiB) with room for others.
MAX_BATCH_RECORDS = 100_000
KEEP_SNAPSHOTS = 2
# A producer waits this long for the batch before its LSN to be applied; the predecessor is already
# durable and only needs CPU, so running out means a bug, and the engine stops accepting ingest.
APPLY_WAIT_TIMEOUT_MS = 120_000
CLOSE_TIMEOUT_MS = 120_000
# A declaration batch waits in `prepare` this long for another prepared declaration batch to be
# committed or released (declarations are rare; the cluster sends them one at a time).
DECLARATION_WAIT_TIMEOUT_MS = 30_000
_WAIT_SLICE_S = 0.5

# validate_batch's form: (raws, schema, *, partial) -> BatchResult, RecordBatchError when refused.
Validator = Callable[..., BatchResult]

PREPARED = "prepared"
COMMITTING = "committing"
COMMITTED = "committed"
FAILED = "failed"
RELEASED = "released"


class PreparedBatchError(RuntimeError):
    """`commit` of a batch that is no longer prepared (released, committed, or being committed)."""


@dataclass(eq=False)
class PreparedBatch:
    """A batch after admission (validated, deduplicated, reserved) with nothing appended. Hand it to
    `commit` or `release` of the engine that prepared it, once."""

    records: list[Record]  # what commit appends, in batch order (duplicates dropped)
    ticket: Ticket | None  # the reservation; None when nothing is left to append
    waits: list[Ticket]  # in-flight batches holding originals of dropped duplicates
    duplicate_indexes: list[int]  # input indexes of the events dropped as duplicates, ascending
    errors: list[RecordError]  # rejected records (partial mode), by input index
    schema: Schema  # the schema after this batch (its declarations applied)
    base_schema: Schema  # the admission schema it was validated against
    declares: bool
    state: str = field(default=PREPARED)

    @property
    def duplicates(self) -> int:
        return len(self.duplicate_indexes)

    @property
    def needs_commit(self) -> bool:
        """False when commit would append nothing and wait for nothing (all duplicates of applied
        events, or all rejected): the batch can be committed at once, in the caller's thread."""
        return self.ticket is not None or bool(self.waits)


@dataclass(frozen=True)
class EngineOpenReport:
    log: OpenReport  # what opening the log did (torn tail cut, rewrite finished)
    snapshot: SnapshotInfo | None  # the snapshot the state started from (None: full replay)
    skipped_snapshots: list[str]  # unusable snapshots passed over, with the reason
    stale_snapshots_removed: list[str]  # snapshots covering more than the log holds (after a repair)
    replay: ReplayReport
    abort_written: bool  # the log ended inside a batch; an abort mark now discards it
    seconds: float


@dataclass(frozen=True)
class EngineStats:
    data_dir: str
    tz: str
    customers: int
    events: int  # event rows applied since the log began (erased customers' rows included)
    event_ids: int  # distinct event ids remembered for idempotency
    event_ids_size_bytes: int
    applied_lsn: int
    log_size_bytes: int
    log_segments: int
    snapshot: SnapshotInfo | None
    snapshot_age_ms: int | None
    records_since_snapshot: int
    refusing_ingest: str | None  # why ingest is refused, if it is
    coalesced_applies: int  # shard calls that applied several consecutive batches at once


class DurableEngine(SegmentCommands):
    """Use `DurableEngine.open`. Thread-safe: ingest from many threads, query from any."""

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

    # --- open / close -------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        data_dir: str | os.PathLike[str],
        tz: str | None = None,
        sync: str = "always",
        *,
        create: bool = True,
        fsync: Fsync = os.fsync,
        segment_size_bytes: int = DEFAULT_SEGMENT_SIZE_BYTES,
        use_snapshots: bool = True,
        capacity: int = MAX_CUSTOMERS_PER_SHARD,
        max_pending_records: int = DEFAULT_MAX_PENDING_RECORDS,
    ) -> DurableEngine:
        """Open (or create, with `tz`, default UTC) the workspace at `data_dir` and recover its state.

        `tz` must match the workspace's zone when it exists. `use_snapshots=False` replays the whole
        log. `fsync` is injectable for failure tests; `capacity` (customer ids per shard) for limits
        (a snapshot brings its own); `max_pending_records` bounds the log's queue (backpressure)."""
        engine, _ = cls.open_with_report(
            data_dir, tz, sync, create=create, fsync=fsync, segment_size_bytes=segment_size_bytes,
            use_snapshots=use_snapshots, capacity=capacity,
            max_pending_records=max_pending_records,
        )
        return engine

    @classmethod
    def open_with_report(
        cls,
        data_dir: str | os.PathLike[str],
        tz: str | None = None,
        sync: str = "always",
        *,
        create: bool = True,
        fsync: Fsync = os.fsync,
        segment_size_bytes: int = DEFAULT_SEGMENT_SIZE_BYTES,
        use_snapshots: bool = True,
        capacity: int = MAX_CUSTOMERS_PER_SHARD,
        max_pending_records: int = DEFAULT_MAX_PENDING_RECORDS,
    ) -> tuple[DurableEngine, EngineOpenReport]:
        started = time.perf_counter()
        root = Path(data_dir)
        if create:
            root.mkdir(parents=True, exist_ok=True)
        elif not root.is_dir():
            raise WorkspaceError(f"no workspace at {root}")
        workspace = open_workspace(root, tz, create=create, fsync=fsync)

        def open_log() -> FileLog:
            return FileLog(root / LOG_DIR, sync=sync, fsync=fsync, segment_size_bytes=segment_size_bytes,
                           max_pending_records=max_pending_records)

        state = recover(root, workspace, open_log, use_snapshots=use_snapshots, capacity=capacity)
        durable = cls(root, workspace, state.log, state.engine, state.log.end_lsn)
        open_report = EngineOpenReport(
            state.log.open_report, state.snapshot, state.skipped, state.stale, state.replay,
            state.abort_written, time.perf_counter() - started,
        )
        return durable, open_report

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
                self._admission.wait(min(_WAIT_SLICE_S, remaining_s))
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
            self._state.wait(min(_WAIT_SLICE_S, remaining_s))

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

    # --- saved segments: commands and the clock ------------------------------------------------
    def segment_command(self, command: dict, *, now_ms: int | None = None) -> SegmentView | None:
        """Validate against the catalog, append (durably) and apply one segment command; the segment
        afterwards (None after a delete). Raises SegmentError and its kinds or RuleError before
        appending anything, and what `ingest` raises from appending on."""
        wall_ms = now_ms if now_ms is not None else _wall_ms()
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
        wall_ms = now_ms if now_ms is not None else _wall_ms()
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
                self._state.wait(min(_WAIT_SLICE_S, remaining_s))
            return True

    # --- saved segments: reads (see Engine for what each returns) ------------------------------
    def get_segment(self, segment_id: str, *, version: int | None = None, include_deleted: bool = False) -> SegmentView:
        with self._state:
            return self._engine.get_segment(segment_id, version=version, include_deleted=include_deleted)

    def segment_versions(self, segment_id: str, *, include_deleted: bool = False) -> list[SegmentView]:
        with self._state:
            return self._engine.segment_versions(segment_id, include_deleted=include_deleted)

    def list_segments(self, *, name_contains: str | None = None, tag: str | None = None,
                      include_deleted: bool = False) -> list[SegmentView]:
        with self._state:
            return self._engine.list_segments(name_contains=name_contains, tag=tag, include_deleted=include_deleted)

    def segment_evaluate(self, segment_id: str, as_of_ms: int | None = None) -> BitMap:
        with self._state:
            return self._engine.segment_evaluate(segment_id, as_of_ms)

    def segment_count(self, segment_id: str, as_of_ms: int | None = None) -> int:
        with self._state:
            return self._engine.segment_count(segment_id, as_of_ms)

    def segment_members(self, segment_id: str, as_of_ms: int | None = None) -> list[str]:
        with self._state:
            return self._engine.segment_members(segment_id, as_of_ms)

    def segment_stats(self, segment_id: str) -> SegmentStats:
        with self._state:
            return self._engine.segment_stats(segment_id)

    def segment_changes(self, segment_ids: Sequence[str] | None = None, *, after_seq: int | None = None,
                        customer_id: str | None = None, from_ms: int | None = None, to_ms: int | None = None,
                        limit: int = 1000, epoch: int | None = None) -> ChangePage:
        with self._state:
            return self._engine.segment_changes(segment_ids, after_seq=after_seq, customer_id=customer_id,
                                                from_ms=from_ms, to_ms=to_ms, limit=limit, epoch=epoch)

    def dry_run_edit(self, segment_id: str, rule: Any, *, as_of_ms: int | None = None, samples: int = 10) -> DryRun:
        with self._state:
            return self._engine.dry_run_edit(segment_id, rule, as_of_ms=as_of_ms, samples=samples)

    @staticmethod
    def segment_templates() -> list[Template]:
        return list(TEMPLATES)

    # --- queries ------------------------------------------------------------------------------
    @property
    def tz(self) -> str:
        return self._engine.tz

    @property
    def schema(self) -> Schema:
        return self._engine.schema

    @property
    def applied_lsn(self) -> int:
        with self._state:
            return self._applier.applied_lsn

    def load_rule(self, rule: RuleInput) -> Node:
        with self._state:
            return self._engine.load_rule(rule)

    def evaluate(self, rule: RuleInput | Plan, as_of_ms: int | None = None) -> BitMap:
        with self._state:
            return self._engine.evaluate(rule, as_of_ms)

    def count(self, rule: RuleInput | Plan, as_of_ms: int | None = None) -> int:
        with self._state:
            return self._engine.count(rule, as_of_ms)

    def members(self, rule: RuleInput | Plan, as_of_ms: int | None = None) -> list[str]:
        with self._state:
            return self._engine.members(rule, as_of_ms)

    def externals(self, dense_ids: BitMap) -> list[str]:
        """Customer ids of dense ids from `evaluate` (valid until the next ingest)."""
        with self._state:
            return sorted(self._engine.shard.ids.externals(dense_ids))

    def customer_count(self) -> int:
        with self._state:
            return self._engine.customer_count()

    def read_state(self) -> _StateView:
        """`with engine.read_state() as engine_inside:` the in-memory Engine, ingest held off (tests,
        digests, snapshots). Do not keep references past the block."""
        return _StateView(self)

    # --- snapshots and stats ------------------------------------------------------------------
    def snapshot(self) -> SnapshotInfo:
        """Write a snapshot of the applied state and keep the newest KEEP_SNAPSHOTS. The log is synced
        first, so a snapshot never covers a record that is not durable (policies interval/never)."""
        self._log.sync()
        with self._state:
            info = write_snapshot(self._engine.shard, self.data_dir / SNAPSHOTS_DIR, self._applier.applied_lsn,
                                  segments=self._engine.segments)
        prune_snapshots(self.data_dir / SNAPSHOTS_DIR, keep=KEEP_SNAPSHOTS)
        return info

    def stats(self) -> EngineStats:
        snapshots = list_snapshots(self.data_dir / SNAPSHOTS_DIR)
        newest = max(snapshots, key=lambda s: s.covered_lsn, default=None)
        segments = sorted((self.data_dir / LOG_DIR).glob("*.seg"))
        with self._state:
            shard = self._engine.shard
            applied = self._applier.applied_lsn
            out = EngineStats(
                data_dir=str(self.data_dir),
                tz=self.tz,
                customers=len(shard.alive),
                events=shard.event_count,
                event_ids=len(shard.event_ids),
                event_ids_size_bytes=shard.event_ids.size_bytes(),
                applied_lsn=applied,
                log_size_bytes=sum(_size(p) for p in segments),
                log_segments=len(segments),
                snapshot=newest,
                snapshot_age_ms=(int(time.time() * 1000) - newest.created_at_ms) if newest else None,
                records_since_snapshot=applied - (newest.covered_lsn if newest else 0),
                refusing_ingest=repr(self._refusal) if self._refusal is not None else None,
                coalesced_applies=self._applier.coalesced_calls,
            )
        return out

    @property
    def log(self) -> FileLog:
        """The open event log (read-only use: replay into another engine, digests)."""
        return self._log


class _StateView:
    def __init__(self, owner: DurableEngine) -> None:
        self._owner = owner

    def __enter__(self) -> Engine:
        self._owner._state.acquire()
        return self._owner._engine

    def __exit__(self, *exc: object) -> None:
        self._owner._state.release()


def _wall_ms() -> int:
    return int(time.time() * 1000)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # a segment removed by a concurrent rewrite: not ours to count
        return 0


__all__ = [
    "DurableEngine",
    "EngineOpenReport",
    "EngineStats",
    "MAX_BATCH_RECORDS",
    "PreparedBatch",
    "PreparedBatchError",
]
