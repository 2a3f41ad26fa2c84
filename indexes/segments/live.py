"""Materialized saved segments on one shard, maintained per committed batch (docs/SAVED_SEGMENTS.md).

State (all of it a function of the log, saved in snapshots, covered by the digest):
  catalog     definitions and versions (indexes/segments/catalog.py)
  clock_ms    the shard's clock: the running maximum of the commit marks' wall-clock times
  members     segment -> dense ids: exact at as_of = clock for every active segment; an inactive one
              keeps the membership it had when it was deactivated (frozen), so activating it again
              logs exactly the difference
  changes     the change log (indexes/segments/changelog.py); last_change_ms, history per segment

A committed batch is three steps, in this order, identically live and in a replay:
  1. time: the clock moves to max(clock, the batch's wall time) over the data as it was; each active
     segment is re-evaluated on its time candidates (indexes/segments/time_candidates.py), stopping at
     the end of every local day crossed to record the daily size history;
  2. data: the batch's records are applied to the shard (indexes/segments/batch.py);
  3. each active segment whose footprint the batch touched is re-evaluated on the customers it
     touched (plus new and erased customers) and compared with its bitmap there.
Segment commands re-evaluate the segment in full (rule edit, activation). Segments go upstream
first; a segment's universe includes the customers whose membership changed in the segments it
reads, so changes propagate in order within the step. Entries of one step carry the step's clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pyroaring import BitMap

from indexes.plan.compile import Plan, compile_rule
from indexes.plan.evaluate import SegmentResolver, UnknownSegmentError
from indexes.records import SegmentRecord
from indexes.rules.json_form import rule_from_json
from indexes.schema import Schema
from indexes.segments.catalog import DELETE, Catalog
from indexes.segments.changelog import (
    ACTIVATED,
    DEPENDENCY,
    ERASURE,
    EVENT,
    NO_DETAIL,
    PROFILE,
    RULE_EDIT,
    TIME,
    ChangeLog,
)
from indexes.segments.evaluation import evaluate_on
from indexes.segments.footprint import Footprint, footprint
from indexes.segments.graph import MAX_GRAPH_STEPS, topological_order
from indexes.segments.history import HISTORY_DAYS, SizeHistory
from indexes.segments.time_candidates import time_candidates
from indexes.segments.touch import BatchTouch
from indexes.shard.bitmaps import ids_from_bitmap, in_bitmap
from indexes.shard.shard import Shard

# reasons, details (int64), event ids (or None) for sorted dense ids whose membership changed
Attribution = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, list[str | None] | None]]


@dataclass(frozen=True)
class Derived:
    """What the catalog implies once compiled against the schema; rebuilt after every command."""

    plans: dict[str, Plan]  # every live segment's current rule
    active_order: list[str]  # active segments, every one after those it reads
    feeds: dict[str, tuple[str, ...]]  # active S -> active segments S reads directly or through inactive ones
    through: dict[str, frozenset[str]]  # active S -> inactive segments S reads (evaluated ad hoc for S)
    reads: dict[str, Footprint]  # active S -> its own footprint with those of `through` merged in


class LiveSegments:
    def __init__(self, change_log: ChangeLog | None = None, history_days: int = HISTORY_DAYS) -> None:
        self.catalog = Catalog()
        self.clock_ms = 0  # 0: no commit mark with a time applied yet
        self.members: dict[str, BitMap] = {}
        self.last_change_ms: dict[str, int] = {}
        self.history: dict[str, SizeHistory] = {}
        self.changes = change_log if change_log is not None else ChangeLog()
        self.history_days = history_days
        self._active: frozenset[str] | None = None
        self._derived: Derived | None = None
        self._plans: dict[tuple[str, int], Plan] = {}  # compiled rules by (id, version)

    # --- derived state --------------------------------------------------------------------------
    def active_ids(self) -> frozenset[str]:
        if self._active is None:
            catalog = self.catalog
            self._active = frozenset(s for s in catalog.live_ids() if catalog.segments[s].current.content.active)
        return self._active

    def maintains(self) -> bool:
        """Is any segment materialized? Without one a batch needs no maintenance (and may be applied
        together with its neighbours)."""
        return bool(self.active_ids())

    def derived(self, schema: Schema) -> Derived:
        if self._derived is None:
            self._derived = self._derive(schema)
        return self._derived

    def _invalidate(self) -> None:
        self._active = None
        self._derived = None

    def _derive(self, schema: Schema) -> Derived:
        catalog = self.catalog
        live = catalog.live_ids()
        refs = catalog.refs()
        plans: dict[str, Plan] = {}
        footprints: dict[str, Footprint] = {}
        for segment_id in live:
            current = catalog.segments[segment_id].current
            key = (segment_id, current.version)
            plan = self._plans.get(key)
            if plan is None:
                model = rule_from_json(current.content.rule_json, schema, catalog.is_live)
                plan = compile_rule(model, schema)
            plans[segment_id] = plan
            footprints[segment_id] = footprint(plan)
        self._plans = {(s, catalog.segments[s].current.version): p for s, p in plans.items()}
        order = topological_order(live, refs)
        active = self.active_ids()
        feeds: dict[str, tuple[str, ...]] = {}
        through: dict[str, frozenset[str]] = {}
        reads: dict[str, Footprint] = {}
        for segment_id in active:
            reached_active: set[str] = set()
            reached_inactive: set[str] = set()
            stack = list(refs.get(segment_id, ()))
            steps = 0
            while stack:  # through inactive segments only: an active one's changes arrive as `feeds`
                steps += 1
                assert steps <= MAX_GRAPH_STEPS, "graph walk does not end"
                upstream = stack.pop()
                if upstream in active:
                    reached_active.add(upstream)
                elif upstream not in reached_inactive:
                    reached_inactive.add(upstream)
                    stack.extend(refs.get(upstream, ()))
            feeds[segment_id] = tuple(s for s in order if s in reached_active)
            through[segment_id] = frozenset(reached_inactive)
            merged = footprints[segment_id]
            for upstream in sorted(reached_inactive):
                merged = merged.merged(footprints[upstream])
            reads[segment_id] = merged
        return Derived(plans, [s for s in order if s in active], feeds, through, reads)

    def resolver(self, schema: Schema, universe: BitMap | None = None) -> SegmentResolver:
        """Members of a saved segment for `segment` rule nodes: the materialized bitmap when it is
        active and as_of is the clock, else its current rule evaluated at as_of (on `universe` only,
        when the caller cuts its answer to it). No cycles exist, so the recursion ends."""
        derived = self.derived(schema)
        clock = self.clock_ms
        members = self.members

        def resolve(segment_id: str, shard: Shard, as_of_ms: int) -> BitMap:
            if as_of_ms == clock and segment_id in derived.feeds:
                return members[segment_id]
            plan = derived.plans.get(segment_id)
            if plan is None:
                raise UnknownSegmentError(segment_id)
            return evaluate_on(plan, shard, as_of_ms, resolve, universe)

        return resolve

    # --- the clock ------------------------------------------------------------------------------
    def observe_clock(self, wall_ms: int | None) -> None:
        """The clock alone, for batches applied without maintenance (no active segment)."""
        assert not self.maintains()
        if wall_ms is not None and wall_ms > self.clock_ms:
            self.clock_ms = wall_ms
        self.changes.trim(self.clock_ms)

    def advance_time(self, shard: Shard, wall_ms: int | None) -> None:
        """Step 1 of a batch: move the clock to max(clock, wall_ms), maintaining active segments."""
        if wall_ms is None or wall_ms <= self.clock_ms:
            return
        if not self.maintains() or self.clock_ms == 0:
            self.clock_ms = wall_ms  # nothing materialized yet: no time passes for anyone
            return
        derived = self.derived(shard.schema)
        calendar = shard.calendar
        first_day, last_day = calendar.local_day(self.clock_ms), calendar.local_day(wall_ms)
        # At each local midnight crossed: a step to the day's last millisecond, whose counts are the
        # day's size, then one to midnight, so what the new day changes is logged at midnight. Days
        # older than the history keeps are passed over in one step (bounded by history_days).
        for day in range(max(first_day, last_day - self.history_days), last_day):
            midnight_ms = calendar.day_start_ms(day + 1)
            if midnight_ms - 1 > self.clock_ms:
                self._time_step(shard, derived, midnight_ms - 1)
            for segment_id in derived.active_order:
                self.history.setdefault(segment_id, SizeHistory(self.history_days)).record(
                    day, len(self.members[segment_id]))
            if midnight_ms <= wall_ms:
                self._time_step(shard, derived, midnight_ms)
        if wall_ms > self.clock_ms:
            self._time_step(shard, derived, wall_ms)

    def tick_needed(self, shard: Shard, now_ms: int) -> bool:
        """Would moving the clock to now_ms change anything? (no: advance_clock appends nothing)"""
        if now_ms <= self.clock_ms or not self.maintains() or self.clock_ms == 0:
            return False
        derived = self.derived(shard.schema)
        cache: dict = {}
        return any(time_candidates(derived.reads[s].time, shard, self.clock_ms, now_ms, cache)
                   for s in derived.active_order)

    def _time_step(self, shard: Shard, derived: Derived, t1_ms: int) -> None:
        t0_ms = self.clock_ms
        assert t1_ms > t0_ms
        self.clock_ms = t1_ms
        cache: dict = {}
        changed: dict[str, BitMap] = {}
        for segment_id in derived.active_order:
            own = time_candidates(derived.reads[segment_id].time, shard, t0_ms, t1_ms, cache)
            upstream = [(u, changed[u]) for u in derived.feeds[segment_id] if u in changed]
            universe = BitMap.union(own, *(c for _, c in upstream))
            if universe:
                attribution = self._reasons([(TIME, own, NO_DETAIL)], upstream, DEPENDENCY)
                self._maintain(shard, derived, segment_id, universe, attribution, changed)

    # --- data -----------------------------------------------------------------------------------
    def flush_data(self, shard: Shard, touch: BatchTouch) -> None:
        """Step 3 of a batch: re-evaluate what the batch's records touched."""
        derived = self.derived(shard.schema)
        new = BitMap()
        new.add_range(touch.allocated_before, max(touch.allocated_before, shard.ids.allocated))
        new &= shard.alive
        if touch.empty and not new:
            return
        any_event = touch.event_customers(None)
        changed: dict[str, BitMap] = {}
        for segment_id in derived.active_order:
            reads = derived.reads[segment_id]
            events = touch.event_customers(reads)
            profiles = touch.profile_customers(reads.properties)
            gone = touch.erased & self.members[segment_id]
            upstream = [(u, changed[u]) for u in derived.feeds[segment_id] if u in changed]
            universe = BitMap.union(new, events, profiles, gone, *(c for _, c in upstream))
            if not universe:
                continue
            # Order of attribution: what the segment reads first; a new customer's record otherwise.
            known = [(ERASURE, touch.erased, NO_DETAIL), (EVENT, events, NO_DETAIL), (PROFILE, profiles, NO_DETAIL)]
            attribution = self._reasons(known, upstream, DEPENDENCY, fallback=(any_event, touch, reads))
            self._maintain(shard, derived, segment_id, universe, attribution, changed)

    # --- commands -------------------------------------------------------------------------------
    def apply_command(self, shard: Shard, record: SegmentRecord) -> None:
        change = self.catalog.apply(record.body, record.ts_ms)
        self._invalidate()
        derived = self.derived(shard.schema)
        segment_id = change.segment_id
        if change.op == DELETE:  # nothing reads it (validated); its change-log entries stay
            for table in (self.members, self.last_change_ms, self.history):
                table.pop(segment_id, None)
            return
        changed: dict[str, BitMap] = {}
        if change.is_active and (not change.was_active or change.rule_changed):
            kind = RULE_EDIT if change.was_active else ACTIVATED
            version = change.version if change.version is not None else NO_DETAIL
            attribution = self._reasons([], [], kind, fixed=version)
            self.members.setdefault(segment_id, BitMap())
            self._maintain(shard, derived, segment_id, None, attribution, changed)
            self.last_change_ms[segment_id] = self.clock_ms
            self.history.setdefault(segment_id, SizeHistory(self.history_days))
        # A segment read ad hoc (inactive) whose rule changed, or whose materialized bitmap stops or
        # starts standing for a different rule, changes its readers anywhere: they are evaluated in full.
        swapped = change.rule_changed and not (change.was_active and change.is_active)
        for dependent in derived.active_order:
            if dependent == segment_id:
                continue
            forced = swapped and (segment_id in derived.through[dependent] or segment_id in derived.feeds[dependent])
            upstream = [(u, changed[u]) for u in derived.feeds[dependent] if u in changed]
            if not forced and not upstream:
                continue
            code = self.changes.code(segment_id)
            attribution = self._reasons([], upstream, DEPENDENCY, fixed=code)
            universe = None if forced else BitMap.union(*(c for _, c in upstream))
            self._maintain(shard, derived, dependent, universe, attribution, changed)

    # --- maintenance core -----------------------------------------------------------------------
    def _maintain(self, shard: Shard, derived: Derived, segment_id: str, universe: BitMap | None,
                  attribution: Attribution, changed: dict[str, BitMap]) -> None:
        """Re-evaluate `segment_id` on `universe` (None: everyone) at the clock, update its bitmap,
        log the differences."""
        plan = derived.plans[segment_id]
        result = evaluate_on(plan, shard, self.clock_ms, self.resolver(shard.schema, universe), universe)
        old = self.members[segment_id]
        scope = old if universe is None else old & universe
        entered = result - scope
        exited = scope - result
        if not entered and not exited:
            return
        self.members[segment_id] = (old - exited) | entered
        entered_ids, exited_ids = ids_from_bitmap(entered), ids_from_bitmap(exited)
        ids = np.concatenate([entered_ids, exited_ids])
        flags = np.concatenate([np.ones(len(entered_ids), dtype=bool), np.zeros(len(exited_ids), dtype=bool)])
        order = np.argsort(ids, kind="stable")
        ids, flags = ids[order], flags[order]
        reasons, details, event_ids = attribution(ids)
        self.changes.append(segment_id, ids, flags, self.clock_ms, reasons, details, event_ids)
        self.last_change_ms[segment_id] = self.clock_ms
        changed[segment_id] = entered | exited

    def _reasons(self, known: list[tuple[int, BitMap, int]], upstream: list[tuple[str, BitMap]], otherwise: int,
                 *, fixed: int = NO_DETAIL,
                 fallback: tuple[BitMap, BatchTouch, Footprint] | None = None) -> Attribution:
        """Each id gets the first reason whose set holds it: `known` (reason, set, detail), then
        `dependency` on the first upstream whose change holds it; the rest get `otherwise` with detail
        `fixed`, or with a data step's `fallback`, the event (or else the profile) that created them."""

        def attribute(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str | None] | None]:
            reasons = np.full(len(ids), otherwise, dtype=np.int8)
            details = np.full(len(ids), fixed, dtype=np.int64)
            open_rows = np.ones(len(ids), dtype=bool)
            for reason, members, detail in known:
                hit = open_rows & in_bitmap(ids, members)
                reasons[hit], details[hit] = reason, detail
                open_rows &= ~hit
            for upstream_id, members in upstream:
                hit = open_rows & in_bitmap(ids, members)
                reasons[hit], details[hit] = DEPENDENCY, self.changes.code(upstream_id)
                open_rows &= ~hit
            if fallback is None:
                return reasons, details, None
            any_event, touch, reads = fallback
            created_by_event = open_rows & in_bitmap(ids, any_event)
            reasons[created_by_event] = EVENT
            reasons[open_rows & ~created_by_event] = PROFILE
            details[open_rows] = NO_DETAIL
            event_ids: list[str | None] = [None] * len(ids)
            for rows, scope in ((np.flatnonzero((reasons == EVENT) & ~created_by_event), reads),
                                (np.flatnonzero(created_by_event), None)):
                for row, event_id in zip(rows.tolist(), touch.last_events(ids[rows], scope), strict=True):
                    event_ids[row] = event_id
            return reasons, details, event_ids

        return attribute

    def trim(self) -> None:
        self.changes.trim(self.clock_ms)

    def note_rewrite(self) -> None:
        """A tombstone batch applied: compaction appends one before it rewrites the log, after which
        the change log is rebuilt with new seqs. Positions of an older epoch are refused."""
        self.changes.epoch += 1
