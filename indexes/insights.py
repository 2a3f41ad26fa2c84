"""Insights of a segment against the whole customer base (issue 7 item 1), exact, per shard and mergeable.

    partial = shard_insights(shard, members, as_of_ms, InsightsRequest(window_days=30, ltv_edges=...))
    report = finish_insights([partial, ...], top=10)   # summed over shards, shares, averages, top lists

Everything is a count or an exact fixed-point sum, computed with set operations on the shard's indexes
and never with a loop over customers:

* order count and revenue: bit-sliced sums over the members (Σ 2^j · |slice_j ∩ members|, sign slices
  subtracted) of the all-time count / amount BSIs, when no order is later than as_of; otherwise the
  window's rows masked by the members (events after as_of count nowhere).
* consent, country, language, city: the per-customer code arrays of the string columns, one bincount of
  the members' codes (and one of the base's); tags: one intersection cardinality per element bitmap.
* lifetime value: per-customer net order amounts (all-time BSI, or rows up to as_of), counted into
  buckets with one searchsorted; the bucket edges are given (`ltv_edges`: chosen by the caller from the
  base's quantiles, see `ltv_quantile_edges`, so every shard counts into the same buckets).
* categories and products viewed / bought in the last `window_days`: the window's event rows masked by
  membership, one bincount of their codes.

Top lists: a partial lists, per dimension, the values whose segment count reaches the `top`-th largest
(ties included, so one shard's list is exact under the report's order) and `omitted`, the largest
segment count it left out. One partial finishes exactly. Several partials (a cluster) merge into
lower bounds for values some shard omitted; `uncertain_tops` names the dimensions where that can
matter and which values to count exactly, `value_counts` counts them on every shard (a second,
small round), and `with_exact_counts` puts the exact figures in.

The per-dimension counting (membership classes, bincounts, ValueCounts) is indexes/insights_dimensions.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from pyroaring import BitMap

from indexes.insights_dimensions import (
    IN_SEGMENT,
    NOT_SET,
    OUTSIDE,
    Pair,
    ValueCounts,
    WindowClasses,
    breakdown,
    class_counts,
    membership_classes,
    window_top,
)
from indexes.plan.time_bounds import window_bounds
from indexes.rules.model import Duration, Last
from indexes.schema import DEFAULT_SCALE
from indexes.shard.bitmaps import ids_from_bitmap
from indexes.shard.bsi import BitSlicedIndex
from indexes.shard.event_store import MISSING_NUMBER
from indexes.shard.shard import AMOUNT_ATTR, ORDER_EVENT, REFUND_EVENT, Shard

BREAKDOWN_PROPERTIES = ("marketing_consent", "sms_consent", "country", "language", "city", "tags")
# (name, event type, attribute) of the window's top lists.
WINDOW_TOPS = (
    ("viewed_categories", "product_viewed", "category"),
    ("viewed_products", "product_viewed", "product_id"),
    ("bought_products", "order_created", "product_ids"),
)
DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 3660
LTV_QUANTILES = (0.2, 0.4, 0.6, 0.8, 0.95)
MAX_LTV_EDGES = 32
MAX_TOP = 1000
QUANTILE_SAMPLE_SIZE = 65_536  # base customers the LTV bucket edges are chosen from (ltv_quantile_edges)
FEW_EDGES = 8  # up to this many LTV edges, buckets by comparisons rather than binary search


@dataclass(frozen=True)
class InsightsRequest:
    window_days: int = DEFAULT_WINDOW_DAYS
    ltv_edges: tuple[int, ...] = ()  # scaled amounts, ascending: buckets (-inf, e0), [e0, e1), ..., [en, inf)
    top: int = 10  # values per top list

    def __post_init__(self) -> None:
        assert 1 <= self.window_days <= MAX_WINDOW_DAYS, self.window_days
        assert 1 <= self.top <= MAX_TOP, self.top
        assert len(self.ltv_edges) <= MAX_LTV_EDGES
        assert list(self.ltv_edges) == sorted(set(self.ltv_edges)), "edges ascending, distinct"


@dataclass
class InsightsPartial:
    """One shard's counts; `merge` adds two. Amounts are scaled integers (AMOUNT scale)."""

    members: int = 0
    base: int = 0
    orders: Pair = (0, 0)
    revenue: Pair = (0, 0)  # gross order amounts
    buyers: Pair = (0, 0)  # customers with at least one order
    ltv_buckets: list[Pair] = field(default_factory=list)  # len(ltv_edges) + 1 buckets
    breakdowns: dict[str, dict[str, Pair]] = field(default_factory=dict)
    window_tops: dict[str, dict[str, Pair]] = field(default_factory=dict)
    # Per dimension (breakdown or window top): the largest segment count of a value not listed.
    omitted: dict[str, int] = field(default_factory=dict)

    def merge(self, other: InsightsPartial) -> InsightsPartial:
        assert len(self.ltv_buckets) in (0, len(other.ltv_buckets)) or not other.ltv_buckets
        return InsightsPartial(
            members=self.members + other.members, base=self.base + other.base,
            orders=_add(self.orders, other.orders), revenue=_add(self.revenue, other.revenue),
            buyers=_add(self.buyers, other.buyers),
            ltv_buckets=[_add(a, b) for a, b in zip(self.ltv_buckets, other.ltv_buckets, strict=True)]
            if self.ltv_buckets else list(other.ltv_buckets),
            breakdowns=_merge_maps(self.breakdowns, other.breakdowns),
            window_tops=_merge_maps(self.window_tops, other.window_tops),
            omitted={name: self.omitted.get(name, 0) + other.omitted.get(name, 0)
                     for name in {*self.omitted, *other.omitted}},
        )


