"""JSON rule text -> Python values, with the nesting depth checked before json.loads sees it.

json's C scanner recurses once per level: a 100,000-deep `[[[[...` raises RecursionError deep inside
it (or, with a raised recursion limit, overflows the C stack). A rule is never nested deeper than
MAX_JSON_NESTING (MAX_DEPTH node levels of `{"all": [...]}` at two levels each, plus a leaf's own
`{"window": {"last": {"days": N}}}`), so deeper text is refused after one vectorised pass.

Integers of more than MAX_JSON_INT_DIGITS digits are never valid in a rule (counts, amounts and windows
all fit int64), and Python refuses to convert more than 4,300 digits with a ValueError of its own; they
are read as a sentinel beyond int64, which the validator then refuses at the value's path.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from indexes.rules.errors import RuleError, RuleSyntaxError
from indexes.rules.model import MAX_DEPTH

MAX_JSON_NESTING = 2 * MAX_DEPTH + 8
MAX_JSON_INT_DIGITS = 19  # int64 has 19 digits
_BEYOND_INT64 = 10**MAX_JSON_INT_DIGITS * 10
# JSON strings (escapes included): brackets inside them do not nest anything. An unterminated string
# runs to the end of the text: the pattern then matches from every opening quote at the first try, so
# the pass stays linear (one that could fail would be retried from every later quote: quadratic, 37 s
# for 64 KB of '\\"').
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.DOTALL)
_OPEN, _CLOSE = np.frombuffer(b"{[", dtype=np.uint8), np.frombuffer(b"}]", dtype=np.uint8)


def json_nesting_depth(text: str) -> int:
    """The deepest bracket nesting of `text`, strings skipped (an unterminated one counts as text)."""
    skeleton = _STRINGS.sub('""', text).encode("utf-8", "surrogatepass")
    codes = np.frombuffer(skeleton, dtype=np.uint8)
    steps = np.isin(codes, _OPEN).astype(np.int32) - np.isin(codes, _CLOSE).astype(np.int32)
    return int(np.cumsum(steps).max(initial=0))


def bounded_json_int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits <= MAX_JSON_INT_DIGITS:
        return int(text)
    return -_BEYOND_INT64 if text.startswith("-") else _BEYOND_INT64


def loads_rule_json(text: str) -> Any:
    """Parsed JSON. RuleError (path "") when nested deeper than any rule; RuleSyntaxError when the
    text is not JSON."""
    # Nesting never exceeds the number of opening brackets: counting them (C speed, ~1 us for a
    # typical rule) spares the exact pass (~30 us) for nearly every rule a client sends.
    if opening_brackets_at_most(text, MAX_JSON_NESTING):
        return _loads(text)
    depth = json_nesting_depth(text)
    if depth > MAX_JSON_NESTING:
        raise RuleError("", f"nested more than {MAX_DEPTH} levels deep (JSON brackets {depth} deep, "
                            f"a rule needs at most {MAX_JSON_NESTING})")
    return _loads(text)


def opening_brackets_at_most(text: str, limit: int) -> bool:
    return text.count("{") + text.count("[") <= limit


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_int=bounded_json_int)
    except json.JSONDecodeError as exc:
        raise RuleSyntaxError(exc.lineno, exc.colno, [f"valid JSON ({exc.msg})"]) from None
