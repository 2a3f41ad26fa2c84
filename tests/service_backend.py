"""A SegmentsBackend on one DurableEngine, for tests of service/ only (never shipped, never sharded).

It lets the handlers be tested in process, and wrapped to inject backend failures (overload,
unavailable shards, slow calls).
"""

from __future__ import annotations

import asyncio
import bisect
import time
from pathlib import Path
from typing import Any

from actors.api import (
    ClusterStats,
    CountOutcome,
    IngestOutcome,
    MembersPage,
    PredecessorFailedError,
    PreviewOutcome,
    RecordStatus,
    Rule,
    ShardCompactionInfo,
    ShardSnapshotInfo,
    ShardStatsInfo,
    WireBatch,
)
from indexes.durable import DurableEngine
from indexes.durable.compaction import compact
from indexes.records import RecordBatchError, RecordError
from indexes.rules import format_rule
from indexes.schema import Schema
from service.convert_records import records_from_wire


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class DurableBackend:
    def __init__(self, data_dir: Path, tz: str = "UTC") -> None:
        self.data_dir = data_dir
        self.tz = tz
        self._engine: DurableEngine | None = DurableEngine.open(data_dir / "shard-0", tz=tz)

    @property
    def engine(self) -> DurableEngine:
        assert self._engine is not None, "closed"
        return self._engine

    async def ingest(self, raws: list[dict[str, Any]], *, partial: bool, timeout_ms: int | None) -> IngestOutcome:
        result = await asyncio.to_thread(self.engine.ingest, raws, partial=partial, timeout_ms=timeout_ms)
        statuses = [RecordStatus.ACCEPTED] * len(raws)
        for error in result.errors:
            statuses[error.index] = RecordStatus.REJECTED
        for index in result.duplicate_indexes:
            statuses[index] = RecordStatus.DUPLICATE
        return IngestOutcome(result.accepted, result.duplicates, statuses, list(result.errors))

    async def ingest_wire(self, batch: WireBatch, *, partial: bool, timeout_ms: int | None,
                          after: asyncio.Future[Any] | None = None) -> IngestOutcome:
        """Decodes here and goes through `ingest` (where tests inject faults); `after` one phase: waited
        for before anything is validated."""
        if after is not None:
            try:
                await asyncio.shield(after)
            except BaseException:
                raise PredecessorFailedError("an earlier batch of the stream failed") from None
        decoded = records_from_wire([batch.record(i) for i in range(len(batch))])
        if decoded.errors and not partial:
            raise RecordBatchError(decoded.errors)
        positions = decoded.positions
        try:
            outcome = await self.ingest(decoded.raws, partial=partial, timeout_ms=timeout_ms)
        except RecordBatchError as exc:
            raise RecordBatchError([RecordError(positions[e.index], e.field, e.reason) for e in exc.errors]) from None
        statuses = [RecordStatus.REJECTED] * len(batch)
        for position, status in zip(positions, outcome.statuses, strict=True):
            statuses[position] = status
        errors = decoded.errors + [RecordError(positions[e.index], e.field, e.reason) for e in outcome.errors]
        return IngestOutcome(outcome.accepted, outcome.duplicates, statuses, sorted(errors, key=lambda e: e.index))

    async def declare(self, bodies: list[dict[str, Any]], ts_ms: int | None) -> int:
        raws = [{"declare": body, **({} if ts_ms is None else {"ts": ts_ms})} for body in bodies]
        result = await asyncio.to_thread(self.engine.ingest, raws)
        return result.accepted

    async def schema(self) -> Schema:
        return self.engine.schema.copy()

    async def count(self, rule: Rule, as_of_ms: int | None) -> CountOutcome:
        as_of = _now_ms() if as_of_ms is None else as_of_ms
        return CountOutcome(await asyncio.to_thread(self.engine.count, rule, as_of), as_of)

    async def preview(self, rule: Rule, as_of_ms: int | None, sample_size: int) -> PreviewOutcome:
        as_of = _now_ms() if as_of_ms is None else as_of_ms
        model = self.engine.load_rule(rule)
        members = await asyncio.to_thread(self.engine.members, model, as_of)
        return PreviewOutcome(len(members), members[:sample_size], format_rule(model), as_of)

    async def members_page(self, rule: Rule, as_of_ms: int, after: str | None, page_size: int) -> MembersPage:
        members = await asyncio.to_thread(self.engine.members, rule, as_of_ms)
        start = 0 if after is None else bisect.bisect_right(members, after)
        page = members[start : start + page_size]
        return MembersPage(page, start + page_size < len(members), len(members), as_of_ms)

    async def snapshot(self) -> list[ShardSnapshotInfo]:
        info = await asyncio.to_thread(self.engine.snapshot)
        return [ShardSnapshotInfo(0, info.covered_lsn, info.size_bytes, str(Path(info.path).relative_to(self.data_dir)))]

    async def compact(self) -> list[ShardCompactionInfo]:
        # Compaction works on a closed data directory: close, compact, reopen.
        self.engine.close()
        self._engine = None
        try:
            report = await asyncio.to_thread(compact, self.data_dir / "shard-0")
        finally:
            self._engine = DurableEngine.open(self.data_dir / "shard-0", tz=self.tz)
        return [ShardCompactionInfo(0, report.records_before, report.records_after, report.log_bytes_before,
                                    report.log_bytes_after)]

    async def stats(self) -> ClusterStats:
        s = await asyncio.to_thread(self.engine.stats)
        shard = ShardStatsInfo(0, "SERVING", s.customers, s.events, s.event_ids, s.applied_lsn, s.log_size_bytes,
                               s.snapshot_age_ms, s.records_since_snapshot, "shard-0")
        return ClusterStats(str(self.data_dir), s.tz, [shard])

    def serving(self) -> bool:
        return self._engine is not None

    async def close(self) -> None:
        if self._engine is not None:
            await asyncio.to_thread(self._engine.close)
            self._engine = None

