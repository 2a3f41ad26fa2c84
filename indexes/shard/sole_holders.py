"""Who holds a value that exactly one customer holds, without a bitmap per value.

A string column keeps a bitmap only for values of BITMAP_MIN_HOLDERS customers or more; an e-mail
address is held by one. A predicate matching many such values (`email ends_with "edu.com.tr"`)
needs their holders, and a pass over every customer's code to find them costs ~1 ms per 500 k
customers. Instead each code keeps the XOR of its holders' dense ids: adding or removing a holder
is one XOR either way, and for a code whose holder count (the column's `holders`) is 1 the XOR *is*
that holder. Exact under any sequence of writes, since XOR is its own inverse.

Derived state: built from the column's code array on first use, then maintained by the column on
every write (never saved; a loaded column builds it again).
"""

from __future__ import annotations

import numpy as np


class SoleHolders:
    def __init__(self, code_of: np.ndarray, dictionary_size: int) -> None:
        """From each customer's code (-1: none), for codes 0..dictionary_size-1."""
        self.xor = np.zeros(dictionary_size, dtype=np.uint32)
        holding = np.flatnonzero(code_of >= 0)
        np.bitwise_xor.at(self.xor, code_of[holding], holding.astype(np.uint32))

    def grow(self, dictionary_size: int) -> None:
        if len(self.xor) < dictionary_size:
            self.xor = np.concatenate([self.xor, np.zeros(dictionary_size - len(self.xor), dtype=np.uint32)])

    def toggle(self, codes: np.ndarray, ids: np.ndarray) -> None:
        """Customer ids[i] starts or stops holding codes[i] (codes >= 0)."""
        assert len(codes) == len(ids)
        if len(codes):
            assert int(codes.max()) < len(self.xor), "grow before toggling new codes"
            np.bitwise_xor.at(self.xor, codes, ids.astype(np.uint32))

    def holders_of(self, codes: np.ndarray) -> np.ndarray:
        """The holder of each code, for codes held by exactly one customer (else meaningless)."""
        return self.xor[codes]
