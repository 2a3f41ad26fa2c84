"""SIGKILL of the whole server and of a shard actor under mixed load (ingest with retries, counts, member
pages, a Watch): after each, every acknowledged event is present exactly once and the answers equal the
embedded engine's over the acknowledged records. Two cycles of benchmarks/crash_soak_service.py (the
soak runs hundreds: RELIABILITY.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.crash_soak_service import soak

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


def test_server_and_shard_kills_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    lines: list[str] = []
    # A snapshot before the second kill: the shard then recovers from snapshot + log tail.
    totals = soak(tmp_path / "data", cycles=2, shards=2, seed=3, report=lines.append, snapshot_every=2)
    assert totals.cycles == 2 and totals.server_kills == 1 and totals.shard_kills == 1, lines
    assert totals.batches_acknowledged > 0
    assert totals.ingest_retries > 0, "the kills interrupted ingest: the retries are what is being tested"
    assert totals.queries_ok > 0 and totals.watch_messages > 0 and totals.snapshots == 1
