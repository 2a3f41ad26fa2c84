"""Member profiles page by page: a segment's members with chosen columns, sorted by one column.

The order is total and the same on every shard: present values by value (ascending or descending),
then customer id; members missing the value last, by id. A page's last sort key is the cursor of the
next, so paging never repeats or skips a member while the data stands still. Across shards the router
takes each shard's first `page_size` after the cursor and merges them with `sort_order` (a shard holds
no member of another, so the merged first `page_size` are the cluster's).

Cost: one sort of the shard's members per page (O(m log m) for m members), then the page's columns read
for `page_size` rows only (indexes/profiles.py ColumnReader).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyroaring import BitMap

from indexes.profiles import CUSTOMER_ID, ColumnReader, readers
from indexes.shard.bitmaps import ids_from_bitmap
from indexes.shard.property_index import StringColumn
from indexes.shard.shard import Shard

# A page's cursor and each row's sort key: (missing, value, customer id); value is an int (numbers,
# times, counts: the same scale on every shard) or text (strings, sets, customer ids).
SortKey = tuple[bool, Any, str]


@dataclass(frozen=True)
class ProfilePage:
    rows: list[tuple[SortKey, list[str | None]]]  # in sort order
    has_more: bool
    count: int  # members on this shard


def sort_after(key: SortKey, cursor: SortKey, descending: bool) -> bool:
    """Whether `key` comes after `cursor` in the order (missing last, value asc/desc, id asc)."""
    if key[0] != cursor[0]:
        return key[0]  # missing values come after present ones
    if not key[0] and key[1] != cursor[1]:
        return key[1] < cursor[1] if descending else key[1] > cursor[1]
    return key[2] > cursor[2]


def sort_order(keys: list[SortKey], chosen: list[int], descending: bool) -> list[int]:
    """`chosen` (indexes into keys) in the order: present values by value (asc/desc) then id, missing
    ones last by id. Two stable sorts, no comparison function."""
    present = sorted((i for i in chosen if not keys[i][0]), key=lambda i: keys[i][2])
    present.sort(key=lambda i: keys[i][1], reverse=descending)  # stable: ties keep id order
    return present + sorted((i for i in chosen if keys[i][0]), key=lambda i: keys[i][2])


def profile_page(shard: Shard, members: BitMap, as_of_ms: int, columns: Sequence[str], sort_by: str,
                 descending: bool, after: SortKey | None, page_size: int) -> ProfilePage:
    """The `page_size` first of `members` after `after` in the order, with their values.
    UnknownColumnError for a column or sort column the schema does not know."""
    assert page_size > 0
    column_readers = readers(shard, columns, as_of_ms)
    sorter = ColumnReader(shard, sort_by, as_of_ms)
    ids = ids_from_bitmap(members & shard.alive).astype(np.int64)
    names = ColumnReader(shard, CUSTOMER_ID, as_of_ms).read(ids)
    if sort_by == CUSTOMER_ID:
        keys: list[SortKey] = [(False, name, name) for name in names]  # type: ignore[misc]
    else:
        missing, values = sorter.sort_keys(ids)
        if isinstance(shard.column(sort_by), StringColumn) or values.dtype == object:
            values = np.array(sorter.read(ids), dtype=object)  # text: comparable across shards
        keys = [(bool(m), None if m else v, n) for m, v, n in zip(missing.tolist(), values.tolist(), names, strict=True)]
    chosen = [i for i, key in enumerate(keys) if after is None or sort_after(key, after, descending)]
    chosen = sort_order(keys, chosen, descending)
    page = np.asarray(chosen[:page_size], dtype=np.int64)
    block = ids[page] if len(page) else np.zeros(0, dtype=np.int64)
    values_by_column = [reader.read(block) for reader in column_readers]
    rows = [(keys[int(i)], [column[n] for column in values_by_column]) for n, i in enumerate(page.tolist())]
    return ProfilePage(rows, len(chosen) > page_size, len(ids))
