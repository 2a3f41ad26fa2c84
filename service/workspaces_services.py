"""One workspace's servicers: the six segments.v1 services bound to that workspace's backend.

Each workspace gets its own servicer objects (and its own export scheduler and time zone cache), so a
handler can only ever reach the backend it was built with: isolation does not depend on every
handler remembering to look the workspace up. The access interceptor (auth_interceptor.py) picks the
table of the caller's workspace; the table is collected by `HandlerTable`, which stands in for the
grpc server in the generated `add_*Servicer_to_server` functions.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import grpc

from actors.api import SegmentsBackend
from actors.export_scheduler import ExportScheduler, clock_from_env
from proto.segments.v1 import (
    admin_pb2_grpc,
    insights_pb2_grpc,
    query_pb2_grpc,
    schema_pb2_grpc,
    segments_pb2_grpc,
)
from service.auth_scopes import METHOD_RULES
from service.calls import BackendCalls
from service.handlers_admin import AdminServicer
from service.handlers_ingest import IngestServicer, add_ingest_service
from service.handlers_insights import InsightsServicer
from service.handlers_query import QueryServicer
from service.handlers_schema import SchemaServicer
from service.handlers_segments import SegmentServicer
from service.time_zone import TimeZoneCache


class HandlerTable:
    """What `add_*Servicer_to_server(servicer, server)` registers, kept instead of served."""

    def __init__(self) -> None:
        self.generic: list[grpc.GenericRpcHandler] = []
        self.registered: list[tuple[str, dict[str, grpc.RpcMethodHandler]]] = []
        self.by_method: dict[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self.generic.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        self.registered.append((service, handlers))
        for method, handler in handlers.items():
            self.by_method[f"/{service}/{method}"] = handler

    def install(self, server: grpc.aio.Server) -> None:
        """Register the same handlers on a real server (the default workspace's)."""
        server.add_generic_rpc_handlers(tuple(self.generic))
        for service, handlers in self.registered:
            server.add_registered_method_handlers(service, handlers)


@dataclass
class WorkspaceServices:
    name: str
    backend: SegmentsBackend
    handlers: HandlerTable
    scheduler: asyncio.Task | None = field(default=None)

    async def stop_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler.cancel()  # a run cut short leaves a .partial file, removed, and no record
            with contextlib.suppress(asyncio.CancelledError):
                await self.scheduler
            self.scheduler = None


def build_services(name: str, backend: SegmentsBackend, calls: BackendCalls) -> WorkspaceServices:
    """The servicers of one workspace; starts its export scheduler (on the running loop)."""
    table = HandlerTable()
    time_zone = TimeZoneCache(backend, calls)
    add_ingest_service(IngestServicer(backend, calls), table)  # type: ignore[arg-type]
    query_pb2_grpc.add_QueryServiceServicer_to_server(QueryServicer(backend, calls), table)
    schema_pb2_grpc.add_SchemaServiceServicer_to_server(SchemaServicer(backend, calls, time_zone), table)
    admin_pb2_grpc.add_AdminServiceServicer_to_server(AdminServicer(backend, calls), table)
    segments_pb2_grpc.add_SegmentServiceServicer_to_server(SegmentServicer(backend, calls), table)  # type: ignore[arg-type]
    insights_pb2_grpc.add_InsightsServiceServicer_to_server(InsightsServicer(backend, calls), table)  # type: ignore[arg-type]
    assert set(table.by_method) == set(METHOD_RULES), "every RPC has a scope (auth_scopes.py) and a handler"
    scheduler = None
    if hasattr(backend, "export_schedules"):
        scheduler = asyncio.get_running_loop().create_task(
            ExportScheduler(backend, clock_from_env()).run(), name=f"export-scheduler-{name}")
    return WorkspaceServices(name, backend, table, scheduler)
