"""Dictionary of the distinct strings of one column: string <-> dense code, append-only.

Substring predicates (contains / starts_with / ends_with) are answered over the dictionary, not over
customers: the distinct values are few compared with rows, and each match yields a ready bitmap.
Matches are remembered per (op, needle) together with how many values had been scanned, so a
repeated query only scans values added since (the dictionary never removes a value).
"""

from __future__ import annotations

from collections import OrderedDict
from itertools import compress, repeat

import numpy as np

from indexes.shard.packed_strings import packed_copies

MAX_CACHED_NEEDLES = 256


class ValueDictionary:
    def __init__(self) -> None:
        self.values: list[str] = []
        self._codes: dict[str, int] = {}
        self._matches: OrderedDict[tuple[str, str], tuple[int, np.ndarray]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.values)

    def code(self, value: str) -> int | None:
        return self._codes.get(value)

    def code_or_add(self, value: str) -> int:
        code = self._codes.get(value)
        if code is None:
            code = len(self.values)
            self._codes[value] = code
            self.values.append(value)
        return code

    def codes_or_add(self, values: list[str | None]) -> np.ndarray:
        """int32 codes of values (None -> -1), adding new values to the dictionary in order of
        first appearance. Every pass is C-level (map, compress, dict.fromkeys): a column of a million
        new e-mail addresses costs no Python step per value."""
        count = len(values)
        codes = np.fromiter(map(self._codes.get, values, repeat(-1, count)), dtype=np.int32, count=count)
        missing = codes < 0
        if missing.any():
            unknown = list(compress(values, missing.tolist()))
            unique = dict.fromkeys(unknown)
            unique.pop(None, None)  # absent values stay -1
            if unique:
                base = len(self.values)
                # The new values' codes, looked up in this small map rather than again in the whole
                # dictionary (a million e-mail addresses: a cache miss per lookup).
                fresh = dict(zip(unique, range(base, base + len(unique)), strict=True))
                new = packed_copies(list(unique))
                self.values.extend(new)
                self._codes.update(zip(new, range(base, base + len(new)), strict=True))
                rows = np.flatnonzero(missing)
                codes[rows] = np.fromiter(map(fresh.get, unknown, repeat(-1, len(rows))), dtype=np.int32, count=len(rows))
        return codes

    def codes(self, values: tuple[str, ...] | list[str]) -> list[int]:
        """Codes of the values present in the dictionary (absent values match nothing)."""
        found = (self._codes.get(v) for v in values)
        return [c for c in found if c is not None]

    def matching_codes(self, op: str, needle: str) -> np.ndarray:
        """Codes (int64, ascending) of values v with v.startswith / endswith / contains needle.
        Cost: new values only. The memo keeps an array, not a list: turning 20 k codes into an
        array again on every query cost 0.3 ms."""
        key = (op, needle)
        scanned, codes = self._matches.pop(key, (0, _NO_CODES))
        test = _TESTS[op]
        values = self.values
        if scanned < len(values):
            found = [i for i in range(scanned, len(values)) if test(values[i], needle)]
            if found:
                codes = np.concatenate([codes, np.array(found, dtype=np.int64)])
                codes.flags.writeable = False  # shared by every caller of this needle
            scanned = len(values)
        self._matches[key] = (scanned, codes)
        while len(self._matches) > MAX_CACHED_NEEDLES:
            self._matches.popitem(last=False)
        return codes


_NO_CODES = np.zeros(0, dtype=np.int64)
_NO_CODES.flags.writeable = False
_TESTS = {
    "starts_with": str.startswith,
    "ends_with": str.endswith,
    "contains": lambda value, needle: needle in value,
}
