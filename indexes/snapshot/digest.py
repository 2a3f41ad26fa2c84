"""Digests of a shard's logical state: one per index, and one over them all.

Two shards have the same digest when they hold the same state, however they got there: records
applied in batches of any size or in one go, queried in between or not (lazily built indexes are
left out), store tails merged or not, pending bitmap pairs flushed or not, saved and loaded. Any
difference in content (a property value, an event row, a bitmap bit, an accepted event id, the
schema) changes the digest of the index holding it, so a mismatch names the index.

What is canonicalised (docs/SNAPSHOTS.md has the full list):
  * per-customer arrays are cut to the dense ids handed out (growth slack is not state)
  * dictionary codes are replaced by ranks among the used values sorted (code order depends on
    batching); string values that earned a bitmap depend on batching too, so instead of hashing
    those bitmaps the digest records whether they agree with the code array
  * bitmaps are hashed as sorted ids; empty ones in keyed maps are dropped; trailing empty BSI
    slices are dropped
  * event ids: all runs merged and sorted; event rows: (ts, customer, attributes) order
  * dicts are walked in sorted key order

Digests read the shard; the only writes they cause are the keyed bitmaps' own flush-on-read.
"""

from __future__ import annotations

import numpy as np
from pyroaring import BitMap

from indexes.event_ids import EventIdSet
from indexes.schema import Schema
from indexes.shard.bitmaps import bitmap_from_mask, grouped_bitmaps
from indexes.shard.property_index import (
    NEVER_WRITTEN,
    BoolColumn,
    Column,
    NumericColumn,
    SetColumn,
    StringColumn,
)
from indexes.shard.shard import Shard
from indexes.snapshot.codec_schema import value_type_to_plain
from indexes.snapshot.digest_events import event_index_digests
from indexes.snapshot.hashing import (
    Hasher,
    hash_bsi,
    hash_per_customer,
    keyed_pairs,
    sorted_ranks,
    used_codes,
)


def schema_digest(schema: Schema) -> str:
    hasher = Hasher("schema")
    hasher.plain([[name, value_type_to_plain(schema.properties[name])] for name in sorted(schema.properties)])
    for event in sorted(schema.events):
        attrs = schema.events[event]
        hasher.plain([event, [[attr, value_type_to_plain(attrs[attr])] for attr in sorted(attrs)]])
    return hasher.hexdigest()


def event_ids_digest(event_ids: EventIdSet) -> str:
    runs = event_ids._runs
    high = np.concatenate([run.high for run in runs]) if runs else np.zeros(0, dtype=np.uint64)
    low = np.concatenate([run.low for run in runs]) if runs else np.zeros(0, dtype=np.uint64)
    order = np.argsort(high, kind="stable")  # runs are sorted: a merge of O(log n) runs
    high, low = high[order], low[order]
    if len(high) > 1 and bool(np.any(high[1:] == high[:-1])):  # equal high halves: ~never
        order = np.lexsort((low, high))
        high, low = high[order], low[order]
    hasher = Hasher("event_ids")
    hasher.array(high)
    hasher.array(low)
    return hasher.hexdigest()


def _string_column_consistent(column: StringColumn) -> bool:
    """Do the derived parts (holder counts, value bitmaps, exists) agree with the code array?"""
    codes = column.code_of
    size = len(column.dictionary)
    holders = np.zeros(size, dtype=np.int64)
    holders[: len(column.holders)] = column.holders
    if not np.array_equal(np.bincount(codes[codes >= 0], minlength=size)[:size], holders):
        return False
    if set(np.flatnonzero(column.has_bitmap[:-1]).tolist()) != set(column.bitmaps):
        return False
    with_bitmap = np.flatnonzero(column.has_bitmap[codes]).astype(np.uint32)  # -1 reads the False slot
    groups = dict(grouped_bitmaps(codes[with_bitmap], with_bitmap))
    if any(bitmap != groups.get(code, BitMap()) for code, bitmap in column.bitmaps.items()):
        return False
    return column.exists == bitmap_from_mask(codes >= 0)


def column_digest(column: Column, customer_count: int) -> str:
    hasher = Hasher(type(column).__name__)
    hasher.plain(value_type_to_plain(column.value_type))
    hash_per_customer(hasher, column.written_ts, customer_count, NEVER_WRITTEN)
    if isinstance(column, StringColumn):
        codes = np.full(customer_count, -1, dtype=np.int32)
        kept = min(customer_count, len(column.code_of))
        codes[:kept] = column.code_of[:kept]
        values, rank = sorted_ranks(column.dictionary.values, used_codes(codes, len(column.dictionary)))
        hasher.plain(values)
        hasher.array(rank[codes])
        hasher.plain(bool(np.all(column.code_of[customer_count:] < 0)) and _string_column_consistent(column))
    elif isinstance(column, BoolColumn):
        for bitmap in (column.true, column.false, column.exists):
            hasher.bitmap(bitmap)
    elif isinstance(column, NumericColumn):
        hash_bsi(hasher, column.bsi, customer_count)
    else:
        assert isinstance(column, SetColumn), type(column)
        values = column.dictionary.values
        keyed_pairs(hasher, [(values[code], bitmap) for code, bitmap in enumerate(column.bitmaps)])
        hasher.bitmap(column.exists)
    return hasher.hexdigest()


def index_digests(shard: Shard) -> dict[str, str]:
    """One digest per index, keyed by a name such as "columns.email" or "events.order_created.day"."""
    count = shard.ids.allocated
    out: dict[str, str] = {"schema": schema_digest(shard.schema)}
    calendar = Hasher("calendar")
    calendar.text(shard.calendar.name)
    out["calendar"] = calendar.hexdigest()
    ids = Hasher("ids")
    ids.plain(shard.ids._external_by_dense)  # position = dense id; None = retired
    ids.bitmap(shard.ids.alive)
    out["ids"] = ids.hexdigest()
    out["event_ids"] = event_ids_digest(shard.event_ids)
    for prop in sorted(shard.columns):
        out[f"columns.{prop}"] = column_digest(shard.columns[prop], count)
    for name in sorted(shard.events):
        out.update(event_index_digests(f"events.{name}", shard.events[name], count))
    for label, bsi in (("lifetime_value", shard.lifetime_value), ("last_seen", shard.last_seen)):
        hasher = Hasher(label)
        hash_bsi(hasher, bsi, count)
        out[label] = hasher.hexdigest()
    event_count = Hasher("event_count")
    event_count.plain(shard.event_count)
    out["event_count"] = event_count.hexdigest()
    return out


def combined_digest(digests: dict[str, str]) -> str:
    hasher = Hasher("shard")
    hasher.plain(sorted(digests.items()))
    return hasher.hexdigest()


def shard_digest(shard: Shard) -> str:
    return combined_digest(index_digests(shard))
