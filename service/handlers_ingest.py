"""IngestService: Ingest (one batch) and IngestStream (many batches, one summary).

Records travel on to the backend serialized, each labelled with the customer it names
(service/convert_records.py `wire_batch`, ~1 us a record): the router only routes them, and each shard
decodes and validates its own, both shards at once (decoding into dicts was ~5 us a record on the
router's one core). A record that cannot be decoded is rejected at its own index, like one that does
not validate.

IngestStream keeps up to STREAM_BATCHES_IN_FLIGHT batches in flight: the next batch is decoded and
validated on the shards while the one before it is made durable. Each batch is stored only after the
one before it was (`after`, actors/api.py), so a stream is stored in its order, and when a batch fails
the batches after it are released: the stream's error names the first failing batch, and every batch
before it, and none after it, was stored - as when batches went one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import grpc

from actors.api import PredecessorFailedError, SegmentsBackend, WireBatch
from indexes.records import RecordBatchError, RecordError
from proto.segments.v1 import ingest_pb2, ingest_pb2_grpc, records_pb2
from service.calls import BackendCalls, remaining_ms
from service.convert_records import wire_batch
from service.errors import InvalidArgument, invalid_records, rpc
from service.limits import (
    MAX_BATCH_RECORDS,
    MAX_FIELD_BYTES,
    MAX_LISTED_RECORD_ERRORS,
    MAX_REASON_BYTES,
    STREAM_BATCHES_IN_FLIGHT,
    clip,
)

# Below this many records the wire batch is built on the event loop (~1 us a record); above it in a
# thread, so that health checks and queries are still answered while a large batch is read.
WIRE_IN_THREAD_MIN_RECORDS = 20_000


@dataclass
class BatchResult:
    accepted: int
    duplicates: int
    statuses: list[int]  # RecordStatus per request record
    errors: list[RecordError] = field(default_factory=list)  # by request index, ascending


class RejectedBatch(Exception):
    """A batch refused for bad records (nothing of it stored); errors by request index."""

    def __init__(self, errors: list[RecordError]) -> None:
        super().__init__(f"{len(errors)} rejected record(s)")
        self.errors = errors


def error_pb(error: RecordError, offset: int = 0) -> ingest_pb2.RecordError:
    return ingest_pb2.RecordError(
        index=error.index + offset, field=clip(error.field, MAX_FIELD_BYTES), reason=clip(error.reason, MAX_REASON_BYTES)
    )


async def _wire(records: Sequence[records_pb2.Record]) -> WireBatch:
    if len(records) < WIRE_IN_THREAD_MIN_RECORDS:
        return wire_batch(records)
    return await asyncio.to_thread(wire_batch, records)


async def _succeeded(previous: asyncio.Future[BatchResult]) -> None:
    """Return once `previous` succeeded; PredecessorFailedError when it failed."""
    try:
        await asyncio.shield(previous)
    except BaseException as exc:
        if isinstance(exc, asyncio.CancelledError) and not previous.cancelled():
            raise  # this batch itself is being cancelled
        raise PredecessorFailedError("an earlier batch of the stream failed") from None


@dataclass
class _InFlight:
    task: asyncio.Task[BatchResult]
    offset: int  # stream index of the batch's first record
    size: int


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, backend: SegmentsBackend, calls: BackendCalls) -> None:
        self._backend = backend
        self._calls = calls
        self._stream_batches: set[asyncio.Task[BatchResult]] = set()  # referenced until done

    async def _batch(
        self, request: ingest_pb2.IngestRequest, context: grpc.aio.ServicerContext,
        after: asyncio.Future[BatchResult] | None = None,
    ) -> BatchResult:
        """One request's records through the backend; RejectedBatch for bad records (not partial)."""
        size = len(request.records)
        if size > MAX_BATCH_RECORDS:
            raise InvalidArgument([("records", f"{size} records in one message; at most {MAX_BATCH_RECORDS}: split it")])
        result = BatchResult(0, 0, [])
        if size:
            batch = await _wire(request.records)
            call = self._backend.ingest_wire(batch, partial=request.partial, timeout_ms=remaining_ms(context), after=after)
            try:
                outcome = await self._calls.mutation(context, call)
            except RecordBatchError as exc:
                raise RejectedBatch(list(exc.errors)) from exc
            result = BatchResult(outcome.accepted, outcome.duplicates, [int(s) for s in outcome.statuses],
                                 list(outcome.errors))
        if after is not None:
            # A batch with nothing to store did not wait for its predecessor in the backend; it must
            # not finish before it either, or the batch after it would not wait for it.
            await _succeeded(after)
        return result

    @rpc
    async def Ingest(self, request: ingest_pb2.IngestRequest, context: grpc.aio.ServicerContext) -> ingest_pb2.IngestResponse:
        try:
            result = await self._batch(request, context)
        except RejectedBatch as exc:
            raise invalid_records(exc.errors) from exc
        listed = result.errors[:MAX_LISTED_RECORD_ERRORS]
        return ingest_pb2.IngestResponse(
            accepted=result.accepted,
            duplicates=result.duplicates,
            rejected=len(result.errors),
            statuses=result.statuses,
            errors=[error_pb(e) for e in listed],
            errors_truncated=len(listed) < len(result.errors),
        )

    @rpc
    async def IngestStream(
        self, request_iterator: AsyncIterator[ingest_pb2.IngestRequest], context: grpc.aio.ServicerContext
    ) -> ingest_pb2.IngestStreamResponse:
        # At most STREAM_BATCHES_IN_FLIGHT batches are read ahead; the stream's flow control holds the
        # client back meanwhile, so the server buffers at most that many.
        summary = ingest_pb2.IngestStreamResponse()
        in_flight: deque[_InFlight] = deque()
        offset = 0
        try:
            async for request in request_iterator:
                if len(in_flight) >= STREAM_BATCHES_IN_FLIGHT:
                    await self._finish(in_flight.popleft(), summary)
                previous = in_flight[-1].task if in_flight else None
                task = asyncio.get_running_loop().create_task(self._batch(request, context, previous))
                self._stream_batches.add(task)
                task.add_done_callback(self._stream_batches.discard)
                in_flight.append(_InFlight(task, offset, len(request.records)))
                offset += len(request.records)
            while in_flight:
                await self._finish(in_flight.popleft(), summary)
        except BaseException:
            # The batches after a failed one are being released (they wait for it); answer only once
            # they are, so that what the error says was stored is all that is stored.
            with contextlib.suppress(BaseException):
                await asyncio.gather(*(b.task for b in in_flight), return_exceptions=True)
            raise
        return summary

    @staticmethod
    async def _finish(batch: _InFlight, summary: ingest_pb2.IngestStreamResponse) -> None:
        """Wait for the oldest batch in flight and add it to the summary (batches finish in order)."""
        try:
            result = await batch.task
        except RejectedBatch as exc:
            where = (f" (batch {summary.batches} of the stream; {summary.accepted} records of earlier "
                     f"batches were stored)")
            raise invalid_records(exc.errors, batch.offset, where) from exc
        summary.batches += 1
        summary.accepted += result.accepted
        summary.duplicates += result.duplicates
        summary.rejected += len(result.errors)
        room = MAX_LISTED_RECORD_ERRORS - len(summary.errors)
        summary.errors.extend(error_pb(e, batch.offset) for e in result.errors[:room])
        summary.errors_truncated = summary.errors_truncated or len(result.errors) > room
