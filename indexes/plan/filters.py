"""`where` filters over selected event rows: one boolean mask per filter, vectorised.

An event without the attribute matches only `not_exists` and `has_none` (docs/SEMANTICS.md).
"""

from __future__ import annotations

import numpy as np

from indexes.plan.compile import Filter
from indexes.plan.time_bounds import time_op_bounds
from indexes.shard.event_store import MISSING_BOOL, MISSING_CODE, MISSING_NUMBER, ListColumn, Rows
from indexes.shard.value_dictionary import ValueDictionary
from indexes.timecal import Calendar

_COMPARE = {
    "eq": np.equal,
    "neq": np.not_equal,
    "gt": np.greater,
    "gte": np.greater_equal,
    "lt": np.less,
    "lte": np.less_equal,
}


def compare_values(values: np.ndarray, op: str, target: object) -> np.ndarray:
    """values op target for eq..lte and between (inclusive)."""
    if op == "between":
        lo, hi = target  # type: ignore[misc]
        return (values >= lo) & (values <= hi)
    return _COMPARE[op](values, target)


def filter_mask(
    rows: Rows, flt: Filter, dictionary: ValueDictionary | None, calendar: Calendar, as_of_ms: int
) -> np.ndarray:
    column = rows.columns[flt.attr]
    if flt.kind == "list":
        assert isinstance(column, ListColumn) and dictionary is not None
        return _list_mask(column, flt, dictionary)
    assert isinstance(column, np.ndarray)
    if flt.kind == "string":
        assert dictionary is not None
        return _string_mask(column, flt, dictionary)
    missing = MISSING_BOOL if flt.kind == "bool" else MISSING_NUMBER
    present = column != missing
    if flt.op == "exists":
        return present
    if flt.op == "not_exists":
        return ~present
    if flt.kind == "bool":
        return present & (column == (1 if flt.value else 0))
    if flt.kind == "timestamp":
        lo, hi = time_op_bounds(calendar, as_of_ms, flt.op, flt.value)
        mask = present.copy()
        if lo is not None:
            mask &= column >= lo
        if hi is not None:
            mask &= column <= hi
        return mask
    return present & compare_values(column, flt.op, flt.value)


def _codes_for(flt: Filter, dictionary: ValueDictionary) -> np.ndarray:
    if flt.op in ("contains", "starts_with", "ends_with"):
        codes = dictionary.matching_codes(flt.op, flt.value)  # type: ignore[arg-type]
    else:
        values = flt.value if isinstance(flt.value, tuple) else (flt.value,)
        codes = dictionary.codes(values)  # type: ignore[arg-type]
    return np.array(codes, dtype=np.int32)


def _string_mask(column: np.ndarray, flt: Filter, dictionary: ValueDictionary) -> np.ndarray:
    present = column != MISSING_CODE
    if flt.op == "exists":
        return present
    if flt.op == "not_exists":
        return ~present
    codes = _codes_for(flt, dictionary)
    hit = column == codes[0] if len(codes) == 1 else np.isin(column, codes)
    if flt.op in ("neq", "not_in"):
        return present & ~hit
    return hit


def _list_mask(column: ListColumn, flt: Filter, dictionary: ValueDictionary) -> np.ndarray:
    lengths = column.offsets[1:] - column.offsets[:-1]
    present = lengths > 0
    if flt.op == "exists":
        return present
    if flt.op == "not_exists":
        return ~present
    values = flt.value if isinstance(flt.value, tuple) else (flt.value,)
    if flt.op == "has_all":
        mask = present.copy()
        for value in values:  # type: ignore[union-attr]
            mask &= _rows_having(column, np.array(dictionary.codes((value,)), dtype=np.int32))
        return mask
    having = _rows_having(column, np.array(dictionary.codes(values), dtype=np.int32))  # type: ignore[arg-type]
    return ~having if flt.op == "has_none" else having


def _rows_having(column: ListColumn, codes: np.ndarray) -> np.ndarray:
    """Rows whose list holds at least one of codes."""
    if len(codes) == 0:
        return np.zeros(len(column), dtype=bool)
    hits = np.isin(column.codes, codes)
    cumulative = np.concatenate([[0], np.cumsum(hits, dtype=np.int64)])
    return cumulative[column.offsets[1:]] - cumulative[column.offsets[:-1]] > 0
