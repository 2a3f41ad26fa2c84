"""Digests of one event type's indexes: the row store, day / month / value bitmaps, count BSI.

Store rows are hashed in a canonical order: by ts, then customer, then every attribute (canonical
codes, lists by a content hash). The store keeps rows by (ts, arrival); only rows that share a ts
with a neighbour need re-ordering, so only those are sorted (a handful in real data, all of them
in the worst case). Dense customer ids are hashed as they are: the engine numbers customers by
first appearance in the record sequence, whatever the batch boundaries (tested).

The first / last / sum BSIs are built on first use; they are left out (a digest must not depend on
which queries ran, and must not build them either).
"""

from __future__ import annotations

import numpy as np

from indexes.shard.event_index import EventTypeIndex
from indexes.shard.event_store import EventStore, ListColumn, Rows
from indexes.shard.keyed_bitmaps import KeyedBitmaps
from indexes.snapshot.codec_schema import value_type_to_plain
from indexes.snapshot.hashing import Hasher, hash_bsi, keyed_pairs, mix64, sorted_ranks, used_codes

_POSITION_SALT = np.uint64(0x9E3779B97F4A7C15)


def _all_rows(store: EventStore) -> Rows:
    """Every row, ts-sorted with arrival order among equal ts, without flushing the tail."""
    rows = store.window(None, None, tuple(store.attributes))
    if len(rows) > 1 and bool(np.any(rows.ts[1:] < rows.ts[:-1])):
        return _reordered(rows, np.argsort(rows.ts, kind="stable"))
    return rows


def _reordered(rows: Rows, order: np.ndarray) -> Rows:
    columns = {name: c.take(order) if isinstance(c, ListColumn) else c[order] for name, c in rows.columns.items()}
    return Rows(rows.customers[order], rows.ts[order], columns)


def _list_row_keys(column: ListColumn, rank: np.ndarray, rows: np.ndarray) -> list[np.ndarray]:
    """Per row: the list's length and an order-sensitive hash of its canonical codes."""
    part = column.take(rows)
    lengths = np.diff(part.offsets)
    positions = np.arange(len(part.codes), dtype=np.int64) - np.repeat(part.offsets[:-1], lengths)
    mixed = mix64(rank[part.codes].astype(np.uint64) * _POSITION_SALT + positions.astype(np.uint64))
    sums = np.zeros(len(mixed) + 1, dtype=np.uint64)
    np.cumsum(mixed, dtype=np.uint64, out=sums[1:])
    return [lengths, sums[part.offsets[1:]] - sums[part.offsets[:-1]]]


def _canonical_order(rows: Rows, names: list[str], ranks: dict[str, np.ndarray]) -> np.ndarray | None:
    """Permutation putting rows in (ts, customer, attributes) order; None if already so."""
    ts = rows.ts
    if len(ts) < 2:
        return None
    same = ts[1:] == ts[:-1]
    if not same.any():
        return None
    tied = np.zeros(len(ts), dtype=bool)
    tied[1:] |= same
    tied[:-1] |= same
    picked = np.flatnonzero(tied)
    keys: list[np.ndarray] = [rows.customers[picked]]  # most significant first
    for name in names:
        column = rows.columns[name]
        if isinstance(column, ListColumn):
            keys += _list_row_keys(column, ranks[name], picked)
        elif name in ranks:
            keys.append(ranks[name][column[picked]])
        else:
            keys.append(column[picked])
    within = np.lexsort([*reversed(keys), ts[picked]])  # lexsort: the last key is the primary one
    order = np.arange(len(ts))
    order[picked] = picked[within]
    return order


def store_digest(store: EventStore, max_ts: int | None) -> str:
    hasher = Hasher("event_store")
    names = sorted(store.attributes)
    hasher.plain([[name, value_type_to_plain(store.attributes[name])] for name in names])
    hasher.plain(max_ts)
    rows = _all_rows(store)
    ranks: dict[str, np.ndarray] = {}
    for name in names:
        column = rows.columns[name]
        if name in store.dictionaries:
            codes = column.codes if isinstance(column, ListColumn) else column
            dictionary = store.dictionaries[name].values
            values, ranks[name] = sorted_ranks(dictionary, used_codes(codes, len(dictionary)))
            hasher.plain(values)
    order = _canonical_order(rows, names, ranks)
    if order is not None:
        rows = _reordered(rows, order)
    hasher.array(rows.customers)
    hasher.array(rows.ts)
    for name in names:
        column = rows.columns[name]
        if isinstance(column, ListColumn):
            hasher.array(np.diff(column.offsets))
            hasher.array(ranks[name][column.codes])
        else:
            hasher.array(ranks[name][column] if name in ranks else column)
    return hasher.hexdigest()


def keyed_digest(label: str, keyed: KeyedBitmaps) -> str:
    hasher = Hasher(label)
    keyed_pairs(hasher, list(keyed.items()))
    return hasher.hexdigest()


def event_index_digests(prefix: str, index: EventTypeIndex, customer_count: int) -> dict[str, str]:
    out = {
        f"{prefix}.store": store_digest(index.store, index.max_ts),
        f"{prefix}.day": keyed_digest("day_customers", index.day_customers),
        f"{prefix}.month": keyed_digest("month_customers", index.month_customers),
    }
    count = Hasher("count")
    hash_bsi(count, index.count, customer_count)
    out[f"{prefix}.count"] = count.hexdigest()
    for attr, keyed in index.by_value.items():
        hasher = Hasher("by_value")
        if keyed is None:
            hasher.text("not indexed: too many values")
        else:
            values = index.store.dictionaries[attr].values
            keyed_pairs(hasher, [(values[code], bitmap) for code, bitmap in keyed.items()])
        out[f"{prefix}.values.{attr}"] = hasher.hexdigest()
    return out
