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

import csv
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

import numpy as np
from pyroaring import BitMap

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
    their UTF-8 form, as Members pages are ordered)."""
    ids = ids_from_bitmap(members & shard.alive).astype(np.int64)
    keys = shard.ids.externals(ids.tolist())
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return ids[np.asarray(order, dtype=np.int64)] if order else ids


def export_blocks(shard: Shard, members: BitMap, columns: Sequence[str], as_of_ms: int,
                  mandatory: Sequence[str] = (), block_rows: int = BLOCK_ROWS,
                  ) -> Iterator[tuple[list[tuple[str | None, ...]], int]]:
    """(rows, left out) per block of members, in customer-id order; ValueError for a bad column list."""
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
            yield list(zip(*values, strict=True)), 0  # type: ignore[misc]
            continue
        keep = np.ones(len(block), dtype=bool)
        for index in required:
            keep &= np.array([v is not None for v in values[index]], dtype=bool)
        if keep.all():
            yield list(zip(*values, strict=True)), 0  # type: ignore[misc]
            continue
        kept = np.flatnonzero(keep).tolist()
        yield [tuple(column[i] for column in values) for i in kept], len(block) - len(kept)  # type: ignore[misc]


def write_csv(shard: Shard, members: BitMap, columns: Sequence[str], out: TextIO, *, as_of_ms: int,
              mandatory: Sequence[str] = (), block_rows: int = BLOCK_ROWS,
              progress: Callable[[int], None] | None = None) -> ExportResult:
    """Header + one row per member (empty cell = no value); `progress(members done)` after each block."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    written = left_out = done = 0
    for rows, skipped in export_blocks(shard, members, columns, as_of_ms, mandatory, block_rows):
        writer.writerows(rows)  # csv writes None as an empty cell
        written += len(rows)
        left_out += skipped
        done += len(rows) + skipped
        if progress is not None:
            progress(done)
    return ExportResult(tuple(columns), written, left_out, done)


__all__ = ["BLOCK_ROWS", "CUSTOMER_ID", "ExportResult", "export_blocks", "member_order", "write_csv"]
