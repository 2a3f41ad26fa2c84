"""DurableEngine: restart, idempotency, group commit with ordered apply, failures, snapshots, schema."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexes.durable import DurableEngine, rebuild
from indexes.durable.record_codec import COMMIT, EVENT, EVENT_ID_AT, decode, kind_of
from indexes.engine import Engine
from indexes.log import FileLog, LogBackpressureError, LogFailedError
from indexes.records import RecordBatchError
from indexes.shard.dense_ids import ShardFullError
from indexes.snapshot import list_snapshots, shard_digest
from tests.strategies_records import ZONES, record_batches

FAR_MS = 10**13  # an as_of after everything


def event(i: int, customer: str | None = None, event_type: str = "page_viewed", ts: int = 1000) -> dict:
    return {"event_id": f"e-{i}", "customer_id": customer or f"c-{i % 7}", "type": event_type, "ts": ts + i}


def profile(customer: str, ts: int, **properties: object) -> dict:
    return {"customer_id": customer, "ts": ts, "properties": properties}


def digest_of(engine: DurableEngine) -> str:
    with engine.read_state() as inner:
        return shard_digest(inner.shard)


def log_records(data_dir: Path) -> list[list]:
    with FileLog(data_dir / "log") as log:
        return [record for _, record in log.read()]


def event_ids_in_log(data_dir: Path) -> list[str]:
    return [r[EVENT_ID_AT] for r in log_records(data_dir) if kind_of(r) == EVENT]


def test_restart_keeps_everything_and_equals_the_in_memory_engine(tmp_path: Path) -> None:
    batches = [[event(i) for i in range(50)], [profile("c-1", 5, country="TR", tags=["vip", "a"])],
               [{"forget_customer": "c-2", "ts": 9}, event(60, "c-2")]]
    reference = Engine(tz="Europe/Istanbul")
    with DurableEngine.open(tmp_path, tz="Europe/Istanbul") as engine:
        for batch in batches:
            engine.ingest(batch)
            reference.ingest(batch)
        live = digest_of(engine)
    assert live == shard_digest(reference.shard)
    with DurableEngine.open(tmp_path) as engine:
        assert engine.tz == "Europe/Istanbul"
        assert digest_of(engine) == live
        assert engine.count('country = "TR"', FAR_MS) == 1
        assert engine.members("count(page_viewed) >= 1", FAR_MS) == sorted({f"c-{i % 7}" for i in range(50)})


def test_the_time_zone_is_fixed_at_creation(tmp_path: Path) -> None:
    DurableEngine.open(tmp_path, tz="Asia/Kolkata").close()
    with pytest.raises(ValueError, match="created with time zone Asia/Kolkata"):
        DurableEngine.open(tmp_path, tz="UTC")
    with DurableEngine.open(tmp_path) as engine:
        assert engine.tz == "Asia/Kolkata"


def test_idempotency_across_restart_snapshot_rebuild(tmp_path: Path) -> None:
    first = [event(i) for i in range(20)]
    with DurableEngine.open(tmp_path) as engine:
        result = engine.ingest([*first, first[0], first[3]])  # duplicates within the batch too
        assert (result.accepted, result.duplicates) == (20, 2)
        assert engine.ingest(first[:5]).duplicates == 5
    with DurableEngine.open(tmp_path) as engine:  # after a restart (full replay)
        assert engine.ingest(first).duplicates == 20
        engine.snapshot()
    with DurableEngine.open(tmp_path) as engine:  # after a snapshot
        assert engine.ingest(first[5:]).duplicates == 15
        report = rebuild(engine)
        assert report.equal
    with DurableEngine.open(tmp_path) as engine:  # after a rebuild's snapshot
        result = engine.ingest([*first, event(100)])
        assert (result.accepted, result.duplicates) == (1, 20)
        assert engine.count("count(page_viewed) >= 1", FAR_MS) == 7
    assert sorted(event_ids_in_log(tmp_path)) == sorted({*(f"e-{i}" for i in range(20)), "e-100"})


def test_a_duplicate_creates_no_customer_even_after_erasure(tmp_path: Path) -> None:
    with DurableEngine.open(tmp_path) as engine:
        engine.ingest([event(1, "c-a")])
        engine.ingest([{"forget_customer": "c-a", "ts": 1}])
        result = engine.ingest([event(1, "c-a")])
        assert result.duplicates == 1 and engine.customer_count() == 0
    with DurableEngine.open(tmp_path) as engine:
        assert engine.customer_count() == 0
        assert engine.ingest([event(1, "c-b")]).duplicates == 1


def test_bad_records_reject_the_batch_and_append_nothing(tmp_path: Path) -> None:
    with DurableEngine.open(tmp_path) as engine:
        engine.ingest([event(0)])
        bad = [event(1), {"event_id": "x", "customer_id": "c", "type": "no_such_type", "ts": 0}]
        with pytest.raises(RecordBatchError) as caught:
            engine.ingest(bad)
        assert caught.value.errors[0].index == 1 and caught.value.errors[0].field == "type"
        end = engine.applied_lsn
        result = engine.ingest(bad, partial=True)
        assert result.accepted == 1 and [e.index for e in result.errors] == [1]
        assert engine.applied_lsn == end + 2  # one record and its commit mark
    assert event_ids_in_log(tmp_path) == ["e-0", "e-1"]


def test_every_batch_ends_with_a_commit_mark(tmp_path: Path) -> None:
    with DurableEngine.open(tmp_path) as engine:
        engine.ingest([event(0), event(1)])
        engine.ingest([profile("c-1", 1, country="DE")])
    kinds = ["x" if kind_of(r) == COMMIT else "r" for r in log_records(tmp_path)]
    assert kinds == ["r", "r", "x", "r", "x"]


def test_concurrent_producers_share_fsyncs_and_apply_in_log_order(tmp_path: Path) -> None:
    calls = []

    def counting_fsync(fd: int) -> None:
        calls.append(fd)
        time.sleep(0.002)  # a disk slow enough for batches to queue up behind an fsync
        os.fsync(fd)

    producers, batches, size = 8, 12, 20
    errors: list[BaseException] = []
    with DurableEngine.open(tmp_path, fsync=counting_fsync) as engine:
        start = threading.Barrier(producers)

        def produce(p: int) -> None:
            try:
                start.wait()
                for b in range(batches):
                    # Overlapping ids between producers: each id must be accepted exactly once.
                    ids = [(p * batches + b) * size + i for i in range(size)] + [b * size + i for i in range(5)]
                    engine.ingest([event(i) for i in ids])
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors
        live = digest_of(engine)
        appended_batches = producers * batches
        assert len(calls) < appended_batches, "group commit: fewer fsyncs than batches"
        assert engine.stats().coalesced_applies > 0, "consecutive batches applied in one shard call"
    ids = event_ids_in_log(tmp_path)
    assert len(ids) == len(set(ids)) == producers * batches * size, "no duplicate id reaches the log"
    with DurableEngine.open(tmp_path, use_snapshots=False) as engine:
        assert digest_of(engine) == live, "live state = replay of the log (ordered apply)"


class FailingFsync:
    def __init__(self) -> None:
        self.failing = False
        self.calls = 0

    def __call__(self, fd: int) -> None:
        self.calls += 1
        if self.failing:
            raise OSError(5, "simulated EIO from fsync")
        os.fsync(fd)


def test_fsync_failure_is_never_acknowledged_and_ingest_is_refused(tmp_path: Path) -> None:
    hook = FailingFsync()
    engine = DurableEngine.open(tmp_path, fsync=hook)
    engine.ingest([event(0)])
    hook.failing = True
    with pytest.raises(LogFailedError):
        engine.ingest([event(1)])
    assert engine.count("count(page_viewed) >= 1", FAR_MS) == 1, "the failed batch is not visible"
    calls = hook.calls
    with pytest.raises(LogFailedError, match="refuses ingest"):
        engine.ingest([event(2)])
    assert hook.calls == calls, "nothing is tried after a failure"
    assert engine.stats().refusing_ingest is not None
    engine.close()  # the failure was reported already; closing releases the directory
    with DurableEngine.open(tmp_path) as reopened:  # the failed batch may or may not be there: retry
        reopened.ingest([event(1), event(2)])
        assert reopened.count("count(page_viewed) >= 1", FAR_MS) == 3
    assert sorted(event_ids_in_log(tmp_path)) == ["e-0", "e-1", "e-2"]


def test_backpressure_appends_nothing_and_the_engine_goes_on(tmp_path: Path) -> None:
    gate = threading.Event()
    entered = threading.Event()
    gate.set()

    def slow_fsync(fd: int) -> None:
        entered.set()
        assert gate.wait(30)
        os.fsync(fd)

    with DurableEngine.open(tmp_path, fsync=slow_fsync, max_pending_records=3) as engine:
        engine.ingest([event(0)])
        gate.clear()
        entered.clear()
        first = threading.Thread(target=engine.ingest, args=([event(1)],))
        first.start()
        assert entered.wait(10)  # the writer is stuck in the fsync of e-1's group
        second = threading.Thread(target=engine.ingest, args=([event(2)],))
        second.start()  # queued behind it: 2 of the 3 records the queue holds
        for _ in range(200):
            if engine.log.pending_records == 2:
                break
            threading.Event().wait(0.01)
        with pytest.raises(LogBackpressureError):
            engine.ingest([event(3), event(4)], timeout_ms=50)
        gate.set()
        first.join(10)
        second.join(10)
        result = engine.ingest([event(3)])
        assert result.accepted == 1, "not refused, and e-3 is not 'in flight' any more"
    assert event_ids_in_log(tmp_path) == ["e-0", "e-1", "e-2", "e-3"]


def test_capacity_is_checked_before_appending(tmp_path: Path) -> None:
    with DurableEngine.open(tmp_path, capacity=4) as engine:
        engine.ingest([event(i, f"c-{i}") for i in range(3)])
        with pytest.raises(ShardFullError):
            engine.ingest([event(10, "c-10"), event(11, "c-11")])
        # An erased customer named again needs a fresh dense id: counted before appending too.
        with pytest.raises(ShardFullError):
            engine.ingest([{"forget_customer": "c-0", "ts": 1}, event(12, "c-0"), event(13, "c-new")])
        engine.ingest([event(14, "c-0"), event(15, "c-3")])
        assert engine.customer_count() == 4
        with pytest.raises(ShardFullError):
            engine.ingest([event(16, "c-5")])
    assert len(event_ids_in_log(tmp_path)) == 5
    DurableEngine.open(tmp_path, capacity=4).close()  # and the log replays


def test_snapshot_plus_tail_equals_full_replay(tmp_path: Path) -> None:
    with DurableEngine.open(tmp_path, tz="America/New_York") as engine:
        engine.ingest([event(i) for i in range(30)])
        engine.ingest([profile("c-3", 7, email="X@Y.com", tags=["a"])])
        info = engine.snapshot()
        engine.ingest([event(i, event_type="order_created") for i in range(30, 60)])
        engine.ingest([{"forget_customer": "c-4", "ts": 1}, event(61, "c-4")])
        live = digest_of(engine)
    with DurableEngine.open_with_report(tmp_path)[0] as engine:
        assert digest_of(engine) == live
    engine, report = DurableEngine.open_with_report(tmp_path)
    with engine:
        assert report.snapshot is not None and report.snapshot.covered_lsn == info.covered_lsn
        assert report.replay.from_lsn == info.covered_lsn and report.replay.records == 32
    with DurableEngine.open(tmp_path, use_snapshots=False) as engine:
        assert digest_of(engine) == live


def test_a_corrupt_newest_snapshot_falls_back_to_an_older_one(tmp_path: Path) -> None:
    with DurableEngine.open(tmp_path) as engine:
        engine.ingest([event(i) for i in range(10)])
        older = engine.snapshot()
        engine.ingest([event(i) for i in range(10, 20)])
        newer = engine.snapshot()
        engine.ingest([event(20)])
        live = digest_of(engine)
    victim = max((p for p in newer.path.iterdir() if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x40
    victim.write_bytes(bytes(data))
    engine, report = DurableEngine.open_with_report(tmp_path)
    with engine:
        assert report.snapshot is not None and report.snapshot.path == older.path
        assert report.skipped_snapshots and str(newer.path) in report.skipped_snapshots[0]
        assert digest_of(engine) == live
    for info in list_snapshots(tmp_path / "snapshots"):  # both bad: full replay
        for part in info.path.iterdir():
            part.write_bytes(b"garbage")
    engine, report = DurableEngine.open_with_report(tmp_path)
    with engine:
        assert report.snapshot is None and report.replay.from_lsn == 0
        assert digest_of(engine) == live


def test_declarations_and_erasures_survive_restart(tmp_path: Path) -> None:
    declare = {"declare": {"property": "loyalty_tier", "type": "enum", "values": ["gold", "silver"]}}
    declare_event = {"declare": {"event": "coupon_used", "attributes": {"code": "string", "value": "number"}}}
    with DurableEngine.open(tmp_path) as engine:
        engine.ingest([declare, profile("c-1", 1, loyalty_tier="gold"), declare_event])
        engine.ingest([{"event_id": "k1", "customer_id": "c-1", "type": "coupon_used", "ts": 5,
                        "attrs": {"code": "X", "value": "2.50"}}])
        engine.snapshot()
        engine.ingest([{"declare": {"property": "loyalty_tier", "type": "enum", "values": ["gold", "silver", "bronze"]}},
                       profile("c-2", 1, loyalty_tier="bronze"), {"forget_customer": "c-1", "ts": 3}])
    with DurableEngine.open(tmp_path) as engine:
        assert engine.members('loyalty_tier = "bronze"', FAR_MS) == ["c-2"]
        assert engine.count("count(coupon_used) >= 1", FAR_MS) == 0  # c-1 was erased
        assert engine.ingest([{"event_id": "k2", "customer_id": "c-9", "type": "coupon_used", "ts": 5}]).accepted == 1
        assert engine.members("count(coupon_used) >= 1", FAR_MS) == ["c-9"]


def test_concurrent_declaration_and_use(tmp_path: Path) -> None:
    """A batch validated against a declaration never precedes it in the log (replay would fail)."""
    with DurableEngine.open(tmp_path) as engine:
        declared = threading.Event()

        def declare_then_use(n: int) -> None:
            name = f"prop_{n}"
            engine.ingest([{"declare": {"property": name, "type": "string"}}])
            declared.set()
            engine.ingest([profile(f"c-{n}", 1, **{name: "v"})])

        def noise() -> None:
            for i in range(40):
                engine.ingest([event(1000 + i)])

        threads = [threading.Thread(target=declare_then_use, args=(n,)) for n in range(6)]
        threads.append(threading.Thread(target=noise))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        live = digest_of(engine)
    with DurableEngine.open(tmp_path, use_snapshots=False) as engine:
        assert digest_of(engine) == live
        assert all(engine.count(f'prop_{n} = "v"', FAR_MS) == 1 for n in range(6))


def test_a_torn_batch_is_never_visible(tmp_path: Path) -> None:
    """Whole, CRC-valid frames of a batch without its commit mark: discarded, and an abort mark keeps
    them from being glued to the next batch."""
    with DurableEngine.open(tmp_path) as engine:
        engine.ingest([event(0)])
    # Simulate a crash in the middle of the next batch's write: its first two records made it.
    from indexes.durable.record_codec import encode
    from indexes.records import validate_batch

    torn = validate_batch([event(1), event(2), event(3)], Engine().schema).records
    with FileLog(tmp_path / "log") as log:
        log.append([encode(r) for r in torn[:2]])
    engine, report = DurableEngine.open_with_report(tmp_path)
    with engine:
        assert report.abort_written and report.replay.uncommitted_records == 2
        assert engine.count("count(page_viewed) >= 1", FAR_MS) == 1
        engine.ingest([event(4)])
        assert engine.ingest([event(1)]).accepted == 1, "a torn event was never accepted"
    with DurableEngine.open(tmp_path) as engine:
        assert engine.members("count(page_viewed) >= 1", FAR_MS) == sorted({"c-0", "c-4", "c-1"})
        assert engine.ingest([event(2)]).accepted == 1


def test_records_decode_from_the_log_exactly(tmp_path: Path) -> None:
    raws = [event(1), {"event_id": "o", "customer_id": "c", "type": "order_created", "ts": 3,
                       "attrs": {"amount": "1.50", "product_ids": ["b", "a", "b"]}},
            profile("c", 2, tags=["y", "x"], country=None, birth_date="1990-02-03", total_order_value=12.5),
            {"forget_customer": "c", "ts": 4},
            {"declare": {"event": "zap", "attributes": {"n": {"type": "number", "scale": 0}}}, "ts": 9}]
    from indexes.records import validate_batch

    records = validate_batch(raws, Engine().schema).records
    with DurableEngine.open(tmp_path) as engine:
        engine.ingest(raws)
    stored = log_records(tmp_path)
    assert [decode(msgpack.unpackb(msgpack.packb(r))) for r in stored[:-1]] == records


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=record_batches(), zone=st.sampled_from(ZONES), snapshot_after=st.integers(0, 3))
def test_durable_state_equals_the_in_memory_engine(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[dict]], zone: str, snapshot_after: int
) -> None:
    data_dir = tmp_path_factory.mktemp("d")
    reference = Engine(tz=zone)
    with DurableEngine.open(data_dir, tz=zone, sync="never") as engine:
        for number, batch in enumerate(batches):
            if number == snapshot_after:
                engine.snapshot()
            expected = reference.ingest(batch)
            got = engine.ingest(batch)
            assert (got.accepted + got.duplicates, got.duplicates) == (expected.accepted + expected.duplicates,
                                                                      expected.duplicates)
        live = digest_of(engine)
    assert live == shard_digest(reference.shard)
    with DurableEngine.open(data_dir, sync="never") as engine:
        assert digest_of(engine) == live
        assert rebuild(engine, write=False).equal


def test_queries_never_see_half_a_batch(tmp_path: Path) -> None:
    size = 25
    seen: list[int] = []
    done = threading.Event()
    with DurableEngine.open(tmp_path, sync="never") as engine:

        def read() -> None:
            while not done.is_set():
                with engine.read_state() as inner:
                    seen.append(inner.shard.event_count)

        def produce(p: int) -> None:
            for b in range(15):
                engine.ingest([event(10_000 * p + 100 * b + i) for i in range(size)])

        reader = threading.Thread(target=read)
        reader.start()
        producers = [threading.Thread(target=produce, args=(p,)) for p in range(3)]
        for thread in producers:
            thread.start()
        for thread in producers:
            thread.join(60)
        done.set()
        reader.join(10)
        with engine.read_state() as inner:
            assert inner.shard.event_count == 3 * 15 * size
    assert len(seen) > 1 and all(count % size == 0 for count in seen)
