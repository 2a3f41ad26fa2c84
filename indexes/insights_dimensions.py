"""Per-dimension counting for insights (indexes/insights.py): each customer's membership class and one
bincount per dimension, counting segment and base at once.

    members, membership = membership_classes(shard, members)   # living members, class per dense id
    counts = breakdown(shard, "country", members, shard.alive, ids_from_bitmap(members))
    counts.listed(top=10, only=None)                            # (value -> (segment, base), omitted)

A dimension is a property (its code array or, for sets, one bitmap per element) or an attribute of the
window's event rows (`WindowClasses`, `window_top`); its counts stay arrays (`ValueCounts`) until listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pyroaring import BitMap

from indexes.shard.bitmaps import ids_from_bitmap
from indexes.shard.event_store import ListColumn
from indexes.shard.property_index import SetColumn, StringColumn
from indexes.shard.shard import Shard

NOT_SET = "(not set)"
Pair = tuple[int, int]  # (in the segment, in the base)
# A customer's class in one report (membership_classes): not a living customer, in the base only, in the
# segment (members are part of the base).
OUTSIDE, IN_BASE_ONLY, IN_SEGMENT = 0, 1, 2
CLASSES = 3


def membership_classes(shard: Shard, members: BitMap) -> tuple[BitMap, np.ndarray]:
    """(living members, each dense id's class: OUTSIDE, IN_BASE_ONLY or IN_SEGMENT). One array of
    classes lets a single bincount of `code * 3 + class` count a dimension for segment and base at once."""
    alive = shard.alive
    members = members & alive
    membership = np.zeros(shard.ids.allocated + 1, dtype=np.uint8)
    membership[ids_from_bitmap(alive)] = IN_BASE_ONLY
    membership[ids_from_bitmap(members)] = IN_SEGMENT
    return members, membership


def class_counts(keys: np.ndarray, classes: np.ndarray, slots: int) -> tuple[np.ndarray, np.ndarray]:
    """(segment count, base count) per slot 0..slots-1 of `keys` (one per row, -1: no slot), rows
    weighted by their customer's class. One bincount: O(rows)."""
    assert len(keys) == len(classes)
    counts = np.bincount((keys.astype(np.intp) + 1) * CLASSES + classes, minlength=(slots + 1) * CLASSES)
    counts = counts.reshape(slots + 1, CLASSES)[1:]
    return counts[:, IN_SEGMENT], counts[:, IN_BASE_ONLY] + counts[:, IN_SEGMENT]



@dataclass(frozen=True)
class ValueCounts:
    """Counts of every value of one dimension on one shard, as arrays (no Python object per value)."""

    words: list[str]  # value of each code
    segment: np.ndarray  # int64 per code
    base: np.ndarray
    extra: dict[str, Pair]  # values outside the code space (NOT_SET)

    def listed(self, top: int | None, only: tuple[str, ...] | None) -> tuple[dict[str, Pair], int]:
        """(value -> counts for the values listed, largest segment count left out). top=None and
        only=None: every value the base holds; `only`: those values (counted exactly, 0 if absent)."""
        out: dict[str, Pair] = {}
        if only is not None:
            position = {word: code for code, word in enumerate(self.words)}
            for value in only:
                if value in self.extra:
                    out[value] = self.extra[value]
                elif value in position:
                    code = position[value]
                    out[value] = (int(self.segment[code]), int(self.base[code]))
                else:
                    out[value] = (0, 0)
            return out, 0
        out.update({k: v for k, v in self.extra.items() if v[1]})
        if top is None:
            chosen = np.flatnonzero(self.base)
            left = 0
        else:
            held = np.flatnonzero(self.segment)
            if len(held) > top:
                # The top-th largest segment count, ties kept: the list is exact under any tie order.
                threshold = np.partition(self.segment[held], len(held) - top)[len(held) - top]
                chosen = held[self.segment[held] >= threshold]
                rest = held[self.segment[held] < threshold]
                left = int(self.segment[rest].max()) if len(rest) else 0
            else:
                chosen, left = held, 0
        out.update({self.words[int(c)]: (int(self.segment[c]), int(self.base[c])) for c in chosen})
        return out, left


def breakdown(shard: Shard, name: str, members: BitMap, alive: BitMap, member_ids: np.ndarray) -> ValueCounts | None:
    """`member_ids`: ids_from_bitmap(members), converted once for every dimension."""
    column = shard.column(name)
    if column is None:  # nobody ever had it: everyone is without
        if not len(alive):
            return None
        return ValueCounts([], np.zeros(0, np.int64), np.zeros(0, np.int64), {NOT_SET: (len(members), len(alive))})
    if isinstance(column, SetColumn):
        seg = np.array([b.intersection_cardinality(members) for b in column.bitmaps], dtype=np.int64)
        base = np.array([b.intersection_cardinality(alive) for b in column.bitmaps], dtype=np.int64)
        without = (len(members) - column.exists.intersection_cardinality(members),
                   len(alive) - column.exists.intersection_cardinality(alive))
        return ValueCounts(column.dictionary.values, seg, base, {NOT_SET: without})
    if not isinstance(column, StringColumn):
        return None
    values = len(column.dictionary)
    inside = member_ids[member_ids < len(column.code_of)]
    codes = column.code_of[inside]
    seg = np.bincount(codes[codes >= 0], minlength=values)
    # Every customer's code is counted in `holders` as it is written; erased customers hold none.
    base = column.holders[:values].astype(np.int64)
    if len(base) < values:
        base = np.concatenate([base, np.zeros(values - len(base), np.int64)])
    not_set = (len(members) - int(seg.sum()), len(alive) - int(base.sum()))
    return ValueCounts(column.dictionary.values, seg, base, {NOT_SET: not_set})


class WindowClasses:
    """The window's rows of an event type and their customers' classes, gathered once per event type
    (viewed categories and viewed products read the same rows)."""

    def __init__(self, shard: Shard, start: int | None, end: int, membership: np.ndarray) -> None:
        self.shard, self.start, self.end, self.membership = shard, start, end, membership
        self._classes: dict[str, np.ndarray] = {}

    def rows(self, event: str, attr: str) -> tuple[Any, np.ndarray] | None:
        """(the attribute's column over the window's rows, each row's class), or None."""
        index = self.shard.event_index(event)
        if index is None or attr not in index.store.attributes:
            return None
        rows = index.store.window(self.start, self.end, (attr,))
        if event not in self._classes:
            self._classes[event] = self.membership[rows.customers]
        return rows.columns[attr], self._classes[event]


def window_top(window: WindowClasses, event: str, attr: str) -> ValueCounts | None:
    found = window.rows(event, attr)
    if found is None:
        return None
    column, classes = found
    dictionary = window.shard.event_index(event).store.dictionaries[attr]  # type: ignore[union-attr]
    if isinstance(column, ListColumn):
        classes = np.repeat(classes, np.diff(column.offsets))
        codes = column.codes
    else:
        codes = np.asarray(column)
    seg, base = class_counts(codes, classes, len(dictionary))
    return ValueCounts(dictionary.values, seg, base, {})


__all__ = [
    "CLASSES",
    "IN_BASE_ONLY",
    "IN_SEGMENT",
    "NOT_SET",
    "OUTSIDE",
    "Pair",
    "ValueCounts",
    "WindowClasses",
    "breakdown",
    "class_counts",
    "membership_classes",
    "window_top",
]
