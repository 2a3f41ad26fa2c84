"""Event type indexes (store, day / month / value bitmaps, count BSI) <-> manifest tree + blobs.

The store's tail and the keyed bitmaps' pending pairs are flushed before saving (neither changes
logical state), so a snapshot holds one ts-sorted run per type and plain bitmaps.

The first / last / sum bit-sliced indexes are built on first use and then maintained; they are not
saved. A loaded index starts without them and builds them from the store when a rule first needs
them, exactly as a freshly replayed shard would (a smaller snapshot, and no second code path).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from indexes.shard.event_index import EventTypeIndex
from indexes.shard.event_store import EventStore, ListColumn
from indexes.shard.keyed_bitmaps import KeyedBitmaps
from indexes.snapshot.blobs import BlobReader, BlobWriter
from indexes.snapshot.codec_columns import read_bsi, read_dictionary, write_bsi, write_dictionary
from indexes.snapshot.codec_schema import value_type_from_plain, value_type_to_plain
from indexes.snapshot.fields import require, require_fields

EVENT_INDEX_FIELDS = frozenset(
    {"name", "store", "day_customers", "month_customers", "count", "_first_ts", "_last_ts", "_sums", "by_value", "max_ts"}
)
STORE_FIELDS = frozenset(
    {"attributes", "dictionaries", "customers", "ts", "columns", "_tail"}
)
KEYED_FIELDS = frozenset({"_bitmaps", "_pending_keys", "_pending_ids", "_pending_pairs"})
_ARRAY_DTYPES = {"string": np.int32, "number": np.int64, "timestamp": np.int64, "bool": np.int8}


# --- keyed bitmaps ---------------------------------------------------------------------------
def write_keyed(keyed: KeyedBitmaps, blobs: BlobWriter) -> dict[str, Any]:
    require_fields(keyed, KEYED_FIELDS)
    keyed.flush()
    bitmaps = keyed._bitmaps
    keys = np.fromiter(bitmaps, dtype=np.int64, count=len(bitmaps))
    return {"keys": blobs.array(keys), "bitmaps": blobs.bitmaps(bitmaps.values())}


def read_keyed(tree: dict[str, Any], blobs: BlobReader) -> KeyedBitmaps:
    keyed = KeyedBitmaps()
    keys = blobs.array(tree["keys"], np.int64).tolist()
    keyed._bitmaps = dict(zip(keys, blobs.bitmaps(tree["bitmaps"]), strict=True))
    return keyed


# --- event store -----------------------------------------------------------------------------
def write_store(store: EventStore, blobs: BlobWriter) -> dict[str, Any]:
    require_fields(store, STORE_FIELDS)
    store.flush()
    assert len(store._tail) == 0
    columns: list[list[Any]] = []
    for name in store.attributes:
        column = store.columns[name]
        if isinstance(column, ListColumn):
            columns.append([name, {"offsets": blobs.array(column.offsets), "codes": blobs.array(column.codes)}])
        else:
            columns.append([name, blobs.array(column)])
    return {
        "attributes": [[name, value_type_to_plain(t)] for name, t in store.attributes.items()],
        "dictionaries": [[name, write_dictionary(d, blobs)] for name, d in store.dictionaries.items()],
        "customers": blobs.array(store.customers),
        "ts": blobs.array(store.ts),
        "columns": columns,
    }


def read_store(tree: dict[str, Any], blobs: BlobReader) -> EventStore:
    store = EventStore({name: value_type_from_plain(t) for name, t in tree["attributes"]})
    store.dictionaries = {name: read_dictionary(ref, blobs) for name, ref in tree["dictionaries"]}
    require(store.dictionaries.keys() == {n for n, t in store.attributes.items() if t.kind in ("string", "list")},
            "event store: dictionaries do not match the attributes")
    store.customers = blobs.array(tree["customers"], np.uint32)
    store.ts = blobs.array(tree["ts"], np.int64)
    rows = len(store.ts)
    require(len(store.customers) == rows, "event store: customers and ts differ in length")
    columns: dict[str, Any] = {}
    for name, ref in tree["columns"]:
        kind = store.attributes[name].kind
        if kind == "list":
            column = ListColumn(blobs.array(ref["offsets"], np.int64), blobs.array(ref["codes"], np.int32))
            require(len(column.offsets) == rows + 1 and int(column.offsets[-1]) == len(column.codes),
                    f"event store: list column {name} does not fit the rows")
        else:
            column = blobs.array(ref, _ARRAY_DTYPES[kind])
            require(len(column) == rows, f"event store: column {name} does not fit the rows")
        columns[name] = column
    require(columns.keys() == store.attributes.keys(), "event store: columns do not match the attributes")
    store.columns = columns
    return store


# --- event type index ------------------------------------------------------------------------
def write_event_index(index: EventTypeIndex, blobs: BlobWriter) -> dict[str, Any]:
    require_fields(index, EVENT_INDEX_FIELDS)
    return {
        "name": index.name,
        "store": write_store(index.store, blobs),
        "day": write_keyed(index.day_customers, blobs),
        "month": write_keyed(index.month_customers, blobs),
        "count": write_bsi(index.count, blobs),
        "by_value": [[attr, None if k is None else write_keyed(k, blobs)] for attr, k in index.by_value.items()],
        "max_ts": index.max_ts,
    }


def read_event_index(tree: dict[str, Any], blobs: BlobReader) -> EventTypeIndex:
    store = read_store(tree["store"], blobs)
    index = EventTypeIndex(tree["name"], store.attributes)
    index.store = store
    index.day_customers = read_keyed(tree["day"], blobs)
    index.month_customers = read_keyed(tree["month"], blobs)
    index.count = read_bsi(tree["count"], blobs)
    index.by_value = {attr: None if k is None else read_keyed(k, blobs) for attr, k in tree["by_value"]}
    max_ts = tree["max_ts"]
    require(max_ts is None or isinstance(max_ts, int), "event index: bad max_ts")
    index.max_ts = max_ts
    return index
