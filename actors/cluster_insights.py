"""Insights, summaries, explanations, member profiles and exports across shards: the part of
actors.cluster.Cluster behind InsightsService (shard side: actors/shard_insights.py).

A target is a saved segment (its materialized bitmap on each shard) or an ad-hoc rule (compiled here,
the plan shipped). Every answer is exact:

* Insights in rounds at one instant: (1) each shard's base LTV quantiles and size -> the count-weighted
  average of each quantile -> readable bucket edges, the same on every shard; (2) each shard's partial
  counts (indexes/insights.py shard_insights); (3) with several shards, exact counts from every shard
  of the values `uncertain_tops` puts in doubt and of every value some shard listed (a shard that did
  not list a value left its segment and base counts out of the merge); then with_exact_counts +
  finish_insights. Buckets and sums are exact whatever the edges.
* Explain and one customer's profile: asked of the customer's own shard (placement by customer id).
* Member profiles: keyset pages. Order: present values by the sort column (asc or desc), ties by
  customer id, customers without a value last by id. Each shard returns its first `page_size` after
  the cursor (missing, value, customer id); the merge of those is the cluster's page, the last row's key
  the next cursor, so every member appears exactly once across pages of any shard count.
* Export: a k-way merge by customer id of per-shard block streams (shard sessions). Each shard has at
  most two blocks in flight (the one being merged and the next, prefetched); the merge emits every row
  up to the smallest "last id of a buffered block" of the shards still running, so rows leave in
  customer-id order and memory is bounded by blocks, not by the export.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import copy
import heapq
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from actors.api import Rule
from actors.api_segments import ChangePosition, ShardPosition
from actors.placement import shard_of
from actors.shard_client import ShardClient
from actors.shard_insights import Target
from indexes.engine import now_ms
from indexes.explain import Explanation, UnknownCustomerError
from indexes.export import BLOCK_ROWS
from indexes.insights import (
    Insights,
    InsightsPartial,
    InsightsRequest,
    finish_insights,
    merge_partials,
    readable_edges,
    uncertain_tops,
    with_exact_counts,
)
from indexes.profile_pages import ProfilePage, SortKey, sort_order
from indexes.profiles import CustomerProfile
from indexes.rules import format_rule, load_rule, rule_to_json
from indexes.rules.model import Node
from indexes.rules.summary import summarize
from indexes.schema import DEFAULT_SCALE, Schema
from indexes.segments.catalog import Catalog
from indexes.segments.export_schedules import ExportSchedule
from indexes.shard.shard import AMOUNT_ATTR, ORDER_EVENT

LANGUAGES = ("en", "tr", "de")
EXPORT_BLOCK_ROWS = BLOCK_ROWS


@dataclass(frozen=True)
class ExportBatch:
    rows: list[tuple[str | None, ...]]  # the columns' values, in customer-id order
    left_out: int  # members left out (missing a mandatory column) so far
    done: int  # members written or left out so far
    total: int  # members of the export
    # Every shard's change-log position at the moment its members were read: the export holds the
    # segment's membership as of these positions (changes-only scheduled exports continue from here).
    read_at: ChangePosition = ()


class ClusterInsights:
    """Mixed into Cluster, whose attributes below it uses."""

    _clients: list[ShardClient]
    _schema: Schema
    _catalog: Catalog

    def _slots(self, shards: Iterable[int]) -> AbstractContextManager[None]: ...  # type: ignore[empty-body]

    def _all(self) -> range: ...  # type: ignore[empty-body]

    async def _ensure_schema_consistent(self) -> None: ...

    async def _live(self, segment_id: str) -> None: ...

    async def _ensure_catalog(self) -> None: ...

    async def segment_command(self, command: dict[str, Any]) -> Any: ...

    def compile(self, rule: Rule) -> Any: ...

    def segment_exists(self, segment_id: str) -> bool: ...  # type: ignore[empty-body]

    # --- targets -------------------------------------------------------------------------------
    async def _target(self, segment_id: str | None, rule: Rule | None) -> tuple[Target, Node]:
        """("segment", id) with its current rule, or ("plan", plan) of an ad-hoc rule (RuleError)."""
        await self._ensure_schema_consistent()
        if segment_id is not None:
            await self._live(segment_id)  # SegmentNotFoundError
            text = self._catalog.require(segment_id).current.content.rule
            return ("segment", segment_id), load_rule(json.loads(text), self._schema, self.segment_exists)
        assert rule is not None
        query = self.compile(rule)
        return ("plan", query.plan), query.node

    def _amount_scale(self) -> int:
        declared = self._schema.attribute_type(ORDER_EVENT, AMOUNT_ATTR)
        return DEFAULT_SCALE if declared is None else declared.scale

    # --- insights ------------------------------------------------------------------------------
    async def insights(self, segment_id: str | None, rule: Rule | None, as_of_ms: int | None = None, *,
                       window_days: int = 30, top: int = 10) -> tuple[Insights, int]:
        """(the report, its instant)."""
        target, _ = await self._target(segment_id, rule)
        at_ms = now_ms() if as_of_ms is None else as_of_ms
        scale = self._amount_scale()
        with self._slots(self._all()):
            answers = await asyncio.gather(*(c.call("insights_edges", at_ms) for c in self._clients))
            edges = readable_edges(average_quantiles(answers), scale)
            request = InsightsRequest(window_days=window_days, ltv_edges=edges, top=top)
            partials: list[InsightsPartial] = list(await asyncio.gather(
                *(c.call("insights_partial", target, at_ms, request) for c in self._clients)))
            total = merge_partials(partials)
            if len(partials) > 1:
                # Round 3: a value a shard did not list has its counts there missing from the merge,
                # in the base too (ties in the segment are ranked by the base): count exactly, on every
                # shard, the values in doubt (uncertain_tops) and every value some shard listed.
                wanted = uncertain_tops(partials, top)
                for name, values in {**total.breakdowns, **total.window_tops}.items():
                    wanted.setdefault(name, tuple(sorted(values)))
                exact = await asyncio.gather(
                    *(c.call("insights_values", target, at_ms, request, wanted) for c in self._clients))
                total = with_exact_counts(total, exact)
        return finish_insights([total], request, top, scale), at_ms

    # --- words and one customer ----------------------------------------------------------------
    async def summarize(self, segment_id: str | None, rule: Rule | None, language: str) -> tuple[str, str]:
        """(summary, the rule's text form); ValueError for an unknown language."""
        if language not in LANGUAGES:
            raise ValueError(f"language: one of {', '.join(LANGUAGES)}")
        _, node = await self._target(segment_id, rule)
        return summarize(node, language), format_rule(node)

    async def explain(self, segment_id: str | None, rule: Rule | None, customer_id: str,
                      as_of_ms: int | None = None) -> Explanation:
        """UnknownCustomerError when no shard holds the customer."""
        _, node = await self._target(segment_id, rule)
        at_ms = now_ms() if as_of_ms is None else as_of_ms
        shard = shard_of(customer_id, len(self._clients))
        with self._slots([shard]):
            return await self._clients[shard].call("explain", rule_to_json(node), customer_id, at_ms)

    async def customer_profile(self, customer_id: str, as_of_ms: int | None = None,
                               recent: int = 20) -> CustomerProfile:
        await self._ensure_schema_consistent()
        at_ms = now_ms() if as_of_ms is None else as_of_ms
        shard = shard_of(customer_id, len(self._clients))
        with self._slots([shard]):
            found = await self._clients[shard].call("customer_profile", customer_id, at_ms, recent)
        if found is None:
            raise UnknownCustomerError(customer_id)
        return found  # type: ignore[no-any-return]

    # --- member profiles -----------------------------------------------------------------------
    async def profile_page(self, segment_id: str | None, rule: Rule | None, as_of_ms: int, columns: list[str],
                           sort_by: str, descending: bool, after: SortKey | None,
                           page_size: int) -> tuple[list[tuple[SortKey, list[str | None]]], bool, int]:
        """(rows with their sort keys, has_more, members): UnknownColumnError for a bad column."""
        target, _ = await self._target(segment_id, rule)
        with self._slots(self._all()):
            pages: list[ProfilePage] = list(await asyncio.gather(*(
                c.call("profile_page", target, as_of_ms, columns, sort_by, descending, after, page_size)
                for c in self._clients)))
        rows = [row for page in pages for row in page.rows]
        order = sort_order([key for key, _ in rows], list(range(len(rows))), descending)
        merged = [rows[i] for i in order[:page_size]]
        has_more = len(rows) > page_size or any(p.has_more for p in pages)
        return merged, has_more, sum(p.count for p in pages)

    # --- scheduled exports (actors/export_scheduler.py runs them) --------------------------------
    async def export_schedule_command(self, command: dict[str, Any]) -> ExportSchedule:
        """schedule_export / unschedule_export / record_export_run (indexes/segments/export_schedules.py),
        stored like every segment command; the schedule afterwards."""
        command = dict(command)
        if command["op"] == "schedule_export" and not command.get("schedule"):
            command["schedule"] = f"exp_{uuid.uuid4().hex[:12]}"
        await self.segment_command(command)
        return copy.deepcopy(self._catalog.exports.require(command["schedule"], include_deleted=True))

    async def export_schedules(self, segment_id: str | None, include_deleted: bool = False) -> list[ExportSchedule]:
        await self._ensure_catalog()
        found = [s for s in self._catalog.exports.schedules.values()
                 if (include_deleted or not s.deleted) and segment_id in (None, s.segment_id)]
        return copy.deepcopy(found)

    async def export_schedule(self, schedule_id: str) -> ExportSchedule:
        """SegmentNotFoundError when unknown (deleted ones are found)."""
        await self._ensure_catalog()
        return copy.deepcopy(self._catalog.exports.require(schedule_id, include_deleted=True))

    # --- exports -------------------------------------------------------------------------------
    async def export_rows(self, segment_id: str | None, rule: Rule | None, columns: list[str],
                          mandatory: list[str], as_of_ms: int, block_rows: int = EXPORT_BLOCK_ROWS, *,
                          only_ids: list[str] | None = None) -> AsyncIterator[ExportBatch]:
        """Batches of rows in customer-id order (module doc), the last one with the final counts.
        UnknownColumnError / ValueError for bad columns, raised before the first batch. `only_ids`
        (with a segment): its members among these customers (changes-only scheduled exports)."""
        target, _ = await self._target(segment_id, rule)
        if only_ids is not None:
            assert segment_id is not None
            target = ("segment_ids", (segment_id, only_ids))
        streams: list[_ShardStream] = []
        with self._slots(self._all()):
            try:
                opened = await asyncio.gather(*(
                    c.call("export_open", target, as_of_ms, columns, mandatory, block_rows) for c in self._clients),
                    return_exceptions=True)
                for client, answer in zip(self._clients, opened, strict=True):
                    if not isinstance(answer, BaseException):
                        streams.append(_ShardStream(client, *answer))
                failed = [a for a in opened if isinstance(a, BaseException)]
                if failed:
                    raise failed[0]
                total = sum(s.members for s in streams)
                read_at = tuple(ShardPosition(epoch, next_seq - 1) for epoch, next_seq in (s.change_end for s in streams))
                written = 0
                async for rows in _merge(streams):
                    written += len(rows)
                    left_out = sum(s.left_out for s in streams)
                    yield ExportBatch([row[1:] for row in rows], left_out, written + left_out, total, read_at)
                left_out = sum(s.left_out for s in streams)
                yield ExportBatch([], left_out, written + left_out, total, read_at)  # the final counts
            finally:
                for stream in streams:
                    await stream.close()


class _ShardStream:
    """One shard's blocks: the buffered rows, and the next block being fetched."""

    def __init__(self, client: ShardClient, session: int, members: int, first: list[tuple], left_out: int,
                 finished: bool, change_end: tuple[int, int]) -> None:
        self.client = client
        self.change_end = change_end
        self.session = session
        self.members = members
        self.rows = first
        self.left_out = left_out
        self.finished = finished
        self._next: asyncio.Task | None = None
        self._prefetch()

    def _prefetch(self) -> None:
        if not self.finished and self._next is None:
            self._next = asyncio.get_running_loop().create_task(self.client.call("export_next", self.session))

    async def refill(self) -> None:
        """Buffer the next non-empty block (or learn that the shard is finished)."""
        # Bounded: each turn takes one block of a finite export.
        while not self.rows and not self.finished:
            assert self._next is not None
            rows, left_out, finished = await self._next
            self._next = None
            self.rows, self.finished = rows, finished
            self.left_out += left_out
            self._prefetch()

    async def close(self) -> None:
        if self._next is not None:
            self._next.cancel()
            with contextlib.suppress(BaseException):
                await self._next
        if not self.finished:
            with contextlib.suppress(Exception):
                await self.client.call("export_close", self.session)


async def _merge(streams: list[_ShardStream]) -> AsyncIterator[list[tuple]]:
    key = itemgetter(0)
    # Bounded: each turn emits every buffered row of at least one shard.
    while True:
        await asyncio.gather(*(s.refill() for s in streams))
        live = [s for s in streams if s.rows]
        if not live:
            return
        running = [s.rows[-1][0] for s in live if not s.finished]
        bound = min(running) if running else None
        parts = []
        for stream in live:
            cut = len(stream.rows) if bound is None else bisect.bisect_right(stream.rows, bound, key=key)
            if cut:
                parts.append(stream.rows[:cut])
                stream.rows = stream.rows[cut:]
        yield parts[0] if len(parts) == 1 else list(heapq.merge(*parts, key=key))


def average_quantiles(answers: list[tuple[list[int], int]]) -> list[float]:
    """Each quantile averaged over the shards, weighted by their living customers."""
    held = [(edges, count) for edges, count in answers if edges and count]
    if not held:
        return []
    total = sum(count for _, count in held)
    return [sum(edges[q] * count for edges, count in held) / total for q in range(len(held[0][0]))]
