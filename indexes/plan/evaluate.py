"""Evaluate a plan on one shard: bitmap AND / OR / NOT over leaf results.

An AND runs its children cheapest first (compile.cost_class) and stops at the first empty result;
later children get the running result as their universe. The contract of `run(plan, universe)`:
its answer is exact for the customers of `universe` and says nothing about anyone else (every
caller intersects with the universe or only asks about its members), so a leaf may restrict its
work to the universe (BSI ranges, window rows) or ignore it. `not` is the complement within the
shard's living customers. Segment leaves ask a resolver for the segment's members on this shard.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pyroaring import BitMap

from indexes.plan import per_customer
from indexes.plan.compile import (
    AndPlan,
    ComputedLeaf,
    EventLeaf,
    EveryonePlan,
    NobodyPlan,
    NotPlan,
    OrPlan,
    Plan,
    PropertyLeaf,
    SegmentLeaf,
    cost_class,
)
from indexes.plan.event_eval import bsi_compare, evaluate_event, with_zero_default
from indexes.plan.filters import compare_values
from indexes.plan.time_bounds import instant_bounds_to_days, time_op_bounds
from indexes.shard.bitmaps import bitmap_from_mask
from indexes.shard.event_store import MISSING_NUMBER
from indexes.shard.property_index import BoolColumn, NumericColumn, SetColumn, StringColumn
from indexes.shard.shard import AMOUNT_ATTR, ORDER_EVENT, REFUND_EVENT, Shard

# Members of a saved segment on this shard, at this as_of.
SegmentResolver = Callable[[str, Shard, int], BitMap]


class UnknownSegmentError(KeyError):
    pass


def evaluate(plan: Plan, shard: Shard, as_of_ms: int, resolver: SegmentResolver | None = None) -> BitMap:
    return _Evaluator(shard, as_of_ms, resolver).run(plan, None)


class _Evaluator:
    def __init__(self, shard: Shard, as_of_ms: int, resolver: SegmentResolver | None) -> None:
        self.shard = shard
        self.as_of_ms = as_of_ms
        self.resolver = resolver

    def run(self, plan: Plan, universe: BitMap | None) -> BitMap:
        alive = self.shard.alive
        if isinstance(plan, AndPlan):
            result: BitMap | None = None
            for child in sorted(plan.children, key=cost_class):
                part = self.run(child, result if result is not None else universe)
                result = part if result is None else result & part
                if not result:
                    return BitMap()
            assert result is not None, "groups have at least one child"
            return result
        if isinstance(plan, OrPlan):
            return BitMap.union(*(self.run(child, universe) for child in plan.children))
        if isinstance(plan, NotPlan):
            base = alive if universe is None else alive & universe
            return base - self.run(plan.child, universe)
        if isinstance(plan, EveryonePlan):
            return alive.copy()
        if isinstance(plan, NobodyPlan):
            return BitMap()
        if isinstance(plan, SegmentLeaf):
            if self.resolver is None:
                raise UnknownSegmentError(plan.segment)
            return self.resolver(plan.segment, self.shard, self.as_of_ms) & alive
        if isinstance(plan, EventLeaf):
            return evaluate_event(plan, self.shard, self.as_of_ms, universe)
        if isinstance(plan, ComputedLeaf):
            return self._computed(plan, universe)
        assert isinstance(plan, PropertyLeaf)
        return self._property(plan, universe)

    # --- stored properties ------------------------------------------------------------------
    def _property(self, leaf: PropertyLeaf, universe: BitMap | None) -> BitMap:
        alive = self.shard.alive
        column = self.shard.column(leaf.prop)
        op, value = leaf.op, leaf.value
        exists = column.exists if column is not None else BitMap()
        if op == "exists":
            return exists.copy()
        if op == "not_exists":
            return alive - exists
        if column is None:
            return alive.copy() if op == "has_none" else BitMap()
        if isinstance(column, StringColumn):
            if op in ("contains", "starts_with", "ends_with"):
                return column.matching(op, value)  # type: ignore[arg-type]
            values = value if isinstance(value, tuple) else (value,)
            hit = column.equal_to_any(values)  # type: ignore[arg-type]
            return exists - hit if op in ("neq", "not_in") else hit
        if isinstance(column, BoolColumn):
            assert op == "eq"
            return (column.true if value else column.false).copy()
        if isinstance(column, SetColumn):
            return self._set(column, op, value)
        assert isinstance(column, NumericColumn)
        if leaf.kind == "number":
            return bsi_compare(column.bsi, op, value, universe)
        bounds = time_op_bounds(self.shard.calendar, self.as_of_ms, op, value)
        if leaf.kind == "date":
            bounds = instant_bounds_to_days(self.shard.calendar, bounds)
        return column.bsi.range(bounds[0], bounds[1], universe)

    def _set(self, column: SetColumn, op: str, value: object) -> BitMap:
        values = value if isinstance(value, tuple) else (value,)
        bitmaps = column.element_bitmaps(values)  # type: ignore[arg-type]
        if op == "has_all":
            if any(b is None for b in bitmaps):
                return BitMap()
            return BitMap.intersection(*bitmaps)  # type: ignore[arg-type]
        union = BitMap.union(*(b for b in bitmaps if b is not None)) if any(bitmaps) else BitMap()
        if op == "has_none":
            return self.shard.alive - union
        assert op in ("has", "has_any")
        return union

    # --- computed properties that no single event index holds ----------------------------
    def _computed(self, leaf: ComputedLeaf, universe: BitMap | None) -> BitMap:
        shard = self.shard
        as_of = self.as_of_ms
        indexes = [shard.event_index(name) for name in shard.events] if leaf.prop == "last_seen_at" else [
            shard.event_index(ORDER_EVENT),
            shard.event_index(REFUND_EVENT),
        ]
        all_time_ok = all(index is None or index.answers_all_time(as_of) for index in indexes)
        if leaf.prop == "lifetime_value":
            if all_time_ok:
                bsi = shard.lifetime_value
                satisfied = bsi_compare(bsi, leaf.op, leaf.value, universe)  # exact within the universe
                return with_zero_default(satisfied, bsi.exists, leaf.op, leaf.value, shard.alive)
            return self._lifetime_value_rows(leaf)
        assert leaf.prop == "last_seen_at"
        if leaf.op == "not_exists":
            return shard.alive - self._computed(ComputedLeaf(leaf.prop, "exists", None), None)
        if leaf.op == "exists":
            lo, hi = None, None  # any event at all, at or before as_of
        else:
            lo, hi = time_op_bounds(shard.calendar, as_of, leaf.op, leaf.value)
        if all_time_ok:
            return shard.last_seen.range(lo, hi, universe) & shard.alive
        latest = np.full(shard.ids.allocated, MISSING_NUMBER, dtype=np.int64)
        for index in shard.events.values():
            rows = index.store.window(None, as_of)
            if len(rows):
                np.maximum.at(latest, rows.customers, rows.ts)
        mask = latest != MISSING_NUMBER
        if lo is not None:
            mask &= latest >= lo
        if hi is not None:
            mask &= latest <= hi
        return bitmap_from_mask(mask) & shard.alive

    def _lifetime_value_rows(self, leaf: ComputedLeaf) -> BitMap:
        shard = self.shard
        size = shard.ids.allocated
        net = np.zeros(size, dtype=np.int64)
        present = np.zeros(size, dtype=bool)
        for name, sign in ((ORDER_EVENT, 1), (REFUND_EVENT, -1)):
            index = shard.event_index(name)
            if index is None:
                continue
            rows = index.store.window(None, self.as_of_ms, (AMOUNT_ATTR,))
            totals = per_customer.sums(rows.customers, rows.columns[AMOUNT_ATTR], size)  # type: ignore[arg-type]
            net[totals.ids] += sign * totals.values
            present[totals.ids] = True
        satisfied = bitmap_from_mask(present & compare_values(net, leaf.op, leaf.value))
        return with_zero_default(satisfied, bitmap_from_mask(present), leaf.op, leaf.value, shard.alive)
