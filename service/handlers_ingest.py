"""IngestService: Ingest (one batch) and IngestStream (many batches, one summary).

Records are decoded into RECORDS.md dicts (service/convert_records.py) and handed to the backend,
which validates, stores durably and applies them. A record that cannot even be decoded counts as
rejected at its own index, exactly like one the backend rejects.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import grpc

from actors.api import IngestOutcome, RecordStatus, SegmentsBackend
from indexes.records import RecordBatchError, RecordError
from proto.segments.v1 import ingest_pb2, ingest_pb2_grpc, records_pb2
from service.calls import BackendCalls, remaining_ms
from service.convert_records import DecodedBatch, records_from_pb
from service.errors import InvalidArgument, invalid_records, rpc
from service.limits import (
    MAX_BATCH_RECORDS,
    MAX_FIELD_BYTES,
    MAX_LISTED_RECORD_ERRORS,
    MAX_REASON_BYTES,
    clip,
)

# Below this many records the decode runs on the event loop; above it in a thread, so that health
# checks and small queries are still answered while a large batch is decoded.
DECODE_IN_THREAD_MIN_RECORDS = 2_000


@dataclass
class BatchResult:
    accepted: int
    duplicates: int
    statuses: list[int]  # RecordStatus per request record
    errors: list[RecordError] = field(default_factory=list)  # by request index, ascending


def error_pb(error: RecordError, offset: int = 0) -> ingest_pb2.RecordError:
    return ingest_pb2.RecordError(
        index=error.index + offset, field=clip(error.field, MAX_FIELD_BYTES), reason=clip(error.reason, MAX_REASON_BYTES)
    )


async def _decode(records: Sequence[records_pb2.Record]) -> DecodedBatch:
    if len(records) < DECODE_IN_THREAD_MIN_RECORDS:
        return records_from_pb(records)
    return await asyncio.to_thread(records_from_pb, records)


def _merge(size: int, decoded: DecodedBatch, outcome: IngestOutcome | None) -> BatchResult:
    """Statuses and errors by request index: the backend saw only the decodable records."""
    statuses = [int(RecordStatus.REJECTED)] * size
    errors = list(decoded.errors)
    accepted = duplicates = 0
    if outcome is not None:
        assert len(outcome.statuses) == len(decoded.raws), "backend must return one status per record"
        for position, status in zip(decoded.positions, outcome.statuses, strict=True):
            statuses[position] = int(status)
        errors.extend(RecordError(decoded.positions[e.index], e.field, e.reason) for e in outcome.errors)
        accepted, duplicates = outcome.accepted, outcome.duplicates
    errors.sort(key=lambda e: e.index)
    return BatchResult(accepted, duplicates, statuses, errors)


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, backend: SegmentsBackend, calls: BackendCalls) -> None:
        self._backend = backend
        self._calls = calls

    async def _batch(
        self, request: ingest_pb2.IngestRequest, context: grpc.aio.ServicerContext, offset: int, where: str
    ) -> BatchResult:
        """One request's records through the backend; `offset` numbers them within a stream."""
        size = len(request.records)
        if size > MAX_BATCH_RECORDS:
            raise InvalidArgument([("records", f"{size} records in one message; at most {MAX_BATCH_RECORDS}: split it")])
        decoded = await _decode(request.records)
        if decoded.errors and not request.partial:
            raise invalid_records(decoded.errors, offset, where)
        outcome = None
        if decoded.raws:
            call = self._backend.ingest(decoded.raws, partial=request.partial, timeout_ms=remaining_ms(context))
            try:
                outcome = await self._calls.mutation(context, call)
            except RecordBatchError as exc:
                errors = [RecordError(decoded.positions[e.index], e.field, e.reason) for e in exc.errors]
                raise invalid_records(errors, offset, where) from exc
        return _merge(size, decoded, outcome)

    @rpc
    async def Ingest(self, request: ingest_pb2.IngestRequest, context: grpc.aio.ServicerContext) -> ingest_pb2.IngestResponse:
        result = await self._batch(request, context, 0, "")
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
        # Batches are read one at a time and each is durable before the next is read, so the
        # stream's flow control holds the client back and the server buffers at most one batch.
        summary = ingest_pb2.IngestStreamResponse()
        offset = 0
        async for request in request_iterator:
            where = (f" (batch {summary.batches} of the stream; {summary.accepted} records of earlier "
                     f"batches were stored)")
            result = await self._batch(request, context, offset, where)
            summary.batches += 1
            summary.accepted += result.accepted
            summary.duplicates += result.duplicates
            summary.rejected += len(result.errors)
            room = MAX_LISTED_RECORD_ERRORS - len(summary.errors)
            summary.errors.extend(error_pb(e, offset) for e in result.errors[:room])
            summary.errors_truncated = summary.errors_truncated or len(result.errors) > room
            offset += len(request.records)
        return summary
