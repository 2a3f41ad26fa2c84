"""All-or-nothing ingest across shards: prepare everywhere, then commit everywhere or release everywhere.

1. Route: each record goes to the shard owning its customer (actors/placement.py). Declarations and
   records naming no customer are rejected here (their RecordError is the one validation would give).
2. Prepare, concurrently on every shard with records: the shard validates, deduplicates and reserves
   (DurableEngine.prepare); nothing is appended. Its errors come back with sub-batch indexes and are
   mapped to the caller's indexes.
3. If any shard refused the batch (not partial: some record invalid), failed (ShardFullError,
   ShardUnavailableError, OverloadedError ...), or the prepare phase took longer than
   PREPARE_PHASE_LIMIT_MS, release every prepared sub-batch and raise: nothing is stored anywhere.
4. Otherwise commit every prepared sub-batch, concurrently (each appends durably and applies), and
   return per-record statuses in input order.

A batch of a stream may be given `after`, the previous batch's ingest: it is prepared at once (while
the previous one commits) but committed only once `after` has succeeded, so a stream's batches are
stored in stream order; when `after` fails, the batch is released (nothing stored) and
PredecessorFailedError raised.

Records may arrive as dicts (`ingest`) or serialized (`ingest_wire`, then each shard decodes and
validates its own in one pass: `prepare_wire`, service/wire_records.py); either way a shard reports
errors and duplicates by sub-batch index.

What this does not give: atomicity against a shard failing *during* step 4 (a crash, a disk error).
The shards that committed keep their part; the call raises (with a note naming them) and is not
acknowledged. Retrying the same batch completes it exactly once: event ids deduplicate, profile
writes are last-writer-wins, and the failed shard either has its part durably (duplicates) or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

from actors.api import IngestOutcome, PredecessorFailedError, RecordStatus, ShardUnavailableError, WireBatch
from actors.placement import DECLARATION_FIELD, DECLARATION_REASON, RoutedBatch
from actors.prepared import PREPARED_BATCH_TTL_MS
from actors.shard_client import ShardClient
from actors.shard_service import PrepareReply
from indexes.engine import IngestResult
from indexes.records import RecordBatchError, RecordError, validate_record
from indexes.schema import Schema
from service.convert_records import records_from_wire

# The router gives up on a prepare phase this long after it began, well before a shard would expire
# the first prepared sub-batch (PREPARED_BATCH_TTL_MS): a sub-batch it commits is never expired.
PREPARE_PHASE_LIMIT_MS = PREPARED_BATCH_TTL_MS // 2
MAX_REPORTED_ERRORS = 100  # as indexes.records.validate_batch reports at most, when not partial
RELEASE_WAIT_MS = 5_000
# Shard number -> its client: every client in shard order, or some of them by number.
ShardsByNumber = Sequence[ShardClient] | Mapping[int, ShardClient]


def router_errors(raws: Sequence[Any], routed: RoutedBatch, schema: Schema) -> list[RecordError]:
    """Errors of the records no shard receives: declarations, and records naming no customer (for
    which validation against the cluster's schema finds the precise reason)."""
    errors = [RecordError(index, DECLARATION_FIELD, DECLARATION_REASON) for index in routed.declarations]
    for index in routed.unroutable:
        try:
            validate_record(raws[index], schema.copy(), index)
        except RecordBatchError as exc:
            errors.extend(exc.errors)
            continue
        # A record naming no customer never validates; kept so that it could never be dropped silently.
        errors.append(RecordError(index, "customer_id", "names no customer"))
    return errors


def wire_router_errors(batch: WireBatch, routed: RoutedBatch, schema: Schema) -> list[RecordError]:
    """router_errors of serialized records: the few naming no customer are decoded here to say why."""
    errors: list[RecordError] = []
    for index in routed.unroutable:
        decoded = records_from_wire([batch.record(index)])
        if decoded.errors:
            errors.extend(RecordError(index, e.field, e.reason) for e in decoded.errors)
            continue
        single = RoutedBatch([], [], unroutable=[0])
        errors.extend(RecordError(index, e.field, e.reason) for e in router_errors(decoded.raws, single, schema))
    return errors


async def ingest_across_shards(
    clients: Sequence[ShardClient], total: int, routed: RoutedBatch, early_errors: list[RecordError],
    *, partial: bool, timeout_ms: int | None, prepare: str = "prepare", after: asyncio.Future[Any] | None = None,
) -> IngestOutcome:
    """`total` records in all; `prepare` is the shards' method for the routed items ("prepare" for
    dicts, "prepare_wire" for serialized records)."""
    targets = routed.targets()
    started_s = time.monotonic()
    replies, failure = await _prepare(clients, targets, [routed.raws[s] for s in targets], partial, prepare)
    errors = list(early_errors)
    for shard, reply in replies.items():
        errors.extend(RecordError(routed.indexes[shard][e.index], e.field, e.reason) for e in reply.errors)
    errors.sort(key=lambda e: e.index)
    refused = any(r.refused for r in replies.values()) or (bool(errors) and not partial)
    slow = (time.monotonic() - started_s) * 1000 > PREPARE_PHASE_LIMIT_MS
    if failure is not None or refused or slow:
        await release_all(clients, replies)
        if failure is not None:
            raise failure
        if refused:
            raise RecordBatchError(errors[:MAX_REPORTED_ERRORS])
        raise ShardUnavailableError(f"the prepare phase took over {PREPARE_PHASE_LIMIT_MS} ms; nothing stored, retry")
    if after is not None and any(r.token is not None for r in replies.values()):
        await _wait_for_predecessor(clients, replies, after, started_s)
    results = await _commit(clients, replies, timeout_ms)
    return _outcome(total, routed, results, errors)


async def _wait_for_predecessor(clients: Sequence[ShardClient], replies: dict[int, PrepareReply],
                                after: asyncio.Future[Any], started_s: float) -> None:
    """Until the previous batch of the stream is stored; on its failure, or when waiting would let
    this batch's reservation expire, release this batch and raise."""
    left_s = PREPARE_PHASE_LIMIT_MS / 1000 - (time.monotonic() - started_s)
    try:
        # Shielded: giving up here must not cancel the predecessor, which goes on for its own caller.
        await asyncio.wait_for(asyncio.shield(after), max(left_s, 0.0))
    except TimeoutError:
        await release_all(clients, replies)
        raise ShardUnavailableError(
            f"the previous batch of the stream was not stored within {PREPARE_PHASE_LIMIT_MS} ms; nothing of "
            "this batch was stored, retry") from None
    except BaseException as exc:
        await release_all(clients, replies)
        if isinstance(exc, asyncio.CancelledError) and not after.cancelled():
            raise  # this ingest itself is being cancelled (the loop shuts down)
        raise PredecessorFailedError("an earlier batch of the stream failed; nothing of this batch was stored") from None


async def declare_everywhere(clients: Sequence[ShardClient], raws: list[dict[str, Any]], timeout_ms: int | None) -> int:
    """Declaration records on every shard, all or none (validated on all before any is appended).
    Returns the number of declarations each shard accepted."""
    results = await replicate_everywhere(clients, "prepare", (raws, False), timeout_ms)
    accepted = {result.accepted for result in results.values()}
    assert len(accepted) == 1, f"shards accepted different numbers of declarations: {accepted}"
    return accepted.pop()


async def replicate_everywhere(clients: Sequence[ShardClient], method: str, args: tuple[Any, ...],
                               timeout_ms: int | None) -> dict[int, IngestResult]:
    """The same batch on every shard of `clients`, all or none: `method(*args)` prepares it on each
    (declarations: "prepare"; saved-segment commands: "prepare_segment"), then every shard commits,
    or, when one refused or failed, every prepared one is released and the failure raised."""
    by_shard = {client.shard: client for client in clients}
    answers = await asyncio.gather(*(client.call(method, *args) for client in clients), return_exceptions=True)
    replies: dict[int, PrepareReply] = {}
    failure: BaseException | None = None
    for client, answer in zip(clients, answers, strict=True):
        if isinstance(answer, BaseException):
            failure = failure or answer
        else:
            replies[client.shard] = answer
    refusal = next((r for r in replies.values() if r.refused), None)
    if failure is not None or refusal is not None:
        await release_all(by_shard, replies)
        if failure is not None:
            raise failure
        assert refusal is not None
        raise RecordBatchError(refusal.errors)
    return await _commit(by_shard, replies, timeout_ms)


async def _prepare(
    clients: Sequence[ShardClient], targets: list[int], batches: list[list[Any]], partial: bool, method: str = "prepare"
) -> tuple[dict[int, PrepareReply], BaseException | None]:
    answers = await asyncio.gather(
        *(clients[shard].call(method, batch, partial) for shard, batch in zip(targets, batches, strict=True)),
        return_exceptions=True,
    )
    replies: dict[int, PrepareReply] = {}
    failure: BaseException | None = None
    for shard, answer in zip(targets, answers, strict=True):
        if isinstance(answer, BaseException):
            failure = failure or answer
        else:
            replies[shard] = answer
    return replies, failure


async def release_all(clients: ShardsByNumber, replies: dict[int, PrepareReply]) -> None:
    """Best effort: a shard that cannot be reached lost its prepared batches in its restart, or
    releases them when they expire."""
    tokens = [(shard, reply.token) for shard, reply in replies.items() if reply.token is not None]
    releases = asyncio.gather(*(clients[shard].call("release", token) for shard, token in tokens), return_exceptions=True)
    # Bounded: a release sent to a restarting actor waits for the restart, which lost the batch anyway.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(releases, RELEASE_WAIT_MS / 1000)


async def _commit(
    clients: ShardsByNumber, replies: dict[int, PrepareReply], timeout_ms: int | None
) -> dict[int, IngestResult]:
    results = {shard: r.result for shard, r in replies.items() if r.token is None and r.result is not None}
    pending = [(shard, r.token) for shard, r in replies.items() if r.token is not None]
    answers = await asyncio.gather(
        *(clients[shard].call("commit", token, timeout_ms) for shard, token in pending), return_exceptions=True
    )
    failures: list[tuple[int, BaseException]] = []
    for (shard, _), answer in zip(pending, answers, strict=True):
        if isinstance(answer, BaseException):
            failures.append((shard, answer))
        else:
            results[shard] = answer
    if failures:
        shard, first = failures[0]
        committed = sorted(results)
        first.add_note(
            f"commit failed on shard(s) {[s for s, _ in failures]} (first: shard {shard}); shard(s) {committed} "
            "stored their records. The batch is not acknowledged; retrying it stores each record exactly once."
        )
        raise first
    return results


def _outcome(total: int, routed: RoutedBatch, results: dict[int, IngestResult], errors: list[RecordError]) -> IngestOutcome:
    statuses = [RecordStatus.ACCEPTED] * total
    for error in errors:
        statuses[error.index] = RecordStatus.REJECTED
    accepted = duplicates = 0
    for shard, result in results.items():
        accepted += result.accepted
        duplicates += result.duplicates
        assert len(result.duplicate_indexes) == result.duplicates
        indexes = routed.indexes[shard]
        for local in result.duplicate_indexes:
            statuses[indexes[local]] = RecordStatus.DUPLICATE
    assert accepted + duplicates + len(errors) == total, "every record is accepted, a duplicate or rejected"
    return IngestOutcome(accepted=accepted, duplicates=duplicates, statuses=statuses, errors=errors)
