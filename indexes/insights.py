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

A partial holds counts for every value (not a per-shard top list, which would not merge exactly); the
top lists are cut after merging.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from pyroaring import BitMap

from indexes.plan.time_bounds import window_bounds
from indexes.rules.model import Duration, Last
from indexes.schema import DEFAULT_SCALE
from indexes.shard.bitmaps import ids_from_bitmap
from indexes.shard.bsi import BitSlicedIndex
from indexes.shard.event_store import MISSING_NUMBER, ListColumn
from indexes.shard.property_index import SetColumn, StringColumn
from indexes.shard.shard import AMOUNT_ATTR, ORDER_EVENT, REFUND_EVENT, Shard

NOT_SET = "(not set)"
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

Pair = tuple[int, int]  # (in the segment, in the base)


@dataclass(frozen=True)
class InsightsRequest:
    window_days: int = DEFAULT_WINDOW_DAYS
    ltv_edges: tuple[int, ...] = ()  # scaled amounts, ascending: buckets (-inf, e0), [e0, e1), ..., [en, inf)

    def __post_init__(self) -> None:
        assert 1 <= self.window_days <= MAX_WINDOW_DAYS, self.window_days
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
def shard_insights(shard: Shard, members: BitMap, as_of_ms: int, request: InsightsRequest) -> InsightsPartial:
    """Counts for `members` (dense ids of this shard, e.g. a saved segment's bitmap) and for every living
    customer of the shard, at as_of_ms."""
    alive = shard.alive
    members = members & alive
    in_segment = np.zeros(shard.ids.allocated + 1, dtype=bool)
    in_segment[ids_from_bitmap(members)] = True
    in_base = np.zeros(len(in_segment), dtype=bool)
    in_base[ids_from_bitmap(alive)] = True
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
            seg_rows, base_rows = in_segment[rows.customers], in_base[rows.customers]
            partial.orders = (int(seg_rows.sum()), int(base_rows.sum()))
            partial.revenue = (int(amount[seg_rows].sum()), int(amount[base_rows].sum()))
            partial.buyers = (len(np.unique(rows.customers[seg_rows])), len(np.unique(rows.customers[base_rows])))
    partial.ltv_buckets = _ltv_buckets(shard, as_of_ms, request.ltv_edges, in_segment, in_base)
    for name in BREAKDOWN_PROPERTIES:
        counted = _breakdown(shard, name, members, alive, in_segment, in_base)
        if counted is not None:
            partial.breakdowns[name] = counted
    start, end = window_bounds(shard.calendar, as_of_ms, Last(Duration("days", request.window_days)))
    for name, event, attr in WINDOW_TOPS:
        counted = _window_top(shard, event, attr, start, end, in_segment, in_base)
        if counted is not None:
            partial.window_tops[name] = counted
    return partial


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


def ltv_quantile_edges(shard: Shard, as_of_ms: int, quantiles: Sequence[float] = LTV_QUANTILES) -> list[int]:
    """This shard's base quantiles of lifetime value (scaled), to choose bucket edges from: exact for one
    shard; a cluster averages its shards' (edges only pick the buckets, whose counts stay exact)."""
    alive = ids_from_bitmap(shard.alive)
    if len(alive) == 0:
        return []
    values = lifetime_values(shard, as_of_ms)[alive]
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


def _ltv_buckets(shard: Shard, as_of_ms: int, edges: tuple[int, ...], in_segment: np.ndarray,
                 in_base: np.ndarray) -> list[Pair]:
    buckets = len(edges) + 1
    if not edges:
        return [(int(in_segment.sum()), int(in_base.sum()))]
    values = lifetime_values(shard, as_of_ms)
    where = np.searchsorted(np.asarray(edges, dtype=np.int64), values, side="right")
    seg = np.bincount(where[in_segment], minlength=buckets)
    base = np.bincount(where[in_base], minlength=buckets)
    return [(int(s), int(b)) for s, b in zip(seg, base, strict=True)]


def _breakdown(shard: Shard, name: str, members: BitMap, alive: BitMap, in_segment: np.ndarray,
               in_base: np.ndarray) -> dict[str, Pair] | None:
    column = shard.column(name)
    if column is None:  # nobody ever had it: everyone is without
        return {NOT_SET: (len(members), len(alive))} if len(alive) else None
    out: dict[str, Pair] = {}
    if isinstance(column, SetColumn):
        for code, bitmap in enumerate(column.bitmaps):
            pair = (bitmap.intersection_cardinality(members), bitmap.intersection_cardinality(alive))
            if pair[1]:
                out[column.dictionary.values[code]] = pair
        without = (len(members) - column.exists.intersection_cardinality(members),
                   len(alive) - column.exists.intersection_cardinality(alive))
    elif isinstance(column, StringColumn):
        slots = len(column.dictionary) + 1  # the last slot counts "no value" (code -1)
        codes = np.full(len(in_segment), slots - 1, dtype=np.int64)
        held = min(len(column.code_of), len(codes))
        codes[:held] = np.where(column.code_of[:held] < 0, slots - 1, column.code_of[:held])
        seg = np.bincount(codes[in_segment], minlength=slots)
        base = np.bincount(codes[in_base], minlength=slots)
        for code in np.flatnonzero(base[:-1]):
            out[column.dictionary.values[int(code)]] = (int(seg[code]), int(base[code]))
        without = (int(seg[-1]), int(base[-1]))
    else:
        return None
    if without[1]:
        out[NOT_SET] = without
    return out


def _window_top(shard: Shard, event: str, attr: str, start: int | None, end: int, in_segment: np.ndarray,
                in_base: np.ndarray) -> dict[str, Pair] | None:
    index = shard.event_index(event)
    if index is None or attr not in index.store.attributes:
        return None
    rows = index.store.window(start, end, (attr,))
    column = rows.columns[attr]
    dictionary = index.store.dictionaries[attr]
    if isinstance(column, ListColumn):
        lengths = np.diff(column.offsets)
        customers = np.repeat(rows.customers, lengths)
        codes = column.codes.astype(np.int64)
    else:
        customers = rows.customers
        codes = np.asarray(column, dtype=np.int64)
    known = codes >= 0
    customers, codes = customers[known], codes[known]
    slots = len(dictionary)
    seg = np.bincount(codes[in_segment[customers]], minlength=slots)
    base = np.bincount(codes[in_base[customers]], minlength=slots)
    return {dictionary.values[int(c)]: (int(seg[c]), int(base[c])) for c in np.flatnonzero(base)}


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


def finish_insights(partials: Sequence[InsightsPartial], request: InsightsRequest, top: int = 10,
                    amount_scale: int = DEFAULT_SCALE) -> Insights:
    """Sum the shards' partials; shares, averages and top lists (consent breakdowns in full)."""
    assert partials and top >= 1
    total = partials[0]
    for partial in partials[1:]:
        total = total.merge(partial)
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
    edges = readable_edges(ltv_quantile_edges(shard, as_of_ms), scale)
    request = InsightsRequest(window_days=window_days, ltv_edges=edges)
    return finish_insights([shard_insights(shard, members, as_of_ms, request)], request, top, scale)
