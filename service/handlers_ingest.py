"""IngestService: Ingest (one batch) and IngestStream (many batches, one summary).

Requests arrive parsed and with the bytes they came in (service/wire_requests.py: the records go on to
the shards in those bytes); a batch goes to the backend as a WireBatch (service/ingest_batch.py); a
stream's batches are read ahead, merged while the backend is busy and stored in order
(service/ingest_stream.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from actors.api import SegmentsBackend
from proto.segments.v1 import ingest_pb2, ingest_pb2_grpc
from service.calls import BackendCalls
from service.errors import invalid_records, rpc
from service.ingest_batch import BatchResult, RejectedBatch, error_pb, ingest_requests
from service.ingest_stream import StreamIngest
from service.limits import MAX_LISTED_RECORD_ERRORS
from service.stream_limits import CLIENT_STREAMS
from service.wire_requests import ReceivedRequest, receive

SERVICE_NAME = "segments.v1.IngestService"


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, backend: SegmentsBackend, calls: BackendCalls) -> None:
        self._backend = backend
        self._calls = calls

    @rpc
    async def Ingest(self, request: ReceivedRequest, context: grpc.aio.ServicerContext) -> ingest_pb2.IngestResponse:
        try:
            result = await ingest_requests(self._backend, self._calls, [request], context)
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
        self, request_iterator: AsyncIterator[ReceivedRequest], context: grpc.aio.ServicerContext
    ) -> ingest_pb2.IngestStreamResponse:
        async def run_batch(requests: list[ReceivedRequest], after: asyncio.Future[Any] | None) -> BatchResult:
            return await ingest_requests(self._backend, self._calls, requests, context, after)

        with CLIENT_STREAMS.hold(context, "IngestStream"):
            return await StreamIngest(run_batch).run(request_iterator)


def add_ingest_service(servicer: IngestServicer, server: grpc.aio.Server) -> None:
    """`add_IngestServiceServicer_to_server` with requests deserialized into ReceivedRequest (the message
    and its bytes) instead of the message alone; replies as generated."""
    handlers = {
        "Ingest": grpc.unary_unary_rpc_method_handler(
            servicer.Ingest, request_deserializer=receive,
            response_serializer=ingest_pb2.IngestResponse.SerializeToString),
        "IngestStream": grpc.stream_unary_rpc_method_handler(
            servicer.IngestStream, request_deserializer=receive,
            response_serializer=ingest_pb2.IngestStreamResponse.SerializeToString),
    }
    assert set(handlers) == set(ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].methods_by_name)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)
