"""The service half of saved segments without a server: tokens, the cross-shard merge of change-log
pages, catalog repair, daily sizes, the Watch stream's queue, and the materialized fast path."""

from __future__ import annotations

import asyncio
import datetime as dt
import pickle
import random

import pytest

from actors.api import OverloadedError, PageTokenError, ShardUnavailableError
from actors.api_segments import ChangePosition, ChangesOutcome, ClusterChange, ShardPosition
from actors.catalog_sync import CatalogMismatchError, plan_repair
from actors.change_merge import merge_change_pages, start_of
from actors.cluster_segments import sum_daily_sizes
from actors.shard_segments import command_of
from indexes.engine import Engine
from indexes.segments import SegmentInUseError, SegmentNotFoundError
from indexes.segments.catalog import Catalog
from indexes.segments.commands import resolve_command
from indexes.segments.materialized import members_at
from indexes.segments.views import ChangeEntry, ChangePage, SegmentStats
from proto.segments.v1 import segments_pb2
from service import cursor_token
from service.watch_stream import WatchStream

DAY_MS = 86_400_000
T0 = 1_780_000_000_000  # 2026-05-28


# --- engine errors cross process boundaries ---------------------------------------------------------
def test_segment_errors_survive_pickling() -> None:
    """The shards raise these to the router over a pickled channel (a fix in indexes/segments/errors.py:
    BaseException pickles only the message, and these take more arguments)."""
    for error in (SegmentNotFoundError("id", "unknown segment 'x'"), SegmentInUseError("s", ["c1"], ["s2"])):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error) and copy.field == error.field
    in_use = pickle.loads(pickle.dumps(SegmentInUseError("s", ["c1"], ["s2"])))
    assert (in_use.campaigns, in_use.segments) == (["c1"], ["s2"])


# --- tokens -----------------------------------------------------------------------------------------
def test_position_tokens_round_trip_and_refuse_damage() -> None:
    position = (ShardPosition(0, -1), ShardPosition(3, 41), ShardPosition(-1, None), ShardPosition(2, None))
    assert cursor_token.decode_position(cursor_token.encode_position(position)) == position
    token = cursor_token.encode_position(position)
    for broken in (token[:-2], token[:10] + ("A" if token[10] != "A" else "B") + token[11:], "!!", ""):
        with pytest.raises(PageTokenError):
            cursor_token.decode_position(broken)
    page = cursor_token.encode("changes", cursor_token.binding_of("changes", ["a"]), [1])
    with pytest.raises(PageTokenError, match="other arguments"):
        cursor_token.decode(page, "changes", cursor_token.binding_of("changes", ["b"]))
    with pytest.raises(PageTokenError, match="'changes' token"):
        cursor_token.decode_position(page)


def test_a_position_of_another_shard_count_is_refused() -> None:
    with pytest.raises(PageTokenError, match="2 shards"):
        start_of((ShardPosition(0, 1), ShardPosition(0, 2)), 3)


# --- merging shards' change logs ----------------------------------------------------------------------
def _shard_logs(rng: random.Random, shards: int, entries: int) -> list[list[ChangeEntry]]:
    logs: list[list[ChangeEntry]] = [[] for _ in range(shards)]
    clocks = [T0] * shards
    for _ in range(entries):
        shard = rng.randrange(shards)
        clocks[shard] += rng.choice((0, 0, 1, 5))  # a shard's clock only moves forward
        seq = len(logs[shard])
        segment = rng.choice(("a", "b", "c"))
        logs[shard].append(ChangeEntry(seq, segment, f"c{shard}-{seq}", rng.random() < 0.5, clocks[shard], "event",
                                       f"e{seq}", None, None))
    return logs


def _read(log: list[ChangeEntry], segments: set[str] | None, after: int | None, limit: int) -> ChangePage:
    """What a shard's ChangeLog.read gives (indexes/segments/changelog.py)."""
    start = 0 if after is None else after + 1
    rows: list[ChangeEntry] = []
    last = start - 1
    for entry in log[start:]:
        last = entry.seq
        if segments is None or entry.segment_id in segments:
            rows.append(entry)
            if len(rows) == limit:
                break
    return ChangePage(rows, last, 0, len(log), 0)


