"""A whole shard <-> (manifest tree, blobs): ids, accepted event ids, columns, event indexes,
computed properties. Schema, time zone and capacity go into the manifest beside the tree."""

from __future__ import annotations

from typing import Any

import numpy as np

from indexes.event_ids import EventIdSet, _Run
from indexes.schema import Schema
from indexes.shard.dense_ids import DenseIds
from indexes.shard.shard import Shard
from indexes.snapshot.blobs import BlobReader, BlobWriter
from indexes.snapshot.codec_columns import read_bsi, read_column, write_bsi, write_column
from indexes.snapshot.codec_events import read_event_index, write_event_index
from indexes.snapshot.fields import require, require_fields

SHARD_FIELDS = frozenset(
    {"schema", "calendar", "ids", "event_ids", "columns", "events", "lifetime_value", "last_seen", "event_count"}
)
# _table: the digest index of the live ids, derived (rebuilt from the table on the first batch lookup)
DENSE_IDS_FIELDS = frozenset({"capacity", "_dense_by_external", "_external_by_dense", "alive", "_table"})
EVENT_ID_SET_FIELDS = frozenset({"_runs", "_filter", "_probes"})  # _filter, _probes: derived, not saved
RUN_FIELDS = frozenset({"high", "low"})
MAX_CAPACITY = 1 << 32  # DenseIds' own bound


def write_dense_ids(ids: DenseIds, blobs: BlobWriter) -> dict[str, Any]:
    require_fields(ids, DENSE_IDS_FIELDS)
    # The table alone: position = dense id, None = retired. The reverse map is rebuilt on load.
    return {"externals": blobs.strings(ids._external_by_dense), "alive": blobs.bitmap(ids.alive)}


def read_dense_ids(tree: dict[str, Any], capacity: int, blobs: BlobReader) -> DenseIds:
    ids = DenseIds(capacity)
    externals = blobs.strings(tree["externals"])
    require(len(externals) <= capacity, "dense ids: more ids than the capacity")
    by_external: dict[Any, int] = dict(zip(externals, range(len(externals)), strict=True))
    retired = by_external.pop(None, None) is not None
    living = len(externals) - externals.count(None) if retired else len(externals)
    require(len(by_external) == living, "dense ids: an external id appears twice")
    require(all(type(e) is str for e in by_external), "dense ids: a non-string external id")
    ids._external_by_dense = externals
    ids._dense_by_external = by_external
    ids.alive = blobs.bitmap(tree["alive"])
    require(len(ids.alive) == living and (not ids.alive or ids.alive.max() < len(externals)),
            "dense ids: the alive bitmap does not match the table")
    return ids


def write_event_ids(event_ids: EventIdSet, blobs: BlobWriter) -> dict[str, Any]:
    require_fields(event_ids, EVENT_ID_SET_FIELDS)
    runs = []
    for run in event_ids._runs:
        require_fields(run, RUN_FIELDS)
        runs.append([blobs.array(run.high), blobs.array(run.low)])
    return {"runs": runs}  # as they are: merging them is the digest's job, not the save's


def read_event_ids(tree: dict[str, Any], blobs: BlobReader) -> EventIdSet:
    event_ids = EventIdSet()
    for high_ref, low_ref in tree["runs"]:
        run = _Run(blobs.array(high_ref, np.uint64), blobs.array(low_ref, np.uint64))
        require(len(run.high) == len(run.low), "event ids: a run's halves differ in length")
        require(bool(np.all(run.high[1:] >= run.high[:-1])), "event ids: a run is not sorted")
        event_ids._runs.append(run)
    return event_ids


def write_shard(shard: Shard, blobs: BlobWriter) -> dict[str, Any]:
    require_fields(shard, SHARD_FIELDS)
    return {
        "ids": write_dense_ids(shard.ids, blobs),
        "event_ids": write_event_ids(shard.event_ids, blobs),
        "columns": [[prop, write_column(column, blobs)] for prop, column in shard.columns.items()],
        "events": [[name, write_event_index(index, blobs)] for name, index in shard.events.items()],
        "lifetime_value": write_bsi(shard.lifetime_value, blobs),
        "last_seen": write_bsi(shard.last_seen, blobs),
        "event_count": shard.event_count,
    }


def read_shard(tree: dict[str, Any], schema: Schema, tz: str, capacity: Any, blobs: BlobReader) -> Shard:
    require(type(capacity) is int and 0 < capacity <= MAX_CAPACITY, f"bad capacity {capacity!r}")
    shard = Shard(schema, tz, capacity)
    shard.ids = read_dense_ids(tree["ids"], capacity, blobs)
    shard.event_ids = read_event_ids(tree["event_ids"], blobs)
    shard.columns = {prop: read_column(column, blobs) for prop, column in tree["columns"]}
    shard.events = {name: read_event_index(index, blobs) for name, index in tree["events"]}
    require(all(index.name == name for name, index in shard.events.items()), "event index stored under another name")
    require(shard.columns.keys() <= shard.schema.properties.keys(), "a column for an undeclared property")
    require(shard.events.keys() <= shard.schema.events.keys(), "an event index for an undeclared type")
    shard.lifetime_value = read_bsi(tree["lifetime_value"], blobs)
    shard.last_seen = read_bsi(tree["last_seen"], blobs)
    require(isinstance(tree["event_count"], int) and tree["event_count"] >= 0, "bad event_count")
    shard.event_count = tree["event_count"]
    return shard
