"""Evaluate a plan for some customers only (a universe), the core of incremental maintenance.

indexes/plan/evaluate.py's evaluator already takes a universe (its contract: the answer is exact for
the customers of the universe and says nothing about the others; leaves may use it to skip work),
but its public `evaluate` always starts from everyone. This is the one place that starts it from a
universe, and it cuts the answer to it.
"""

from __future__ import annotations

from pyroaring import BitMap

from indexes.plan.compile import Plan
from indexes.plan.evaluate import SegmentResolver, _Evaluator, evaluate
from indexes.shard.shard import Shard


def evaluate_on(plan: Plan, shard: Shard, as_of_ms: int, resolver: SegmentResolver | None,
                universe: BitMap | None) -> BitMap:
    """Members among `universe` (None: everyone) at as_of."""
    if universe is None:
        return evaluate(plan, shard, as_of_ms, resolver)
    if not universe:
        return BitMap()
    return _Evaluator(shard, as_of_ms, resolver).run(plan, universe) & universe
