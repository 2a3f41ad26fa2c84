"""Saved segments on a data directory: ticks only when needed, old commit marks, rebuild, compaction."""

from __future__ import annotations

import threading
from pathlib import Path

from indexes.durable import DurableEngine, compact, rebuild
from indexes.durable.record_codec import COMMIT, SEGMENT, commit_wall_ms, kind_of
from indexes.log import FileLog
from tests.test_compaction import SECRET, ev, grep

T = 1_793_505_600_000  # 2026-11-01 00:00 in New York
H = 3_600_000


def test_advance_clock_appends_a_tick_only_when_something_can_change(tmp_path: Path) -> None:
    with DurableEngine.open(tmp_path, tz="America/New_York", sync="never") as engine:
        assert not engine.advance_clock(T)  # no segment: nothing to maintain, nothing appended
        engine.ingest([ev("o1", "c1", T + H)], now_ms=T)  # an order an hour ahead of the clock
        recent = engine.create_segment("Recent", "count(order_created, last 2 hours) >= 1", now_ms=T)
        end = engine.applied_lsn
        assert not engine.advance_clock(T + H - 1) and engine.applied_lsn == end  # idle: the log does not grow
        assert engine.segment_members(recent.id) == []
        assert engine.advance_clock(T + H)  # the order becomes due
        assert engine.applied_lsn == end + 1 and engine.clock_ms == T + H
        assert engine.segment_members(recent.id) == ["c1"]
        assert not engine.advance_clock(T + 2 * H - 1)
        assert engine.advance_clock(T + 3 * H)  # its hour leaves the window
        assert engine.segment_members(recent.id) == []
        entries = engine.segment_changes([recent.id]).entries
        assert [(e.entered, e.reason, e.at_ms) for e in entries] == [(True, "time", T + H), (False, "time", T + 3 * H)]
        assert rebuild(engine).equal
    with FileLog(tmp_path / "log") as log:
        items = [item for _, item in log.read()]
    assert [commit_wall_ms(i) for i in items if kind_of(i) == COMMIT] == [T, T, T + H, T + 3 * H]
    assert sum(kind_of(i) == SEGMENT for i in items) == 1


def test_marks_of_older_logs_leave_the_clock_alone(tmp_path: Path) -> None:
    with FileLog(tmp_path / "log") as log:
        log.append([[0, "c1", T, "order_created:", "o1"], [4]])  # a batch of a log written before clocks
    with DurableEngine.open(tmp_path, tz="UTC", sync="never") as engine:
        assert engine.clock_ms == 0 and engine.customer_count() == 1
        engine.ingest([ev("o2", "c2", T)], now_ms=T + 5)
        assert engine.clock_ms == T + 5


def test_wait_for_changes_wakes_on_a_change(tmp_path: Path) -> None:
    with DurableEngine.open(tmp_path, tz="UTC", sync="never") as engine:
        buyers = engine.create_segment("Buyers", "order_count >= 1", now_ms=T)
        end = engine.segment_changes([buyers.id]).end_seq
        assert not engine.wait_for_changes(end - 1, timeout_ms=10)
        writer = threading.Timer(0.05, lambda: engine.ingest([ev("o1", "c1", T)], now_ms=T + 1))
        writer.start()
        assert engine.wait_for_changes(end - 1, timeout_ms=10_000)
        writer.join()
        assert [e.customer_id for e in engine.segment_changes(after_seq=end - 1).entries] == ["c1"]


def test_compaction_scrubs_an_erased_customer_from_change_logs_and_starts_an_epoch(tmp_path: Path) -> None:
    secret_events = [f"order-{SECRET}-{i}" for i in range(3)]
    with DurableEngine.open(tmp_path, tz="Europe/Istanbul", sync="never") as engine:
        buyers = engine.create_segment("Buyers", "order_count >= 1", now_ms=T)
        engine.ingest([ev(secret_events[0], SECRET, T), ev("o-1", "c-1", T)], now_ms=T + 1)
        engine.ingest([ev(event_id, SECRET, T + 2) for event_id in secret_events[1:]], now_ms=T + 2)
        engine.snapshot()
        engine.ingest([{"forget_customer": SECRET, "ts": T}, ev("o-2", "c-2", T)], now_ms=T + 3)
        engine.snapshot()
        before = engine.segment_changes([buyers.id])
        assert [(e.customer_id, e.entered, e.reason) for e in before.entries] == [
            (None, True, "event"), ("c-1", True, "event"), (None, False, "erasure"), ("c-2", True, "event")]
        assert any(e.event_id == secret_events[0] for e in before.entries)
    assert grep(tmp_path, secret_events[0])  # the change log in the snapshots names the event
    report = compact(tmp_path)
    assert report.digest_equal
    assert grep(tmp_path, SECRET) == [] and all(grep(tmp_path, e) == [] for e in secret_events)
    with DurableEngine.open(tmp_path, sync="never") as engine:
        after = engine.segment_changes([buyers.id])
        assert after.epoch == before.epoch + 1  # positions of the old epoch are refused
        assert [(e.customer_id, e.reason, e.event_id) for e in after.entries] == [
            ("c-1", "event", "o-1"), ("c-2", "event", "o-2")]
        assert engine.segment_members(buyers.id) == ["c-1", "c-2"]
        assert rebuild(engine).equal
