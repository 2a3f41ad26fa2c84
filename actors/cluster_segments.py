"""Saved segments across shards: the part of actors.cluster.Cluster behind actors/api_segments.py.

* Catalog: the router keeps a copy (indexes/segments/catalog.py), read from the shards at start and
  changed only by the commands it stores. Commands are validated and resolved against it and the
  cluster's schema (SegmentError, RuleError before any shard is asked), then stored on every shard in
  two phases, all or none (ingest_coordinator.replicate_everywhere, as declarations), one at a time
  under the declaration lock, where each shard checks that its own catalog resolves the command to the
  same body. After a failure the catalogs are compared, and a command that reached only some shards
  is sent to the others (actors/catalog_sync.py) before anything else reads or changes the catalog.
  Definitions, versions and searches are answered from the copy; ad-hoc rules may name saved segments
  (`segment` nodes), validated against it.
* Counts, members, dry runs: one instant T for every shard (default now); each shard answers from its
  materialized bitmap when exact at T (actors/shard_segments.py), counts summed, member pages merged.
* Daily sizes: summed per day. A shard whose clock has not passed a day's end yet has not recorded
  that day; its members have not changed since its clock (the ticker would have moved it), so its
  current count stands for those days.
* Change log: pages merged across shards (actors/change_merge.py) with a position vector; Watch long
  polls through actors/change_feed.py.
* The clock ticker (actors/clock_ticker.py) lets time pass on every shard once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from actors.api import MembersPage, Rule, ShardUnavailableError
from actors.api_segments import ChangePosition, ChangesOutcome, SegmentCountOutcome, ShardPosition
from actors.catalog_sync import plan_repair
from actors.change_feed import ChangeFeed
from actors.change_merge import epoch_of, merge_change_pages, start_of
from actors.clock_ticker import ClockTicker
from actors.ingest_coordinator import replicate_everywhere
from actors.member_pages import ShardPage, check_page_size, merge_pages
from actors.shard_client import ShardClient
from actors.shard_segments import CatalogDriftError
from indexes.engine import now_ms
from indexes.records import RecordBatchError
from indexes.rules import rule_to_json
from indexes.schema import Schema
from indexes.segments.catalog import Catalog
from indexes.segments.commands import resolve_command, validate_segment_rule
from indexes.segments.errors import SegmentError
from indexes.segments.queries import MAX_CHANGES_PER_PAGE, MAX_SAMPLES
from indexes.segments.templates import TEMPLATES, Template
from indexes.segments.views import ChangePage, DryRun, SegmentStats, SegmentView, segment_view


class ClusterSegments:
    """Mixed into Cluster, whose attributes below it uses."""

    _clients: list[ShardClient]
    _schema: Schema
    _schema_version: int
    _declare_lock: asyncio.Lock
    _compacting: bool

    def _slots(self, shards: Iterable[int]) -> AbstractContextManager[None]: ...  # type: ignore[empty-body]

    async def _ensure_schema_consistent(self) -> None: ...

    def _all(self) -> range: ...  # type: ignore[empty-body]

    # --- lifecycle (called by Cluster) ----------------------------------------------------------
    def _init_segments(self) -> None:
        self._catalog = Catalog()
        self._catalog_suspect = True  # read from the shards by _sync_catalogs at start
        self._feed = ChangeFeed(self._clients, lambda: self._compacting)
        self.ticker = ClockTicker(self._clients, self._tick)
        self._ticker_task = asyncio.get_running_loop().create_task(self.ticker.run(), name="clock-ticker")

    async def _close_segments(self) -> None:
        self._ticker_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._ticker_task
        await self._feed.close()

    async def _tick(self, client: ShardClient, at_ms: int) -> bool:
        if self._compacting:
            # A compacting shard refuses calls, and a refused call marks it down at the router until the
            # next probe: ticks wait for the end rather than make the health check flap after it.
            return False
        with self._slots([client.shard]):
            return bool(await client.call("advance_clock", at_ms))

    def segment_exists(self, segment_id: str) -> bool:
        """For `segment` nodes of ad-hoc rules (Cluster.compile)."""
        return self._catalog.is_live(segment_id)

    # --- the catalog ----------------------------------------------------------------------------
    async def _sync_catalogs(self) -> None:
        """Read every shard's catalog, send a command some missed to the others, adopt the result
        (declaration lock held, or at start)."""
        with self._slots(self._all()):
            plains: list[dict] = list(await asyncio.gather(*(c.call("segment_catalog") for c in self._clients)))
            repair = plan_repair(plains)
            if repair is not None:
                lagging = [c for c, plain in zip(self._clients, plains, strict=True) if plain != repair.ahead]
                await replicate_everywhere(lagging, "prepare_segment", (repair.body, repair.ts_ms), None)
        self._catalog = Catalog.from_plain(plains[0] if repair is None else repair.ahead)
        self._catalog_changed()
        self._catalog_suspect = False

    def _catalog_changed(self) -> None:
        self._schema_version += 1  # compiled rules naming segments are compiled again (Cluster.compile)

    async def _ensure_catalog(self) -> None:
        if self._catalog_suspect:
            async with self._declare_lock:
                if self._catalog_suspect:
                    await self._sync_catalogs()

    async def segment_command(self, command: dict[str, Any]) -> SegmentView:
        await self._ensure_schema_consistent()  # before the lock: it takes the lock itself
        async with self._declare_lock:
            if self._catalog_suspect:
                await self._sync_catalogs()
            body = resolve_command(command, self._catalog, self._schema)  # nothing sent when refused
            ts_ms = now_ms()
            with self._slots(self._all()):
                self._catalog_suspect = True  # until every shard committed
                try:
                    await replicate_everywhere(self._clients, "prepare_segment", (body, ts_ms), None)
                except (CatalogDriftError, RecordBatchError) as exc:
                    raise ShardUnavailableError(f"{exc}; the catalogs are compared before the next command: "
                                                "retry") from exc
                self._catalog.apply(body, ts_ms)
                self._catalog_changed()
                self._catalog_suspect = False
        return segment_view(self._catalog.require(body["id"], include_deleted=True), self._schema)

    async def get_segment(self, segment_id: str, version: int | None, include_deleted: bool) -> SegmentView:
        await self._ensure_catalog()
        return segment_view(self._catalog.require(segment_id, include_deleted=include_deleted), self._schema, version)

    async def segment_versions(self, segment_id: str, include_deleted: bool) -> list[SegmentView]:
        await self._ensure_catalog()
        segment = self._catalog.require(segment_id, include_deleted=include_deleted)
        return [segment_view(segment, self._schema, v.version) for v in segment.versions]

    async def list_segments(self, name_contains: str | None, tag: str | None, include_deleted: bool) -> list[SegmentView]:
        await self._ensure_catalog()
        found = self._catalog.search(name_contains, tag, include_deleted=include_deleted)
        return [segment_view(segment, self._schema) for segment in found]

    @staticmethod
    def segment_templates() -> list[Template]:
        return list(TEMPLATES)

    # --- membership -----------------------------------------------------------------------------
    async def _live(self, segment_id: str) -> None:
        await self._ensure_catalog()
        self._catalog.require(segment_id)

    async def segment_count(self, segment_id: str, as_of_ms: int | None) -> SegmentCountOutcome:
        await self._live(segment_id)
        at_ms = now_ms() if as_of_ms is None else as_of_ms
        with self._slots(self._all()):
            answers = await asyncio.gather(*(c.call("segment_count", segment_id, at_ms) for c in self._clients))
        updates = [a[2] for a in answers if a[2] is not None]
        return SegmentCountOutcome(count=sum(a[0] for a in answers), as_of_ms=at_ms, clock_ms=min(a[1] for a in answers),
                                   last_update_ms=max(updates) if updates else None, active=all(a[3] for a in answers))

    async def segment_members_page(self, segment_id: str, as_of_ms: int, after: str | None,
                                   page_size: int) -> MembersPage:
        await self._live(segment_id)
        check_page_size(page_size)
        with self._slots(self._all()):
            pages: list[ShardPage] = list(await asyncio.gather(
                *(c.call("segment_members_page", segment_id, as_of_ms, after, page_size) for c in self._clients)))
        ids, has_more = merge_pages(pages, page_size)
        return MembersPage(customer_ids=ids, has_more=has_more, total_count=sum(p.count for p in pages), as_of_ms=as_of_ms)

    async def segment_size_history(self, segment_id: str) -> list[tuple[dt.date, int]]:
        await self._live(segment_id)
        with self._slots(self._all()):
            stats: list[SegmentStats] = list(await asyncio.gather(
                *(c.call("segment_stats", segment_id) for c in self._clients)))
        return sum_daily_sizes(stats)

    async def dry_run_edit(self, segment_id: str, rule: Rule, as_of_ms: int | None, samples: int) -> DryRun:
        await self._live(segment_id)
        if not 0 <= samples <= MAX_SAMPLES:
            raise SegmentError("samples", f"must be 0..{MAX_SAMPLES}")
        model = validate_segment_rule(rule, segment_id, self._catalog, self._schema)  # RuleError here
        rule_json = rule_to_json(model)
        at_ms = now_ms() if as_of_ms is None else as_of_ms
        with self._slots(self._all()):
            runs: list[DryRun] = list(await asyncio.gather(
                *(c.call("segment_dry_run", segment_id, rule_json, at_ms, samples) for c in self._clients)))
        return DryRun(
            as_of_ms=at_ms, before_count=sum(r.before_count for r in runs), after_count=sum(r.after_count for r in runs),
            entering=sum(r.entering for r in runs), exiting=sum(r.exiting for r in runs),
            entering_samples=sorted(i for r in runs for i in r.entering_samples)[:samples],
            exiting_samples=sorted(i for r in runs for i in r.exiting_samples)[:samples],
        )

    # --- the change log -------------------------------------------------------------------------
    async def _check_watched(self, segment_ids: list[str] | None, limit: int) -> None:
        await self._ensure_catalog()
        for segment_id in segment_ids or ():
            self._catalog.require(segment_id, include_deleted=True)
        if not 1 <= limit <= MAX_CHANGES_PER_PAGE:
            raise SegmentError("limit", f"must be 1..{MAX_CHANGES_PER_PAGE}")

    async def segment_changes(self, segment_ids: list[str] | None, position: ChangePosition | None,
                              customer_id: str | None, from_ms: int | None, to_ms: int | None,
                              limit: int) -> ChangesOutcome:
        await self._check_watched(segment_ids, limit)
        start = start_of(position, len(self._clients))
        pages = await self._read_changes(list(self._all()), segment_ids, start, customer_id, from_ms, to_ms, limit)
        return merge_change_pages(pages, start, limit)

    async def _read_changes(self, shards: list[int], segment_ids: list[str] | None, position: ChangePosition,
                            customer_id: str | None, from_ms: int | None, to_ms: int | None,
                            limit: int) -> list[ChangePage | None]:
        pages: list[ChangePage | None] = [None] * len(self._clients)
        with self._slots(shards):
            read = await asyncio.gather(*(
                self._clients[s].call("segment_changes", segment_ids, position[s].after_seq, customer_id, from_ms,
                                      to_ms, limit, epoch_of(position[s]))
                for s in shards))
        for shard, page in zip(shards, read, strict=True):
            pages[shard] = page
        return pages

    async def next_changes(self, segment_ids: list[str] | None, position: ChangePosition | None,
                           wait_ms: int, limit: int) -> ChangesOutcome:
        await self._check_watched(segment_ids, limit)
        if position is None:
            with self._slots(self._all()):
                ends = await asyncio.gather(*(c.call("changes_end") for c in self._clients))
            return ChangesOutcome([], tuple(ShardPosition(epoch, next_seq - 1) for epoch, next_seq in ends), False)
        current = start_of(position, len(self._clients))
        self._feed.start()
        deadline = time.monotonic() + wait_ms / 1000
        # Bounded by the deadline: each turn reads the shards the feed says moved, or waits for it.
        while True:
            version = self._feed.version
            moved = [s for s in self._all() if self._feed.behind(s, current[s])]
            if moved:
                # Each moved shard reads its share of the limit: whole pages of every shard would be cut
                # to `limit` by the merge, and the rest read again by the next poll.
                page_limit = max(1, limit // len(moved))
                pages = await self._read_changes(moved, segment_ids, current, None, None, None, page_limit)
                outcome = merge_change_pages(pages, current, limit, page_limit)
                if outcome.changes:
                    return outcome
                current = outcome.position  # past other segments' entries
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                return ChangesOutcome([], current, False)
            await self._feed.wait(version, remaining_s)


def sum_daily_sizes(stats: list[SegmentStats]) -> list[tuple[dt.date, int]]:
    """The shards' daily sizes summed per day (module doc): a day a shard has not recorded yet, after
    its last recorded one, counts its current members; days before some shard's first are left out."""
    histories = [dict(s.daily_sizes) for s in stats]
    days = sorted(set().union(*histories))
    firsts = [min(h) if h else None for h in histories]
    lasts = [max(h) if h else None for h in histories]
    out: list[tuple[dt.date, int]] = []
    for day in days:
        total = 0
        for history, first, last, shard in zip(histories, firsts, lasts, stats, strict=True):
            if day in history:
                total += history[day]
            elif last is None or day > last:
                total += shard.count
            else:
                assert first is not None and day < first  # a shard's days are consecutive
                break
        else:
            out.append((day, total))
    return out
