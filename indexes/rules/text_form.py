"""The text form of rules: a lark LALR(1) grammar (grammar.lark) and a formatter.

`parse_rule(format_rule(r)) == r` for every valid rule: the formatter parenthesises every group of
two or more conditions that sits inside another node, and writes one-condition groups as
`all(x)` / `any(x)`, so the tree that comes back is the tree that went in.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from importlib import resources

from lark import (
    Lark,
    Token,
    Transformer,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)
from lark.lexer import PatternStr

from indexes.rules.errors import RuleSyntaxError
from indexes.rules.model import (
    ALL_TIME,
    All,
    AllTime,
    AnyOf,
    AttributeCondition,
    Between,
    Count,
    Duration,
    EventCondition,
    FirstLast,
    Last,
    Node,
    Not,
    PropertyCondition,
    SegmentCondition,
    Since,
    Sum,
    Window,
)
from indexes.rules.validate import validate_rule
from indexes.schema import Schema

SYMBOLS = {"=": "eq", "!=": "neq", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
OP_SYMBOLS = {op: symbol for symbol, op in SYMBOLS.items()}
_FRIENDLY = {
    "STRING": 'a string in double quotes',
    "NUMBER": "a number",
    "INT": "a whole number",
    "DATE": "a date YYYY-MM-DD",
    "NAME": "a name",
    "$END": "the end of the rule",
}


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files("indexes.rules").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="basic", maybe_placeholders=False)


def parse_rule(text: str, schema: Schema, segment_exists: Callable[[str], bool] | None = None) -> Node:
    rule = parse_unvalidated(text)
    validate_rule(rule, schema, segment_exists)
    return rule


def parse_unvalidated(text: str) -> Node:
    parser = _parser()
    try:
        tree = parser.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, parser) from None
    return _Builder().transform(tree)  # type: ignore[no-any-return]


def _syntax_error(exc: UnexpectedInput, text: str, parser: Lark) -> RuleSyntaxError:
    if isinstance(exc, UnexpectedToken):
        names = exc.accepts or exc.expected
    elif isinstance(exc, UnexpectedCharacters):
        names = exc.allowed or set()
    elif isinstance(exc, UnexpectedEOF):
        names = set(exc.expected)
    else:
        names = set()
    expected = sorted({_describe(name, parser) for name in names})
    line = getattr(exc, "line", 1) or 1
    column = getattr(exc, "column", 1) or 1
    at_end = isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END")
    if at_end or line < 1:
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
    try:
        snippet = exc.get_context(text).rstrip("\n")
    except (IndexError, AttributeError):
        snippet = ""
    return RuleSyntaxError(line, column, expected, snippet)


def _describe(name: str, parser: Lark) -> str:
    if name in _FRIENDLY:
        return _FRIENDLY[name]
    try:
        pattern = parser.get_terminal(name).pattern
    except KeyError:
        return name
    return f"'{pattern.value}'" if isinstance(pattern, PatternStr) else name


def _token_value(token: Token) -> object:
    kind = token.type
    if kind == "STRING":
        return json.loads(token)
    if kind == "NUMBER":
        return Decimal(str(token))
    if kind == "INT":
        return int(token)
    if kind == "DATE":
        return dt.date.fromisoformat(str(token))
    return str(token)


def _decimal(value: object) -> object:
    """Property and sum values: whole numbers read as ints become Decimals."""
    if isinstance(value, tuple):
        return tuple(_decimal(v) for v in value)
    return Decimal(value) if isinstance(value, int) and not isinstance(value, bool) else value


class _Builder(Transformer):
    """Parse tree -> model. Comparisons come up as (op, value) pairs and get their meaning above."""

    # --- groups -------------------------------------------------------------------------------
    def start(self, items: list) -> Node:
        return items[0]

    def any_group(self, items: list) -> Node:
        return AnyOf(tuple(items))

    def all_group(self, items: list) -> Node:
        return All(tuple(items))

    any_call = any_group
    all_call = all_group

    def negation(self, items: list) -> Node:
        return Not(items[0])

    def segment(self, items: list) -> Node:
        return SegmentCondition(json.loads(items[0]))

    # --- conditions ---------------------------------------------------------------------------
    def property_cond(self, items: list) -> Node:
        op, value = items[1]
        return PropertyCondition(str(items[0]), op, _decimal(value))

    def attr_cond(self, items: list) -> AttributeCondition:
        op, value = items[1]
        return AttributeCondition(str(items[0]), op, _decimal(value))

    def where_opt(self, items: list) -> tuple:
        return tuple(items)

    def window_opt(self, items: list) -> Window:
        return items[0] if items else ALL_TIME

    def event_spec(self, items: list) -> tuple:
        return str(items[0]), items[1]

    def count_cond(self, items: list) -> Node:
        (event, where), window, (op, value) = items
        return EventCondition(event, where, Count(op, value), window)

    def sum_cond(self, items: list) -> Node:
        event, attr, where, window, (op, value) = items
        return EventCondition(str(event), where, Sum(str(attr), op, _decimal(value)), window)  # type: ignore[arg-type]

    def first_cond(self, items: list) -> Node:
        (event, where), window, (op, value) = items
        return EventCondition(event, where, FirstLast("first", op, value), window)

    def last_cond(self, items: list) -> Node:
        (event, where), window, (op, value) = items
        return EventCondition(event, where, FirstLast("last", op, value), window)

    # --- windows ------------------------------------------------------------------------------
    def all_time(self, items: list) -> Window:
        return AllTime()

    def last_window(self, items: list) -> Window:
        return Last(Duration(items[1], int(items[0])))

    def since_window(self, items: list) -> Window:
        return Since(dt.date.fromisoformat(str(items[0])))

    def between_window(self, items: list) -> Window:
        return Between(dt.date.fromisoformat(str(items[0])), dt.date.fromisoformat(str(items[1])))

    # --- comparisons: (op, value) ---------------------------------------------------------------
    def compare(self, items: list) -> tuple:
        return SYMBOLS[items[0]], _value(items[1])

    def between(self, items: list) -> tuple:
        return "between", (_value(items[0]), _value(items[1]))

    def list_op(self, items: list) -> tuple:
        return items[0], tuple(_value(v) for v in items[1:])

    def text_op(self, items: list) -> tuple:
        return items[0], json.loads(items[1])

    def date_op(self, items: list) -> tuple:
        return items[0], dt.date.fromisoformat(str(items[1]))

    def recent_op(self, items: list) -> tuple:
        return items[0], Duration(items[2], int(items[1]))

    def exists(self, items: list) -> tuple:
        return "exists", None

    def not_exists(self, items: list) -> tuple:
        return "not_exists", None

    # --- keywords -----------------------------------------------------------------------------
    def _keyword(self, items: list) -> str:
        return str(items[0])

    cmp = list_kw = text_kw = date_kw = recent_kw = unit = _keyword

    def boolean(self, items: list) -> bool:
        return str(items[0]) == "true"


def _value(item: object) -> object:
    return _token_value(item) if isinstance(item, Token) else item


# --- formatting ------------------------------------------------------------------------------------
def format_rule(rule: Node) -> str:
    return _format(rule, top=True)


def _is_multi_group(node: Node) -> bool:
    return isinstance(node, (All, AnyOf)) and len(node.nodes) > 1


def _format(node: Node, top: bool = False) -> str:
    if isinstance(node, (All, AnyOf)):
        word = "and" if isinstance(node, All) else "or"
        if len(node.nodes) == 1:
            return f"{'all' if isinstance(node, All) else 'any'}({_format(node.nodes[0], top=True)})"
        text = f" {word} ".join(_format(child) for child in node.nodes)
        return text if top else f"({text})"
    if isinstance(node, Not):
        return f"not {_format(node.node)}"
    if isinstance(node, SegmentCondition):
        return f"in_segment({json.dumps(node.segment, ensure_ascii=False)})"
    if isinstance(node, PropertyCondition):
        return f"{node.property} {_format_comparison(node.op, node.value)}"
    assert isinstance(node, EventCondition)
    where = ""
    if node.where:
        where = " where " + " and ".join(f"{c.attr} {_format_comparison(c.op, c.value)}" for c in node.where)
    window = "" if isinstance(node.window, AllTime) else ", " + _format_window(node.window)
    measure = node.measure
    if isinstance(measure, Count):
        return f"count({node.event}{where}{window}) {_format_comparison(measure.op, measure.value)}"
    if isinstance(measure, Sum):
        return f"sum({node.event}.{measure.attr}{where}{window}) {_format_comparison(measure.op, measure.value)}"
    return f"{measure.which}({node.event}{where}{window}) {_format_comparison(measure.op, measure.value)}"


def _format_comparison(op: str, value: object) -> str:
    if op in ("exists", "not_exists"):
        return op
    if op in OP_SYMBOLS:
        return f"{OP_SYMBOLS[op]} {format_value(value)}"
    if op == "between":
        low, high = value  # type: ignore[misc]
        return f"between {format_value(low)} and {format_value(high)}"
    if isinstance(value, tuple):
        return f"{op} ({', '.join(format_value(v) for v in value)})"
    return f"{op} {format_value(value)}"


def format_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Decimal):
        text = format(value, "f")
        return "0" if text == "-0" else text
    if isinstance(value, Duration):
        return f"{value.amount} {value.unit}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _format_window(window: Window) -> str:
    if isinstance(window, Last):
        return f"last {window.duration.amount} {window.duration.unit}"
    if isinstance(window, Since):
        return f"since {window.day.isoformat()}"
    assert isinstance(window, Between)
    return f"between {window.first_day.isoformat()} and {window.last_day.isoformat()}"
