"""Columnar rows of one event type, kept sorted by `ts` so a time window is a slice.

Rows live in two parts:
  main  numpy columns sorted by ts: a window is two binary searches and zero-copy views
  tail  recently appended rows in arrival order (late events land here too), scanned with a mask
The tail is merged into main once it outgrows max(MIN_TAIL_ROWS, len(main) / TAIL_FRACTION), so
the cost of keeping main sorted is amortised O(log n) per row and a scan of the tail stays small.

Columns by attribute kind (missing values are explicit, never a real value):
  string     int32 dictionary codes, MISSING_CODE when absent
  number     int64 fixed-point, MISSING_NUMBER when absent (values are within +-(2**63 - 1))
  timestamp  int64 ms, MISSING_NUMBER when absent
  bool       int8 0/1, MISSING_BOOL when absent
  list       CSR: int64 offsets (rows + 1) into int32 codes; an empty list counts as absent
"""

from __future__ import annotations

import numpy as np

from indexes.schema import ValueType
from indexes.shard.event_rows import Column, ListColumn, Rows
from indexes.shard.tail_rows import TailRows
from indexes.shard.value_dictionary import ValueDictionary

MISSING_CODE = -1
MISSING_NUMBER = np.iinfo(np.int64).min
MISSING_BOOL = -1
MIN_TAIL_ROWS = 65_536
TAIL_FRACTION = 8

_DTYPES = {"string": np.int32, "number": np.int64, "timestamp": np.int64, "bool": np.int8}
_MISSING = {"string": MISSING_CODE, "number": MISSING_NUMBER, "timestamp": MISSING_NUMBER, "bool": MISSING_BOOL}


