"""SchemaService: Declare (all or none, on every shard) and GetSchema."""

from __future__ import annotations

import grpc

from actors.api import SegmentsBackend
from indexes.records import RecordBatchError
from indexes.schema import SchemaError
from proto.segments.v1 import schema_pb2, schema_pb2_grpc
from service.calls import BackendCalls
from service.convert_schema import declaration_to_body, request_path, schema_pb
from service.convert_values import ConversionError
from service.errors import InvalidArgument, rpc
from service.time_zone import TimeZoneCache


class SchemaServicer(schema_pb2_grpc.SchemaServiceServicer):
    def __init__(self, backend: SegmentsBackend, calls: BackendCalls, time_zone: TimeZoneCache) -> None:
        self._backend = backend
        self._calls = calls
        self._time_zone = time_zone

    @rpc
    async def Declare(
        self, request: schema_pb2.DeclareRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.DeclareResponse:
        bodies = []
        violations = []
        for index, declaration in enumerate(request.declarations):
            try:
                bodies.append(declaration_to_body(declaration))
            except ConversionError as exc:
                field = f"declarations[{index}]" + (f".{exc.field}" if exc.field else "")
                violations.append((field, exc.reason))
        if violations:
            raise InvalidArgument(violations)
        if not bodies:
            return schema_pb2.DeclareResponse(accepted=0)
        ts_ms = request.ts_ms if request.HasField("ts_ms") else None
        try:
            accepted = await self._calls.mutation(context, self._backend.declare(bodies, ts_ms))
        except RecordBatchError as exc:  # the backend checked the bodies as declaration records
            raise InvalidArgument([(request_path(e.index, e.field), e.reason) for e in exc.errors]) from exc
        except SchemaError as exc:
            # Without an index the error is the request's only declaration, or named by its body path.
            where = request_path(0, exc.field) if len(bodies) == 1 else exc.field.replace("declare", "declarations", 1)
            raise InvalidArgument([(where, exc.reason)]) from exc
        return schema_pb2.DeclareResponse(accepted=accepted)

    @rpc
    async def GetSchema(
        self, request: schema_pb2.GetSchemaRequest, context: grpc.aio.ServicerContext
    ) -> schema_pb2.GetSchemaResponse:
        schema = await self._calls.query(context, self._backend.schema())
        return schema_pb(schema, await self._time_zone.get(context))
