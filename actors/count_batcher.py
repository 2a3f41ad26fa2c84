"""Micro-batching of counts, per shard: concurrent counts go to the shard together, in one call.

A count that arrives while fewer than `max_calls_in_flight` batches are out is sent at once (alone, if
nothing else waits: no added delay when the service is quiet). Otherwise it waits for the next batch,
which leaves as soon as a batch comes back, with every count that arrived meanwhile (`count_many`).
Under load, a call then carries many counts: the per-call costs (a frame each way, a thread hand-off,
the shard's admission check) are paid once per batch instead of once per count.

Identical counts waiting for the same batch (same plan digest, same as_of_ms) are evaluated once and
share the answer. That is exact: a batch is sent after every count in it arrived, so the shard's
evaluation happens after each of them was asked and before each is answered - the answer each caller
gets is the count at a moment within its own call. A count is never joined to a batch already sent
(that evaluation may have started before the count was asked, and could miss an ingest the caller had
seen acknowledged).

Bounded: a count holds one of the shard's in-flight slots (Cluster, MAX_INFLIGHT_CALLS_PER_SHARD) from
before it is queued here until it is answered, so at most that many wait here; a batch carries at most
`max_counts_per_call`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from indexes.plan.compile import Plan

MAX_BATCH_CALLS_IN_FLIGHT = 2  # one batch computing on the shard while the next travels
MAX_COUNTS_PER_CALL = 64

CountKey = tuple[str, int]  # plan digest, as_of_ms
CountMany = Callable[[list[tuple[Plan, int]]], Awaitable[list[Any]]]


class CountBatcher:
    """One per shard; used from the cluster's asyncio loop only."""

    def __init__(self, count_many: CountMany, max_calls_in_flight: int = MAX_BATCH_CALLS_IN_FLIGHT,
                 max_counts_per_call: int = MAX_COUNTS_PER_CALL) -> None:
        assert max_calls_in_flight > 0 and max_counts_per_call > 0
        self._count_many = count_many
        self._max_calls = max_calls_in_flight
        self._max_counts = max_counts_per_call
        self._waiting: dict[CountKey, tuple[Plan, asyncio.Future[int]]] = {}  # insertion order = arrival
        self._calls_in_flight = 0
        self.calls = 0  # metrics: batches sent, counts asked, counts answered by another's evaluation
        self.counts = 0
        self.shared = 0

    async def count(self, digest: str, plan: Plan, as_of_ms: int) -> int:
        self.counts += 1
        key = (digest, as_of_ms)
        entry = self._waiting.get(key)
        if entry is None:
            future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            future.add_done_callback(_consume_exception)
            self._waiting[key] = (plan, future)
        else:
            self.shared += 1
            future = entry[1]
        self._send_batches()
        # Shielded: a caller giving up (its deadline) must not cancel the answer others share.
        return await asyncio.shield(future)

    def _send_batches(self) -> None:
        while self._waiting and self._calls_in_flight < self._max_calls:
            keys = list(self._waiting)[: self._max_counts]
            batch = [(key, *self._waiting.pop(key)) for key in keys]
            self._calls_in_flight += 1
            self.calls += 1
            asyncio.get_running_loop().create_task(self._send(batch))

    async def _send(self, batch: list[tuple[CountKey, Plan, asyncio.Future[int]]]) -> None:
        try:
            answers = await self._count_many([(plan, key[1]) for key, plan, _ in batch])
        except BaseException as exc:  # noqa: BLE001 - every count of the batch fails with the call
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
            if not isinstance(exc, Exception):
                raise
        else:
            assert len(answers) == len(batch), "one answer per count"
            for (_, _, future), answer in zip(batch, answers, strict=True):
                if future.done():
                    continue
                if isinstance(answer, Exception):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)
        finally:
            self._calls_in_flight -= 1
            self._send_batches()


def _consume_exception(future: asyncio.Future[Any]) -> None:
    # An answer every caller gave up on would otherwise be logged as "exception never retrieved".
    if not future.cancelled():
        future.exception()
