"""Event-id digests given as keys rather than ids: what tombstones carry (indexes/durable/control.py).

`EventIdSet` is fed event-id strings on the ingest path; a tombstone holds only the 16-byte digests
of ids whose records compaction removed. Adding a digest that is already in the set would count it
twice (the set does not deduplicate `add`), which happens when a compaction stopped after writing its
tombstone but before rewriting the log: replay then meets both the event and its tombstone. So only
unseen digests are added. This reads the set's runs directly; it belongs in EventIdSet as a method.
"""

from __future__ import annotations

import numpy as np

from indexes.event_ids import EventIdSet


def contains_keys(event_ids: EventIdSet, keys: np.ndarray) -> np.ndarray:
    """Mask: which rows of `keys` ((n, 2) uint64: high, low halves) are in the set."""
    assert keys.ndim == 2 and keys.shape[1] == 2
    if len(keys) == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(keys[:, 0], kind="stable")  # the runs probe with sorted high halves
    high, low = keys[order, 0], keys[order, 1]
    seen = np.zeros(len(keys), dtype=bool)
    for run in event_ids._runs:  # noqa: SLF001 - see the module docstring
        seen |= run.contains(high, low)
    mask = np.zeros(len(keys), dtype=bool)
    mask[order] = seen
    return mask


def add_unseen(event_ids: EventIdSet, keys: np.ndarray) -> int:
    """Add the digests not yet in the set (each once); returns how many were added."""
    if len(keys) == 0:
        return 0
    _, first = np.unique(keys.view(np.dtype((np.void, 16))).ravel(), return_index=True)
    distinct = keys[np.sort(first)]
    fresh = distinct[~contains_keys(event_ids, distinct)]
    event_ids.add(np.ascontiguousarray(fresh))
    return len(fresh)
