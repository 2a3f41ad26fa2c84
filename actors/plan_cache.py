"""Compiled rules at the router, least recently used first out.

Validating and compiling a rule costs ~0.1-0.2 ms for the text form (the lark parser) and ~0.03 ms for
the JSON form; clients repeat the same rules, so the result is kept, keyed by the rule as sent and the
version of the cluster's schema it was compiled against. A declaration gives the schema a new version,
and entries of older versions are never looked up again (they age out). A compiled rule holds no data,
only the rule's tree and plan: a hit gives exactly what compiling again would.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

PLAN_CACHE_ENTRIES = 512
# Rules longer than this are compiled every time: keys stay small (a rule may be up to 1 MiB).
PLAN_CACHE_MAX_RULE_CHARS = 4096

T = TypeVar("T")
RuleKey = tuple[str, str, int]  # form ("text" | "json"), the rule as sent, schema version


def rule_key(rule: str | dict[str, Any], schema_version: int) -> RuleKey | None:
    """The cache key of a rule, or None when it is not cached (too long)."""
    if isinstance(rule, str):
        form, text = "text", rule
    else:
        try:  # JSON types only: a Decimal and the string of its digits must not share a key
            text = json.dumps(rule, separators=(",", ":"), ensure_ascii=False)  # key order kept: as sent
        except (TypeError, ValueError):
            return None
        form = "json"
    return (form, text, schema_version) if len(text) <= PLAN_CACHE_MAX_RULE_CHARS else None


class PlanCache(Generic[T]):
    """Not thread-safe: used from the cluster's asyncio loop only."""

    def __init__(self, max_entries: int = PLAN_CACHE_ENTRIES) -> None:
        assert max_entries > 0
        self._max = max_entries
        self._entries: OrderedDict[RuleKey, T] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get_or_compile(self, rule: str | dict[str, Any], schema_version: int, compile_rule: Callable[[], T]) -> T:
        """The compiled rule; `compile_rule` runs on a miss (and its errors are not cached)."""
        key = rule_key(rule, schema_version)
        if key is None:
            self.misses += 1
            return compile_rule()
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            return found
        self.misses += 1
        compiled = compile_rule()
        self._entries[key] = compiled
        if len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return compiled
