"""One translator from compiled rule plans to SQL, for the peers of the benchmark: DuckDB and ClickHouse (chDB).

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

Dialects (`dialect=`): "duckdb" as above. "clickhouse" (benchmarks/chdb_runner.py, cid UInt32, lists
Array(Nullable(String))) differs in function names (has/hasAny/hasAll/length/startsWith/endsWith/position)
and in the shape of the count: every leaf becomes a roaring bitmap of customer ids (groupBitmapState
over a scalar subquery), and/or/not become bitmapAnd/bitmapOr/bitmapAndnot against the bitmap of all
customers, and the answer is bitmapCardinality - how a ClickHouse engineer writes segment counts, since
each leaf is then one scan and the set algebra costs nothing next to it. Property leaves under one and/or
share one scan of `customers`. The leaf SQL (rows, HAVING tests, complements) is the same code for both.
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

DIALECTS = ("duckdb", "clickhouse")
# function name per dialect: list length, element test, any / all of a list, substring, prefix, suffix
_FUNCTIONS = {
    "duckdb": {"len": "len", "has": "list_contains", "has_any": "list_has_any", "has_all": "list_has_all",
               "starts_with": "starts_with", "ends_with": "suffix"},
    "clickhouse": {"len": "length", "has": "has", "has_any": "hasAny", "has_all": "hasAll",
                   "starts_with": "startsWith", "ends_with": "endsWith"},
}
_ALL_CUSTOMERS_BITMAP = "(SELECT groupBitmapState(cid) FROM customers)"
_NO_CUSTOMERS_BITMAP = "bitmapBuild(emptyArrayUInt32())"
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

    def __init__(self, calendar: Calendar, as_of_ms: int, dialect: str = "duckdb") -> None:
        assert dialect in DIALECTS, dialect
        self.calendar = calendar
        self.as_of_ms = as_of_ms
        self.dialect = dialect
        self.fn = _FUNCTIONS[dialect]

    def count_query(self, plan: Plan) -> str:
        if self.dialect == "clickhouse":
            return f"SELECT bitmapCardinality({self.bitmap(plan)})"
        return f"SELECT count(*) FROM customers c WHERE {self.predicate(plan)}"

    # --- ClickHouse: bitmap algebra -----------------------------------------------------------
    def bitmap(self, plan: Plan) -> str:
        if isinstance(plan, AndPlan | OrPlan):
            return self._combine(plan)
        if isinstance(plan, NotPlan):
            return f"bitmapAndnot({_ALL_CUSTOMERS_BITMAP}, {self.bitmap(plan.child)})"
        if isinstance(plan, EveryonePlan):
            return _ALL_CUSTOMERS_BITMAP
        if isinstance(plan, NobodyPlan):
            return _NO_CUSTOMERS_BITMAP
        if isinstance(plan, PropertyLeaf):
            return self._customers_bitmap(f"COALESCE({self.property(plan)}, FALSE)")
        if isinstance(plan, EventLeaf | ComputedLeaf):
            rows, complement = self.event_set(plan) if isinstance(plan, EventLeaf) else self.computed_set(plan)
            ids = f"(SELECT groupBitmapState(cid) FROM ({rows}))"
            return f"bitmapAndnot({_ALL_CUSTOMERS_BITMAP}, {ids})" if complement else ids
        raise NotImplementedError(f"{type(plan).__name__} has no SQL form (segments are not benchmarked)")

    @staticmethod
    def _customers_bitmap(predicate: str) -> str:
        return f"(SELECT groupBitmapState(cid) FROM customers c WHERE {predicate})"

    def _combine(self, plan: AndPlan | OrPlan) -> str:
        is_and = isinstance(plan, AndPlan)
        properties = [c for c in plan.children if isinstance(c, PropertyLeaf)]
        parts = [self.bitmap(c) for c in plan.children if not isinstance(c, PropertyLeaf)]
        if properties:  # one scan of customers for all of them
            joiner = " AND " if is_and else " OR "
            parts.insert(0, self._customers_bitmap(
                "(" + joiner.join(f"COALESCE({self.property(p)}, FALSE)" for p in properties) + ")"))
        function = "bitmapAnd" if is_and else "bitmapOr"
        out = parts[0]
        for part in parts[1:]:
            out = f"{function}({out}, {part})"
        return out

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
        fn = self.fn
        present = f"({column} IS NOT NULL AND {fn['len']}({column}) > 0)" if is_list else f"({column} IS NOT NULL)"
        if op == "exists":
            return present
        if op == "not_exists":
            return f"(NOT {present})"
        if is_list:
            if op == "has":
                return f"({present} AND {fn['has']}({column}, {literal(value)}))"
            values = literal(value)
            if op == "has_any":
                return f"({present} AND {fn['has_any']}({column}, {values}))"
            if op == "has_all":
                return f"({present} AND {fn['has_all']}({column}, {values}))"
            return f"(NOT ({present} AND {fn['has_any']}({column}, {values})))"  # has_none
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
            return f"({present} AND {self._contains(column, literal(value))})"
        if op == "starts_with":
            return f"({present} AND {fn['starts_with']}({column}, {literal(value)}))"
        if op == "ends_with":
            return f"({present} AND {fn['ends_with']}({column}, {literal(value)}))"
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

    def _contains(self, column: str, needle: str) -> str:
        return f"position({column}, {needle}) > 0" if self.dialect == "clickhouse" else f"contains({column}, {needle})"

    def event_set(self, leaf: EventLeaf) -> tuple[str, bool]:
        """(SELECT cid ... of the customers it names, whether the answer is their complement)."""
        low, high = window_bounds(self.calendar, self.as_of_ms, leaf.window)
        rows = self.event_rows(leaf.event, leaf.filters, low, high)
        if leaf.measure in ("first", "last"):
            low_t, high_t = time_op_bounds(self.calendar, self.as_of_ms, leaf.op, leaf.value)
            aggregate = "min(ts)" if leaf.measure == "first" else "max(ts)"
            return f"SELECT cid FROM events WHERE {rows} GROUP BY cid HAVING {range_sql(aggregate, low_t, high_t)}", False
        aggregate = "count(*)" if leaf.measure == "count" else f"sum(COALESCE({leaf.sum_attr}, 0))"
        test = compare_sql(aggregate, leaf.op, leaf.value)
        if zero_satisfies(leaf.op, leaf.value):  # customers without events qualify: the complement of the failing
            return f"SELECT cid FROM events WHERE {rows} GROUP BY cid HAVING NOT ({test})", True
        return f"SELECT cid FROM events WHERE {rows} GROUP BY cid HAVING {test}", False

    def computed_set(self, leaf: ComputedLeaf) -> tuple[str, bool]:
        if leaf.prop == "lifetime_value":
            net = (
                "sum(CASE WHEN type = 'order_created' THEN COALESCE(amount, 0) ELSE -COALESCE(amount, 0) END)"
            )
            rows = f"type IN ('order_created', 'order_refunded') AND ts <= {self.as_of_ms}"
            test = compare_sql(net, leaf.op, leaf.value)
            if zero_satisfies(leaf.op, leaf.value):
                return f"SELECT cid FROM events WHERE {rows} GROUP BY cid HAVING NOT ({test})", True
            return f"SELECT cid FROM events WHERE {rows} GROUP BY cid HAVING {test}", False
        assert leaf.prop == "last_seen_at"
        rows = f"ts <= {self.as_of_ms}"
        if leaf.op == "not_exists":
            return f"SELECT cid FROM events WHERE {rows}", True
        low, high = (None, None) if leaf.op == "exists" else time_op_bounds(self.calendar, self.as_of_ms, leaf.op, leaf.value)
        return f"SELECT cid FROM events WHERE {rows} GROUP BY cid HAVING {range_sql('max(ts)', low, high)}", False

    def event(self, leaf: EventLeaf) -> str:
        rows, complement = self.event_set(leaf)
        return f"c.cid {'NOT IN' if complement else 'IN'} ({rows})"

    def computed(self, leaf: ComputedLeaf) -> str:
        rows, complement = self.computed_set(leaf)
        return f"c.cid {'NOT IN' if complement else 'IN'} ({rows})"
