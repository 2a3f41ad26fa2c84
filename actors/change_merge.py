"""Change-log pages of every shard merged into one page of the cluster's change log.

Each shard numbers its entries consecutively (seq) and stamps them with its clock (at_ms), which only
moves forward, so a shard's page is ordered by at_ms too. The cluster's page is the first `limit`
entries of the shards' pages merged by (at_ms, shard, seq); a shard's new position is the seq of its
last entry taken, or, when all of its page was taken, the position its page ended at (past entries of
other segments it skipped). Every shard page holds up to `limit` entries, so the merge never takes an
entry while an earlier one (by at_ms) of another shard is still unread: pages follow each other in
at_ms order, and resuming after a position skips and repeats nothing.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from actors.api import PageTokenError
from actors.api_segments import ChangePosition, ChangesOutcome, ClusterChange, ShardPosition
from indexes.segments.views import ChangePage


def start_of(position: ChangePosition | None, shards: int) -> ChangePosition:
    """`position`, or the start of every shard's retained log."""
    if position is None:
        return tuple(ShardPosition(epoch=-1, after_seq=None) for _ in range(shards))
    if len(position) != shards:
        raise PageTokenError(f"a position of {len(position)} shards; this service has {shards}")
    return position


def merge_change_pages(pages: Sequence[ChangePage | None], position: ChangePosition, limit: int) -> ChangesOutcome:
    """`pages[i]`: shard i's page read after position[i] with `limit` (None: shard i not read, its
    position kept)."""
    assert len(pages) == len(position) and limit > 0
    streams = [[(e.at_ms, shard, e.seq, e) for e in page.entries] for shard, page in enumerate(pages) if page is not None]
    merged = list(heapq.merge(*streams))
    taken = merged[:limit]
    last_taken: dict[int, int] = {}
    for _, shard, seq, _ in taken:
        last_taken[shard] = seq
    new: list[ShardPosition] = []
    has_more = len(merged) > limit
    for shard, page in enumerate(pages):
        if page is None:
            new.append(position[shard])
            continue
        everything = sum(1 for _, s, _, _ in taken if s == shard) == len(page.entries)
        after = page.next_after_seq if everything else last_taken.get(shard, position[shard].after_seq)
        new.append(ShardPosition(page.epoch, after))
        has_more = has_more or len(page.entries) == limit or page.next_after_seq + 1 < page.end_seq
    changes = [ClusterChange(shard, entry) for _, shard, _, entry in taken]
    return ChangesOutcome(changes, tuple(new), has_more)


def epoch_of(position: ShardPosition) -> int | None:
    """The epoch to check a read against (None for a start position: any epoch)."""
    return None if position.epoch < 0 else position.epoch