def _add(a: Pair, b: Pair) -> Pair:
    return a[0] + b[0], a[1] + b[1]


def _merge_maps(a: dict[str, dict[str, Pair]], b: dict[str, dict[str, Pair]]) -> dict[str, dict[str, Pair]]:
    out = {name: dict(values) for name, values in a.items()}
    for name, values in b.items():
        target = out.setdefault(name, {})
        for value, pair in values.items():
            target[value] = _add(target.get(value, (0, 0)), pair)
    return out


# --- one shard ---------------------------------------------------------------------------------
def shard_insights(shard: Shard, members: BitMap, as_of_ms: int, request: InsightsRequest,
                   ltv: np.ndarray | None = None) -> InsightsPartial:
    """Counts for `members` (dense ids of this shard, e.g. a saved segment's bitmap) and for every living
    customer of the shard, at as_of_ms. `ltv`: `lifetime_values(shard, as_of_ms)` when the caller has it."""
    alive = shard.alive
    members, membership = membership_classes(shard, members)
    partial = InsightsPartial(members=len(members), base=len(alive))
    orders = shard.event_index(ORDER_EVENT)
    if orders is not None:
        if orders.answers_all_time(as_of_ms):
            # Bit-sliced sums: no row is read.
            partial.orders = (bsi_sum(orders.count, members), bsi_sum(orders.count, alive))
            amounts = orders.sum_index(AMOUNT_ATTR)
            partial.revenue = (bsi_sum(amounts, members), bsi_sum(amounts, alive))
            buyers = orders.count.exists
            partial.buyers = (buyers.intersection_cardinality(members), buyers.intersection_cardinality(alive))
        else:
            rows = orders.store.window(None, as_of_ms, (AMOUNT_ATTR,))
            amount = _present(rows.columns[AMOUNT_ATTR])
            classes = membership[rows.customers]
            seg_rows, base_rows = classes == IN_SEGMENT, classes != OUTSIDE
            partial.orders = (int(seg_rows.sum()), int(base_rows.sum()))
            partial.revenue = (int(amount[seg_rows].sum()), int(amount[base_rows].sum()))
            partial.buyers = (len(np.unique(rows.customers[seg_rows])), len(np.unique(rows.customers[base_rows])))
    values = lifetime_values(shard, as_of_ms) if ltv is None else ltv
    partial.ltv_buckets = _ltv_buckets(values, request.ltv_edges, membership)
    member_ids = ids_from_bitmap(members)
    for name in BREAKDOWN_PROPERTIES:
        counts = breakdown(shard, name, members, alive, member_ids)
        if counts is not None:
            top = None if name in FULL_BREAKDOWNS else request.top
            partial.breakdowns[name], partial.omitted[name] = counts.listed(top, None)
    start, end = window_bounds(shard.calendar, as_of_ms, Last(Duration("days", request.window_days)))
    classes = WindowClasses(shard, start, end, membership)
    for name, event, attr in WINDOW_TOPS:
        counts = window_top(classes, event, attr)
        if counts is not None:
            partial.window_tops[name], partial.omitted[name] = counts.listed(request.top, None)
    return partial


