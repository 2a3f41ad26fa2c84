"""One shard's insights, explanations, profiles and export blocks (the router's side:
actors/cluster_insights.py). Everything is computed on the shard's engine under its state lock, on the
members of a target: ("plan", Plan) for an ad-hoc rule compiled by the router, or ("segment", id) for a
saved segment (its materialized bitmap when exact at as_of, indexes/segments/materialized.py).

Exports are sessions: `export_open` starts a generator of blocks (indexes/export.py export_blocks) and
returns the first, `export_next` the following ones, so the shard holds one block and the sorted ids
of its members, never the rows of the whole export. Sessions the router forgets (a client that hung
up) expire after EXPORT_SESSION_TTL_S without a call; at most MAX_EXPORT_SESSIONS at a time.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pyroaring import BitMap

from actors.api import OverloadedError
from actors.shard_service import ShardService
from indexes.engine import Engine
from indexes.explain import Explanation, explain_customer
from indexes.export import export_blocks
from indexes.insights import (
    InsightsPartial,
    InsightsRequest,
    Pair,
    ltv_quantile_edges,
    shard_insights,
    value_counts,
)
from indexes.profile_pages import ProfilePage, SortKey, profile_page
from indexes.profiles import CUSTOMER_ID, CustomerProfile, customer_profile
from indexes.segments.materialized import members_at

Target = tuple[str, Any]  # ("plan", Plan) | ("segment", segment id) | ("segment_ids", (segment id, ids))
EXPORT_SESSION_TTL_S = 300.0
MAX_EXPORT_SESSIONS = 16


def members_of(inner: Engine, target: Target, as_of_ms: int) -> BitMap:
    kind, value = target
    if kind == "segment":
        return BitMap(members_at(inner, value, as_of_ms))  # a copy: the live bitmap may change later
    if kind == "segment_ids":  # a saved segment's members among these customer ids (changes-only exports)
        segment_id, customer_ids = value
        wanted = BitMap(d for d in map(inner.shard.ids.lookup, customer_ids) if d is not None)
        return members_at(inner, segment_id, as_of_ms) & wanted
    assert kind == "plan", kind
    return inner.evaluate(value, as_of_ms)


@dataclass
class _Session:
    blocks: Iterator[tuple[list[tuple[str | None, ...]], int]]
    used_s: float


class ShardInsights:
    def __init__(self, service: ShardService) -> None:
        self._service = service
        self._sessions: dict[int, _Session] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # --- insights ------------------------------------------------------------------------------
    def insights_edges(self, as_of_ms: int) -> tuple[list[int], int]:
        """(this shard's base LTV quantiles, living customers): the router averages them, weighted."""
        with self._service.using() as engine, engine.read_state() as inner:
            return ltv_quantile_edges(inner.shard, as_of_ms), len(inner.shard.alive)

    def insights_partial(self, target: Target, as_of_ms: int, request: InsightsRequest) -> InsightsPartial:
        with self._service.using() as engine, engine.read_state() as inner:
            return shard_insights(inner.shard, members_of(inner, target, as_of_ms), as_of_ms, request)

    def insights_values(self, target: Target, as_of_ms: int, request: InsightsRequest,
                        wanted: dict[str, tuple[str, ...] | None]) -> dict[str, dict[str, Pair]]:
        with self._service.using() as engine, engine.read_state() as inner:
            return value_counts(inner.shard, members_of(inner, target, as_of_ms), as_of_ms, request, wanted)

    # --- one customer --------------------------------------------------------------------------
    def explain(self, rule: dict, customer_id: str, as_of_ms: int) -> Explanation:
        """UnknownCustomerError when this shard does not hold the customer."""
        with self._service.using() as engine, engine.read_state() as inner:
            return explain_customer(inner, rule, customer_id, as_of_ms)

    def customer_profile(self, customer_id: str, as_of_ms: int, recent: int) -> CustomerProfile | None:
        with self._service.using() as engine, engine.read_state() as inner:
            return customer_profile(inner.shard, customer_id, as_of_ms, recent)

    # --- member profiles -----------------------------------------------------------------------
    def profile_page(self, target: Target, as_of_ms: int, columns: list[str], sort_by: str, descending: bool,
                     after: SortKey | None, page_size: int) -> ProfilePage:
        """The `page_size` first members after `after` (indexes/profile_pages.py)."""
        with self._service.using() as engine, engine.read_state() as inner:
            members = members_of(inner, target, as_of_ms)
            return profile_page(inner.shard, members, as_of_ms, columns, sort_by, descending, after, page_size)

    # --- exports -------------------------------------------------------------------------------
    def export_open(self, target: Target, as_of_ms: int, columns: list[str], mandatory: list[str],
                    block_rows: int) -> tuple[int, int, list[tuple[str | None, ...]], int, bool, tuple[int, int]]:
        """(session, members on this shard, first block, left out in it, finished, change-log end).
        Each row starts with the customer id (the router merges by it), then the columns' values. The
        change-log end (epoch, next seq) is read with the membership: a changes-only scheduled export
        continues exactly after the state this one wrote."""
        self._expire()
        with self._lock:
            if len(self._sessions) >= MAX_EXPORT_SESSIONS:
                raise OverloadedError(f"shard {self._service.shard}: {MAX_EXPORT_SESSIONS} exports running")
        with self._service.using() as engine, engine.read_state() as inner:
            members = members_of(inner, target, as_of_ms) & inner.shard.alive
            change_end = (inner.segments.changes.epoch, inner.segments.changes.next_seq)
            blocks = export_blocks(inner.shard, members, [CUSTOMER_ID, *columns], as_of_ms, mandatory, block_rows)
            first = next(blocks, None)  # a bad column raises here
        if first is None:
            return 0, len(members), [], 0, True, change_end
        with self._lock:
            session = next(self._ids)
            self._sessions[session] = _Session(blocks, time.monotonic())
        return session, len(members), first[0], first[1], False, change_end

    def export_next(self, session: int) -> tuple[list[tuple[str | None, ...]], int, bool]:
        """(block, left out in it, finished); the session ends when finished."""
        with self._lock:
            found = self._sessions.get(session)
            if found is None:
                raise OverloadedError(f"shard {self._service.shard}: export session {session} expired")
            found.used_s = time.monotonic()
        with self._service.using() as engine, engine.read_state():
            block = next(found.blocks, None)
        if block is None:
            self.export_close(session)
            return [], 0, True
        return block[0], block[1], False

    def export_close(self, session: int) -> None:
        with self._lock:
            self._sessions.pop(session, None)

    def _expire(self) -> None:
        limit = time.monotonic() - EXPORT_SESSION_TTL_S
        with self._lock:
            for session in [s for s, found in self._sessions.items() if found.used_s < limit]:
                del self._sessions[session]


def insight_methods(insights: ShardInsights) -> dict[str, Any]:
    """The channel methods (actors/shard_actor.py): all reads, in the query group."""
    from actors.channel_server import Method

    return {name: Method("query", getattr(insights, name)) for name in (
        "insights_edges", "insights_partial", "insights_values", "explain", "customer_profile", "profile_page",
        "export_open", "export_next", "export_close")}
