"""The text form of rules: a lark LALR(1) grammar (grammar.lark) and a formatter.

`parse_rule(format_rule(r)) == r` for every valid rule: the formatter parenthesises every group of
two or more conditions that sits inside another node, writes one-condition groups as `all(x)` /
`any(x)`, and omits only the default window (`all_time`), so the tree that comes back is the tree
that went in.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Tree, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.exceptions import VisitError
from lark.lexer import PatternStr
from lark.visitors import Transformer_NonRecursive

from indexes.rules.errors import RuleSyntaxError
from indexes.rules.json_text import MAX_JSON_INT_DIGITS
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
from indexes.rules.text_shape import check_text_shape
from indexes.rules.validate import check_limits, validate_rule
from indexes.schema import Schema

SYMBOLS = {"=": "eq", "!=": "neq", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
OP_SYMBOLS = {op: symbol for symbol, op in SYMBOLS.items()}
_COMPARISON = "a comparison (" + ", ".join(SYMBOLS) + ")"
_FRIENDLY = {
    "STRING": "a string in double quotes",
    "NUMBER": "a number",
    "INT": "a whole number",
    "DATE": "a date YYYY-MM-DD",
    "NAME": "a name",
    "$END": "the end of the rule",
}
# Parse-tree nodes that become group nodes of the model, with their JSON path keys.
_GROUP_KEYS = {"all_group": "all", "all_call": "all", "any_group": "any", "any_call": "any"}


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files("indexes.rules").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="contextual", maybe_placeholders=False)


def parse_rule(text: str, schema: Schema, segment_exists: Callable[[str], bool] | None = None) -> Node:
    """Text form -> validated model. RuleSyntaxError when it does not parse, RuleError (with the
    JSON-form path) when it parses but is not a valid rule."""
    rule = parse_unvalidated(text)
    validate_rule(rule, schema, segment_exists)
    return rule


def parse_unvalidated(text: str) -> Node:
    """Text form -> model, checking syntax and the size limits only."""
    check_text_shape(text)  # tokens and parenthesis depth, before the parse spends time on them
    parser = _parser()
    try:
        tree = parser.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, parser) from None
    # The parse is iterative, but a 10,000-deep `not not ...` must be refused before building it.
    check_limits(tree.children[0], _tree_children)
    try:
        return _Builder().transform(tree)  # type: ignore[no-any-return]
    except VisitError as exc:
        error = exc.orig_exc
        if isinstance(error, RuleSyntaxError):
            # Token checks (dates, string escapes) happen here, where the text is known for the snippet.
            snippet = _snippet(text, error.line, error.column)
            raise RuleSyntaxError(error.line, error.column, error.expected, snippet, error.found) from None
        raise


def _tree_children(tree: Any) -> Iterable[tuple[str, Any]]:
    if not isinstance(tree, Tree):
        return ()
    if tree.data in _GROUP_KEYS:
        key = _GROUP_KEYS[tree.data]
        return ((f"{key}[{i}]", child) for i, child in enumerate(tree.children))
    if tree.data == "negation":
        return (("not", tree.children[0]),)
    return ()


# --- syntax errors ---------------------------------------------------------------------------------
def _syntax_error(exc: UnexpectedInput, text: str, parser: Lark) -> RuleSyntaxError:
    found: str | None = None
    if isinstance(exc, UnexpectedToken):
        names = set(exc.accepts or exc.expected)
        found = _describe_found(exc.token)
    elif isinstance(exc, UnexpectedCharacters):
        names = set(exc.allowed or ())
        found = repr(text[exc.pos_in_stream]) if 0 <= exc.pos_in_stream < len(text) else None
    elif isinstance(exc, UnexpectedEOF):
        names = set(exc.expected)
        found = "the end of the rule"
    else:
        names = set()
    line = getattr(exc, "line", 1) or 1
    column = getattr(exc, "column", 1) or 1
    at_end = isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END")
    if at_end or line < 1:
        # lark reports the end of input at the last token; point past the end of the text instead.
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
    return RuleSyntaxError(line, column, _describe_expected(names, parser), _snippet(text, line, column), found)


def _describe_expected(names: set[str], parser: Lark) -> list[str]:
    described = {_describe(name, parser) for name in names}
    symbols = {f"'{s}'" for s in SYMBOLS}
    if symbols <= described:
        described = (described - symbols) | {_COMPARISON}
    return sorted(described)


def _describe(name: str, parser: Lark) -> str:
    if name in _FRIENDLY:
        return _FRIENDLY[name]
    try:
        pattern = parser.get_terminal(name).pattern
    except KeyError:
        return name
    return f"'{pattern.value}'" if isinstance(pattern, PatternStr) else name


def _describe_found(token: Token) -> str:
    if token.type == "$END":
        return "the end of the rule"
    text = str(token)
    return repr(text if len(text) <= 30 else text[:30] + "...")


def _snippet(text: str, line: int, column: int) -> str:
    """The offending line and a caret under the column (tabs kept so the caret lines up)."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return ""
    source = lines[line - 1].rstrip("\r")
    pad = "".join("\t" if ch == "\t" else " " for ch in source[: column - 1])
    return f"{source}\n{pad}^"


def _token_error(token: Token, expected: str, offset: int = 0) -> RuleSyntaxError:
    line = token.line or 1
    column = (token.column or 1) + offset
    return RuleSyntaxError(line, column, [expected], found=repr(str(token)))


