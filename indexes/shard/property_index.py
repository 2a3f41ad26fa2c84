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
from itertools import chain, compress, repeat
from operator import is_not, itemgetter
from typing import Any

import numpy as np
from pyroaring import BitMap

from indexes.schema import ValueType
from indexes.shard.bitmaps import (
    bitmap_from_ids,
    bitmap_from_mask,
    bitmap_size_bytes,
    grouped_bitmaps,
    grown_size,
)
from indexes.shard.bsi import BitSlicedIndex
from indexes.shard.sole_holders import SoleHolders
from indexes.shard.value_dictionary import ValueDictionary

NEVER_WRITTEN = np.iinfo(np.int64).min


def canonical_json(value: Any) -> str:
    """Tie-break key for equal ts (docs/SEMANTICS.md): the greater canonical JSON text wins."""
    if isinstance(value, tuple | list):  # a set value: a tuple when validated, a list when read from the log
        value = sorted(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class WritePlan:
    """The part of a batch of writes that depends only on (customer, ts): each customer's latest
    write and where writes tie on ts. Profiles name a dozen properties each, with the same customers
    and times: one plan (one sort) serves every property's column."""

    def __init__(self, dense: np.ndarray, ts: np.ndarray) -> None:
        assert len(dense) == len(ts)
        self.dense = np.asarray(dense, dtype=np.int64)
        self.ts = np.asarray(ts, dtype=np.int64)
        rows = len(self.dense)
        self.order = order = np.lexsort((self.ts, self.dense))
        by_dense = self.dense[order]
        self.by_ts = by_ts = self.ts[order]
        self.same_as_next = same_as_next = np.zeros(rows, dtype=bool)
        same_as_next[:-1] = by_dense[1:] == by_dense[:-1]
        self.latest = latest = np.flatnonzero(~same_as_next)  # positions of each customer's latest write
        self.ids = by_dense[latest]
        self.latest_ts = latest_ts = by_ts[latest]
        self.tie_below = np.zeros(len(latest), dtype=bool)  # the latest write ties with an earlier one
        has_below = latest > 0
        below = latest[has_below] - 1
        self.tie_below[has_below] = same_as_next[below] & (by_ts[below] == latest_ts[has_below])

    def __len__(self) -> int:
        return len(self.dense)


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

    def write_many(self, dense: np.ndarray, ts: np.ndarray, values: list[Any]) -> int:
        """Apply writes (row i: customer dense[i] gets values[i] at ts[i]; None removes), last
        writer wins per customer; returns how many customers changed state.

        Vectorised: one sort finds each customer's latest write; only writes whose ts ties with
        another write (in the batch or the stored one) take the canonical-JSON tie-break in Python.
        """
        assert len(values) == len(dense)
        return self.write_planned(WritePlan(dense, ts), values) if len(values) else 0

    def write_planned(self, plan: WritePlan, values: list[Any]) -> int:
        """`write_many` with the sort done: `plan` covers exactly these writes (values in its rows' order)."""
        assert len(values) == len(plan)
        if len(values) == 0:
            return 0
        self._grow(int(plan.ids[-1]))  # ids ascend
        order, latest, same_as_next, by_ts = plan.order, plan.latest, plan.same_as_next, plan.by_ts
        ids, latest_ts = plan.ids, plan.latest_ts
        chosen = order[latest]
        held_ts = self.written_ts[ids]
        keep = latest_ts > held_ts
        for i in np.flatnonzero(plan.tie_below | (latest_ts == held_ts)).tolist():
            position = int(latest[i])
            candidates = [int(order[position])]
            while position > 0 and same_as_next[position - 1] and by_ts[position - 1] == by_ts[position]:
                position -= 1
                candidates.append(int(order[position]))
            best = max(candidates, key=lambda row: canonical_json(values[row]))
            chosen[i] = best
            if latest_ts[i] == held_ts[i]:
                keep[i] = canonical_json(values[best]) > canonical_json(self.current(int(ids[i])))
            # else: keep[i] already says whether the batch's latest write is newer than the stored one
        ids, chosen = ids[keep], chosen[keep]
        self.written_ts[ids] = latest_ts[keep]
        self._store_rows(ids.astype(np.uint32), _gather(values, chosen))
        return len(ids)

    def forget(self, dense: int) -> None:
        self._grow(dense)
        self.written_ts[dense] = NEVER_WRITTEN
        self._store_rows(np.array([dense], dtype=np.uint32), [None])

    # Per kind:
    exists: BitMap

    def current(self, dense: int) -> Any:
        raise NotImplementedError

    def _store_rows(self, ids: np.ndarray, values: list[Any]) -> None:
        """Set each (unique) id's value; None removes it."""
        raise NotImplementedError

    def size_bytes(self) -> int:
        raise NotImplementedError


class StringColumn(Column):
    """string and enum: each customer's value code in a dense int32 array, and a bitmap per value
    once the value is held by BITMAP_MIN_HOLDERS customers.

    Rare values (an e-mail address, a phone number: one customer each) would cost a bitmap object
    of ~200 bytes for a single id. A value held by exactly one customer is found through
    SoleHolders (derived, built on first use); one held by a few is found by a vectorised scan of
    the code array, as are predicates that match very many values that have bitmaps.
    """

    BITMAP_MIN_HOLDERS = 16
    MANY_CODES = 256  # above this many matching values with bitmaps, gather over customers instead of a union
    FEW_SCANS = 4  # at most this many values held by 2+ customers without a bitmap: one scan each

    # Derived state lives in a slot, outside the instance dict: the snapshot codec saves (and checks)
    # exactly the instance dict, and this is rebuilt from `code_of` on first use after a load.
    __slots__ = ("_sole_holders",)

    def __init__(self, value_type: ValueType) -> None:
        super().__init__(value_type)
        self._sole_holders: SoleHolders | None = None
        self.dictionary = ValueDictionary()
        self.bitmaps: dict[int, BitMap] = {}  # code -> holders, for codes that earned a bitmap
        self.holders = np.zeros(0, dtype=np.int32)  # per code: how many customers hold it
        self.has_bitmap = np.zeros(1, dtype=bool)  # per code (+1 slot for -1): in self.bitmaps?
        self.code_of = np.full(0, -1, dtype=np.int32)
        self.exists = BitMap()

    def current(self, dense: int) -> str | None:
        code = int(self.code_of[dense]) if dense < len(self.code_of) else -1
        return None if code < 0 else self.dictionary.values[code]

    def _store_rows(self, ids: np.ndarray, values: list[str | None]) -> None:
        new = self.dictionary.codes_or_add(values)
        if len(self.code_of) < len(self.written_ts):
            grown = np.full(len(self.written_ts), -1, dtype=np.int32)
            grown[: len(self.code_of)] = self.code_of
            self.code_of = grown
        if len(self.holders) < len(self.dictionary):
            more = len(self.dictionary) - len(self.holders)
            self.holders = np.concatenate([self.holders, np.zeros(more, np.int32)])
            # One slot past the last code stands for "no value" (-1 indexes it) and never earns one.
            self.has_bitmap = np.concatenate([self.has_bitmap[:-1], np.zeros(more + 1, bool)])
        old = self.code_of[ids]
        changed = old != new
        ids, old, new = ids[changed], old[changed], new[changed]
        self.code_of[ids] = new
        leaving, arriving = old >= 0, new >= 0
        np.subtract.at(self.holders, old[leaving], 1)
        np.add.at(self.holders, new[arriving], 1)
        if self._sole_holders is not None:
            self._sole_holders.grow(len(self.dictionary))
            self._sole_holders.toggle(old[leaving], ids[leaving])
            self._sole_holders.toggle(new[arriving], ids[arriving])
        has_bitmap = self.has_bitmap
        held = leaving & has_bitmap[old]
        for code, group in grouped_bitmaps(old[held], ids[held]):
            self.bitmaps[code].difference_update(group)
        held = arriving & has_bitmap[new]
        for code, group in grouped_bitmaps(new[held], ids[held]):
            self.bitmaps[code].update(group)
        self._promote(np.unique(new[arriving & ~has_bitmap[new]]))
        self.exists.difference_update(bitmap_from_ids(ids[~arriving]))
        self.exists.update(bitmap_from_ids(ids[arriving]))

    def _promote(self, touched: np.ndarray) -> None:
        """Give a bitmap to each touched code that now has enough holders (one scan for all)."""
        due = touched[self.holders[touched] >= self.BITMAP_MIN_HOLDERS]
        if len(due) == 0:
            return
        self.has_bitmap[due] = True
        wanted = np.zeros(len(self.dictionary) + 1, dtype=bool)  # the last slot stands for -1
        wanted[due] = True
        holders = np.flatnonzero(wanted[self.code_of]).astype(np.uint32)
        for code, group in grouped_bitmaps(self.code_of[holders], holders):
            self.bitmaps[code] = group

    def equal_to_any(self, values: tuple[str, ...]) -> BitMap:
        return self._union(self.dictionary.codes(values))

    def matching(self, op: str, needle: str) -> BitMap:
        return self._union(self.dictionary.matching_codes(op, needle))

    def _union(self, codes: list[int] | np.ndarray) -> BitMap:
        """Customers holding any of `codes`: bitmaps where values have one, the sole holder where
        exactly one customer holds a value, a scan of the code array for the rest."""
        if isinstance(codes, list) and len(codes) <= self.FEW_SCANS:
            # eq / in over a few common values: plain dict lookups (numpy's fixed costs would
            # double this case's ~10 us)
            bitmaps = [self.bitmaps.get(c) for c in codes]
            if all(b is not None for b in bitmaps):
                return BitMap.union(*bitmaps) if bitmaps else BitMap()  # type: ignore[arg-type]
        codes = np.asarray(codes, dtype=np.int64)
        codes = codes[codes < len(self.holders)]  # a code nobody ever held has no count yet
        with_bitmap = self.has_bitmap[codes]
        if int(np.count_nonzero(with_bitmap)) > self.MANY_CODES:
            return self._gather(codes)
        parts = [self.bitmaps[c] for c in codes[with_bitmap].tolist()]
        rest = codes[~with_bitmap]
        holders = self.holders[rest]
        shared = rest[holders >= 2]
        if len(shared) > self.FEW_SCANS:
            parts.append(self._gather(shared))
        else:
            parts += [bitmap_from_mask(self.code_of == c) for c in shared.tolist()]
        sole = rest[holders == 1]
        if len(sole):
            parts.append(self._sole_holders_of(sole))
        return BitMap.union(*parts) if parts else BitMap()

    def _sole_holders_of(self, codes: np.ndarray) -> BitMap:
        if self._sole_holders is None:
            self._sole_holders = SoleHolders(self.code_of, len(self.dictionary))
        ids = self._sole_holders.holders_of(codes)  # distinct: a customer holds one value
        if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            # Codes and holders mostly rise together (both numbered by arrival); roaring builds
            # from sorted ids several times faster than from scattered ones.
            ids = np.sort(ids)
        return bitmap_from_ids(ids)

    def union_by_scan(self, codes: list[int] | np.ndarray) -> BitMap:
        """Reference for _union: one pass over the code array."""
        return self._gather(np.asarray(codes, dtype=np.int64))

    def _gather(self, codes: np.ndarray) -> BitMap:
        """Customers holding any of many codes: one pass over the code array."""
        wanted = np.zeros(len(self.dictionary) + 1, dtype=bool)  # the last slot stands for -1
        wanted[codes] = True
        return bitmap_from_mask(wanted[self.code_of])

    def size_bytes(self) -> int:
        bitmaps = sum(bitmap_size_bytes(b) for b in self.bitmaps.values()) + bitmap_size_bytes(self.exists)
        return bitmaps + self.code_of.nbytes + self.holders.nbytes


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

    def _store_rows(self, ids: np.ndarray, values: list[bool | None]) -> None:
        written = bitmap_from_ids(ids)
        for bitmap in (self.true, self.false, self.exists):
            bitmap.difference_update(written)
        if None in values:
            flags = np.array([-1 if v is None else int(v) for v in values], dtype=np.int8)
        else:
            flags = np.array(values, dtype=np.int8)  # C-level: True -> 1, False -> 0
        self.true.update(bitmap_from_ids(ids[flags == 1]))
        self.false.update(bitmap_from_ids(ids[flags == 0]))
        self.exists.update(bitmap_from_ids(ids[flags >= 0]))

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

    def _store_rows(self, ids: np.ndarray, values: list[int | None]) -> None:
        if None not in values:  # C-level scans, no Python step per value
            self.bsi.set_many(ids, np.array(values, dtype=np.int64))
            return
        present = np.fromiter(map(is_not, values, repeat(None)), dtype=bool, count=len(values))
        numbers = np.fromiter(compress(values, present.tolist()), dtype=np.int64, count=int(present.sum()))
        self.bsi.remove_many(ids[~present])
        self.bsi.set_many(ids[present], numbers)

    def size_bytes(self) -> int:
        return self.bsi.size_bytes()


class SetColumn(Column):
    """set of strings: a bitmap per element. A customer's elements are not kept elsewhere: a write
    first removes the written customers from every element bitmap (one bitmap operation per
    element per batch, and element dictionaries are small: tags, groups)."""

    def __init__(self, value_type: ValueType) -> None:
        super().__init__(value_type)
        self.dictionary = ValueDictionary()
        self.bitmaps: list[BitMap] = []
        self.exists = BitMap()  # non-empty sets only: an empty set is "without" the property

    def current(self, dense: int) -> tuple[str, ...] | None:
        if dense not in self.exists:
            return None
        return tuple(sorted(self.dictionary.values[c] for c, b in enumerate(self.bitmaps) if dense in b))

    def _store_rows(self, ids: np.ndarray, values: list[tuple[str, ...] | None]) -> None:
        written = bitmap_from_ids(ids)
        for bitmap in self.bitmaps:
            bitmap.difference_update(written)
        self.exists.difference_update(written)
        sets = [() if v is None else v for v in values] if None in values else values
        lengths = np.fromiter(map(len, sets), dtype=np.int64, count=len(sets))
        codes = self.dictionary.codes_or_add(list(chain.from_iterable(sets)))
        while len(self.bitmaps) < len(self.dictionary):
            self.bitmaps.append(BitMap())
        for code, group in grouped_bitmaps(codes, np.repeat(ids, lengths)):
            self.bitmaps[code].update(group)
        self.exists.update(bitmap_from_ids(ids[lengths > 0]))

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


def _gather(values: list[Any], rows: np.ndarray) -> list[Any]:
    """values[rows] with one C-level itemgetter call."""
    if len(rows) == 0:
        return []
    if len(rows) == 1:
        return [values[int(rows[0])]]
    return list(itemgetter(*rows.tolist())(values))
