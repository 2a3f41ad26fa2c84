"""Typed rule model (RULES.md). Immutable, hashable, compared by value.

Every rule, whether it came from JSON or from text, becomes a tree of these nodes. Values are
normalised on construction by the readers (json_form / text_form) so that equal rules compare equal:
numbers are `Decimal`, dates are `datetime.date`, lists are tuples, durations are `Duration`.

Node kinds:  All, AnyOf, Not                  (groups)
             PropertyCondition                (profile and computed properties)
             EventCondition                   (event type + where + one measure + window)
             SegmentCondition                 (membership of a saved segment)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

MAX_DEPTH = 64
MAX_NODES = 1000
MAX_WINDOW_DAYS = 3660
MAX_WINDOW_HOURS = MAX_WINDOW_DAYS * 24
# Values of one `in (...)` / has_any list: a rule of 1,000 nodes may hold that many lists, and each
# value is a bitmap lookup when the rule is evaluated.
MAX_RULE_LIST_VALUES = 10_000


@dataclass(frozen=True)
class Duration:
    """`{"days": N}` or `{"hours": N}`; unit is "days" or "hours", amount >= 1."""

    unit: str
    amount: int


# A condition value. Which shape is allowed depends on the op and the type (see validation).
#   str | Decimal | bool | dt.date | Duration | tuple[str, ...] | tuple[Decimal, Decimal]
#   | tuple[dt.date, dt.date] | tuple[int, int] | int | None (exists / not_exists)
Value = str | Decimal | bool | int | dt.date | Duration | tuple | None

# --- ops by value type (RULES.md table) ----------------------------------------------------------
STRING_OPS = ("eq", "neq", "in", "not_in", "contains", "starts_with", "ends_with", "exists", "not_exists")
NUMBER_OPS = ("eq", "neq", "gt", "gte", "lt", "lte", "between", "exists", "not_exists")
BOOL_OPS = ("eq", "exists", "not_exists")
TIME_OPS = ("before", "after", "on", "between", "within_last", "more_than_ago", "exists", "not_exists")
SET_OPS = ("has", "has_any", "has_all", "has_none", "exists", "not_exists")
COUNT_OPS = ("eq", "neq", "gt", "gte", "lt", "lte", "between")
# first/last measures: the time ops without exists/not_exists.
FIRST_LAST_OPS = ("before", "after", "on", "between", "within_last", "more_than_ago")


@dataclass(frozen=True)
class All:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class PropertyCondition:
    property: str
    op: str
    value: Value = None


@dataclass(frozen=True)
class AttributeCondition:
    """One `where` entry of an event condition: same ops as properties, by attribute type."""

    attr: str
    op: str
    value: Value = None


# --- measures --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Count:
    """Number of matching events in the window. value: int, or (lo, hi) for between."""

    op: str = "gte"
    value: int | tuple[int, int] = 1


@dataclass(frozen=True)
class Sum:
    """Exact fixed-point sum of a number attribute over matching events (0 when none)."""

    attr: str
    op: str
    value: Decimal | tuple[Decimal, Decimal]


@dataclass(frozen=True)
class FirstLast:
    """Time of the first (which="first") or latest (which="last") matching event in the window."""

    which: str
    op: str
    value: dt.date | Duration | tuple[dt.date, dt.date]


Measure = Count | Sum | FirstLast


# --- windows ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AllTime:
    pass


@dataclass(frozen=True)
class Last:
    """The last N calendar days / clock hours ending with the one containing as_of."""

    duration: Duration


@dataclass(frozen=True)
class Since:
    day: dt.date


@dataclass(frozen=True)
class Between:
    first_day: dt.date
    last_day: dt.date


Window = AllTime | Last | Since | Between
ALL_TIME = AllTime()


@dataclass(frozen=True)
class EventCondition:
    event: str
    where: tuple[AttributeCondition, ...] = ()
    measure: Measure = Count()
    window: Window = ALL_TIME


@dataclass(frozen=True)
class SegmentCondition:
    segment: str


Node = All | AnyOf | Not | PropertyCondition | EventCondition | SegmentCondition
GROUP_TYPES = (All, AnyOf, Not)
LEAF_TYPES = (PropertyCondition, EventCondition, SegmentCondition)


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, (All, AnyOf)):
        return node.nodes
    if isinstance(node, Not):
        return (node.node,)
    return ()


def iter_nodes(node: Node) -> list[Node]:
    """All nodes, pre-order. Iterative so a deep rule cannot exhaust the Python stack."""
    out: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(reversed(children(current)))
    return out


def segment_ids(node: Node) -> frozenset[str]:
    """Saved segments a rule refers to (for dependency checks)."""
    return frozenset(n.segment for n in iter_nodes(node) if isinstance(n, SegmentCondition))