def value_counts(shard: Shard, members: BitMap, as_of_ms: int, request: InsightsRequest,
                 wanted: dict[str, tuple[str, ...] | None]) -> dict[str, dict[str, Pair]]:
    """Exact (segment, base) counts of the wanted values per dimension (None: every value) on this
    shard: the second round of a cluster's top lists."""
    alive = shard.alive
    members, membership = membership_classes(shard, members)
    start, end = window_bounds(shard.calendar, as_of_ms, Last(Duration("days", request.window_days)))
    classes = WindowClasses(shard, start, end, membership)
    member_ids = ids_from_bitmap(members)
    tops = {name: (event, attr) for name, event, attr in WINDOW_TOPS}
    out: dict[str, dict[str, Pair]] = {}
    for name, values in wanted.items():
        if name in tops:
            counts = window_top(classes, *tops[name])
        else:
            assert name in BREAKDOWN_PROPERTIES, name
            counts = breakdown(shard, name, members, alive, member_ids)
        out[name] = {} if counts is None else counts.listed(None, values)[0]
    return out


def bsi_sum(bsi: BitSlicedIndex, universe: BitMap) -> int:
    """Σ of the values of the ids in `universe` (ids without a value count 0), from the slices alone:
    Σ_j 2^j (|slice_j ∩ U ∖ negative| − |slice_j ∩ U ∩ negative|)."""
    positive = universe - bsi.negative
    negative = universe & bsi.negative
    total = 0
    for bit, bitmap in enumerate(bsi.slices):
        total += (bitmap.intersection_cardinality(positive) - bitmap.intersection_cardinality(negative)) << bit
    return total


def _present(column: np.ndarray) -> np.ndarray:
    values = np.asarray(column, dtype=np.int64)
    return np.where(values == MISSING_NUMBER, 0, values)


def lifetime_values(shard: Shard, as_of_ms: int) -> np.ndarray:
    """Net order amount (orders − refunds, scaled) per dense id up to as_of, 0 for customers without."""
    size = shard.ids.allocated + 1
    net = np.zeros(size, dtype=np.int64)
    indexes = [shard.event_index(event) for event in (ORDER_EVENT, REFUND_EVENT)]
    if all(index is None or index.answers_all_time(as_of_ms) for index in indexes):
        # The shard keeps the net all-time amount itself (Shard.lifetime_value): one masked copy.
        bsi = shard.lifetime_value
        held = min(size, len(bsi.values))
        net[:held] = np.where(bsi.present[:held], bsi.values[:held], 0)
        return net
    for event, sign in ((ORDER_EVENT, 1), (REFUND_EVENT, -1)):
        index = shard.event_index(event)
        if index is None:
            continue
        if index.answers_all_time(as_of_ms):
            bsi = index.sum_index(AMOUNT_ATTR)
            ids = np.flatnonzero(bsi.present[:size])
            net[ids] += sign * bsi.values[ids]
        else:
            rows = index.store.window(None, as_of_ms, (AMOUNT_ATTR,))
            np.add.at(net, rows.customers, sign * _present(rows.columns[AMOUNT_ATTR]))
    return net