class EventStore:
    def __init__(self, attributes: dict[str, ValueType]) -> None:
        self.attributes = dict(attributes)
        self.dictionaries: dict[str, ValueDictionary] = {
            name: ValueDictionary() for name, t in attributes.items() if t.kind in ("string", "list")
        }
        self.customers = np.zeros(0, dtype=np.uint32)
        self.ts = np.zeros(0, dtype=np.int64)
        self.columns: dict[str, Column] = {name: self._empty_column(t) for name, t in attributes.items()}
        self._tail = self._empty_tail()

    def _empty_tail(self) -> TailRows:
        lists = {name for name, t in self.attributes.items() if t.kind == "list"}
        return TailRows(lists, {name: np.dtype(_DTYPES.get(t.kind, np.int32)) for name, t in self.attributes.items()})

    @staticmethod
    def _empty_column(value_type: ValueType) -> Column:
        if value_type.kind == "list":
            return ListColumn.empty()
        return np.zeros(0, dtype=_DTYPES[value_type.kind])

    def add_attribute(self, name: str, value_type: ValueType) -> None:
        """A declaration added an attribute: existing rows get it as missing."""
        assert name not in self.attributes
        self.flush()
        self.attributes[name] = value_type
        self._tail = self._empty_tail()  # empty after the flush: rebuilt with the new column
        if value_type.kind in ("string", "list"):
            self.dictionaries[name] = ValueDictionary()
        if value_type.kind == "list":
            self.columns[name] = ListColumn(np.zeros(len(self.ts) + 1, dtype=np.int64), np.zeros(0, np.int32))
        else:
            self.columns[name] = np.full(len(self.ts), _MISSING[value_type.kind], dtype=_DTYPES[value_type.kind])

    def __len__(self) -> int:
        return len(self.ts) + len(self._tail)

    # --- appends ----------------------------------------------------------------------------
    def encode(self, attrs: dict[str, list], count: int) -> dict[str, Column]:
        """Turn attribute values (validated, one list of `count` per attribute, None where absent; an
        attribute not in `attrs` is absent on every row) into columns of this store."""
        out: dict[str, Column] = {}
        for name, value_type in self.attributes.items():
            kind = value_type.kind
            values = attrs.get(name)
            if values is None:
                values = [None] * count
            if kind == "list":
                dictionary = self.dictionaries[name]
                lengths = np.fromiter((len(v) if v else 0 for v in values), dtype=np.int64, count=count)
                offsets = np.zeros(count + 1, dtype=np.int64)
                np.cumsum(lengths, out=offsets[1:])
                flat = [item for v in values if v for item in v]
                out[name] = ListColumn(offsets, dictionary.codes_or_add(flat))
            elif kind == "string":
                out[name] = self.dictionaries[name].codes_or_add(values)
            else:
                if None in values:
                    missing = _MISSING[kind]
                    values = [missing if v is None else v for v in values]
                out[name] = np.array(values, dtype=_DTYPES[kind])
        return out

    def append(self, customers: np.ndarray, ts: np.ndarray, columns: dict[str, Column]) -> None:
        if len(ts) == 0:
            return
        assert set(columns) == set(self.attributes)
        self._tail.append(customers.astype(np.uint32, copy=False), ts.astype(np.int64, copy=False), columns)
        if len(self._tail) >= max(MIN_TAIL_ROWS, len(self.ts) // TAIL_FRACTION):
            self.flush()

    def flush(self) -> None:
        """Merge the tail into the sorted main part."""
        if not len(self._tail):
            return
        tail = self._tail.rows()
        parts = [(self.customers, self.ts, self.columns), (tail.customers, tail.ts, tail.columns)]
        customers = np.concatenate([p[0] for p in parts])
        ts = np.concatenate([p[1] for p in parts])
        # Stable: rows with equal ts keep arrival order, so the layout is a function of the log.
        order = np.argsort(ts, kind="stable")
        already_sorted = bool(np.all(order[1:] > order[:-1])) if len(order) > 1 else True
        columns: dict[str, Column] = {}
        for name in self.attributes:
            pieces = [p[2][name] for p in parts]
            if isinstance(pieces[0], ListColumn):
                merged = ListColumn.concat(pieces)  # type: ignore[arg-type]
                columns[name] = merged if already_sorted else merged.take(order)
            else:
                merged_array = np.concatenate(pieces)  # type: ignore[arg-type]
                columns[name] = merged_array if already_sorted else merged_array[order]
        self.customers = customers if already_sorted else customers[order]
        self.ts = ts if already_sorted else ts[order]
        self.columns = columns
        self._tail = self._empty_tail()

    # --- reads ------------------------------------------------------------------------------
    @property
    def max_ts(self) -> int | None:
        candidates = [int(self.ts[-1])] if len(self.ts) else []
        if self._tail.max_ts is not None:
            candidates.append(self._tail.max_ts)
        return max(candidates) if candidates else None

    def window(self, start_ms: int | None, end_ms: int | None, attributes: tuple[str, ...] = ()) -> Rows:
        """Rows with start <= ts <= end (None = unbounded), with the named attribute columns."""
        lo = 0 if start_ms is None else int(np.searchsorted(self.ts, start_ms, side="left"))
        hi = len(self.ts) if end_ms is None else int(np.searchsorted(self.ts, end_ms, side="right"))
        main_columns: dict[str, Column] = {}
        for name in attributes:
            column = self.columns[name]
            main_columns[name] = column.slice(lo, hi) if isinstance(column, ListColumn) else column[lo:hi]
        main = Rows(self.customers[lo:hi], self.ts[lo:hi], main_columns)
        if not len(self._tail):
            return main
        tail = self._tail.rows()
        mask = np.ones(len(tail), dtype=bool)
        if start_ms is not None:
            mask &= tail.ts >= start_ms
        if end_ms is not None:
            mask &= tail.ts <= end_ms
        if not mask.any():
            return main
        picked = Rows(tail.customers, tail.ts, {n: tail.columns[n] for n in attributes}).filtered(mask)
        columns: dict[str, Column] = {}
        for name in attributes:
            a, b = main.columns[name], picked.columns[name]
            columns[name] = ListColumn.concat([a, b]) if isinstance(a, ListColumn) else np.concatenate([a, b])  # type: ignore[list-item]
        return Rows(
            np.concatenate([main.customers, picked.customers]), np.concatenate([main.ts, picked.ts]), columns
        )

    def size_bytes(self) -> int:
        total = self.customers.nbytes + self.ts.nbytes
        for column in self.columns.values():
            total += column.offsets.nbytes + column.codes.nbytes if isinstance(column, ListColumn) else column.nbytes
        total += self._tail.nbytes
        return int(total)
