"""A one-hash Bloom filter over uniformly random 64-bit keys (digest halves), in numpy.

A key's bit is given by its top bits, so a sorted array of keys sets its bits in one sequential pass
and a batch is tested with one gather. With m bits for n keys it answers "maybe" for a key it does
not hold with probability ~n/m; it never answers "no" for a key it holds.
"""

from __future__ import annotations

import numpy as np

_WORD_BITS = 64
_MIN_BITS = 1 << 12


class KeyFilter:
    def __init__(self, bits: int) -> None:
        size = max(_MIN_BITS, 1 << (bits - 1).bit_length())  # a power of two
        self.words = np.zeros(size // _WORD_BITS, dtype=np.uint64)
        self._shift = np.uint64(_WORD_BITS - (size.bit_length() - 1))

    @property
    def bits(self) -> int:
        return len(self.words) * _WORD_BITS

    def add_sorted(self, keys: np.ndarray) -> None:
        """Set the bits of ascending keys: their bit indexes ascend too, so words are OR-ed in runs."""
        if len(keys) == 0:
            return
        index = keys >> self._shift
        word = (index >> np.uint64(6)).astype(np.int64)
        starts = np.flatnonzero(np.concatenate([[True], word[1:] != word[:-1]]))
        self.words[word[starts]] |= np.bitwise_or.reduceat(np.uint64(1) << (index & np.uint64(63)), starts)

    def test(self, keys: np.ndarray) -> np.ndarray:
        """False where a key was surely never added; True: maybe."""
        index = keys >> self._shift
        bit = (self.words[(index >> np.uint64(6)).astype(np.int64)] >> (index & np.uint64(63))) & np.uint64(1)
        return bit.astype(bool)

    def size_bytes(self) -> int:
        return int(self.words.nbytes)
