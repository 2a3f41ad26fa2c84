"""One ingest batch through the backend, for Ingest and for each (merged) batch of IngestStream.

Records travel on to the backend in the bytes they came in, each labelled with the customer it names
(service/wire_requests.py `wire_batch`, ~0.6 us a record): the router only routes them, cutting each
shard's records out of those bytes, and each shard decodes and validates its own, both shards at once
(decoding into dicts was ~5 us a record on the router's one core). A record that cannot be decoded is
rejected at its own index, like one that does not validate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from actors.api import PredecessorFailedError, RecordStatus, SegmentsBackend, WireBatch
from indexes.records import RecordBatchError, RecordError
from proto.segments.v1 import ingest_pb2
from service.calls import BackendCalls, remaining_ms
from service.errors import InvalidArgument
from service.limits import MAX_BATCH_RECORDS, MAX_FIELD_BYTES, MAX_REASON_BYTES, clip
from service.wire_requests import ReceivedRequest, wire_batch

# Below this many records the wire batch is built on the event loop (~0.6 us a record); above it in a
# thread, so that health checks and queries are still answered while a large batch is read.
WIRE_IN_THREAD_MIN_RECORDS = 20_000


@dataclass
class BatchResult:
    accepted: int
    duplicates: int
    statuses: list[RecordStatus]  # per record (an IntEnum: protobuf takes it as the enum's number)
    errors: list[RecordError] = field(default_factory=list)  # by record index, ascending


class RejectedBatch(Exception):
    """A batch refused for bad records (nothing of it stored); errors by record index."""

    def __init__(self, errors: list[RecordError]) -> None:
        super().__init__(f"{len(errors)} rejected record(s)")
        self.errors = errors


def error_pb(error: RecordError, offset: int = 0) -> ingest_pb2.RecordError:
    return ingest_pb2.RecordError(
        index=error.index + offset, field=clip(error.field, MAX_FIELD_BYTES), reason=clip(error.reason, MAX_REASON_BYTES)
    )


async def _wire(requests: Sequence[ReceivedRequest], records: int) -> WireBatch:
    if records < WIRE_IN_THREAD_MIN_RECORDS:
        return wire_batch(requests)
    return await asyncio.to_thread(wire_batch, requests)


async def ingest_requests(
    backend: SegmentsBackend, calls: BackendCalls, requests: Sequence[ReceivedRequest],
    context: grpc.aio.ServicerContext, after: asyncio.Future[Any] | None = None,
) -> BatchResult:
    """The records of `requests` (same `partial`) as one backend batch, stored only after `after`
    succeeded (actors/api.py); RejectedBatch for bad records without `partial`."""
    partial = requests[0].partial
    assert all(r.partial == partial for r in requests)
    for request in requests:
        if len(request.records) > MAX_BATCH_RECORDS:
            raise InvalidArgument([("records", f"{len(request.records)} records in one message; at most "
                                               f"{MAX_BATCH_RECORDS}: split it")])
    records = sum(len(request.records) for request in requests)
    result = BatchResult(0, 0, [])
    if records:
        batch = await _wire(requests, records)
        call = backend.ingest_wire(batch, partial=partial, timeout_ms=remaining_ms(context), after=after)
        try:
            outcome = await calls.mutation(context, call)
        except RecordBatchError as exc:
            raise RejectedBatch(list(exc.errors)) from exc
        result = BatchResult(outcome.accepted, outcome.duplicates, outcome.statuses, list(outcome.errors))
    if after is not None:
        # A batch with nothing to store did not wait for its predecessor in the backend; it must not
        # finish before it either, or the batch after it would not wait for it.
        await _succeeded(after)
    return result


async def _succeeded(previous: asyncio.Future[Any]) -> None:
    """Return once `previous` succeeded; PredecessorFailedError when it failed."""
    try:
        await asyncio.shield(previous)
    except BaseException as exc:
        if isinstance(exc, asyncio.CancelledError) and not previous.cancelled():
            raise  # this batch itself is being cancelled
        raise PredecessorFailedError("an earlier batch of the stream failed") from None
