"""Per-property indexes of one shard: bitmaps per value, bit-sliced numbers and times.

One class per storage kind:
  StringColumn   string and enum: a bitmap per distinct value (dictionary-coded)
  BoolColumn     a bitmap for true and one for false
  NumericColumn  number (fixed-point), timestamp (ms) and date (days): a bit-sliced index
  SetColumn      set of strings: a bitmap per element

Every column keeps, per customer, the `ts` of the last write (a removal is a write too), so profile
records apply last-writer-wins by `ts` whatever their arrival order (RECORDS.md). Predicates take
values already in storage units (scaled ints, ms, days); the plan compiler converts rule values.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from pyroaring import BitMap

from indexes.schema import ValueType
from indexes.shard.bitmaps import bitmap_from_mask, bitmap_size_bytes, grown_size
from indexes.shard.bsi import BitSlicedIndex
from indexes.shard.value_dictionary import ValueDictionary

NEVER_WRITTEN = np.iinfo(np.int64).min


def canonical_json(value: Any) -> str:
    """Tie-break key for equal ts (docs/SEMANTICS.md): the greater canonical JSON text wins."""
    if isinstance(value, tuple):
        value = sorted(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Column:
    """Common part: the last-write clock and the last-writer-wins decision."""

    def __init__(self, value_type: ValueType) -> None:
        self.value_type = value_type
        self.written_ts = np.full(0, NEVER_WRITTEN, dtype=np.int64)

    def _grow(self, dense: int) -> None:
        if dense < len(self.written_ts):
            return
        grown = np.full(grown_size(dense), NEVER_WRITTEN, dtype=np.int64)
        grown[: len(self.written_ts)] = self.written_ts
        self.written_ts = grown

    def write_many(self, updates: list[tuple[int, int, Any]]) -> int:
        """Apply (dense, ts_ms, value) writes, last writer wins; returns how many changed state."""
        if not updates:
            return 0
        self._grow(max(dense for dense, _, _ in updates))
        winners: dict[int, tuple[int, Any]] = {}
        written = self.written_ts
        for dense, ts_ms, value in updates:
            held = winners.get(dense)
            held_ts = int(written[dense]) if held is None else held[0]
            if ts_ms < held_ts:
                continue
            if ts_ms == held_ts:
                held_value = self.current(dense) if held is None else held[1]
                if canonical_json(value) <= canonical_json(held_value):
                    continue
            winners[dense] = (ts_ms, value)
        for dense, (ts_ms, _) in winners.items():
            written[dense] = ts_ms
        self._store_many({dense: value for dense, (_, value) in winners.items()})
        return len(winners)

    def _store_many(self, values: dict[int, Any]) -> None:
        for dense, value in values.items():
            self._store(dense, value)

    def forget(self, dense: int) -> None:
        if dense < len(self.written_ts):
            self.written_ts[dense] = NEVER_WRITTEN
        self._store(dense, None)

    # Per kind:
    exists: BitMap

    def current(self, dense: int) -> Any:
        raise NotImplementedError

    def _store(self, dense: int, value: Any) -> None:
        raise NotImplementedError

    def size_bytes(self) -> int:
        raise NotImplementedError


class StringColumn(Column):
    """A bitmap per distinct value, plus each customer's value code in a dense int32 array, which
    answers substring predicates that match many values with one vectorised gather."""

    MANY_CODES = 256  # above this many matching values, gather over customers instead of a union

    def __init__(self, value_type: ValueType) -> None:
        super().__init__(value_type)
        self.dictionary = ValueDictionary()
        self.bitmaps: list[BitMap] = []
        self.code_of = np.full(0, -1, dtype=np.int32)
        self.exists = BitMap()

    def current(self, dense: int) -> str | None:
        code = int(self.code_of[dense]) if dense < len(self.code_of) else -1
        return None if code < 0 else self.dictionary.values[code]

    def _store(self, dense: int, value: str | None) -> None:
        if dense >= len(self.code_of):
            self.code_of = np.concatenate([self.code_of, np.full(grown_size(dense) - len(self.code_of), -1, np.int32)])
        old = int(self.code_of[dense])
        if old >= 0:
            self.bitmaps[old].discard(dense)
            self.exists.discard(dense)
            self.code_of[dense] = -1
        if value is None:
            return
        code = self.dictionary.code_or_add(value)
        if code == len(self.bitmaps):
            self.bitmaps.append(BitMap())
        self.bitmaps[code].add(dense)
        self.code_of[dense] = code
        self.exists.add(dense)

    def equal_to_any(self, values: tuple[str, ...]) -> BitMap:
        return self._union(self.dictionary.codes(values))

    def matching(self, op: str, needle: str) -> BitMap:
        return self._union(self.dictionary.matching_codes(op, needle))

    def _union(self, codes: list[int]) -> BitMap:
        if len(codes) <= self.MANY_CODES:
            bitmaps = [self.bitmaps[c] for c in codes]
            return BitMap.union(*bitmaps) if bitmaps else BitMap()
        # One slot past the last code stands for "no value" (-1 indexes it).
        wanted = np.zeros(len(self.dictionary) + 1, dtype=bool)
        wanted[np.array(codes, dtype=np.int64)] = True
        return bitmap_from_mask(wanted[self.code_of])

    def size_bytes(self) -> int:
        return sum(bitmap_size_bytes(b) for b in self.bitmaps) + bitmap_size_bytes(self.exists) + self.code_of.nbytes


class BoolColumn(Column):
    def __init__(self, value_type: ValueType) -> None:
        super().__init__(value_type)
        self.true = BitMap()
        self.false = BitMap()
        self.exists = BitMap()

    def current(self, dense: int) -> bool | None:
        if dense in self.true:
            return True
        return False if dense in self.false else None

    def _store(self, dense: int, value: bool | None) -> None:
        self.true.discard(dense)
        self.false.discard(dense)
        self.exists.discard(dense)
        if value is None:
            return
        (self.true if value else self.false).add(dense)
        self.exists.add(dense)

    def size_bytes(self) -> int:
        return bitmap_size_bytes(self.true) + bitmap_size_bytes(self.false)


class NumericColumn(Column):
    """number (scaled int), timestamp (ms) or date (days since 1970-01-01)."""

    def __init__(self, value_type: ValueType) -> None:
        super().__init__(value_type)
        self.bsi = BitSlicedIndex()

    @property
    def exists(self) -> BitMap:  # type: ignore[override]
        return self.bsi.exists

    def current(self, dense: int) -> int | None:
        return self.bsi.get(dense)

    def _store(self, dense: int, value: int | None) -> None:
        self._store_many({dense: value})

    def _store_many(self, values: dict[int, Any]) -> None:
        removed = [dense for dense, value in values.items() if value is None]
        kept = [(dense, value) for dense, value in values.items() if value is not None]
        if removed:
            self.bsi.remove_many(np.array(removed, dtype=np.uint32))
        if kept:
            ids, numbers = zip(*kept, strict=True)
            self.bsi.set_many(np.array(ids, dtype=np.uint32), np.array(numbers, dtype=np.int64))

    def size_bytes(self) -> int:
        return self.bsi.size_bytes()


class SetColumn(Column):
    def __init__(self, value_type: ValueType) -> None:
        super().__init__(value_type)
        self.dictionary = ValueDictionary()
        self.bitmaps: list[BitMap] = []
        self.members: dict[int, tuple[int, ...]] = {}
        self.exists = BitMap()  # non-empty sets only: an empty set is "without" the property

    def current(self, dense: int) -> tuple[str, ...] | None:
        codes = self.members.get(dense)
        if codes is None:
            return None
        return tuple(sorted(self.dictionary.values[c] for c in codes))

    def _store(self, dense: int, value: tuple[str, ...] | None) -> None:
        for code in self.members.pop(dense, ()):
            self.bitmaps[code].discard(dense)
        self.exists.discard(dense)
        if not value:
            return
        codes = tuple(self.dictionary.code_or_add(v) for v in value)
        while len(self.bitmaps) < len(self.dictionary):
            self.bitmaps.append(BitMap())
        for code in codes:
            self.bitmaps[code].add(dense)
        self.members[dense] = codes
        self.exists.add(dense)

    def element_bitmaps(self, values: tuple[str, ...]) -> list[BitMap | None]:
        """One bitmap per value, None where no customer ever had that element."""
        out: list[BitMap | None] = []
        for value in values:
            code = self.dictionary.code(value)
            out.append(None if code is None else self.bitmaps[code])
        return out

    def size_bytes(self) -> int:
        return sum(bitmap_size_bytes(b) for b in self.bitmaps) + bitmap_size_bytes(self.exists)


def new_column(value_type: ValueType) -> Column:
    kind = value_type.kind
    if kind in ("string", "enum"):
        return StringColumn(value_type)
    if kind == "bool":
        return BoolColumn(value_type)
    if kind in ("number", "timestamp", "date"):
        return NumericColumn(value_type)
    if kind == "set":
        return SetColumn(value_type)
    raise ValueError(f"no column for property kind {kind!r}")
