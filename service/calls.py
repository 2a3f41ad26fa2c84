"""Backend calls under the RPC's deadline (docs/SERVICE.md, "Deadlines").

A query is simply abandoned when the deadline passes (asyncio.wait_for cancels it; nothing changes).
A mutation (ingest, declare, snapshot, compact) is shielded instead: once handed to the backend it
runs to its end even if the caller stops waiting, because cancelling it half-way would leave the
caller unable to tell what was stored. Its outcome is then unknown to that caller, who retries
(ingest is idempotent by event_id, RECORDS.md). Shutdown drains the shielded calls before the
backend is closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

import grpc

T = TypeVar("T")
log = logging.getLogger("segments.service")


def remaining_s(context: grpc.aio.ServicerContext) -> float | None:
    """Seconds left before the call's deadline; None when the client set none."""
    remaining = context.time_remaining()
    return None if remaining is None else max(0.0, remaining)


def remaining_ms(context: grpc.aio.ServicerContext) -> int | None:
    seconds = remaining_s(context)
    return None if seconds is None else int(seconds * 1000)


class DeadlineExceeded(Exception):
    """The call's own deadline passed while the backend worked (a TimeoutError raised by the backend
    itself is something else: it gave up waiting for a shard)."""


class BackendCalls:
    """Runs backend coroutines for the handlers; remembers the mutations still running."""

    def __init__(self) -> None:
        self._mutations: set[asyncio.Task[Any]] = set()
        # Set when the server starts shutting down: endless calls (Watch) end at once instead of
        # holding the shutdown for the whole grace period.
        self.closing = asyncio.Event()

    async def query(self, context: grpc.aio.ServicerContext, call: Awaitable[T]) -> T:
        seconds = remaining_s(context)
        if seconds is None:
            return await call
        if seconds <= 0:
            _close(call)
            raise DeadlineExceeded
        return await _within(call, seconds)

    async def mutation(self, context: grpc.aio.ServicerContext, call: Coroutine[Any, Any, T]) -> T:
        seconds = remaining_s(context)
        if seconds is not None and seconds <= 0:
            call.close()  # never started: nothing to drain
            raise DeadlineExceeded
        task = asyncio.ensure_future(call)
        self._mutations.add(task)
        task.add_done_callback(self._finished)
        return await _within(asyncio.shield(task), seconds)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._mutations.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Retrieved here so that a failure after the caller gave up is logged, not lost.
            log.debug("backend mutation ended with %r", task.exception())

    @property
    def in_flight(self) -> int:
        return len(self._mutations)

    async def drain(self, timeout_s: float) -> bool:
        """Wait for running mutations; True when none is left."""
        if self._mutations:
            await asyncio.wait(set(self._mutations), timeout=timeout_s)
        return not self._mutations


async def _within(call: Awaitable[T], seconds: float | None) -> T:
    scope = asyncio.timeout(seconds)
    try:
        async with scope:
            return await call
    except TimeoutError:
        if scope.expired():
            raise DeadlineExceeded from None
        raise


def _close(call: Awaitable[Any]) -> None:
    if asyncio.iscoroutine(call):
        call.close()