def _string(token: Token) -> str:
    try:
        value = json.loads(str(token))
    except json.JSONDecodeError as exc:
        raise _token_error(token, f"a valid JSON string ({exc.msg.removesuffix(' at').lower()})", exc.pos) from None
    assert isinstance(value, str)
    return value


def _whole(token: Token) -> int:
    """An INT token. Python refuses to read more than 4,300 digits (ValueError); no rule value has
    more than int64's 19, so longer ones are a syntax error at the token."""
    text = str(token)
    if len(text) > MAX_JSON_INT_DIGITS:
        raise _token_error(token, f"a whole number of at most {MAX_JSON_INT_DIGITS} digits")
    return int(text)


def _date(token: Token) -> dt.date:
    try:
        return dt.date.fromisoformat(str(token))
    except ValueError:
        raise _token_error(token, "a valid date YYYY-MM-DD") from None


def _token_value(item: object) -> object:
    if not isinstance(item, Token):
        return item  # already converted (booleans)
    kind = item.type
    if kind == "STRING":
        return _string(item)
    if kind == "NUMBER":
        return Decimal(str(item))
    if kind == "INT":
        return _whole(item)
    if kind == "DATE":
        return _date(item)
    return str(item)


def _decimal(value: object) -> object:
    """Property and sum values: whole numbers read as INT become Decimals like every other number."""
    if isinstance(value, tuple):
        return tuple(_decimal(v) for v in value)
    return Decimal(value) if isinstance(value, int) and not isinstance(value, bool) else value


class _Builder(Transformer_NonRecursive):
    """Parse tree -> model. Comparisons come up as (op, value) pairs and are placed by their parent."""

    # --- groups -------------------------------------------------------------------------------
    def start(self, items: list) -> Node:
        return items[0]  # type: ignore[no-any-return]

    def any_group(self, items: list) -> Node:
        return AnyOf(tuple(items))

    def all_group(self, items: list) -> Node:
        return All(tuple(items))

    any_call = any_group
    all_call = all_group

    def negation(self, items: list) -> Node:
        return Not(items[0])

    def segment(self, items: list) -> Node:
        return SegmentCondition(_string(items[0]))

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
        return items[0] if items else ALL_TIME  # type: ignore[no-any-return]

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
        return ALL_TIME

    def last_window(self, items: list) -> Window:
        return Last(Duration(items[1], _whole(items[0])))

    def since_window(self, items: list) -> Window:
        return Since(_date(items[0]))

    def between_window(self, items: list) -> Window:
        return Between(_date(items[0]), _date(items[1]))

    # --- comparisons: (op, value) ---------------------------------------------------------------
    def compare(self, items: list) -> tuple:
        return SYMBOLS[items[0]], _token_value(items[1])

    def between(self, items: list) -> tuple:
        return "between", (_token_value(items[0]), _token_value(items[1]))

    def list_op(self, items: list) -> tuple:
        return items[0], tuple(_token_value(v) for v in items[1:])

    def text_op(self, items: list) -> tuple:
        return items[0], _string(items[1])

    def date_op(self, items: list) -> tuple:
        return items[0], _date(items[1])

    def recent_op(self, items: list) -> tuple:
        return items[0], Duration(items[2], _whole(items[1]))

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


# --- formatting ------------------------------------------------------------------------------------
def format_rule(rule: Node) -> str:
    """Model -> text form. A top-level group puts each condition on its own line (as in RULES.md);
    nested groups stay on one line in parentheses."""
    check_limits(rule)  # a hand-built, absurdly deep model gets a RuleError, not a RecursionError
    return _format(rule, bare=True, multiline=True)


def _format(node: Node, bare: bool = False, multiline: bool = False) -> str:
    """bare: no parentheses needed around a group of two or more (top level, inside all()/any())."""
    if isinstance(node, (All, AnyOf)):
        if len(node.nodes) == 1:
            call = "all" if isinstance(node, All) else "any"
            return f"{call}({_format(node.nodes[0], bare=True)})"
        word = "and" if isinstance(node, All) else "or"
        separator = f"\n  {word} " if multiline else f" {word} "
        text = separator.join(_format(child) for child in node.nodes)
        return text if bare else f"({text})"
    if isinstance(node, Not):
        return f"not {_format(node.node)}"
    if isinstance(node, SegmentCondition):
        return f"in_segment({format_value(node.segment)})"
    if isinstance(node, PropertyCondition):
        return f"{node.property} {_format_comparison(node.op, node.value)}"
    if not isinstance(node, EventCondition):
        raise TypeError(f"not a rule node: {type(node).__name__}")
    where = ""
    if node.where:
        where = " where " + " and ".join(f"{c.attr} {_format_comparison(c.op, c.value)}" for c in node.where)
    window = "" if isinstance(node.window, AllTime) else ", " + _format_window(node.window)
    measure = node.measure
    comparison = _format_comparison(measure.op, measure.value)
    if isinstance(measure, Count):
        return f"count({node.event}{where}{window}) {comparison}"
    if isinstance(measure, Sum):
        return f"sum({node.event}.{measure.attr}{where}{window}) {comparison}"
    return f"{measure.which}({node.event}{where}{window}) {comparison}"


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
        text = format(value, "f")  # never exponent notation, which the grammar does not read
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
    if isinstance(window, Between):
        return f"between {window.first_day.isoformat()} and {window.last_day.isoformat()}"
    raise TypeError(f"not a window: {type(window).__name__}")
