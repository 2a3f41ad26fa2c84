"""What the fuzz targets build their inputs from: bytes cut to a bound, read as text or as a stream of
choices, and JSON-shaped values (a seed tree with edits) so that mutated inputs stay well-shaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from indexes.schema import Schema

MAX_INPUT_BYTES = 64 * 1024  # inputs are cut to this: the readers' own limits are tested elsewhere
EDGE_SCALARS: tuple[Any, ...] = (None, True, False, 0, 1, -1, 3660, 3661, 2**63 - 1, 2**63, 10**30, 1.5, 1e308,
                                 float("inf"), float("nan"), "", "TR", "vip", "country", "eq", "in", "gte", "between",
                                 "order_created", "amount", "2026-01-01", "2026-13-01", "\ud800", "x" * 1025, "ç" * 512)


@lru_cache(maxsize=1)
def schema() -> Schema:
    return Schema()


def input_text(data: bytes) -> str:
    return data[:MAX_INPUT_BYTES].decode("utf-8", "replace")


class Choices:
    """Bytes read as a stream of choices (0 once exhausted), so a mutated input stays well-shaped:
    the structure-aware targets build rules and records from it."""

    def __init__(self, data: bytes) -> None:
        self._data = data[:MAX_INPUT_BYTES]
        self._at = 0

    def byte(self) -> int:
        if self._at >= len(self._data):
            return 0
        self._at += 1
        return self._data[self._at - 1]

    def pick(self, options: Sequence[Any]) -> Any:
        return options[self.byte() % len(options)]

    def left(self) -> bool:
        return self._at < len(self._data)


def json_value(choices: Choices, keys: Sequence[str], depth: int) -> Any:
    kind = choices.byte() % 8
    if depth <= 0 or kind < 4:
        return choices.pick(EDGE_SCALARS)
    count = choices.byte() % 5
    if kind < 6:
        return {choices.pick(keys): json_value(choices, keys, depth - 1) for _ in range(count)}
    return [json_value(choices, keys, depth - 1) for _ in range(count)]


def edit_tree(value: Any, choices: Choices, keys: Sequence[str], depth: int = 0) -> Any:
    """`value` with one branch replaced, added or deleted along a path the choices pick (never the root
    itself: a rule or record replaced whole by a scalar tests nothing)."""
    if not isinstance(value, (dict, list)) or not value or depth > 40 or (depth and choices.byte() % 4 == 0):
        return json_value(choices, keys, depth=3)
    if isinstance(value, dict):
        edited = dict(value)
        action = choices.byte() % 6
        key = choices.pick(sorted(edited, key=str)) if action else choices.pick(keys)
        if action == 1:
            del edited[key]
        else:
            edited[key] = edit_tree(edited.get(key), choices, keys, depth + 1)
        return edited
    items = list(value)
    index = choices.byte() % (len(items) + 1)
    if index == len(items):
        items.append(json_value(choices, keys, depth=3))
    else:
        items[index] = edit_tree(items[index], choices, keys, depth + 1)
    return items
