"""A shard's exact count cache (off unless the server is started with it: `segments serve --count-cache N`).

Key: (the plan's repr, as_of_ms, the shard's applied LSN), looked up and filled under the engine's state
lock. A count is a function of the state, the plan and the instant; the state under that lock is the
replay of exactly the log prefix below the applied LSN, and every change to it - ingest, erasure,
declaration, compaction's tombstones - goes through the log and moves the LSN. So an entry is the
count a fresh evaluation would give, for as long as it can be found: any write makes it unreachable
(it ages out). The plan's repr (deterministic for the frozen plan dataclasses, as plan_digest relies on)
is the key itself, not a hash of it: no collision can return another rule's count. The cache is
cleared when the shard's engine is closed or reopened (compaction) and switched off for good if a
commit fails (an engine that failed an apply no longer follows its log).

It helps only clients that ask the same (rule, as_of_ms) again with no ingest in between: dashboards
pinning an instant, benchmarks repeating a suite. With `as_of_ms` unset (now) it never hits.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

CountKey = tuple[str, int, int]  # repr(plan), as_of_ms, applied LSN


class CountCache:
    """Thread-safe LRU of exact counts."""

    def __init__(self, max_entries: int) -> None:
        assert max_entries > 0
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[CountKey, int] = OrderedDict()
        self._enabled = True
        self.hits = 0
        self.misses = 0

    def get(self, key: CountKey) -> int | None:
        with self._lock:
            found = self._entries.get(key) if self._enabled else None
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: CountKey, count: int) -> None:
        with self._lock:
            if not self._enabled:
                return
            self._entries[key] = count
            self._entries.move_to_end(key)
            if len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def disable(self) -> None:
        with self._lock:
            self._enabled = False
            self._entries.clear()
