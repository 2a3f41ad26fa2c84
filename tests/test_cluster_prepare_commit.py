"""DurableEngine two-phase ingest (prepare / commit / release), the shard half of the cluster's
all-or-nothing ingest across shards (docs/SERVICE.md, "Shards and actors"). No Ray here."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from indexes.durable import DurableEngine
from indexes.durable.engine import PreparedBatchError
from indexes.durable.record_codec import EVENT, EVENT_ID_AT, kind_of
from indexes.log import FileLog
from indexes.records import RecordBatchError
from indexes.shard.dense_ids import ShardFullError

FAR_MS = 10**13


def event(event_id: str, customer: str, ts: int = 1000) -> dict:
    return {"event_id": event_id, "customer_id": customer, "type": "page_viewed", "ts": ts}


def logged_event_ids(data_dir: Path) -> list[str]:
    with FileLog(data_dir / "log") as log:
        return [r[EVENT_ID_AT] for _, r in log.read() if kind_of(r) == EVENT]


def test_prepare_appends_nothing_and_release_frees_the_ids(tmp_path: Path) -> None:
    with DurableEngine.open(tmp_path, sync="never") as engine:
        prepared = engine.prepare([event("e1", "a"), event("e2", "b")])
        assert prepared.needs_commit and engine.prepared_count == 1
        assert engine.applied_lsn == 0 and engine.count("count(page_viewed) >= 1", FAR_MS) == 0
        # In flight: the same id in another batch is a duplicate waiting for this one.
        other = engine.prepare([event("e1", "a")])
        assert other.duplicate_indexes == [0] and other.waits
        assert engine.release(prepared) is True
        assert engine.release(prepared) is False  # idempotent
        with pytest.raises(PreparedBatchError):
            engine.commit(prepared)
        # The original was released: its waiting duplicate fails and must be retried.
        with pytest.raises(Exception, match="original of a duplicate"):
            engine.commit(other)
        result = engine.ingest([event("e1", "a"), event("e2", "b")])
        assert (result.accepted, result.duplicates) == (2, 0)
        assert engine.prepared_count == 0
    assert logged_event_ids(tmp_path) == ["e1", "e2"]


def test_commit_reports_duplicate_and_rejected_input_indexes(tmp_path: Path) -> None:
    with DurableEngine.open(tmp_path, sync="never") as engine:
        engine.ingest([event("old", "a")])
        batch = [
            event("new-1", "a"),
            event("old", "b"),  # accepted before
            {"event_id": "x", "customer_id": "a", "type": "no_such_type", "ts": 1},  # rejected
            event("new-1", "c"),  # repeats index 0
            {"customer_id": "a", "ts": 5, "properties": {"country": "TR"}},
            event("new-2", "c"),
        ]
        with pytest.raises(RecordBatchError) as caught:
            engine.prepare(batch)
        assert [e.index for e in caught.value.errors] == [2]
        assert engine.prepared_count == 0
        prepared = engine.prepare(batch, partial=True)
        assert prepared.duplicate_indexes == [1, 3]
        assert [e.index for e in prepared.errors] == [2]
        result = engine.commit(prepared)
        assert result.accepted == 3 and result.duplicates == 2
        assert result.duplicate_indexes == [1, 3] and [e.index for e in result.errors] == [2]
        # ingest = prepare + commit reports the same way
        again = engine.ingest([event("new-2", "c"), event("new-3", "c")])
        assert again.duplicate_indexes == [0] and again.accepted == 1


def test_prepared_batches_hold_their_capacity_reservation(tmp_path: Path) -> None:
    with DurableEngine.open(tmp_path, sync="never", capacity=4) as engine:
        first = engine.prepare([event(f"a{i}", f"c{i}") for i in range(3)])
        with pytest.raises(ShardFullError):
            engine.prepare([event("b0", "d0"), event("b1", "d1")])
        engine.release(first)
        engine.commit(engine.prepare([event("b0", "d0"), event("b1", "d1")]))
        assert engine.customer_count() == 2


def test_a_prepared_declaration_orders_the_schema(tmp_path: Path) -> None:
    declare_tier = {"declare": {"property": "tier", "type": "string"}}
    uses_tier = {"customer_id": "a", "ts": 1, "properties": {"tier": "gold"}}
    with DurableEngine.open(tmp_path, sync="never") as engine:
        declaration = engine.prepare([declare_tier])
        # Not usable before the declaration has its LSN: the log must hold it first.
        with pytest.raises(RecordBatchError, match="unknown property"):
            engine.prepare([uses_tier])
        # A second declaration batch waits in prepare until the first is committed or released.
        second: list[object] = []
        waiter = threading.Thread(
            target=lambda: second.append(engine.prepare([{"declare": {"property": "rank", "type": "number"}}]))
        )
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive() and not second
        engine.commit(declaration)
        waiter.join(5)
        assert not waiter.is_alive() and len(second) == 1
        engine.release(second[0])  # type: ignore[arg-type]
        engine.ingest([uses_tier])
        assert engine.count('tier = "gold"', FAR_MS) == 1
        assert "rank" not in engine.schema.properties
    with DurableEngine.open(tmp_path) as engine:
        assert engine.count('tier = "gold"', FAR_MS) == 1


def test_close_releases_prepared_batches(tmp_path: Path) -> None:
    engine = DurableEngine.open(tmp_path, sync="never")
    prepared = engine.prepare([event("e1", "a")])
    engine.close()  # does not wait CLOSE_TIMEOUT_MS for a batch nobody commits
    assert prepared.state == "released"
    with pytest.raises(PreparedBatchError):
        engine.commit(prepared)
    with DurableEngine.open(tmp_path) as reopened:
        assert reopened.customer_count() == 0
