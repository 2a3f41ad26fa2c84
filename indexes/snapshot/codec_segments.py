"""Saved segments (catalog, clock, materialized bitmaps, change log, daily sizes) <-> manifest tree + blobs.

The catalog goes into the manifest as plain data (a few hundred segments with their versions); the
bitmaps, the change log's columns and the history into the blob files. Change-log chunks are saved
as they are, boundaries included: retention drops whole chunks, so where they end is state. Derived
parts (compiled plans, footprints, the active set) are rebuilt from the catalog on first use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from indexes.segments.catalog import Catalog
from indexes.segments.changelog import ChangeLog, Chunk
from indexes.segments.history import SizeHistory
from indexes.segments.live import LiveSegments
from indexes.snapshot.blobs import BlobReader, BlobWriter
from indexes.snapshot.fields import require, require_fields

LIVE_FIELDS = frozenset({"catalog", "clock_ms", "members", "last_change_ms", "history", "changes", "history_days",
                         "_active", "_derived", "_plans"})  # the last three: derived, not saved
CHANGE_LOG_FIELDS = frozenset({"max_entries", "max_age_ms", "chunk_entries", "segment_table", "_codes", "chunks",
                               "next_seq", "epoch"})  # _codes: derived from segment_table
CHUNK_FIELDS = frozenset({"base_seq", "size", "segment", "customer", "entered", "at_ms", "reason", "detail", "strings"})
_CHUNK_COLUMNS = (("segment", np.int32), ("customer", np.uint32), ("entered", np.bool_), ("at_ms", np.int64),
                  ("reason", np.int8), ("detail", np.int64))


def write_segments(live: LiveSegments, blobs: BlobWriter) -> dict[str, Any]:
    require_fields(live, LIVE_FIELDS)
    return {
        "catalog": live.catalog.to_plain(),
        "clock_ms": live.clock_ms,
        "history_days": live.history_days,
        "members": [[segment_id, blobs.bitmap(bitmap)] for segment_id, bitmap in live.members.items()],
        "last_change": [[segment_id, at_ms] for segment_id, at_ms in live.last_change_ms.items()],
        "history": [
            [segment_id, history.entries.maxlen,
             blobs.array(np.array([day for day, _ in history.entries], dtype=np.int64)),
             blobs.array(np.array([count for _, count in history.entries], dtype=np.int64))]
            for segment_id, history in live.history.items()
        ],
        "changes": write_change_log(live.changes, blobs),
    }


def read_segments(tree: dict[str, Any], blobs: BlobReader) -> LiveSegments:
    live = LiveSegments(read_change_log(tree["changes"], blobs), int(tree["history_days"]))
    live.catalog = Catalog.from_plain(tree["catalog"])
    require(isinstance(tree["clock_ms"], int) and tree["clock_ms"] >= 0, "segments: bad clock")
    live.clock_ms = tree["clock_ms"]
    live.members = {str(segment_id): blobs.bitmap(ref) for segment_id, ref in tree["members"]}
    require(all(live.catalog.is_live(s) for s in live.members), "segments: a bitmap of a segment not live")
    live.last_change_ms = {str(segment_id): int(at_ms) for segment_id, at_ms in tree["last_change"]}
    for segment_id, max_days, days_ref, counts_ref in tree["history"]:
        history = SizeHistory(int(max_days))
        days = blobs.array(days_ref, np.int64).tolist()
        counts = blobs.array(counts_ref, np.int64).tolist()
        require(len(days) == len(counts), "segments: history columns differ in length")
        history.entries.extend(zip(days, counts, strict=True))
        live.history[str(segment_id)] = history
    require(live.active_ids() <= live.members.keys(), "segments: an active segment without its bitmap")
    return live


def write_change_log(log: ChangeLog, blobs: BlobWriter) -> dict[str, Any]:
    require_fields(log, CHANGE_LOG_FIELDS)
    chunks = []
    for chunk in log.chunks:
        require_fields(chunk, CHUNK_FIELDS)
        columns = chunk.columns()
        chunks.append([chunk.base_seq, *[blobs.array(columns[name]) for name, _ in _CHUNK_COLUMNS],
                       blobs.strings(list(chunk.strings))])
    return {
        "max_entries": log.max_entries, "max_age_ms": log.max_age_ms, "chunk_entries": log.chunk_entries,
        "segment_table": blobs.strings(list(log.segment_table)), "next_seq": log.next_seq, "epoch": log.epoch,
        "chunks": chunks,
    }


def read_change_log(tree: dict[str, Any], blobs: BlobReader) -> ChangeLog:
    log = ChangeLog(int(tree["max_entries"]), int(tree["max_age_ms"]), int(tree["chunk_entries"]))
    for segment_id in blobs.strings(tree["segment_table"]):
        log.code(str(segment_id))
    expected_seq = None
    for base_seq, *refs in tree["chunks"]:
        chunk = Chunk(int(base_seq), log.chunk_entries)
        require(expected_seq is None or chunk.base_seq == expected_seq, "change log: chunks do not follow each other")
        size = None
        for (name, dtype), ref in zip(_CHUNK_COLUMNS, refs[:-1], strict=True):
            values = blobs.array(ref, dtype)
            require(size is None or len(values) == size, "change log: columns differ in length")
            require(len(values) <= log.chunk_entries, "change log: a chunk over its capacity")
            size = len(values)
            getattr(chunk, name)[:size] = values
        chunk.size = size or 0
        chunk.strings = [str(s) for s in blobs.strings(refs[-1])]
        require(bool(np.all(chunk.segment[: chunk.size] < len(log.segment_table))), "change log: unknown segment code")
        log.chunks.append(chunk)
        expected_seq = chunk.base_seq + chunk.size
    log.next_seq = int(tree["next_seq"])
    require(expected_seq is None or expected_seq == log.next_seq, "change log: next_seq does not follow the chunks")
    log.epoch = int(tree["epoch"])
    return log
