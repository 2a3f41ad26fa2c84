"""A grpc.aio interceptor: each RPC counted by method and status code, timed, and logged.

The status is what the client receives: the code a handler aborted with or set, OK when it returned,
CANCELLED when the client went away, UNKNOWN for an exception nothing mapped. Timing runs from the
handler's start to its end (for streams: the last message), so a Watch held open for an hour is an
hour-long RPC; alert on unary methods' latency, not on the streams'.

Log levels (logger `segments.rpc`, fields method, code, duration_ms, peer): server-side failures
(INTERNAL, UNKNOWN, UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, DATA_LOSS, ...) at WARNING,
caller errors (INVALID_ARGUMENT, NOT_FOUND, ...) and calls slower than SLOW_RPC_MS at INFO, every other
call at DEBUG (`--log-level DEBUG` writes one line per RPC).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from service.metrics import ServiceMetrics

log = logging.getLogger("segments.rpc")

SLOW_RPC_MS = 1_000.0
CALLER_ERRORS = frozenset({
    grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.CANCELLED, grpc.StatusCode.ABORTED,
})


def _status(context: grpc.aio.ServicerContext, error: BaseException | None) -> grpc.StatusCode:
    """The code the call ends with; grpc.aio keeps an aborted or set code on the context."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):  # some grpc versions keep the raw integer
        return next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
    if error is None:
        return grpc.StatusCode.OK
    if isinstance(error, asyncio.CancelledError):  # the client went away or the server is stopping
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN  # what grpc answers for an exception no handler mapped


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, metrics: ServiceMetrics) -> None:
        self._metrics = metrics
        # Labelled children cached: `.labels()` costs a lock and a tuple per call. Bounded: the methods are
        # the server's registered ones (unknown ones are not wrapped), the codes grpc's 17.
        self._counters: dict[tuple[str, grpc.StatusCode], Any] = {}
        self._histograms: dict[str, Any] = {}

    def _finish(self, method: str, context: grpc.aio.ServicerContext, peer: str, started_ns: int,
                error: BaseException | None) -> None:
        duration_s = (time.perf_counter_ns() - started_ns) / 1e9
        code = _status(context, error)
        self._metrics.rpcs_in_flight.dec()
        counter = self._counters.get((method, code))
        if counter is None:
            counter = self._counters[(method, code)] = self._metrics.rpcs.labels(method, code.name)
        counter.inc()
        histogram = self._histograms.get(method)
        if histogram is None:
            histogram = self._histograms[method] = self._metrics.rpc_duration.labels(method)
        histogram.observe(duration_s)
        duration_ms = round(duration_s * 1000, 3)
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            # Refusals come by the thousand a second under overload: counted above (segments_rpcs_total),
            # logged only at DEBUG so the log does not become the next bottleneck.
            level = logging.DEBUG
        elif code in (grpc.StatusCode.OK, *CALLER_ERRORS):
            level = logging.INFO if code != grpc.StatusCode.OK or duration_ms >= SLOW_RPC_MS else logging.DEBUG
        else:
            level = logging.WARNING
        if log.isEnabledFor(level):
            log.log(level, "%s %s %.1f ms", method, code.name, duration_ms,
                    extra={"method": method, "code": code.name, "duration_ms": duration_ms, "peer": peer})

    def _unary_response(self, method: str, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def metered(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started_ns = time.perf_counter_ns()
            # The peer is read now: grpc.aio's context.peer() after the call ended can crash the process
            # (a segfault in cygrpc, seen when an aborted server stream finished).
            peer = context.peer()
            self._metrics.rpcs_in_flight.inc()
            error: BaseException | None = None
            try:
                return await behavior(request, context)
            except BaseException as exc:
                error = exc
                raise
            finally:
                self._finish(method, context, peer, started_ns, error)

        return metered

    def _stream_response(self, method: str, behavior: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        async def metered(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started_ns = time.perf_counter_ns()
            # The peer is read now: grpc.aio's context.peer() after the call ended can crash the process
            # (a segfault in cygrpc, seen when an aborted server stream finished).
            peer = context.peer()
            self._metrics.rpcs_in_flight.inc()
            error: BaseException | None = None
            try:
                async for message in behavior(request, context):
                    yield message
            except BaseException as exc:
                error = exc
                raise
            finally:
                self._finish(method, context, peer, started_ns, error)

        return metered

    def _wrap(self, method: str, behavior: Callable[..., Any] | None) -> Callable[..., Any] | None:
        if behavior is None:
            return None
        if inspect.isasyncgenfunction(behavior):
            return self._stream_response(method, behavior)
        if inspect.iscoroutinefunction(behavior):  # unary replies, and streams written with context.write
            return self._unary_response(method, behavior)
        return behavior  # a synchronous handler (none here) runs in grpc's thread pool: left as it is

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None:  # unknown method: grpc answers UNIMPLEMENTED itself
            return None
        method = handler_call_details.method
        if not hasattr(handler, "_replace"):
            return handler  # not grpc's namedtuple handler: nothing to wrap safely
        return handler._replace(  # RpcMethodHandler is a namedtuple in grpc
            unary_unary=self._wrap(method, handler.unary_unary),
            unary_stream=self._wrap(method, handler.unary_stream),
            stream_unary=self._wrap(method, handler.stream_unary),
            stream_stream=self._wrap(method, handler.stream_stream),
        )
