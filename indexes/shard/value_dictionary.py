"""Dictionary of the distinct strings of one column: string <-> dense code, append-only.

Substring predicates (contains / starts_with / ends_with) are answered over the dictionary, not over
customers: the distinct values are few compared with rows, and each match yields a ready bitmap.
Matches are remembered per (op, needle) together with how many values had been scanned, so a
repeated query only scans values added since (the dictionary never removes a value).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

MAX_CACHED_NEEDLES = 256


class ValueDictionary:
    def __init__(self) -> None:
        self.values: list[str] = []
        self._codes: dict[str, int] = {}
        self._matches: OrderedDict[tuple[str, str], tuple[int, list[int]]] = OrderedDict()

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
        """int32 codes of values (None -> -1), adding new values to the dictionary."""
        codes = list(map(self._codes.get, values))
        if None in codes:
            # Only the rows without a known code pay a Python step: absent values and new ones.
            unknown = [row for row, code in enumerate(codes) if code is None]
            for value in dict.fromkeys(values[row] for row in unknown):
                if value is not None:
                    self.code_or_add(value)
            lookup = self._codes.get
            for row in unknown:
                value = values[row]
                codes[row] = -1 if value is None else lookup(value)
        return np.array(codes, dtype=np.int32)

    def codes(self, values: tuple[str, ...] | list[str]) -> list[int]:
        """Codes of the values present in the dictionary (absent values match nothing)."""
        found = (self._codes.get(v) for v in values)
        return [c for c in found if c is not None]

    def matching_codes(self, op: str, needle: str) -> list[int]:
        """Codes of values v with v.startswith / endswith / contains needle. Cost: new values only."""
        key = (op, needle)
        scanned, codes = self._matches.pop(key, (0, []))
        test = _TESTS[op]
        values = self.values
        if scanned < len(values):
            codes = codes + [i for i in range(scanned, len(values)) if test(values[i], needle)]
            scanned = len(values)
        self._matches[key] = (scanned, codes)
        while len(self._matches) > MAX_CACHED_NEEDLES:
            self._matches.popitem(last=False)
        return codes


_TESTS = {
    "starts_with": str.startswith,
    "ends_with": str.endswith,
    "contains": lambda value, needle: needle in value,
}
