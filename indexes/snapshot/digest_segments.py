"""Digests of the saved-segment state, beside the shard's index digests (indexes/snapshot/digest.py).

One digest per part, so a mismatch between live and rebuilt state names it: the catalog, the clock,
each materialized bitmap (members of active segments, frozen ones of inactive segments), the last
update times, the daily sizes, the change log (every kept entry, its seqs, the event ids it names,
its epoch and its chunk boundaries, which retention depends on). Derived parts are left out.
"""

from __future__ import annotations

import numpy as np

from indexes.segments.changelog import ChangeLog
from indexes.segments.live import LiveSegments
from indexes.shard.shard import Shard
from indexes.snapshot.digest import combined_digest, index_digests
from indexes.snapshot.hashing import Hasher


def state_digests(shard: Shard, live: LiveSegments) -> dict[str, str]:
    """Every digest of an engine's state: the shard's indexes and the saved segments."""
    return index_digests(shard) | segment_digests(live)


def state_digest(shard: Shard, live: LiveSegments) -> str:
    return combined_digest(state_digests(shard, live))


def segment_digests(live: LiveSegments) -> dict[str, str]:
    out: dict[str, str] = {}
    catalog = Hasher("segments.catalog")
    catalog.plain(live.catalog.to_plain())
    out["segments.catalog"] = catalog.hexdigest()
    clock = Hasher("segments.clock")
    clock.plain([live.clock_ms, live.history_days])
    out["segments.clock"] = clock.hexdigest()
    for segment_id in sorted(live.members):
        members = Hasher("segments.members")
        members.bitmap(live.members[segment_id])
        out[f"segments.members.{segment_id}"] = members.hexdigest()
    updates = Hasher("segments.last_change")
    updates.plain(sorted(live.last_change_ms.items()))
    out["segments.last_change"] = updates.hexdigest()
    history = Hasher("segments.history")
    history.plain([[s, h.entries.maxlen, list(map(list, h.entries))] for s, h in sorted(live.history.items())])
    out["segments.history"] = history.hexdigest()
    out["segments.changes"] = change_log_digest(live.changes)
    return out


def change_log_digest(log: ChangeLog) -> str:
    hasher = Hasher("segments.changes")
    hasher.plain([log.max_entries, log.max_age_ms, log.chunk_entries, log.next_seq, log.epoch, list(log.segment_table)])
    for chunk in log.chunks:
        hasher.plain([chunk.base_seq, chunk.size])
        for name, column in chunk.columns().items():
            hasher.text(name)
            hasher.array(np.ascontiguousarray(column))
        hasher.plain(list(chunk.strings))
    return hasher.hexdigest()
