"""One translator from compiled rule plans to SQL, for the peers of the benchmark (DuckDB first).

Layout (loaded by benchmarks/duckdb_runner.py):
  customers(cid INTEGER, <one column per property>)   strings VARCHAR, numbers BIGINT fixed-point,
                                                      timestamps BIGINT ms, dates INTEGER days,
                                                      sets VARCHAR[] (NULL or [] = missing)
  events(cid INTEGER, type VARCHAR, ts BIGINT ms, <one column per attribute name>)
                                                      strings VARCHAR, numbers BIGINT fixed-point,
                                                      lists VARCHAR[]

An event condition becomes `cid IN (SELECT cid FROM events WHERE ... GROUP BY cid HAVING ...)`, or
`NOT IN` of the complement when customers without events satisfy it (count = 0, sum < x), which is
how a SQL engineer keeps NULLs out of the answer. Time bounds are computed in Python with the
engine's calendar (docs/SEMANTICS.md) and passed as epoch-ms literals, so SQL compares integers.
"""

from __future__ import annotations

from indexes.plan.compile import (
    AndPlan,
    ComputedLeaf,
    EventLeaf,
    EveryonePlan,
    Filter,
    NobodyPlan,
    NotPlan,
    OrPlan,
    Plan,
    PropertyLeaf,
)
from indexes.plan.event_eval import zero_satisfies
from indexes.plan.time_bounds import instant_bounds_to_days, time_op_bounds, window_bounds
from indexes.timecal import Calendar

_SYMBOL = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def literal(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, tuple):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    raise TypeError(f"no SQL literal for {value!r}")


def compare_sql(expression: str, op: str, value: object) -> str:
    if op == "between":
        low, high = value  # type: ignore[misc]
        return f"{expression} BETWEEN {literal(low)} AND {literal(high)}"
    return f"{expression} {_SYMBOL[op]} {literal(value)}"


def range_sql(expression: str, low: int | None, high: int | None) -> str:
    parts = [f"{expression} IS NOT NULL"]
    if low is not None:
        parts.append(f"{expression} >= {low}")
    if high is not None:
        parts.append(f"{expression} <= {high}")
    return "(" + " AND ".join(parts) + ")"


