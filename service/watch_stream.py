"""One Watch call: changes read from the backend into a bounded queue, written to the client from it.

A producer task long-polls the backend (`next_changes`: it returns as soon as a shard's change log
moved past the stream's position, actors/change_feed.py) and turns each answer into a message carrying
the position after it; the call's own task writes the messages. Between them a queue of at most
`queue_messages`: a client that reads too slowly fills it, and once the producer has waited
`slow_consumer_s` for room the stream ends with RESOURCE_EXHAUSTED (the client resumes from the last
position it received; nothing is lost, the change log keeps it) rather than being buffered without
bound. After `heartbeat_ms` without changes a heartbeat goes out with the current position (the first
message is one too, so a client holds a position from the start). Server shutdown ends streams with
UNAVAILABLE at once instead of holding the shutdown for the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from actors.api import OverloadedError, ShardUnavailableError
from actors.api_segments import ChangePosition, ChangesOutcome
from proto.segments.v1 import segments_pb2
from service.convert_segments import change_pb
from service.cursor_token import encode_position

NextChanges = Callable[[ChangePosition | None, int], Awaitable[ChangesOutcome]]  # (position, wait_ms)
Write = Callable[[segments_pb2.WatchResponse], Awaitable[None]]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class WatchStream:
    def __init__(self, next_changes: NextChanges, start: ChangePosition | None, *, heartbeat_ms: int,
                 queue_messages: int, slow_consumer_s: float, closing: asyncio.Event) -> None:
        assert heartbeat_ms > 0 and queue_messages > 0 and slow_consumer_s > 0
        self._next_changes = next_changes
        self._start = start
        self._heartbeat_s = heartbeat_ms / 1000
        self._queue: asyncio.Queue[segments_pb2.WatchResponse] = asyncio.Queue(queue_messages)
        self._slow_consumer_s = slow_consumer_s
        self._closing = closing
        self._failure: BaseException | None = None
        self.sent = 0  # messages written

    async def run(self, write: Write) -> None:
        """Until the client goes away (CancelledError) or the stream fails (its exception)."""
        consumer = asyncio.current_task()
        assert consumer is not None
        producer = asyncio.get_running_loop().create_task(self._produce(consumer), name="watch-producer")
        closing = asyncio.ensure_future(self._closing.wait())
        get: asyncio.Future[segments_pb2.WatchResponse] | None = None
        try:
            # Ends when the producer fails, the server closes, or the call is cancelled.
            while True:
                get = asyncio.ensure_future(self._queue.get())
                done, _ = await asyncio.wait({get, producer, closing}, return_when=asyncio.FIRST_COMPLETED)
                if closing in done:
                    raise ShardUnavailableError("the server is shutting down: reconnect with the last position token")
                if get not in done:
                    raise self._failure or RuntimeError("the watch producer ended")
                await write(get.result())
                self.sent += 1
        except asyncio.CancelledError:
            if self._failure is None:
                raise  # the client went away
            consumer.uncancel()  # cancelled by the producer, to interrupt a write to a slow client
            raise self._failure from None
        finally:
            for task in (get, closing, producer):
                if task is not None:
                    task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await producer

    async def _produce(self, consumer: asyncio.Task) -> None:
        try:
            position = self._start
            if position is None:  # from now: the current end of every shard's change log
                position = (await self._next_changes(None, 0)).position
            await self._put(self._heartbeat(position))
            idle_since = time.monotonic()
            # Ends when cancelled (the call ended) or on a failure; each turn is one long poll.
            while True:
                wait_s = max(0.0, self._heartbeat_s - (time.monotonic() - idle_since))
                outcome = await self._next_changes(position, int(wait_s * 1000))
                position = outcome.position
                if outcome.changes:
                    batch = segments_pb2.SegmentChangeBatch(changes=[change_pb(c) for c in outcome.changes])
                    await self._put(segments_pb2.WatchResponse(changes=batch, position_token=encode_position(position)))
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since >= self._heartbeat_s:
                    await self._put(self._heartbeat(position))
                    idle_since = time.monotonic()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._failure = exc
            if isinstance(exc, OverloadedError):
                consumer.cancel()  # it may be stuck writing to the slow client
            raise

    @staticmethod
    def _heartbeat(position: ChangePosition) -> segments_pb2.WatchResponse:
        return segments_pb2.WatchResponse(heartbeat=segments_pb2.Heartbeat(server_time_ms=_now_ms()),
                                          position_token=encode_position(position))

    async def _put(self, message: segments_pb2.WatchResponse) -> None:
        try:
            await asyncio.wait_for(self._queue.put(message), self._slow_consumer_s)
        except TimeoutError:
            raise OverloadedError(
                f"the client read too slowly: {self._queue.maxsize} messages waited over {self._slow_consumer_s:.0f} s; "
                "reconnect with the last position token received") from None
