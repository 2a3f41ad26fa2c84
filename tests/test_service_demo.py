"""service/demo.py: the demo shop is ingested once, snapshotted, and a stopped first start resumes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from service import demo
from tests.service_backend import DurableBackend


@pytest.fixture
def small_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "DEMO_CUSTOMERS", 300)
    monkeypatch.setattr(demo, "DEMO_EVENTS", 2_000)
    monkeypatch.setattr(demo, "DEMO_BATCH_RECORDS", 700)


def test_demo_is_ingested_on_the_first_start_only(tmp_path: Path, small_demo: None) -> None:
    async def scenario() -> tuple[int, int, int, dict]:
        backend = DurableBackend(tmp_path)
        try:
            stopped = asyncio.Event()
            stopped.set()
            await demo.ensure_demo(backend, tmp_path, stopped)  # stopped before the first batch
            assert not demo.is_ingested(tmp_path) and (await backend.stats()).customers == 0
            await demo.ensure_demo(backend, tmp_path, asyncio.Event())
            first = await backend.stats()
            await demo.ensure_demo(backend, tmp_path, asyncio.Event())  # marker present: nothing to do
            second = await backend.stats()
            assert second.shards[0].applied_lsn == first.shards[0].applied_lsn
            marker = json.loads(demo.marker_path(tmp_path).read_text())
            return first.customers, first.events, first.shards[0].records_since_snapshot, marker
        finally:
            await backend.close()

    customers, events, since_snapshot, marker = asyncio.run(scenario())
    assert (customers, events) == (300, 2_000)
    assert since_snapshot == 0  # snapshotted: a restart loads it instead of replaying the log
    assert marker["records"] == 2_300
