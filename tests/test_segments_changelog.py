"""The change log: paging without gaps or repeats, filters, retention bounds, reasons and details."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexes.engine import Engine
from indexes.segments import PositionExpiredError
from indexes.segments.changelog import EVENT, TIME, ChangeLog

T = 1_790_000_000_000
H = 3_600_000


def filled(entries: int, chunk_entries: int = 7, max_entries: int = 10**9) -> ChangeLog:
    log = ChangeLog(max_entries=max_entries, chunk_entries=chunk_entries)
    for i in range(entries):
        segment = "a" if i % 3 else "b"
        reason = EVENT if i % 2 else TIME
        log.append(segment, np.array([i % 5], dtype=np.uint32), np.array([i % 2 == 0]), T + i, np.array([reason], dtype=np.int8),
                   np.array([-1], dtype=np.int64), [f"e{i}" if reason == EVENT else None])
    return log


@settings(max_examples=60, deadline=None)
@given(entries=st.integers(0, 60), limit=st.integers(1, 9), chunk=st.integers(1, 8),
       segment=st.sampled_from([None, "a", "b"]), customer=st.sampled_from([None, 0, 3]))
def test_pages_resume_without_gaps_or_repeats(entries: int, limit: int, chunk: int, segment: str | None,
                                              customer: int | None) -> None:
    log = filled(entries, chunk)
    customers = None if customer is None else np.array([customer], dtype=np.uint32)
    segments = None if segment is None else [segment]
    whole = log.read(segments, None, customers, None, None, 10_000).rows
    expected = [i for i in range(entries)
                if (segment is None or ("a" if i % 3 else "b") == segment) and (customer is None or i % 5 == customer)]
    assert [row.seq for row in whole] == expected
    paged, after = [], None
    for _ in range(entries + 2):  # bounded: each page makes progress or ends
        page = log.read(segments, after, customers, None, None, limit)
        paged.extend(page.rows)
        assert len(page.rows) <= limit and page.next_after_seq >= (after if after is not None else -1)
        if page.next_after_seq + 1 >= page.end_seq:
            break
        after = page.next_after_seq
    assert [row.seq for row in paged] == expected
    assert all(row.event_id == (f"e{row.seq}" if row.seq % 2 else None) for row in paged)


def test_time_ranges_and_positions() -> None:
    log = filled(20, chunk_entries=6)
    rows = log.read(None, 4, None, T + 8, T + 12, 100).rows
    assert [row.seq for row in rows] == [8, 9, 10, 11, 12]
    assert log.read(None, 19, None, None, None, 5).rows == []  # at the end: nothing new yet
    with pytest.raises(PositionExpiredError):
        log.read(None, 20, None, None, None, 5)  # past the end: a position from somewhere else


def test_retention_drops_whole_chunks_and_says_so() -> None:
    log = filled(30, chunk_entries=4, max_entries=10)
    log.trim(T + 30)
    assert 10 <= len(log) < 10 + 4 and log.first_seq == 30 - len(log) and log.next_seq == 30
    with pytest.raises(PositionExpiredError):
        log.read(None, log.first_seq - 2, None, None, None, 10)
    assert log.read(None, log.first_seq - 1, None, None, None, 100).rows[0].seq == log.first_seq
    assert log.read(None, None, None, None, None, 100).rows[0].seq == log.first_seq
    aged = filled(30, chunk_entries=4)
    aged.max_age_ms = 10
    aged.trim(T + 29 + 10)  # entries older than 10 ms before the clock go, chunk by chunk
    assert aged.first_seq == 28 and [r.seq for r in aged.read(None, None, None, None, None, 10).rows] == [28, 29]


def test_entries_name_the_event_the_version_the_upstream_and_survive_erasure() -> None:
    engine = Engine(tz="Europe/Istanbul")
    buyers = engine.create_segment("Buyers", "count(order_created, last 1 days) >= 1", now_ms=T)
    others = engine.create_segment("Others", f'not in_segment("{buyers.id}")', now_ms=T)
    engine.ingest([
        {"event_id": "o1", "customer_id": "c1", "type": "order_created", "ts": T},
        {"event_id": "v1", "customer_id": "c1", "type": "product_viewed", "ts": T},  # not read by Buyers
        {"event_id": "o2", "customer_id": "c1", "type": "order_created", "ts": T + 5},  # the last that counts
        {"customer_id": "c2", "ts": T, "properties": {"country": "TR"}},
    ], now_ms=T + 10)
    page = engine.segment_changes()
    by = {(e.segment_id, e.customer_id): e for e in page.entries}
    assert (by[(buyers.id, "c1")].reason, by[(buyers.id, "c1")].event_id) == ("event", "o2")
    assert (by[(others.id, "c2")].reason, by[(others.id, "c2")].entered) == ("profile", True)
    engine.edit_segment(buyers.id, rule="count(order_created, last 1 days) >= 3", now_ms=T + 20)
    edit = engine.segment_changes([buyers.id], after_seq=page.next_after_seq).entries
    assert [(e.customer_id, e.entered, e.reason, e.version) for e in edit] == [("c1", False, "rule_edit", 2)]
    follow = engine.segment_changes([others.id], after_seq=page.next_after_seq).entries
    assert [(e.customer_id, e.entered, e.reason, e.upstream) for e in follow] == [("c1", True, "dependency", buyers.id)]
    engine.ingest([{"forget_customer": "c1", "ts": T}], now_ms=T + 30)
    last = engine.segment_changes([others.id], customer_id=None).entries[-1]
    assert (last.customer_id, last.entered, last.reason) == (None, False, "erasure")  # names nobody now
    assert engine.segment_changes(customer_id="c2").entries[0].customer_id == "c2"
    assert engine.segment_changes(customer_id="nobody").entries == []
    with pytest.raises(PositionExpiredError):
        engine.segment_changes(epoch=page.epoch + 1)
    engine.edit_segment(others.id, active=False, now_ms=T + 40)  # frozen: not maintained while inactive
    engine.ingest([{"customer_id": "c3", "ts": T, "properties": {"country": "DE"}}], now_ms=T + 50)
    assert engine.segment_changes([others.id], customer_id="c3").entries == []
    engine.edit_segment(others.id, active=True, now_ms=T + 60)
    woken = engine.segment_changes([others.id], customer_id="c3").entries
    assert [(e.entered, e.reason, e.version, e.at_ms) for e in woken] == [(True, "activated", 3, T + 60)]


def test_daily_sizes_are_the_counts_at_each_local_midnight() -> None:
    engine = Engine(tz="America/New_York")
    start = 1_793_505_600_000  # 2026-11-01 00:00 New York (EDT), the day it falls back
    engine.ingest([{"event_id": f"o{i}", "customer_id": f"c{i}", "type": "order_created", "ts": start + i * 7 * H}
                   for i in range(4)], now_ms=start + 1)
    segment = engine.create_segment("Recent", "count(order_created, last 1 days) >= 1", now_ms=start + 2)
    assert engine.advance_clock(start + 3 * 24 * H + 5 * H)
    stats = engine.segment_stats(segment.id)
    # Nov 1 has 25 hours in New York: orders at +0, +7, +14, +21 h are all on it; +28 h is Nov 2 (none).
    assert [(d.isoformat(), n) for d, n in stats.daily_sizes] == [
        ("2026-11-01", 4), ("2026-11-02", 0), ("2026-11-03", 0)]
    exits = [e for e in engine.segment_changes([segment.id]).entries if not e.entered]
    assert {e.at_ms for e in exits} == {start + 25 * H}  # logged at local midnight, not at the tick
    assert stats.last_update_ms == start + 25 * H and stats.count == 0
