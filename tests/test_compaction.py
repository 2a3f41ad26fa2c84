"""Compaction: an erased customer leaves every byte of the data directory; idempotency stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexes.cli import main
from indexes.durable import DurableEngine, compact, rebuild
from indexes.durable.record_codec import ERASURE, EVENT, EVENT_ID_AT, kind_of
from indexes.log import FileLog

SECRET = "cust-SECRET-42"
FAR_MS = 10**13


def ev(event_id: str, customer: str, ts: int = 1000, event_type: str = "order_created") -> dict:
    return {"event_id": event_id, "customer_id": customer, "type": event_type, "ts": ts,
            "attrs": {"amount": "12.50", "product_ids": ["p-1"]}}


def grep(data_dir: Path, needle: str) -> list[str]:
    """Every file under data_dir (segments, snapshots, temp and side files) holding the bytes."""
    pattern = needle.encode()
    return [str(p) for p in sorted(data_dir.rglob("*")) if p.is_file() and pattern in p.read_bytes()]


def make_workspace(data_dir: Path) -> list[str]:
    secret_events = [f"order-{SECRET}-{i}" for i in range(5)]
    with DurableEngine.open(data_dir, tz="Europe/Istanbul") as engine:
        engine.ingest([ev(secret_events[0], SECRET), ev("o-1", "c-1"),
                       {"customer_id": SECRET, "ts": 5, "properties": {"email": f"{SECRET}@x.com", "country": "TR"}}])
        engine.snapshot()  # a snapshot holding the customer
        engine.ingest([ev(event_id, SECRET, 2000 + i) for i, event_id in enumerate(secret_events[1:])])
        engine.ingest([ev("o-2", "c-2"), {"forget_customer": SECRET, "ts": 10}])
        engine.snapshot()
        engine.ingest([ev("o-3", "c-1"), {"forget_customer": SECRET, "ts": 11}])  # erased twice
        assert engine.count("order_count >= 1", FAR_MS) == 2
    # A side file from an earlier `log repair --truncate-corrupt` holding the customer's bytes.
    (data_dir / "log" / "00000000000000000000.seg.corrupt-100").write_bytes(f"..{SECRET}..".encode())
    assert grep(data_dir, SECRET), "the customer is on disk before compaction"
    return secret_events


def test_compaction_removes_every_byte_of_an_erased_customer(tmp_path: Path) -> None:
    secret_events = make_workspace(tmp_path)
    with DurableEngine.open(tmp_path) as engine:
        before = [engine.members(rule, FAR_MS) for rule in ("order_count >= 1", "country exists")]
    report = compact(tmp_path)
    assert report.digest_equal and not report.live_equal  # the erased customer's dense id is gone too
    assert report.customers_erased == 1 and report.tombstone_digests == 5
    assert report.side_files_removed
    assert grep(tmp_path, SECRET) == []
    for event_id in secret_events:
        assert grep(tmp_path, event_id) == []
    with DurableEngine.open(tmp_path) as engine:
        assert [engine.members(r, FAR_MS) for r in ("order_count >= 1", "country exists")] == before
        # Idempotency is forever: the erased events' ids are still "seen" (via tombstones).
        result = engine.ingest([ev(event_id, "someone-else") for event_id in secret_events])
        assert result.duplicates == 5 and engine.customer_count() == 2
        assert rebuild(engine).equal
    assert grep(tmp_path, SECRET) == []


def test_records_after_the_last_erasure_are_kept(tmp_path: Path) -> None:
    with DurableEngine.open(tmp_path) as engine:
        engine.ingest([ev("a", "back"), {"forget_customer": "back", "ts": 1}])
        engine.ingest([ev("b", "back"), {"customer_id": "back", "ts": 3, "properties": {"country": "DE"}}])
        engine.ingest([{"forget_customer": "never-seen", "ts": 1}])
    report = compact(tmp_path)
    assert report.digest_equal and report.records_dropped == 3  # event a, two erasures
    with FileLog(tmp_path / "log") as log:
        records = [r for _, r in log.read()]
    assert [r[EVENT_ID_AT] for r in records if kind_of(r) == EVENT] == ["b"]
    assert not any(kind_of(r) == ERASURE for r in records)
    with DurableEngine.open(tmp_path) as engine:
        assert engine.members('country = "DE"', FAR_MS) == ["back"]
        assert engine.count("order_count = 1", FAR_MS) == 1
        assert engine.ingest([ev("a", "back")]).duplicates == 1


def test_compacting_again_changes_nothing(tmp_path: Path) -> None:
    make_workspace(tmp_path)
    first = compact(tmp_path)
    second = compact(tmp_path)
    assert second.records_dropped == 0 and second.tombstone_digests == 0
    assert second.digest_equal and second.live_equal
    assert second.rebuilt_digest == first.rebuilt_digest


def test_a_compaction_stopped_after_its_tombstones_is_finished_by_the_next(tmp_path: Path) -> None:
    secret_events = make_workspace(tmp_path)

    def crash() -> None:
        raise KeyboardInterrupt("simulated crash between tombstones and rewrite")

    with pytest.raises(KeyboardInterrupt):
        compact(tmp_path, after_tombstones=crash)
    with DurableEngine.open(tmp_path) as engine:
        # Events and their tombstones both in the log: each id is still counted once.
        with engine.read_state() as inner:
            assert len(inner.shard.event_ids) == 8
        assert engine.ingest([ev(secret_events[0], "x")]).duplicates == 1
    report = compact(tmp_path)
    assert report.digest_equal and report.tombstone_digests == 0  # already written the first time
    assert grep(tmp_path, SECRET) == []
    with DurableEngine.open(tmp_path) as engine, engine.read_state() as inner:
        assert len(inner.shard.event_ids) == 8


def test_torn_batches_are_dropped_by_compaction(tmp_path: Path) -> None:
    from indexes.durable.record_codec import encode
    from indexes.engine import Engine
    from indexes.records import validate_batch

    with DurableEngine.open(tmp_path) as engine:
        engine.ingest([ev("o-1", "c-1")])
    torn = validate_batch([ev("o-torn", "torn-customer")], Engine().schema).records
    with FileLog(tmp_path / "log") as log:
        log.append([encode(torn[0])])  # no commit mark: a torn batch
    DurableEngine.open(tmp_path).close()  # writes the abort mark
    report = compact(tmp_path)
    assert report.aborted_records_dropped == 2 and report.digest_equal and report.live_equal
    assert grep(tmp_path, "torn-customer") == []


def test_cli_compact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_workspace(tmp_path)
    assert main(["compact", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "erased customers with records dropped: 1" in out and "removed repair side file" in out
    assert grep(tmp_path, SECRET) == []
