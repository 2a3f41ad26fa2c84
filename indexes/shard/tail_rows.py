"""The unsorted tail of an event store: rows in arrival order, in buffers that grow by doubling.

Every committed batch appends a few hundred rows to the tail while queries (and a saved segment's
upkeep after every batch) read all of it. Kept as a list of batches, the tail had to be concatenated
again after each append, O(tail rows x columns) per batch and event type: up to an eighth of the
type's rows (indexes/shard/event_store.py). Here an append copies only its own rows (amortised O(1)
per row) and a read is a zero-copy view of the filled part. A view handed out earlier stays valid: an
append writes past its end, and a regrowth copies to a new buffer, leaving the old one to its views.
"""

from __future__ import annotations

import numpy as np

from indexes.shard.event_rows import Column, ListColumn, Rows

MIN_CAPACITY_ROWS = 1024


class _Growable:
    """A 1-d array filled from the front; capacity doubles when an append does not fit."""

    def __init__(self, dtype: np.dtype | type) -> None:
        self._data = np.zeros(MIN_CAPACITY_ROWS, dtype=dtype)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        needed = self.size + len(values)
        if needed > len(self._data):
            grown = np.zeros(max(needed, 2 * len(self._data)), dtype=self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : needed] = values
        self.size = needed

    def view(self) -> np.ndarray:
        return self._data[: self.size]

    @property
    def nbytes(self) -> int:
        return int(self._data.nbytes)


class _GrowableList:
    """A ListColumn filled from the front: offsets (rows + 1) and codes."""

    def __init__(self) -> None:
        self._offsets = _Growable(np.int64)
        self._offsets.extend(np.zeros(1, dtype=np.int64))
        self._codes = _Growable(np.int32)

    def extend(self, part: ListColumn) -> None:
        self._offsets.extend(part.offsets[1:] + self._codes.size)
        self._codes.extend(part.codes)

    def view(self) -> ListColumn:
        return ListColumn(self._offsets.view(), self._codes.view())

    @property
    def nbytes(self) -> int:
        return self._offsets.nbytes + self._codes.nbytes


class TailRows:
    """Rows appended since the last merge into the sorted part, in arrival order."""

    def __init__(self, list_attributes: set[str], column_dtypes: dict[str, np.dtype]) -> None:
        self._customers = _Growable(np.uint32)
        self._ts = _Growable(np.int64)
        self._columns: dict[str, _Growable | _GrowableList] = {
            name: _GrowableList() if name in list_attributes else _Growable(dtype) for name, dtype in column_dtypes.items()
        }
        assert list_attributes <= set(self._columns)
        self.max_ts: int | None = None  # kept on append: asked once per time term and batch

    def __len__(self) -> int:
        return self._customers.size

    def append(self, customers: np.ndarray, ts: np.ndarray, columns: dict[str, Column]) -> None:
        assert set(columns) == set(self._columns) and len(customers) == len(ts)
        if len(ts) == 0:
            return
        self._customers.extend(customers)
        self._ts.extend(ts)
        for name, column in columns.items():
            self._columns[name].extend(column)  # type: ignore[arg-type]
        latest = int(ts.max())
        self.max_ts = latest if self.max_ts is None else max(self.max_ts, latest)

    def rows(self) -> Rows:
        """Every row so far, as views (no copy)."""
        return Rows(self._customers.view(), self._ts.view(), {n: c.view() for n, c in self._columns.items()})

    @property
    def nbytes(self) -> int:
        return self._customers.nbytes + self._ts.nbytes + sum(c.nbytes for c in self._columns.values())