class SqlTranslator:
    """Plan -> SQL predicate over `customers c`, for one time zone and as_of."""

    def __init__(self, calendar: Calendar, as_of_ms: int) -> None:
        self.calendar = calendar
        self.as_of_ms = as_of_ms

    def count_query(self, plan: Plan) -> str:
        return f"SELECT count(*) FROM customers c WHERE {self.predicate(plan)}"

    def predicate(self, plan: Plan) -> str:
        if isinstance(plan, AndPlan):
            return "(" + " AND ".join(self.predicate(p) for p in plan.children) + ")"
        if isinstance(plan, OrPlan):
            return "(" + " OR ".join(self.predicate(p) for p in plan.children) + ")"
        if isinstance(plan, NotPlan):
            return f"(NOT {self.predicate(plan.child)})"
        if isinstance(plan, EveryonePlan):
            return "TRUE"
        if isinstance(plan, NobodyPlan):
            return "FALSE"
        if isinstance(plan, PropertyLeaf):
            return f"COALESCE({self.property(plan)}, FALSE)"
        if isinstance(plan, EventLeaf):
            return self.event(plan)
        if isinstance(plan, ComputedLeaf):
            return self.computed(plan)
        raise NotImplementedError(f"{type(plan).__name__} has no SQL form (segments are not benchmarked)")

    # --- properties -------------------------------------------------------------------------
    def property(self, leaf: PropertyLeaf) -> str:
        return self.value_test(f"c.{leaf.prop}", leaf.kind, leaf.op, leaf.value)

    def value_test(self, column: str, kind: str, op: str, value: object) -> str:
        """One comparison with RULES.md's missing-value rule (NULL / empty list = missing)."""
        is_list = kind in ("set", "list")
        present = f"({column} IS NOT NULL AND len({column}) > 0)" if is_list else f"({column} IS NOT NULL)"
        if op == "exists":
            return present
        if op == "not_exists":
            return f"(NOT {present})"
        if is_list:
            if op == "has":
                return f"({present} AND list_contains({column}, {literal(value)}))"
            values = literal(value)
            if op == "has_any":
                return f"({present} AND list_has_any({column}, {values}))"
            if op == "has_all":
                return f"({present} AND list_has_all({column}, {values}))"
            return f"(NOT ({present} AND list_has_any({column}, {values})))"  # has_none
        if kind in ("timestamp", "date"):
            low, high = time_op_bounds(self.calendar, self.as_of_ms, op, value)
            if kind == "date":
                low, high = instant_bounds_to_days(self.calendar, (low, high))
            return range_sql(column, low, high)
        if op == "in":
            return f"({present} AND {column} IN ({', '.join(literal(v) for v in value)}))"  # type: ignore[attr-defined]
        if op == "not_in":
            return f"({present} AND {column} NOT IN ({', '.join(literal(v) for v in value)}))"  # type: ignore[attr-defined]
        if op == "contains":
            return f"({present} AND contains({column}, {literal(value)}))"
        if op == "starts_with":
            return f"({present} AND starts_with({column}, {literal(value)}))"
        if op == "ends_with":
            return f"({present} AND suffix({column}, {literal(value)}))"
        return f"({present} AND {compare_sql(column, op, value)})"

    # --- events -----------------------------------------------------------------------------
    def event_rows(self, event: str, filters: tuple[Filter, ...], low: int | None, high: int | None) -> str:
        parts = [f"type = {literal(event)}"]
        if low is not None:
            parts.append(f"ts >= {low}")
        if high is not None:
            parts.append(f"ts <= {high}")
        parts += [f"COALESCE({self.value_test(f.attr, f.kind, f.op, f.value)}, FALSE)" for f in filters]
        return " AND ".join(parts)

    def event(self, leaf: EventLeaf) -> str:
        low, high = window_bounds(self.calendar, self.as_of_ms, leaf.window)
        rows = self.event_rows(leaf.event, leaf.filters, low, high)
        if leaf.measure in ("first", "last"):
            low_t, high_t = time_op_bounds(self.calendar, self.as_of_ms, leaf.op, leaf.value)
            aggregate = "min(ts)" if leaf.measure == "first" else "max(ts)"
            return f"c.cid IN (SELECT cid FROM events WHERE {rows} GROUP BY cid HAVING {range_sql(aggregate, low_t, high_t)})"
        aggregate = "count(*)" if leaf.measure == "count" else f"sum(COALESCE({leaf.sum_attr}, 0))"
        test = compare_sql(aggregate, leaf.op, leaf.value)
        if zero_satisfies(leaf.op, leaf.value):
            return f"c.cid NOT IN (SELECT cid FROM events WHERE {rows} GROUP BY cid HAVING NOT ({test}))"
        return f"c.cid IN (SELECT cid FROM events WHERE {rows} GROUP BY cid HAVING {test})"

    def computed(self, leaf: ComputedLeaf) -> str:
        if leaf.prop == "lifetime_value":
            net = (
                "sum(CASE WHEN type = 'order_created' THEN COALESCE(amount, 0) ELSE -COALESCE(amount, 0) END)"
            )
            rows = f"type IN ('order_created', 'order_refunded') AND ts <= {self.as_of_ms}"
            test = compare_sql(net, leaf.op, leaf.value)
            if zero_satisfies(leaf.op, leaf.value):
                return f"c.cid NOT IN (SELECT cid FROM events WHERE {rows} GROUP BY cid HAVING NOT ({test}))"
            return f"c.cid IN (SELECT cid FROM events WHERE {rows} GROUP BY cid HAVING {test})"
        assert leaf.prop == "last_seen_at"
        rows = f"ts <= {self.as_of_ms}"
        if leaf.op == "not_exists":
            return f"c.cid NOT IN (SELECT cid FROM events WHERE {rows})"
        low, high = (None, None) if leaf.op == "exists" else time_op_bounds(self.calendar, self.as_of_ms, leaf.op, leaf.value)
        return f"c.cid IN (SELECT cid FROM events WHERE {rows} GROUP BY cid HAVING {range_sql('max(ts)', low, high)})"
