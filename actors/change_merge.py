"""Change-log pages of every shard merged into one page of the cluster's change log.

Each shard numbers its entries consecutively (seq) and stamps them with its clock (at_ms), which only
moves forward, so a shard's page is ordered by at_ms too. The cluster's page is the shards' pages merged
by (at_ms, shard, seq), cut at two bounds: at most `limit` entries, and no entry after the last one of a
*full* shard page (one holding `page_limit` entries: that shard may have unread entries right after it,
which must not come after a later entry of another shard). A shard's new position is the seq of its last
entry taken, or, when all of its page was taken, the position its page ended at (past entries of other
segments it skipped). So pages follow each other in at_ms order, and resuming after a position skips and
repeats nothing. Reading each of n shards with page_limit = limit / n (a Watch poll) wastes little;
with page_limit = limit every entry of the cut is also within the limit.
"""

from __future__ import annotations

import bisect
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


def merge_change_pages(pages: Sequence[ChangePage | None], position: ChangePosition, limit: int,
                       page_limit: int | None = None) -> ChangesOutcome:
    """`pages[i]`: shard i's page read after position[i] with `page_limit` entries at most (default
    `limit`; None: shard i not read, its position kept)."""
    page_limit = limit if page_limit is None else page_limit
    assert len(pages) == len(position) and limit > 0 and 0 < page_limit <= limit
    streams = [[(e.at_ms, shard, e.seq, e) for e in page.entries] for shard, page in enumerate(pages) if page is not None]
    merged = list(heapq.merge(*streams))
    full_ends = [stream[-1][:3] for stream in streams if len(stream) >= page_limit]
    if full_ends:
        bound = min(full_ends)  # nothing after it: that shard's next entries are unread
        merged = merged[:bisect.bisect_right(merged, bound, key=lambda row: row[:3])]
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
        has_more = has_more or len(page.entries) >= page_limit or page.next_after_seq + 1 < page.end_seq
    changes = [ClusterChange(shard, entry) for _, shard, _, entry in taken]
    return ChangesOutcome(changes, tuple(new), has_more)


def epoch_of(position: ShardPosition) -> int | None:
    """The epoch to check a read against (None for a start position: any epoch)."""
    return None if position.epoch < 0 else position.epoch
