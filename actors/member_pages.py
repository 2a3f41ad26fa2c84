"""Member pages: each shard's smallest members after a cursor, merged across shards.

Order: customer ids ascending in UTF-8 byte order. Python compares str by code point, and UTF-8 was
designed so that byte order equals code point order for every Unicode scalar value; customer ids come
from protobuf strings (valid UTF-8, so no lone surrogates), hence sorting str is sorting bytes.

Shard side: a page is the `page_size` smallest members > `after`. Sorting a shard's members is
O(n log n); paging through 100 k members 1000 at a time would repeat it 100 times, so a shard keeps the
sorted list of the last few (plan digest, as_of_ms, applied LSN) keys in a small LRU and answers each
page with a binary search. The applied LSN is part of the key: after any ingest the list is rebuilt,
so a page never shows an erased customer or misses a new one.

Router side: every shard's page is sorted, so the first `page_size` of their merge is the page of the
whole cluster; `has_more` when the merge holds more, or a shard said it has more.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

MEMBER_LIST_CACHE_ENTRIES = 8
MEMBER_LIST_CACHE_MAX_IDS = 4_000_000  # ids over all cached lists (~70 bytes each with the list slot)
MAX_PAGE_SIZE = 10_000

CacheKey = tuple[str, int, int]  # plan digest, as_of_ms, applied LSN


@dataclass(frozen=True)
class ShardPage:
    customer_ids: list[str]  # ascending, all > after, at most page_size
    has_more: bool  # this shard has members beyond the page
    count: int  # all members on this shard at as_of_ms (the same state as the page)


class SortedMembersCache:
    """Thread-safe LRU of sorted member lists. A list is built outside the lock (two threads may build
    the same one; the second result wins, both are equal)."""

    def __init__(self, entries: int = MEMBER_LIST_CACHE_ENTRIES, max_ids: int = MEMBER_LIST_CACHE_MAX_IDS) -> None:
        assert entries > 0 and max_ids > 0
        self._entries = entries
        self._max_ids = max_ids
        self._lists: OrderedDict[CacheKey, list[str]] = OrderedDict()
        self._ids = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: CacheKey) -> list[str] | None:
        with self._lock:
            found = self._lists.get(key)
            if found is None:
                self.misses += 1
                return None
            self._lists.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: CacheKey, members: list[str]) -> None:
        if len(members) > self._max_ids:
            return  # larger than the whole budget: rebuilt per page rather than evicting everything
        with self._lock:
            old = self._lists.pop(key, None)
            if old is not None:
                self._ids -= len(old)
            self._lists[key] = members
            self._ids += len(members)
            # Bounded: each turn removes one entry.
            while len(self._lists) > self._entries or self._ids > self._max_ids:
                _, evicted = self._lists.popitem(last=False)
                self._ids -= len(evicted)
            assert self._ids >= 0

    def clear(self) -> None:
        with self._lock:
            self._lists.clear()
            self._ids = 0


def page_after(members: Sequence[str], after: str | None, page_size: int) -> ShardPage:
    """`members` sorted ascending."""
    check_page_size(page_size)
    start = 0 if after is None else bisect.bisect_right(members, after)
    page = list(members[start : start + page_size])
    return ShardPage(page, start + page_size < len(members), len(members))


def merge_pages(pages: Sequence[ShardPage], page_size: int) -> tuple[list[str], bool]:
    """The cluster's page from the shards' pages: its ids and has_more. A customer lives on one shard,
    so the merge has no repeats."""
    merged = list(itertools.islice(heapq.merge(*(p.customer_ids for p in pages)), page_size + 1))
    has_more = len(merged) > page_size or any(p.has_more for p in pages)
    page = merged[:page_size]
    assert all(a < b for a, b in itertools.pairwise(page)), "shard pages are sorted and disjoint"
    return page, has_more


def check_page_size(page_size: int) -> None:
    if type(page_size) is not int or not 0 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page size must be 0..{MAX_PAGE_SIZE} (got {page_size!r})")
