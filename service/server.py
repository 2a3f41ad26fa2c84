"""The grpc.aio server: the five segments.v1 services, health, reflection, graceful shutdown.

    exit_code = asyncio.run(serve(open_backend, "127.0.0.1", 50051, on_listening=print_line))

Lifecycle: open the backend (Ray, recovery: may take a while) -> optional preparation (the demo
workspace) -> bind and start -> `on_listening(host, port)` -> serve until SIGTERM / SIGINT -> health
NOT_SERVING -> stop accepting and drain in-flight RPCs for GRACE_PERIOD_S -> wait for shielded
mutations (service/calls.py) -> backend.close() (drains and syncs every shard's log) -> exit code 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from actors.api import SegmentsBackend
from actors.export_scheduler import ExportScheduler, clock_from_env
from proto.segments.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    ingest_pb2,
    insights_pb2,
    insights_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
    schema_pb2,
    schema_pb2_grpc,
    segments_pb2,
    segments_pb2_grpc,
)
from service.calls import BackendCalls
from service.handlers_admin import AdminServicer
from service.handlers_ingest import IngestServicer, add_ingest_service
from service.handlers_insights import InsightsServicer
from service.handlers_query import QueryServicer
from service.handlers_schema import SchemaServicer
from service.handlers_segments import SegmentServicer
from service.health import HealthReporter
from service.limits import (
    GRACE_PERIOD_S,
    MAX_METADATA_BYTES,
    MAX_REPLY_MESSAGE_BYTES,
    MAX_REQUEST_MESSAGE_BYTES,
)
from service.time_zone import TimeZoneCache

log = logging.getLogger("segments.service")

SEGMENTS_SERVICES = tuple(
    module.DESCRIPTOR.services_by_name[name].full_name
    for module, name in (
        (ingest_pb2, "IngestService"),
        (query_pb2, "QueryService"),
        (schema_pb2, "SchemaService"),
        (admin_pb2, "AdminService"),
        (segments_pb2, "SegmentService"),
        (insights_pb2, "InsightsService"),
    )
)
SERVER_OPTIONS = (
    ("grpc.max_receive_message_length", MAX_REQUEST_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_REPLY_MESSAGE_BYTES),
    ("grpc.max_metadata_size", MAX_METADATA_BYTES),
    # A second server on the same port would split the traffic silently; fail to bind instead.
    ("grpc.so_reuseport", 0),
)


@dataclass
class Running:
    server: grpc.aio.Server
    port: int
    health: HealthReporter
    calls: BackendCalls
    scheduler: asyncio.Task | None = None  # scheduled exports (actors/export_scheduler.py)


async def start_server(backend: SegmentsBackend, host: str, port: int,
                       interceptors: Sequence[grpc.aio.ServerInterceptor] = ()) -> Running:
    """Bind (port 0: a free one) and start serving `backend`; the caller stops it with `stop_server`.
    `interceptors` see every RPC (service/metrics_interceptor.py: counts, latency, the RPC log)."""
    calls = BackendCalls()
    server = grpc.aio.server(options=SERVER_OPTIONS, interceptors=tuple(interceptors))
    time_zone = TimeZoneCache(backend, calls)
    add_ingest_service(IngestServicer(backend, calls), server)  # requests with their bytes (wire_requests.py)
    query_pb2_grpc.add_QueryServiceServicer_to_server(QueryServicer(backend, calls), server)
    schema_pb2_grpc.add_SchemaServiceServicer_to_server(SchemaServicer(backend, calls, time_zone), server)
    admin_pb2_grpc.add_AdminServiceServicer_to_server(AdminServicer(backend, calls), server)
    segments_pb2_grpc.add_SegmentServiceServicer_to_server(SegmentServicer(backend, calls), server)  # type: ignore[arg-type]
    insights_pb2_grpc.add_InsightsServiceServicer_to_server(InsightsServicer(backend, calls), server)  # type: ignore[arg-type]
    health = HealthReporter(backend, SEGMENTS_SERVICES)
    health_pb2_grpc.add_HealthServicer_to_server(health.servicer, server)
    health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    reflection.enable_server_reflection((*SEGMENTS_SERVICES, health_name, reflection.SERVICE_NAME), server)
    try:
        bound = server.add_insecure_port(f"{_bracketed(host)}:{port}")
    except RuntimeError as exc:  # grpc reports a failed bind this way
        raise OSError(f"cannot listen on {host}:{port} (in use, or not an address of this machine)") from exc
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    await health.start()  # NOT_SERVING until the backend has been asked, from the first request on
    await server.start()
    scheduler = None
    if hasattr(backend, "export_schedules"):
        scheduler = asyncio.get_running_loop().create_task(
            ExportScheduler(backend, clock_from_env()).run(), name="export-scheduler")
    return Running(server, bound, health, calls, scheduler)


async def stop_server(running: Running, grace_s: float = GRACE_PERIOD_S) -> None:
    """Health NOT_SERVING, refuse new RPCs, let in-flight ones finish (up to `grace_s`), then wait for
    the mutations they started. The backend is the caller's to close afterwards."""
    await running.health.stop()
    if running.scheduler is not None:
        running.scheduler.cancel()  # a run cut short leaves a .partial file, removed, and no record
        with contextlib.suppress(asyncio.CancelledError):
            await running.scheduler
    running.calls.closing.set()
    await running.server.stop(grace_s)
    if not await running.calls.drain(grace_s):
        log.warning("%d backend mutations still running after %.0f s; closing the backend drains them",
                    running.calls.in_flight, grace_s)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def check_port_free(host: str, port: int) -> None:
    """OSError now when `host:port` cannot be bound, rather than after minutes of shard recovery.
    (The real bind happens later; a port taken in between still fails there, with the same error.)"""
    if port == 0:
        return
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as grpc does: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as exc:
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def _install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)


async def serve(
    open_backend: Callable[[], Awaitable[SegmentsBackend]],
    host: str,
    port: int,
    *,
    on_listening: Callable[[str, int], None],
    prepare: Callable[[SegmentsBackend, asyncio.Event], Awaitable[None]] | None = None,
    grace_s: float = GRACE_PERIOD_S,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> int:
    """Run until SIGTERM or SIGINT; 0 after a clean shutdown. `prepare` runs before the port opens
    and sees the stop event (the demo ingest stops early when it is set)."""
    check_port_free(host, port)
    stop = asyncio.Event()
    _install_signal_handlers(stop)
    backend = await open_backend()
    try:
        # Opening the backend may have started Ray, which can install its own handlers.
        _install_signal_handlers(stop)
        if prepare is not None:
            await prepare(backend, stop)
        if stop.is_set():
            return 0
        running = await start_server(backend, host, port, interceptors)
        try:
            on_listening(host, running.port)
            await stop.wait()
            log.info("shutting down: draining in-flight calls (up to %.0f s)", grace_s)
        finally:
            await stop_server(running, grace_s)
    finally:
        await backend.close()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop = asyncio.get_running_loop()
            for number in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(number)
    log.info("backend closed; bye")
    return 0
