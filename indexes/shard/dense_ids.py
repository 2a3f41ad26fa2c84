"""Customer id (opaque string) <-> dense uint32, the key of every bitmap in a shard.

Dense ids are never reused: an erased customer's id is retired, and the same external id coming
back later gets a new dense id. A retired id therefore can never leak old state into a new customer.

Batches look ids up through a numpy hash table of their XXH3-128 digests (indexes/shard/digest_table.py):
at a million customers a dict lookup per event costs ~0.6 us in cache misses, the table ~0.15 us
with the digest. The dict stays the reference for single lookups and the snapshot; the table is
derived from it, built on the first batch lookup and kept in step since.
"""

from __future__ import annotations

from itertools import compress

import numpy as np
from pyroaring import BitMap

from indexes.event_ids import digests
from indexes.shard.digest_table import DigestTable
from indexes.shard.packed_strings import packed_copies

MAX_CUSTOMERS_PER_SHARD = 1 << 20


class ShardFullError(RuntimeError):
    pass


class DenseIds:
    def __init__(self, capacity: int = MAX_CUSTOMERS_PER_SHARD) -> None:
        assert 0 < capacity <= 1 << 32
        self.capacity = capacity
        self._dense_by_external: dict[str, int] = {}
        self._external_by_dense: list[str | None] = []
        self.alive = BitMap()  # customers that exist now
        self._table: DigestTable | None = None  # digest -> dense id of the live customers; derived

    def __len__(self) -> int:
        return len(self._dense_by_external)

    @property
    def allocated(self) -> int:
        """Dense ids handed out so far, retired ones included (the size of per-id arrays)."""
        return len(self._external_by_dense)

    def lookup(self, external_id: str) -> int | None:
        return self._dense_by_external.get(external_id)

    def get_or_create(self, external_id: str) -> int:
        dense = self._dense_by_external.get(external_id)
        if dense is not None:
            return dense
        dense = len(self._external_by_dense)
        if dense >= self.capacity:
            raise ShardFullError(f"shard holds its maximum of {self.capacity} customer ids")
        self._dense_by_external[external_id] = dense
        self._external_by_dense.append(external_id)
        self.alive.add(dense)
        if self._table is not None:
            self._table.insert(digests([external_id]), np.array([dense], dtype=np.int64))
        return dense

    def count_unknown(self, external_ids: set[str]) -> int:
        return len(external_ids - self._dense_by_external.keys())

    def lookup_many(self, external_ids: list[str]) -> list[int | None]:
        """Dense ids, None where unknown (through the digest table: see the module doc)."""
        found = self.lookup_array(external_ids)
        out: list[int | None] = found.tolist()
        for row in np.flatnonzero(found < 0).tolist():
            out[row] = None
        return out

    def lookup_array(self, external_ids: list[str]) -> np.ndarray:
        """Dense ids as int64, -1 where unknown."""
        return self._digest_table().lookup(digests(external_ids))

    def _digest_table(self) -> DigestTable:
        if self._table is None:
            live = [(name, dense) for dense, name in enumerate(self._external_by_dense) if name is not None]
            table = DigestTable(len(live))
            if live:
                names, dense_ids = zip(*live, strict=True)
                table.insert(digests(list(names)), np.array(dense_ids, dtype=np.int64))
            self._table = table
        return self._table

    def assign(self, external_ids: list[str], found: np.ndarray | None = None) -> np.ndarray:
        """Dense ids of external ids as a uint32 array, creating unknown ones in order of first
        appearance, so the numbering is a function of the record order alone (not of batch
        boundaries or hash seeds). `found` is a fresh `lookup_array` of the same ids, if at hand."""
        if found is None:
            found = self.lookup_array(external_ids)
        assert len(found) == len(external_ids)
        missing = found < 0
        if missing.any():
            # New customers in one go (C-level passes): a replay meets a million of them. Only the
            # rows that missed are looked up again.
            unknown = list(compress(external_ids, missing.tolist()))
            new = packed_copies(list(dict.fromkeys(unknown)))
            base = len(self._external_by_dense)
            if base + len(new) > self.capacity:
                raise ShardFullError(f"shard holds its maximum of {self.capacity} customer ids")
            self._external_by_dense.extend(new)
            self._dense_by_external.update(zip(new, range(base, base + len(new)), strict=True))
            self.alive.add_range(base, base + len(new))
            self._digest_table().insert(digests(new), np.arange(base, base + len(new), dtype=np.int64))
            found = found.copy()
            found[missing] = self.lookup_array(unknown)
        return found.astype(np.uint32)

    def would_overflow(self, new_ids: int) -> bool:
        return self.allocated + new_ids > self.capacity

    def retire(self, external_id: str) -> int | None:
        """Forget a customer; returns the retired dense id (None if unknown)."""
        dense = self._dense_by_external.pop(external_id, None)
        if dense is not None:
            self._external_by_dense[dense] = None
            self.alive.discard(dense)
            if self._table is not None:
                self._table.retire(digests([external_id]))
        return dense

    def external(self, dense: int) -> str:
        value = self._external_by_dense[dense]
        assert value is not None, f"dense id {dense} is retired"
        return value

    def externals(self, dense_ids: BitMap | list[int]) -> list[str]:
        """Customer ids of living dense ids (a bitmap, or a list in any order: the list's order)."""
        table = self._external_by_dense
        return [table[i] for i in dense_ids]  # type: ignore[misc]
