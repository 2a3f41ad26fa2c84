"""Row selections of an event store: customer ids, times and attribute columns (a list attribute in CSR
form). Shared by the sorted main part (indexes/shard/event_store.py) and the tail (tail_rows.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ListColumn:
    offsets: np.ndarray  # int64, len rows + 1
    codes: np.ndarray  # int32

    @staticmethod
    def empty() -> ListColumn:
        return ListColumn(np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32))

    def take(self, rows: np.ndarray) -> ListColumn:
        lengths = (self.offsets[1:] - self.offsets[:-1])[rows]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        gather = np.repeat(self.offsets[:-1][rows] - offsets[:-1], lengths) + np.arange(offsets[-1])
        return ListColumn(offsets, self.codes[gather])

    def slice(self, lo: int, hi: int) -> ListColumn:
        start, stop = int(self.offsets[lo]), int(self.offsets[hi])
        return ListColumn(self.offsets[lo : hi + 1] - start, self.codes[start:stop])

    @staticmethod
    def concat(parts: list[ListColumn]) -> ListColumn:
        offsets = [np.zeros(1, dtype=np.int64)]
        base = 0
        for part in parts:
            offsets.append(part.offsets[1:] + base)
            base += int(part.offsets[-1])
        return ListColumn(np.concatenate(offsets), np.concatenate([p.codes for p in parts] or [np.zeros(0, np.int32)]))

    def __len__(self) -> int:
        return len(self.offsets) - 1


Column = np.ndarray | ListColumn


@dataclass
class Rows:
    """A selection of rows: customer ids, times and the requested attribute columns."""

    customers: np.ndarray  # uint32
    ts: np.ndarray  # int64
    columns: dict[str, Column]

    def __len__(self) -> int:
        return len(self.customers)

    def filtered(self, mask: np.ndarray) -> Rows:
        columns: dict[str, Column] = {}
        for name, column in self.columns.items():
            columns[name] = column.take(np.flatnonzero(mask)) if isinstance(column, ListColumn) else column[mask]
        return Rows(self.customers[mask], self.ts[mask], columns)
