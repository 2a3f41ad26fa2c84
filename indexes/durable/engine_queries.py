"""Queries on a DurableEngine: the in-memory Engine's, under the state lock, so they see only
applied (durable) state, and the state is always the replay of a log prefix.

A mixin of DurableEngine (indexes/durable/engine.py).
"""

from __future__ import annotations

import threading

from pyroaring import BitMap

from indexes.durable.ordered_apply import OrderedApplier
from indexes.engine import Engine, RuleInput
from indexes.log import FileLog
from indexes.plan.compile import Plan
from indexes.rules.model import Node
from indexes.schema import Schema


class EngineQueries:
    # DurableEngine's state (indexes/durable/engine.py).
    _state: threading.Condition
    _engine: Engine
    _applier: OrderedApplier
    _log: FileLog

    @property
    def tz(self) -> str:
        return self._engine.tz

    @property
    def schema(self) -> Schema:
        return self._engine.schema

    @property
    def applied_lsn(self) -> int:
        with self._state:
            return self._applier.applied_lsn

    def load_rule(self, rule: RuleInput) -> Node:
        with self._state:
            return self._engine.load_rule(rule)

    def evaluate(self, rule: RuleInput | Plan, as_of_ms: int | None = None) -> BitMap:
        with self._state:
            return self._engine.evaluate(rule, as_of_ms)

    def count(self, rule: RuleInput | Plan, as_of_ms: int | None = None) -> int:
        with self._state:
            return self._engine.count(rule, as_of_ms)

    def members(self, rule: RuleInput | Plan, as_of_ms: int | None = None) -> list[str]:
        with self._state:
            return self._engine.members(rule, as_of_ms)

    def externals(self, dense_ids: BitMap) -> list[str]:
        """Customer ids of dense ids from `evaluate` (valid until the next ingest)."""
        with self._state:
            return sorted(self._engine.shard.ids.externals(dense_ids))

    def customer_count(self) -> int:
        with self._state:
            return self._engine.customer_count()

    def read_state(self) -> StateView:
        """`with engine.read_state() as engine_inside:` the in-memory Engine, ingest held off (tests,
        digests, snapshots). Do not keep references past the block."""
        return StateView(self)

    @property
    def log(self) -> FileLog:
        """The open event log (read-only use: replay into another engine, digests)."""
        return self._log


class StateView:
    """The state lock held for a `with` block, yielding the in-memory Engine."""

    def __init__(self, owner: EngineQueries) -> None:
        self._owner = owner

    def __enter__(self) -> Engine:
        self._owner._state.acquire()
        return self._owner._engine

    def __exit__(self, *exc: object) -> None:
        self._owner._state.release()


__all__ = ["EngineQueries", "StateView"]
