"""IngestStream's pipeline: requests read ahead, merged while the backend is busy, stored in order.

* Up to STREAM_BATCHES_IN_FLIGHT backend batches per stream at once: the next one is decoded and
  validated on the shards while the one before it is made durable.
* While that many are in flight, requests read meanwhile are merged into the next backend batch (up to
  STREAM_MERGE_MAX_RECORDS records; only requests with the same `partial`). A shard pays a fixed cost per
  batch it validates (id lookups, capacity check: measured at 1 M customers, 36 us a record in
  sub-batches of 1 000 records, 29 us from 2 000 on), so clients sending small requests get larger
  batches when the service is busy; when it keeps up, each request goes alone, with no added delay.
* Each backend batch is stored only after the one before it (`after`, actors/api.py): the stream is
  stored in its order. When one fails, the ones after it are released, and the error is sent once they
  are: every request before the failing one was stored, the failing one and those after it were not.
* A merged batch refused for a bad record (nothing of it stored) is retried request by request, so the
  requests before the bad one are stored and the error names the request holding it - as if the
  requests had gone one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from proto.segments.v1 import ingest_pb2
from service.errors import invalid_records
from service.ingest_batch import BatchResult, RejectedBatch, error_pb
from service.limits import MAX_LISTED_RECORD_ERRORS, STREAM_BATCHES_IN_FLIGHT, STREAM_MERGE_MAX_RECORDS
from service.wire_requests import ReceivedRequest

Request = ReceivedRequest  # an IngestRequest with the bytes it came in
# Runs one backend batch of these requests' records (merged), after `after` is stored.
RunBatch = Callable[[list[Request], "asyncio.Future[GroupResult] | None"], Awaitable[BatchResult]]


@dataclass
class Part:
    offset: int  # stream index of its first record
    requests: int  # how many requests it covers
    result: BatchResult


@dataclass
class GroupResult:
    parts: list[Part]  # one for a merged batch; one per request after a retry request by request


class GroupRejected(Exception):
    """Request `index` of a merged group holds a bad record; the requests before it were stored."""

    def __init__(self, index: int, stored: list[Part], rejected: RejectedBatch) -> None:
        super().__init__(f"request {index} of the group was rejected")
        self.index = index
        self.stored = stored
        self.rejected = rejected


@dataclass
class _Group:
    requests: list[Request]
    offset: int  # stream index of its first record
    first_batch: int  # stream number of its first request
    records: int = 0
    task: asyncio.Task[GroupResult] | None = field(default=None)


class StreamIngest:
    """One IngestStream call: `await StreamIngest(run_batch).run(requests)` -> the summary."""

    def __init__(self, run_batch: RunBatch) -> None:
        self._run_batch = run_batch
        self.summary = ingest_pb2.IngestStreamResponse()
        self._in_flight: deque[_Group] = deque()
        self._waiting: deque[_Group] = deque()  # read, not yet handed to the backend
        self._next_offset = 0
        self._next_batch = 0
        self._tasks: set[asyncio.Task[GroupResult]] = set()  # referenced until done

    async def run(self, requests: AsyncIterator[Request]) -> ingest_pb2.IngestStreamResponse:
        reader = aiter(requests)
        read: asyncio.Task[Request] | None = asyncio.ensure_future(anext(reader))
        try:
            # Ends when the stream is read and every group is finished (or one failed: raised).
            while read is not None or self._waiting or self._in_flight:
                self._start_groups()
                waits: set[asyncio.Future[object]] = set()
                if read is not None and self._room_to_read():
                    waits.add(read)
                if self._in_flight:
                    waits.add(self._in_flight[0].task)  # type: ignore[arg-type]
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if self._in_flight and self._in_flight[0].task.done():  # type: ignore[union-attr]
                    await self._finish(self._in_flight.popleft())
                if read is not None and read.done():
                    try:
                        self._add(read.result())
                    except StopAsyncIteration:
                        read = None
                    else:
                        read = asyncio.ensure_future(anext(reader))
        except BaseException:
            # Groups after a failed one are being released (they wait for it); answer only once they
            # are, so that what the error says was stored is all that is stored.
            with contextlib.suppress(BaseException):
                await asyncio.gather(*(g.task for g in self._in_flight if g.task), return_exceptions=True)
            raise
        finally:
            if read is not None:
                read.cancel()
        return self.summary

    def _room_to_read(self) -> bool:
        """Read on while the waiting requests are below one merged batch (bounded read-ahead)."""
        return sum(g.records for g in self._waiting) < STREAM_MERGE_MAX_RECORDS or not self._waiting

    def _add(self, request: Request) -> None:
        size = len(request.records)
        last = self._waiting[-1] if self._waiting else None
        if (last is None or last.requests[0].partial != request.partial
                or last.records + size > STREAM_MERGE_MAX_RECORDS):
            last = _Group([], self._next_offset, self._next_batch)
            self._waiting.append(last)
        last.requests.append(request)
        last.records += size
        self._next_offset += size
        self._next_batch += 1

    def _start_groups(self) -> None:
        while self._waiting and len(self._in_flight) < STREAM_BATCHES_IN_FLIGHT:
            group = self._waiting.popleft()
            previous = self._in_flight[-1].task if self._in_flight else None
            group.task = asyncio.get_running_loop().create_task(self._run(group, previous))
            self._tasks.add(group.task)
            group.task.add_done_callback(self._tasks.discard)
            self._in_flight.append(group)

    async def _run(self, group: _Group, after: asyncio.Future[GroupResult] | None) -> GroupResult:
        try:
            return GroupResult([Part(group.offset, len(group.requests), await self._run_batch(group.requests, after))])
        except RejectedBatch:
            if len(group.requests) == 1:
                raise
        # Nothing of the merged batch was stored: one request at a time now, in order.
        stored: list[Part] = []
        offset = group.offset
        for index, request in enumerate(group.requests):
            try:
                stored.append(Part(offset, 1, await self._run_batch([request], after if index == 0 else None)))
            except RejectedBatch as exc:
                raise GroupRejected(index, stored, exc) from exc
            offset += len(request.records)
        return GroupResult(stored)  # each passed alone (a conflict only the merged batch had)

    async def _finish(self, group: _Group) -> None:
        """Add the oldest group to the summary (groups finish in order), or raise its failure."""
        assert group.task is not None
        try:
            result = await group.task
        except GroupRejected as exc:
            for part in exc.stored:
                self._account(part)
            offset = group.offset + sum(len(r.records) for r in group.requests[: exc.index])
            raise self._rejection(exc.rejected, offset, group.first_batch + exc.index) from exc.rejected
        except RejectedBatch as exc:
            raise self._rejection(exc, group.offset, group.first_batch) from exc
        for part in result.parts:
            self._account(part)

    def _account(self, part: Part) -> None:
        summary, result = self.summary, part.result
        summary.batches += part.requests
        summary.accepted += result.accepted
        summary.duplicates += result.duplicates
        summary.rejected += len(result.errors)
        room = MAX_LISTED_RECORD_ERRORS - len(summary.errors)
        summary.errors.extend(error_pb(e, part.offset) for e in result.errors[:room])
        summary.errors_truncated = summary.errors_truncated or len(result.errors) > room

    def _rejection(self, exc: RejectedBatch, offset: int, batch: int) -> Exception:
        where = f" (batch {batch} of the stream; {self.summary.accepted} records of earlier batches were stored)"
        return invalid_records(exc.errors, offset, where)
