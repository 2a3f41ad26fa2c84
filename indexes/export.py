"""CSV export of a segment's members with chosen columns (issue 7 item 5), streamed block by block.

    result = write_csv(shard, members, ["customer_id", "email", "lifetime_value"], out,
                       as_of_ms=..., mandatory=["email"])

Rows come in customer-id order (the order of a Members listing, so the two compare row by row).
Memory stays flat in the number of rows: the only whole-segment structure is the sorted list of the
members' ids (references to strings the shard holds anyway); values are read and written
`block_rows` customers at a time (indexes/profiles.py ColumnReader). A member missing a mandatory
column is left out and counted (the seed's "57 of all segmented customers" line).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

import numpy as np
from pyroaring import BitMap

from indexes.csv_text import csv_block, csv_header
from indexes.profiles import CUSTOMER_ID, readers
from indexes.shard.bitmaps import ids_from_bitmap
from indexes.shard.shard import Shard

BLOCK_ROWS = 10_000
MAX_BLOCK_ROWS = 100_000


@dataclass(frozen=True)
class ExportResult:
    columns: tuple[str, ...]
    rows: int  # data rows written (the header not counted)
    left_out: int  # members missing a mandatory column
    members: int


def member_order(shard: Shard, members: BitMap) -> np.ndarray:
    """The members' dense ids in customer-id order (code point order, which is also the byte order of
    their UTF-8 form, as Members pages are ordered). numpy's argsort of the ids' text: ~3x a Python
    sort of half a million strings."""
    ids = ids_from_bitmap(members & shard.alive).astype(np.int64)
    if len(ids) < 2:
        return ids
    names = shard.ids.externals(ids.tolist())
    if "\x00" in "".join(names):  # numpy's fixed-width text drops trailing NULs: sort in Python
        return ids[np.asarray(sorted(range(len(names)), key=names.__getitem__), dtype=np.int64)]
    keys = np.array(names)  # fixed-width UCS-4, compared by code point
    return ids[np.argsort(keys, kind="stable")]


def export_columns(shard: Shard, members: BitMap, columns: Sequence[str], as_of_ms: int,
                   mandatory: Sequence[str] = (), block_rows: int = BLOCK_ROWS,
                   ) -> Iterator[tuple[list[list[str | None]], int]]:
    """(values per column, left out) per block of members, in customer-id order; ValueError for a bad
    column list."""
    assert 1 <= block_rows <= MAX_BLOCK_ROWS
    missing = [name for name in mandatory if name not in columns]
    if missing:
        raise ValueError(f"mandatory columns must be exported too: {', '.join(missing)}")
    column_readers = readers(shard, columns, as_of_ms)
    required = [columns.index(name) for name in mandatory]
    ordered = member_order(shard, members)
    for start in range(0, len(ordered), block_rows):
        block = ordered[start:start + block_rows]
        values = [reader.read(block) for reader in column_readers]
        if not required:
            yield values, 0
            continue
        keep = np.ones(len(block), dtype=bool)
        for index in required:
            keep &= np.array([v is not None for v in values[index]], dtype=bool)
        if keep.all():
            yield values, 0
            continue
        kept = np.flatnonzero(keep).tolist()
        yield [[column[i] for i in kept] for column in values], len(block) - len(kept)


def export_blocks(shard: Shard, members: BitMap, columns: Sequence[str], as_of_ms: int,
                  mandatory: Sequence[str] = (), block_rows: int = BLOCK_ROWS,
                  ) -> Iterator[tuple[list[tuple[str | None, ...]], int]]:
    """`export_columns` as rows (the router merges shards' rows by customer id)."""
    for values, left_out in export_columns(shard, members, columns, as_of_ms, mandatory, block_rows):
        yield list(zip(*values, strict=True)), left_out


def write_csv(shard: Shard, members: BitMap, columns: Sequence[str], out: TextIO, *, as_of_ms: int,
              mandatory: Sequence[str] = (), block_rows: int = BLOCK_ROWS,
              progress: Callable[[int], None] | None = None) -> ExportResult:
    """Header + one row per member (empty cell = no value); `progress(members done)` after each block."""
    out.write(csv_header(columns))
    written = left_out = done = 0
    for values, skipped in export_columns(shard, members, columns, as_of_ms, mandatory, block_rows):
        out.write(csv_block(values))  # the csv module's output, formatted per column (indexes/csv_text.py)
        rows = len(values[0])
        written += rows
        left_out += skipped
        done += rows + skipped
        if progress is not None:
            progress(done)
    return ExportResult(tuple(columns), written, left_out, done)


__all__ = ["BLOCK_ROWS", "CUSTOMER_ID", "ExportResult", "export_blocks", "export_columns", "member_order", "write_csv"]
