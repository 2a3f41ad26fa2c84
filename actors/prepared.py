"""A shard's prepared batches, by token: bounded in number and released when they grow too old.

Between `prepare` and `commit` a batch holds a reservation in its DurableEngine (event-id digests,
customer capacity), and a prepared declaration holds off every other declaration. The router commits
or releases each batch right after the prepare phase; a router that dies in between must not leak
them, so a batch not taken within PREPARED_BATCH_TTL_MS is released, and a shard holds at most
MAX_PREPARED_BATCHES_PER_SHARD (OverloadedError beyond). The router gives up on a prepare phase long
before the TTL (actors/ingest_coordinator.py), so a batch it still commits has not expired.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from actors.api import OverloadedError
from indexes.durable.engine import PreparedBatch, PreparedBatchError

MAX_PREPARED_BATCHES_PER_SHARD = 32
PREPARED_BATCH_TTL_MS = 60_000


@dataclass(eq=False)
class _Entry:
    prepared: PreparedBatch
    release: Callable[[PreparedBatch], object]  # the engine's release (the engine may be reopened later)
    deadline_s: float


class PreparedRegistry:
    """Thread-safe. `release` callbacks run outside the registry's lock (they take the engine's)."""

    def __init__(
        self,
        max_batches: int = MAX_PREPARED_BATCHES_PER_SHARD,
        ttl_ms: int = PREPARED_BATCH_TTL_MS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert max_batches > 0 and ttl_ms > 0
        self._max_batches = max_batches
        self._ttl_s = ttl_ms / 1000
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self.expired_total = 0  # a metric: batches released because nobody committed them in time

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def add(self, prepared: PreparedBatch, release: Callable[[PreparedBatch], object]) -> str:
        """Keep `prepared` under a new token; when full, release it and raise OverloadedError."""
        self.expire()
        with self._lock:
            if len(self._entries) < self._max_batches:
                token = uuid.uuid4().hex  # unique across restarts: a token from before a crash is unknown
                self._entries[token] = _Entry(prepared, release, self._clock() + self._ttl_s)
                return token
        release(prepared)
        raise OverloadedError(f"{self._max_batches} prepared batches are waiting for commit on this shard")

    def take(self, token: str) -> PreparedBatch:
        """The batch to commit, no longer subject to expiry; PreparedBatchError if unknown (expired,
        released, or prepared before the shard restarted)."""
        with self._lock:
            entry = self._entries.pop(token, None)
        if entry is None:
            raise PreparedBatchError("prepared batch unknown on this shard (expired, released, or lost in a restart)")
        return entry.prepared

    def release(self, token: str) -> bool:
        with self._lock:
            entry = self._entries.pop(token, None)
        if entry is None:
            return False
        entry.release(entry.prepared)
        return True

    def expire(self) -> int:
        """Release the batches past their deadline; returns how many."""
        now = self._clock()
        with self._lock:
            old = [token for token, entry in self._entries.items() if entry.deadline_s <= now]
            entries = [self._entries.pop(token) for token in old]
            self.expired_total += len(entries)
        for entry in entries:
            entry.release(entry.prepared)
        return len(entries)

    def release_all(self) -> int:
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
        for entry in entries:
            entry.release(entry.prepared)
        return len(entries)
