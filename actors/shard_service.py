"""One shard: a DurableEngine on DATA_DIR/shard-NNNN serving the router's calls.

Plain Python and thread-safe; actors/shard_actor.py runs it as a Ray actor (Ray lives there only).

* Opening (snapshot + log replay) runs in a background thread, so the actor answers at once: until the
  engine is open every call but `state`/`stats` raises ShardUnavailableError (the router maps it to
  UNAVAILABLE). The same happens after a crash: Ray restarts the actor, which reopens the workspace.
* Ingest is two-phase (docs/SERVICE.md): `prepare` keeps the engine's PreparedBatch under a token in a
  bounded registry that releases forgotten batches (actors/prepared.py); `commit` / `release` take it.
* Queries take a compiled plan (compiled once at the router) and answer a count, or a page of members
  from a cached sorted member list (actors/member_pages.py).
* Compaction needs the workspace closed: new calls are refused, calls in progress drain, prepared
  batches are released, the engine closes, `indexes.durable.compact` runs, the engine reopens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xxhash

from actors.api import ShardCompactionInfo, ShardSnapshotInfo, ShardStatsInfo, ShardUnavailableError
from actors.count_cache import CountCache
from actors.member_pages import ShardPage, SortedMembersCache, page_after
from actors.prepared import MAX_PREPARED_BATCHES_PER_SHARD, PREPARED_BATCH_TTL_MS, PreparedRegistry
from actors.process_memory import process_rss_bytes
from indexes.durable import DurableEngine, compact
from indexes.durable.engine import PreparedBatch, PreparedBatchError, Validator
from indexes.durable.export_erasure import erase_from_exports
from indexes.engine import IngestResult
from indexes.log import LogBackpressureError, LogLockedError
from indexes.log.fault_injection import fsync_from_env
from indexes.plan.compile import Plan
from indexes.records import RecordBatchError, RecordError, validate_batch
from indexes.schema import Schema
from proto.segments.v1 import ingest_pb2
from service.wire_records import validate_wire

SERVING = "SERVING"
RECOVERING = "RECOVERING"
FAILED = "FAILED"

# After a crash Ray may start the new actor while the old process still holds the log's flock (the
# kernel drops it when that process is gone); opening retries this long before the shard is FAILED.
OPEN_LOCK_RETRY_MS = 30_000
_OPEN_LOCK_RETRY_SLICE_S = 0.1
# Compaction waits this long for calls in progress before closing the engine under them.
DRAIN_TIMEOUT_MS = 60_000
_WAIT_SLICE_S = 0.5
_parse_request = ingest_pb2.IngestRequest.FromString


@dataclass(frozen=True)
class PrepareReply:
    token: str | None  # commit or release it; None when there is nothing to commit
    errors: list[RecordError]  # by sub-batch index: rejected records (partial), or why it was refused
    refused: bool  # not partial and some record is invalid: nothing reserved
    result: IngestResult | None  # the final result when token is None and not refused


def plan_digest(plan: Plan) -> str:
    """Cache key of a compiled plan: plans are frozen dataclasses of tuples, ints, strs, dates and
    Decimals, whose repr is deterministic."""
    return xxhash.xxh3_128_hexdigest(repr(plan).encode())


class ShardService:
    def __init__(
        self,
        shard: int,
        data_dir: str,
        shard_path: str,
        *,
        sync: str = "always",
        max_prepared_batches: int = MAX_PREPARED_BATCHES_PER_SHARD,
        prepared_batch_ttl_ms: int = PREPARED_BATCH_TTL_MS,
        count_cache_entries: int = 0,
        open_lock_wait_ms: int = OPEN_LOCK_RETRY_MS,
    ) -> None:
        assert open_lock_wait_ms >= 0
        self.shard = shard
        self._open_lock_wait_ms = open_lock_wait_ms  # longer when shards move between machines (docs/SCALING.md)
        self.data_dir = Path(data_dir)
        self.shard_path = shard_path
        self._sync = sync
        self._cond = threading.Condition()
        self._engine: DurableEngine | None = None  # guarded by _cond; set while SERVING
        self._state = RECOVERING
        self._reason: str | None = "opening the workspace"
        self._active = 0  # calls using the engine now (guarded by _cond)
        self._closed = False
        self._prepared = PreparedRegistry(max_prepared_batches, prepared_batch_ttl_ms)
        self._members = SortedMembersCache()
        self._counts = CountCache(count_cache_entries) if count_cache_entries > 0 else None  # actors/count_cache.py
        self._stop = threading.Event()
        self.opened_at_s: float | None = None
        threading.Thread(target=self._open, name=f"shard-{shard}-open", daemon=True).start()
        # Releases prepared batches nobody committed; checks a few times per TTL.
        interval_s = min(prepared_batch_ttl_ms / 4000, 5.0)
        threading.Thread(target=self._reap, args=(interval_s,), name=f"shard-{shard}-reaper", daemon=True).start()

    # --- lifecycle -----------------------------------------------------------------------------
    def _open(self) -> None:
        deadline = time.monotonic() + self._open_lock_wait_ms / 1000
        # Bounded by the deadline: only a held lock is retried.
        while True:
            try:
                engine = DurableEngine.open(self.data_dir / self.shard_path, sync=self._sync, create=False,
                                            fsync=fsync_from_env())  # os.fsync unless a test injects faults
                break
            except LogLockedError as exc:
                if time.monotonic() >= deadline or self._stop.is_set():
                    self._set_state(FAILED, f"cannot open: {exc}")
                    return
                self._set_state(RECOVERING, f"waiting for the lock of a process that still holds the shard: {exc}")
                time.sleep(_OPEN_LOCK_RETRY_SLICE_S)
            except Exception as exc:  # the shard cannot serve; stats and the health check say why
                self._set_state(FAILED, f"cannot open: {exc!r}")
                return
        with self._cond:
            if self._closed:  # closed while opening
                engine.close()
                return
            self._engine = engine
            self._state, self._reason = SERVING, None
            self.opened_at_s = time.monotonic()
            self._cond.notify_all()

    def _set_state(self, state: str, reason: str | None) -> None:
        with self._cond:
            self._state, self._reason = state, reason
            self._cond.notify_all()

    def _reap(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self._prepared.expire()

    def state(self) -> tuple[str, str | None]:
        """(SERVING | RECOVERING | FAILED, why not serving)."""
        with self._cond:
            return self._state, self._reason

    @contextmanager
    def _use(self) -> Iterator[DurableEngine]:
        """The engine for one call, or ShardUnavailableError; compaction waits for the call to end."""
        with self._cond:
            if self._state != SERVING or self._engine is None:
                raise ShardUnavailableError(f"shard {self.shard} is {self._state}: {self._reason}")
            engine = self._engine
            self._active += 1
        try:
            yield engine
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def using(self) -> AbstractContextManager[DurableEngine]:
        """`_use` for the shard's other call sets (actors/shard_segments.py)."""
        return self._use()

    def _quiesce(self, reason: str) -> DurableEngine:
        """Refuse new calls, wait for those in progress, release prepared batches; the engine is then
        no longer reachable by calls (the caller closes it)."""
        deadline = time.monotonic() + DRAIN_TIMEOUT_MS / 1000
        with self._cond:
            if self._state != SERVING or self._engine is None:
                raise ShardUnavailableError(f"shard {self.shard} is {self._state}: {self._reason}")
            engine = self._engine
            self._state, self._reason, self._engine = RECOVERING, reason, None
            while self._active > 0 and time.monotonic() < deadline:
                self._cond.wait(_WAIT_SLICE_S)
        self._prepared.release_all()
        self._members.clear()
        if self._counts is not None:
            self._counts.clear()
        return engine

    def close(self) -> None:
        """Release prepared batches, wait for ingest in flight, sync and close the log."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        try:
            engine = self._quiesce("closed")
        except ShardUnavailableError:
            engine = None  # never opened, or failed: nothing to close
        if engine is not None:
            engine.close()
        self._set_state(FAILED, "closed")

    # --- ingest --------------------------------------------------------------------------------
    def prepare(self, raws: list[Any], partial: bool) -> PrepareReply:
        return self._prepare(raws, partial, validate_batch)

    def prepare_wire(self, data: bytes, partial: bool) -> PrepareReply:
        """`prepare` of this shard's records as the router cut them from the requests: a serialized
        IngestRequest (actors/api.py WireBatch), parsed here in one call, on the shard's core rather than
        the router's, and read straight into validated records (service/wire_records.py). A record that
        cannot be decoded is rejected at its index like an invalid one."""
        return self._prepare(_parse_request(data).records, partial, validate_wire)

    def _prepare(self, raws: Sequence[Any], partial: bool, validate: Validator) -> PrepareReply:
        with self._use() as engine:
            try:
                prepared = engine.prepare(raws, partial=partial, validate=validate)
            except RecordBatchError as exc:
                # Returned, not raised: the router merges every shard's errors into one answer.
                return PrepareReply(None, list(exc.errors), True, None)
            if not prepared.needs_commit:
                return PrepareReply(None, list(prepared.errors), False, self._commit(engine, prepared, None))
            token = self._prepared.add(prepared, engine.release)
            return PrepareReply(token, list(prepared.errors), False, None)

    def prepare_validated(self, raws: list[Any], validate: Validator) -> PrepareReply:
        """`prepare` (all or nothing) with another reader of records (saved-segment commands)."""
        return self._prepare(raws, False, validate)

    def commit(self, token: str, timeout_ms: int | None) -> IngestResult:
        with self._use() as engine:
            try:
                prepared = self._prepared.take(token)
            except PreparedBatchError as exc:
                # Lost in a restart of this actor, or expired: nothing of it is stored here.
                raise ShardUnavailableError(f"shard {self.shard}: {exc}; nothing stored on it, retry") from None
            return self._commit(engine, prepared, timeout_ms)

    def _commit(self, engine: DurableEngine, prepared: PreparedBatch, timeout_ms: int | None) -> IngestResult:
        try:
            return engine.commit(prepared, timeout_ms)
        except LogBackpressureError:
            raise  # nothing appended; the engine goes on
        except BaseException:
            # The engine may have failed an apply: its state need not follow its log any more, so an
            # LSN no longer names one state. Counts are evaluated afresh until the shard reopens.
            if self._counts is not None:
                self._counts.disable()
            raise

    def release(self, token: str) -> bool:
        """Works while the shard is not serving too: a release must never wait for recovery."""
        return self._prepared.release(token)

    # --- queries -------------------------------------------------------------------------------
    def schema(self) -> Schema:
        with self._use() as engine:
            return engine.schema.copy()

    def count(self, plan: Plan, as_of_ms: int) -> int:
        with self._use() as engine:
            return engine.count(plan, as_of_ms)

    def count_many(self, queries: list[tuple[Plan, int]]) -> list[int | Exception]:
        """Counts of several (plan, as_of_ms), in order; a query that fails gives its exception in its
        place and the others still count. Each takes the state lock by itself, so an ingest waiting to
        apply gets in between two queries of a batch rather than after all of them."""
        with self._use() as engine:
            out: list[int | Exception] = []
            for plan, as_of_ms in queries:
                try:
                    out.append(engine.count(plan, as_of_ms) if self._counts is None else
                               self._cached_count(engine, self._counts, plan, as_of_ms))
                except Exception as exc:  # noqa: BLE001 - this query's answer; the batch goes on
                    out.append(exc)
            return out

    @staticmethod
    def _cached_count(engine: DurableEngine, counts: CountCache, plan: Plan, as_of_ms: int) -> int:
        plan_key = repr(plan)
        with engine.read_state() as inner:
            # Under the state lock: the LSN in the key is the state the count is of.
            key = (plan_key, as_of_ms, engine.applied_lsn)
            found = counts.get(key)
            if found is not None:
                return found
            count = inner.count(plan, as_of_ms)
        counts.put(key, count)
        return count

    def members_page(self, plan: Plan, digest: str, as_of_ms: int, after: str | None, page_size: int) -> ShardPage:
        with self._use() as engine:
            with engine.read_state() as inner:
                # Under the state lock: the LSN in the key is the state the list is built from.
                key = (digest, as_of_ms, engine.applied_lsn)
                members = self._members.get(key)
                unsorted = None if members is not None else inner.shard.ids.externals(inner.evaluate(plan, as_of_ms))
            if members is None:
                assert unsorted is not None
                members = sorted(unsorted)  # outside the state lock: ingest is not held up by the sort
                self._members.put(key, members)
            return page_after(members, after, page_size)

    # --- operations ----------------------------------------------------------------------------
    def snapshot(self) -> ShardSnapshotInfo:
        with self._use() as engine:
            info = engine.snapshot()
        path = Path(info.path)
        relative = path.relative_to(self.data_dir) if path.is_relative_to(self.data_dir) else path
        return ShardSnapshotInfo(shard=self.shard, lsn=info.covered_lsn, size_bytes=info.size_bytes, path=str(relative))

    def compact(self) -> ShardCompactionInfo:
        engine = self._quiesce("compacting")
        error: BaseException | None = None
        try:
            engine.close()
            # Export files are the cluster's (DATA_DIR/exports): erased customers leave them too.
            report = compact(self.data_dir / self.shard_path,
                             before_rewrite=lambda customers: erase_from_exports(self.data_dir, customers))
        except BaseException as exc:
            error = exc
        finally:
            # Reopen whatever happened: compaction leaves a workspace that opens (docs/DURABILITY.md).
            self._set_state(RECOVERING, "reopening after compaction")
            self._open()
        if error is not None:
            raise error
        return ShardCompactionInfo(
            shard=self.shard, records_before=report.records_before, records_after=report.records_after,
            size_bytes_before=report.log_bytes_before, size_bytes_after=report.log_bytes_after,
        )

    def stats(self) -> ShardStatsInfo:
        state, _ = self.state()
        try:
            with self._use() as engine:
                stats = engine.stats()
        except ShardUnavailableError:
            return ShardStatsInfo(self.shard, state, 0, 0, 0, 0, 0, None, 0, self.shard_path, process_rss_bytes())
        return ShardStatsInfo(
            shard=self.shard, state=SERVING, customers=stats.customers, events=stats.events,
            event_ids=stats.event_ids, applied_lsn=stats.applied_lsn, log_size_bytes=stats.log_size_bytes,
            snapshot_age_ms=stats.snapshot_age_ms, records_since_snapshot=stats.records_since_snapshot,
            path=self.shard_path, rss_bytes=process_rss_bytes(),
        )

    def prepared_count(self) -> int:
        return len(self._prepared)
