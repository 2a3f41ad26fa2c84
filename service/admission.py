"""Admission control: a bounded number of unary calls per class run at once, a few more wait briefly,
the rest are refused at once with RESOURCE_EXHAUSTED (RetryInfo) - docs RELIABILITY.md, "Overload".

    server = grpc.aio.server(options=..., interceptors=[AdmissionInterceptor.default()])

Why: without it, a server offered more than it can serve queues every request (in gRPC's buffers and
on the event loop) and answers all of them late; the shards' own bound (MAX_INFLIGHT_CALLS_PER_SHARD,
actors/shard_client.py) only refuses once 64 operations per shard are queued, which at 10x the
sustainable rate is a queue of seconds. Here a request that cannot start within `max_wait_ms` is
refused after at most that long, and the ones admitted keep their normal latency: at most
`max_running` of a class run, so the shards' queues stay short.

Classes (by service): `ingest` (IngestService unary Ingest) and `query` (the unary calls of
QueryService, SegmentService, InsightsService, SchemaService). Not gated: health and reflection (a
load balancer must see the server alive under load), AdminService (an operator's snapshot or stats
must get through an overload), and streaming calls (IngestStream, Watch, Export: each holds its own
bounds - STREAM_BATCHES_IN_FLIGHT, MAX_WATCH_STREAMS - and lives long, so a per-call slot would be
held for minutes).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from actors.api import OverloadedError
from service.errors import status_of
from service.limits import (
    ADMISSION_INGEST_MAX_RUNNING,
    ADMISSION_INGEST_MAX_WAIT_MS,
    ADMISSION_INGEST_MAX_WAITING,
    ADMISSION_QUERY_MAX_RUNNING,
    ADMISSION_QUERY_MAX_WAIT_MS,
    ADMISSION_QUERY_MAX_WAITING,
)

QUERY_SERVICES = ("segments.v1.QueryService", "segments.v1.SegmentService", "segments.v1.InsightsService",
                  "segments.v1.SchemaService")
INGEST_SERVICES = ("segments.v1.IngestService",)


@dataclass(frozen=True)
class GateLimits:
    max_running: int  # calls of the class running at once
    max_waiting: int  # calls waiting for one of those slots; more are refused at once
    max_wait_ms: int  # a waiting call is refused after this long

    def __post_init__(self) -> None:
        assert self.max_running > 0 and self.max_waiting >= 0 and self.max_wait_ms >= 0


class Gate:
    """The slots of one class. Used from the server's asyncio loop only (no locks needed)."""

    def __init__(self, name: str, limits: GateLimits) -> None:
        self.name = name
        self.limits = limits
        self.running = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self.admitted = 0  # counters for RELIABILITY.md figures and metrics
        self.rejected = 0

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> None:
        """Take a slot (now, or after a wait of at most max_wait_ms); OverloadedError otherwise."""
        if self.running < self.limits.max_running and not self._waiters:
            self.running += 1
            self.admitted += 1
            return
        if len(self._waiters) >= self.limits.max_waiting or self.limits.max_wait_ms == 0:
            self._refuse("no slot free and the wait queue is full")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.limits.max_wait_ms / 1000):
                await asyncio.shield(waiter)  # shielded: a timeout must not lose a slot handed over meanwhile
        except (TimeoutError, asyncio.CancelledError) as exc:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot arrived as the wait ended: pass it on
            else:
                waiter.cancel()
                self._discard(waiter)
            if isinstance(exc, asyncio.CancelledError):
                raise
            self._refuse(f"no slot free within {self.limits.max_wait_ms} ms")
        self.admitted += 1  # release() counted the slot as running when it handed it over

    def release(self) -> None:
        assert self.running > 0, f"{self.name}: release without a slot"
        # The slot goes straight to the oldest live waiter (FIFO: no waiter starves behind newcomers).
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.running -= 1

    def _discard(self, waiter: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):  # already taken off by release()
            self._waiters.remove(waiter)

    def _refuse(self, why: str) -> None:
        self.rejected += 1
        raise OverloadedError(
            f"{self.name} calls: {self.running} running (limit {self.limits.max_running}), {self.waiting} "
            f"waiting (limit {self.limits.max_waiting}); {why}")


class AdmissionInterceptor(grpc.aio.ServerInterceptor):
    """Gates unary calls by the class of their service (module docstring)."""

    def __init__(self, gates: dict[str, Gate]) -> None:
        self.gates = gates

    @classmethod
    def default(cls) -> AdmissionInterceptor:
        return cls({
            "query": Gate("query", GateLimits(ADMISSION_QUERY_MAX_RUNNING, ADMISSION_QUERY_MAX_WAITING,
                                              ADMISSION_QUERY_MAX_WAIT_MS)),
            "ingest": Gate("ingest", GateLimits(ADMISSION_INGEST_MAX_RUNNING, ADMISSION_INGEST_MAX_WAITING,
                                                ADMISSION_INGEST_MAX_WAIT_MS)),
        })

    def gate_of(self, method: str) -> Gate | None:
        """`method` is '/package.Service/Method'."""
        service = method.lstrip("/").split("/", 1)[0]
        if service in QUERY_SERVICES:
            return self.gates.get("query")
        if service in INGEST_SERVICES:
            return self.gates.get("ingest")
        return None

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler  # unknown method (UNIMPLEMENTED follows), or streaming: not gated
        gate = self.gate_of(handler_call_details.method)
        if gate is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            _gated(gate, handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _gated(gate: Gate, behaviour: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
           ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            await gate.acquire()
        except OverloadedError as exc:
            status = status_of(exc)  # RESOURCE_EXHAUSTED with RetryInfo, as the shards' own refusal
            await context.abort(status.code, status.details, status.trailing_metadata)
        try:
            return await behaviour(request, context)
        finally:
            gate.release()

    return call
