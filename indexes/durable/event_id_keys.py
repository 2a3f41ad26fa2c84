"""Event-id digests given as keys rather than ids: what tombstones carry (indexes/durable/control.py).

`EventIdSet` is fed event-id strings on the ingest path; a tombstone holds only the 16-byte digests
of ids whose records compaction removed. Adding a digest that is already in the set would count it
twice (the set does not deduplicate `add`), which happens when a compaction stopped after writing its
tombstone but before rewriting the log: replay then meets both the event and its tombstone. So only
unseen digests are added.
"""

from __future__ import annotations

import numpy as np

from indexes.event_ids import EventIdSet


def add_unseen(event_ids: EventIdSet, keys: np.ndarray) -> int:
    """Add the digests not yet in the set (each once, the first occurrence); returns how many."""
    _, fresh = event_ids.filter_new_keys(np.ascontiguousarray(keys))
    event_ids.add(np.ascontiguousarray(fresh))
    return len(fresh)