def ltv_quantile_edges(shard: Shard, as_of_ms: int, quantiles: Sequence[float] = LTV_QUANTILES,
                       ltv: np.ndarray | None = None) -> list[int]:
    """Quantiles of lifetime value (scaled) over this shard's base, to choose bucket edges from. Edges only
    place the buckets (whose counts stay exact) and are then rounded to two significant digits, so above
    QUANTILE_SAMPLE_SIZE customers they come from an evenly strided sample of the base (deterministic):
    a full selection over a million values costs ~20 ms and moves no rounded edge. A cluster averages its
    shards' quantiles. `ltv`: `lifetime_values(shard, as_of_ms)` when the caller has it."""
    alive = ids_from_bitmap(shard.alive)
    if len(alive) == 0:
        return []
    stride = -(-len(alive) // QUANTILE_SAMPLE_SIZE)
    values = (lifetime_values(shard, as_of_ms) if ltv is None else ltv)[alive[::stride]]
    return [int(v) for v in np.quantile(values, quantiles, method="lower")]


def readable_edges(edges: Sequence[float], scale: int = DEFAULT_SCALE) -> tuple[int, ...]:
    """Edges rounded to two significant digits of the currency unit, ascending and distinct (scaled)."""
    unit = 10**scale
    out: set[int] = set()
    for edge in edges:
        amount = edge / unit
        if amount == 0:
            out.add(0)
            continue
        magnitude = 10 ** max(int(np.floor(np.log10(abs(amount)))) - 1, 0)
        out.add(int(round(amount / magnitude) * magnitude * unit))
    return tuple(sorted(out))[:MAX_LTV_EDGES]  # a handful of quantiles: never near the bound


def _ltv_buckets(values: np.ndarray, edges: tuple[int, ...], membership: np.ndarray) -> list[Pair]:
    assert len(values) == len(membership)
    if len(edges) <= FEW_EDGES:
        # Bucket = number of edges <= value: a few vectorised comparisons beat a binary search per value.
        bucket = np.zeros(len(values), dtype=np.int8)
        for edge in edges:
            bucket += values >= edge
    else:
        bucket = np.searchsorted(np.asarray(edges, dtype=np.int64), values, side="right")
    seg, base = class_counts(bucket, membership, len(edges) + 1)
    return [(int(s), int(b)) for s, b in zip(seg, base, strict=True)]



# --- the report --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ranked:
    value: str
    segment: int
    base: int


@dataclass(frozen=True)
class Insights:
    members: int
    base: int
    orders: Pair
    revenue: tuple[Decimal, Decimal]
    buyers: Pair
    ltv_edges: tuple[Decimal, ...]
    ltv_buckets: tuple[Pair, ...]
    breakdowns: dict[str, tuple[Ranked, ...]]  # by property: consent values in full, others the top
    window_days: int
    window_tops: dict[str, tuple[Ranked, ...]]

    @property
    def share(self) -> float:
        return self.members / self.base if self.base else 0.0

    def average_order_value(self) -> tuple[Decimal | None, Decimal | None]:
        """Revenue / orders, to the cent (half-even), None without orders."""
        return tuple(  # type: ignore[return-value]
            (revenue / orders).quantize(Decimal("0.01")) if orders else None
            for revenue, orders in zip(self.revenue, self.orders, strict=True)
        )

    def orders_per_customer(self) -> tuple[float, float]:
        return (self.orders[0] / self.members if self.members else 0.0,
                self.orders[1] / self.base if self.base else 0.0)


FULL_BREAKDOWNS = ("marketing_consent", "sms_consent")


def merge_partials(partials: Sequence[InsightsPartial]) -> InsightsPartial:
    assert partials
    total = partials[0]
    for partial in partials[1:]:
        total = total.merge(partial)
    return total


def uncertain_tops(partials: Sequence[InsightsPartial], top: int) -> dict[str, tuple[str, ...] | None]:
    """Dimensions whose merged top list needs exact counts from every shard, with the values to count
    (None: every value, when a value no shard listed could still belong in the top). Empty for one
    partial, or when no shard left a value out."""
    if len(partials) <= 1:
        return {}
    total = merge_partials(partials)
    out: dict[str, tuple[str, ...] | None] = {}
    for name, left_out in total.omitted.items():
        if left_out == 0:
            continue
        values = {**total.breakdowns, **total.window_tops}.get(name, {})
        ranked = _ranked(values, top)
        chosen = {r.value for r in ranked}
        # Merged counts are lower bounds; a value's exact count exceeds its bound by at most
        # `left_out` (the sum of what the shards that did not list it could have left out). The chosen
        # set is certain when every other value's bound + left_out stays below the top-th bound.
        best_other = max((pair[0] for value, pair in values.items() if value not in chosen), default=0)
        certain = len(ranked) == top and ranked[-1].segment > best_other + left_out
        out[name] = tuple(sorted(chosen)) if certain else None
    return out


def with_exact_counts(total: InsightsPartial, exact: Sequence[dict[str, dict[str, Pair]]]) -> InsightsPartial:
    """`total` with the dimensions of the second round replaced by the shards' exact counts summed."""
    merged: dict[str, dict[str, Pair]] = {}
    for shard_counts in exact:
        merged = _merge_maps(merged, shard_counts)
    for name, values in merged.items():
        target = total.window_tops if name in total.window_tops else total.breakdowns
        target[name] = values
        total.omitted[name] = 0
    return total


def finish_insights(partials: Sequence[InsightsPartial], request: InsightsRequest, top: int = 10,
                    amount_scale: int = DEFAULT_SCALE) -> Insights:
    """Sum the shards' partials; shares, averages and top lists (consent breakdowns in full)."""
    assert partials and top >= 1
    total = merge_partials(partials)
    assert len(partials) == 1 or not any(total.omitted.values()), "run the second round (uncertain_tops) first"
    unit = Decimal(1).scaleb(-amount_scale)
    breakdowns = {name: _ranked(values, None if name in FULL_BREAKDOWNS else top)
                  for name, values in sorted(total.breakdowns.items())}
    return Insights(
        members=total.members, base=total.base, orders=total.orders,
        revenue=(Decimal(total.revenue[0]) * unit, Decimal(total.revenue[1]) * unit), buyers=total.buyers,
        ltv_edges=tuple(Decimal(e) * unit for e in request.ltv_edges), ltv_buckets=tuple(total.ltv_buckets),
        breakdowns=breakdowns, window_days=request.window_days,
        window_tops={name: _ranked(values, top) for name, values in sorted(total.window_tops.items())},
    )


def _ranked(values: dict[str, Pair], top: int | None) -> tuple[Ranked, ...]:
    """By count in the segment, then in the base, then by value: deterministic."""
    ordered = sorted(values.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))
    if top is not None:
        ordered = [item for item in ordered if item[1][0] > 0][:top]
    return tuple(Ranked(value, seg, base) for value, (seg, base) in ordered)