@pytest.mark.parametrize("share", [False, True])  # each shard read with the whole limit, or its share (Watch)
@pytest.mark.parametrize("seed", range(20))
def test_paging_the_merged_log_gives_every_entry_once_in_time_order(seed: int, share: bool) -> None:
    rng = random.Random(seed)
    shards = rng.randint(1, 4)
    logs = _shard_logs(rng, shards, rng.randint(0, 300))
    segments = rng.choice((None, {"a"}, {"a", "c"}))
    position: ChangePosition = start_of(None, shards)
    seen: list[ClusterChange] = []
    for _ in range(1000):  # bounded: a page advances, or says nothing is left
        limit = rng.randint(1, 25)
        page_limit = max(1, limit // shards) if share else limit
        pages = [_read(logs[s], segments, position[s].after_seq, page_limit) for s in range(shards)]
        outcome = merge_change_pages(pages, position, limit, page_limit)
        assert len(outcome.changes) <= limit
        seen.extend(outcome.changes)
        position = outcome.position
        if not outcome.has_more:
            break
    expected = sorted(((s, e) for s in range(shards) for e in logs[s] if segments is None or e.segment_id in segments),
                      key=lambda pair: (pair[1].at_ms, pair[0], pair[1].seq))
    assert [(c.shard, c.entry.seq) for c in seen] == [(s, e.seq) for s, e in expected]
    assert [c.entry.at_ms for c in seen] == sorted(c.entry.at_ms for c in seen)


# --- catalog repair ---------------------------------------------------------------------------------------
def _apply(catalog: Catalog, engine: Engine, command: dict, ts_ms: int) -> dict:
    body = resolve_command(command, catalog, engine.schema)
    catalog.apply(body, ts_ms)
    return body


@pytest.mark.parametrize("last", [
    {"op": "create", "name": "New", "rule": "order_count >= 2"},
    {"op": "edit", "id": "s1", "rule": "order_count >= 3", "tags": ["x"]},
    {"op": "rollback", "id": "s1", "version": 1},
    {"op": "delete", "id": "s2"},
    {"op": "attach_campaign", "id": "s1", "campaign": "spring", "active": False},
    {"op": "detach_campaign", "id": "s1", "campaign": "winter"},
])
def test_a_command_that_reached_some_shards_is_found_and_repairs_the_others(last: dict) -> None:
    engine = Engine()
    behind = Catalog()
    for number, command in enumerate([
        {"op": "create", "id": "s1", "name": "One", "rule": "order_count >= 1"},
        {"op": "create", "id": "s2", "name": "Two", "rule": "lifetime_value > 5"},
        {"op": "edit", "id": "s1", "name": "One+"},
        {"op": "attach_campaign", "id": "s1", "campaign": "winter"},
    ]):
        _apply(behind, engine, command, T0 + number)
    ahead = Catalog.from_plain(behind.to_plain())
    body = _apply(ahead, engine, last, T0 + 100)
    assert resolve_command(command_of(body), behind, engine.schema) == body  # what each shard checks
    repair = plan_repair([behind.to_plain(), ahead.to_plain(), behind.to_plain()])
    assert repair is not None and repair.body == body and repair.ts_ms == T0 + 100
    assert plan_repair([ahead.to_plain()] * 3) is None
    two_apart = Catalog.from_plain(ahead.to_plain())
    _apply(two_apart, engine, {"op": "create", "name": "Other", "rule": "order_count >= 9"}, T0 + 200)
    with pytest.raises(CatalogMismatchError):
        plan_repair([behind.to_plain(), two_apart.to_plain()])


# --- daily sizes ------------------------------------------------------------------------------------------
def test_daily_sizes_sum_per_day_and_a_shard_behind_counts_its_current_members() -> None:
    d = dt.date(2026, 5, 1)

    def stats(days: list[tuple[dt.date, int]], count: int) -> SegmentStats:
        return SegmentStats("s", True, count, 0, 0, None, tuple(days), ())

    ahead = stats([(d, 3), (d + dt.timedelta(1), 4), (d + dt.timedelta(2), 5)], 6)
    behind = stats([(d, 10)], 11)  # has not passed the ends of the next two days yet
    assert sum_daily_sizes([ahead, behind]) == [(d, 13), (d + dt.timedelta(1), 15), (d + dt.timedelta(2), 16)]
    assert sum_daily_sizes([stats([], 2), stats([], 3)]) == []


# --- the Watch stream -------------------------------------------------------------------------------------
def _outcome(n: int, position: ChangePosition) -> ChangesOutcome:
    entry = ChangeEntry(n, "s", f"c{n}", True, T0, "event", None, None, None)
    return ChangesOutcome([ClusterChange(0, entry)], position, False)


def test_watch_sends_a_heartbeat_first_then_changes_then_heartbeats_when_idle() -> None:
    async def scenario() -> list[segments_pb2.WatchResponse]:
        calls: list[ChangePosition | None] = []

        async def next_changes(position: ChangePosition | None, wait_ms: int) -> ChangesOutcome:
            calls.append(position)
            if position is None:
                return ChangesOutcome([], (ShardPosition(0, 4),), False)
            if position[0].after_seq == 4:
                return _outcome(5, (ShardPosition(0, 5),))
            await asyncio.sleep(wait_ms / 1000)
            return ChangesOutcome([], position, False)

        sent: list[segments_pb2.WatchResponse] = []

        async def write(message: segments_pb2.WatchResponse) -> None:
            sent.append(message)
            if len(sent) == 3:
                raise asyncio.CancelledError  # the client goes away

        stream = WatchStream(next_changes, None, heartbeat_ms=100, queue_messages=4, slow_consumer_s=5,
                             closing=asyncio.Event())
        with pytest.raises(asyncio.CancelledError):
            await stream.run(write)
        return sent

    sent = asyncio.run(scenario())
    assert [m.WhichOneof("kind") for m in sent] == ["heartbeat", "changes", "heartbeat"]
    positions = [cursor_token.decode_position(m.position_token) for m in sent]
    assert positions == [(ShardPosition(0, 4),), (ShardPosition(0, 5),), (ShardPosition(0, 5),)]
    assert [c.customer_id for c in sent[1].changes.changes] == ["c5"]


def test_a_slow_consumer_is_cut_off_and_shutdown_ends_streams() -> None:
    async def scenario(closing_after_s: float | None) -> BaseException:
        async def next_changes(position: ChangePosition | None, wait_ms: int) -> ChangesOutcome:
            seq = -1 if position is None else position[0].after_seq
            assert seq is not None
            return _outcome(seq + 1, (ShardPosition(0, seq + 1),))

        async def stuck_write(message: segments_pb2.WatchResponse) -> None:
            await asyncio.sleep(3600)  # a client that never reads

        closing = asyncio.Event()
        if closing_after_s is not None:
            asyncio.get_running_loop().call_later(closing_after_s, closing.set)
        stream = WatchStream(next_changes, None, heartbeat_ms=1000, queue_messages=3, slow_consumer_s=0.2,
                             closing=closing)

        async def fast_write(message: segments_pb2.WatchResponse) -> None:
            await asyncio.sleep(0.001)

        try:
            await asyncio.wait_for(stream.run(stuck_write if closing_after_s is None else fast_write), 10)
        except BaseException as exc:  # noqa: BLE001 - the outcome under test
            return exc
        raise AssertionError("the stream did not end")

    assert isinstance(asyncio.run(scenario(None)), OverloadedError)
    assert isinstance(asyncio.run(scenario(0.1)), ShardUnavailableError)


# --- members at an instant from the bitmap ------------------------------------------------------------------
def test_members_at_an_instant_equal_evaluation_with_or_without_the_bitmap() -> None:
    engine = Engine(tz="UTC")
    records = [{"event_id": f"e{i}", "customer_id": f"c{i % 7}", "type": "order_created", "ts": T0 - i * DAY_MS // 3,
                "attrs": {"amount": 10}} for i in range(60)]
    engine.ingest(records, now_ms=T0)
    engine.create_segment("Recent", "count(order_created, last 3 days) >= 1", segment_id="recent", now_ms=T0)
    engine.create_segment("Many", "order_count >= 9", segment_id="many", now_ms=T0)
    for later_ms in (T0, T0 + 1, T0 + DAY_MS // 2, T0 + 2 * DAY_MS, T0 + 9 * DAY_MS):
        for segment_id in ("recent", "many"):
            expected = engine.segment_evaluate(segment_id, later_ms) if later_ms != T0 else None
            got = members_at(engine, segment_id, later_ms)
            rule = engine.get_segment(segment_id).rule
            assert got == engine.evaluate(rule, later_ms), (segment_id, later_ms)
            if expected is not None:
                assert got == expected
