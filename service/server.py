"""The grpc.aio server: the six segments.v1 services, health, reflection, graceful shutdown.

Every segments.v1 call goes through the access interceptor (service/auth_interceptor.py): tokens,
scopes, the caller's workspace, the audit log (docs/SECURITY.md); TLS comes from `ServerOptions`.

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
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from actors.api import SegmentsBackend
from proto.segments.v1 import admin_pb2, ingest_pb2, insights_pb2, query_pb2, schema_pb2, segments_pb2
from service.auth_interceptor import AccessInterceptor
from service.auth_table import TokenTable
from service.calls import BackendCalls
from service.health import HealthReporter
from service.limits import (
    GRACE_PERIOD_S,
    MAX_CONCURRENT_CALLS,
    MAX_METADATA_BYTES,
    MAX_PENDING_CALLS_SOFT,
    MAX_REPLY_MESSAGE_BYTES,
    MAX_REQUEST_MESSAGE_BYTES,
    PENDING_CALLS_HARD_FACTOR,
)
from service.tls import ServerTls
from service.workspaces import DEFAULT_WORKSPACE
from service.workspaces_registry import WorkspaceOpener, WorkspaceRegistry
from service.workspaces_services import build_services

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


def grpc_server_options(max_pending_calls: int) -> tuple[tuple[str, int], ...]:
    """SERVER_OPTIONS plus the bound on calls gRPC's core holds before the event loop takes them in
    (service/limits.py, MAX_PENDING_CALLS_SOFT): refused at random past it, always past
    PENDING_CALLS_HARD_FACTOR times it."""
    assert max_pending_calls > 0
    return (*SERVER_OPTIONS, ("grpc.server.max_pending_requests", max_pending_calls),
            ("grpc.server.max_pending_requests_hard_limit", PENDING_CALLS_HARD_FACTOR * max_pending_calls))


@dataclass(frozen=True)
class ServerOptions:
    """How `start_server` guards and routes calls (docs/SECURITY.md). The defaults are the loopback
    server of the tests: no tokens, plain text, the one backend as the default workspace."""

    data_dir: Path | None = None  # tokens.json, audit.log, workspaces/; None: the backend's data_dir, if any
    auth: bool = False  # tokens required (tokens.json in data_dir, reloaded when it changes)
    tls: ServerTls | None = None
    open_workspace: WorkspaceOpener | None = None  # opens DATA_DIR/workspaces/NAME; None: default only
    # Run before access control, in this order (metrics, request limits, ...): they see every call,
    # refused ones included.
    interceptors: tuple[grpc.aio.ServerInterceptor, ...] = ()
    max_pending_calls: int = MAX_PENDING_CALLS_SOFT  # calls gRPC's core may hold unread (RELIABILITY.md)
    # Calls the server's loop holds at once (streams included); past it grpc.aio answers RESOURCE_EXHAUSTED
    # before any interceptor or handler runs: the cheapest refusal Python can give.
    max_concurrent_calls: int = MAX_CONCURRENT_CALLS


@dataclass
class Running:
    server: grpc.aio.Server
    port: int
    health: HealthReporter
    calls: BackendCalls
    workspaces: WorkspaceRegistry


def _root_dir(backend: SegmentsBackend, options: ServerOptions) -> Path | None:
    if options.data_dir is not None:
        return Path(options.data_dir)
    backend_dir = getattr(backend, "data_dir", None)
    return None if backend_dir is None else Path(backend_dir)


async def start_server(backend: SegmentsBackend, host: str, port: int,
                       interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
                       options: ServerOptions | None = None) -> Running:
    """Bind (port 0: a free one) and start serving `backend` as the default workspace (and the named
    workspaces `options` can open); the caller stops it with `stop_server`. `interceptors` see every
    RPC before access control (service/metrics_interceptor.py: counts, latency, the RPC log)."""
    options = options or ServerOptions()
    root = _root_dir(backend, options)
    assert not options.auth or root is not None, "tokens live in a data directory"
    calls = BackendCalls()
    default = build_services(DEFAULT_WORKSPACE, backend, calls)
    workspaces = WorkspaceRegistry(default, calls, root, options.open_workspace)
    tokens = TokenTable(root) if options.auth and root is not None else None
    access = AccessInterceptor(workspaces, tokens, root)
    server = grpc.aio.server(options=grpc_server_options(options.max_pending_calls),
                             maximum_concurrent_rpcs=options.max_concurrent_calls,
                             interceptors=[*interceptors, *options.interceptors, access])
    default.handlers.install(server)  # requests with their bytes for ingest (wire_requests.py)
    health = HealthReporter(workspaces, SEGMENTS_SERVICES)  # type: ignore[arg-type]  # only serving() is asked
    health_pb2_grpc.add_HealthServicer_to_server(health.servicer, server)
    health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    reflection.enable_server_reflection((*SEGMENTS_SERVICES, health_name, reflection.SERVICE_NAME), server)
    address = f"{_bracketed(host)}:{port}"
    try:
        if options.tls is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, options.tls.credentials())
    except RuntimeError as exc:  # grpc reports a failed bind this way
        await default.stop_scheduler()
        raise OSError(f"cannot listen on {host}:{port} (in use, or not an address of this machine)") from exc
    if bound == 0:
        await default.stop_scheduler()
        raise OSError(f"cannot listen on {host}:{port}")
    await workspaces.open_existing()
    await health.start()  # NOT_SERVING until the backend has been asked, from the first request on
    await server.start()
    log.info("serving on %s:%d: %s, %s, workspaces %s", host, bound, "TLS" if options.tls else "plain text",
             "tokens required" if tokens is not None else "no authentication", ", ".join(workspaces.names))
    return Running(server, bound, health, calls, workspaces)


async def stop_server(running: Running, grace_s: float = GRACE_PERIOD_S) -> None:
    """Health NOT_SERVING, refuse new RPCs, let in-flight ones finish (up to `grace_s`), then wait for
    the mutations they started, then close the named workspaces. The default backend is the caller's
    to close afterwards."""
    await running.health.stop()
    await running.workspaces.stop_schedulers()
    running.calls.closing.set()
    await running.server.stop(grace_s)
    if not await running.calls.drain(grace_s):
        log.warning("%d backend mutations still running after %.0f s; closing the backend drains them",
                    running.calls.in_flight, grace_s)
    await running.workspaces.close_named()


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
    options: ServerOptions | None = None,
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
        running = await start_server(backend, host, port, interceptors, options)
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