def amount_scale(shard: Shard) -> int:
    declared = shard.schema.attribute_type(ORDER_EVENT, AMOUNT_ATTR)
    return DEFAULT_SCALE if declared is None else declared.scale


def engine_insights(shard: Shard, members: BitMap, as_of_ms: int, *, window_days: int = DEFAULT_WINDOW_DAYS,
                    top: int = 10) -> Insights:
    """Both phases on one shard (the embedded engine): bucket edges from this base's LTV quantiles."""
    scale = amount_scale(shard)
    ltv = lifetime_values(shard, as_of_ms)
    edges = readable_edges(ltv_quantile_edges(shard, as_of_ms, ltv=ltv), scale)
    request = InsightsRequest(window_days=window_days, ltv_edges=edges, top=top)
    return finish_insights([shard_insights(shard, members, as_of_ms, request, ltv)], request, top, scale)


__all__ = [
    "BREAKDOWN_PROPERTIES",
    "DEFAULT_WINDOW_DAYS",
    "FEW_EDGES",
    "FULL_BREAKDOWNS",
    "LTV_QUANTILES",
    "MAX_LTV_EDGES",
    "MAX_TOP",
    "MAX_WINDOW_DAYS",
    "NOT_SET",
    "QUANTILE_SAMPLE_SIZE",
    "WINDOW_TOPS",
    "Insights",
    "InsightsPartial",
    "InsightsRequest",
    "Pair",
    "Ranked",
    "ValueCounts",
    "amount_scale",
    "bsi_sum",
    "engine_insights",
    "finish_insights",
    "lifetime_values",
    "ltv_quantile_edges",
    "merge_partials",
    "readable_edges",
    "shard_insights",
    "uncertain_tops",
    "value_counts",
    "with_exact_counts",
]
