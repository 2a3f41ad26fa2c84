"""The passing of time on every shard, without ingest: a tick asks each shard to move its clock to now.

A shard's clock otherwise moves only with the commit marks of the batches it stores; an idle shard
would then never let a customer leave "ordered in the last 30 days". Every INTERVAL_MS the ticker
calls each serving shard's `advance_clock(now)` (DurableEngine.advance_clock), which appends a tick
(a commit mark alone) only when the time that passed can change a materialized segment, and does
nothing otherwise: an idle workspace's logs do not grow. One `now` for every shard of a round.

Bounded: a round waits for its ticks before the next one starts, so each shard has at most one tick
outstanding; a shard that is down or busy compacting is skipped (its error is counted, not raised).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from actors.shard_client import ShardClient
from indexes.engine import now_ms

INTERVAL_MS = 1_000
log = logging.getLogger("segments.actors")

Tick = Callable[[ShardClient, int], Awaitable[bool]]  # (shard, now) -> whether the shard appended a tick


class ClockTicker:
    def __init__(self, clients: Sequence[ShardClient], tick: Tick, interval_ms: int = INTERVAL_MS) -> None:
        assert interval_ms > 0
        self._clients = clients
        self._tick = tick
        self._interval_ms = interval_ms
        self.rounds = 0  # metrics
        self.appended = 0  # ticks that changed something
        self.failed = 0
        self.last_round_ms = 0.0  # how long the last round took
        self._idle = asyncio.Event()  # no round running
        self._idle.set()

    async def run(self) -> None:
        # Ends when cancelled (Cluster.close); one round per interval.
        while True:
            await asyncio.sleep(self._interval_ms / 1000)
            await self.round()

    async def wait_idle(self) -> None:
        """Until no round is running (compaction starts only then: a tick it refused would mark the shard
        down at the router)."""
        await self._idle.wait()

    async def round(self, at_ms: int | None = None) -> None:
        self._idle.clear()
        try:
            await self._round(at_ms)
        finally:
            self._idle.set()

    async def _round(self, at_ms: int | None) -> None:
        started = time.perf_counter()
        when = now_ms() if at_ms is None else at_ms
        serving = [c for c in self._clients if c.serving]
        results = await asyncio.gather(*(self._tick(c, when) for c in serving), return_exceptions=True)
        for client, result in zip(serving, results, strict=True):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, BaseException):
                self.failed += 1
                log.debug("clock tick of shard %d failed: %r", client.shard, result)
            elif result:
                self.appended += 1
        self.rounds += 1
        self.last_round_ms = (time.perf_counter() - started) * 1000
