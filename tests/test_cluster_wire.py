"""Ingest of serialized records (Cluster.ingest_wire, what the gRPC server sends): routed by customer,
decoded on the shards, with the same outcome as the dict path; batches ordered by `after`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import ray

from actors.api import PredecessorFailedError, RecordStatus, WireBatch
from actors.cluster import Cluster
from actors.placement import shard_of
from actors.ray_runtime import ensure_ray
from indexes.records import RecordBatchError
from proto.segments.v1 import ingest_pb2, records_pb2
from service.convert_records import records_to_pb
from service.wire_requests import received, wire_batch

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]
AS_OF = 1_800_000_000_000


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    ensure_ray()
    loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    loop.close()


@pytest.fixture(scope="module")
def cluster(run: Run, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    started = run(Cluster.start(tmp_path_factory.mktemp("wire"), shards=2, sync="never"))
    yield started
    run(started.close())


def order(event_id: str, customer: str, amount: str = "10.00") -> dict[str, Any]:
    return {"event_id": event_id, "customer_id": customer, "type": "order_created", "ts": AS_OF - 1000,
            "attrs": {"amount": amount}}


def wire(raws: list[dict[str, Any]], extra: dict[int, records_pb2.Record] | None = None) -> WireBatch:
    """`raws` as the server sends them, with `extra` records (undecodable ones) put in at their indexes."""
    records = records_to_pb(raws)
    for index, record in sorted((extra or {}).items()):
        records.insert(index, record)
    return wire_batch([received(ingest_pb2.IngestRequest(records=records))])


def no_value_record(customer: str) -> records_pb2.Record:
    record = records_to_pb([order("nv", customer)])[0]
    record.event.attrs["amount"].Clear()  # a Value with nothing set: decodes to an error
    return record


def prepared_left(cluster: Cluster) -> int:
    return sum(ray.get(cluster.shard_actor(s).prepared_count.remote()) for s in range(cluster.shards))


def count(run: Run, cluster: Cluster, rule: str) -> int:
    return run(cluster.count(rule, AS_OF)).count


def test_wire_batches_get_the_statuses_of_the_dict_path(run: Run, cluster: Cluster) -> None:
    customers = [f"w{i}" for i in range(12)]
    assert {shard_of(c, 2) for c in customers} == {0, 1}
    raws = [order(f"we-{i}", c) for i, c in enumerate(customers)]
    raws[3]["attrs"]["amount"] = "1.234"  # too many fractional digits: rejected by validation
    extra = {5: records_pb2.Record(), 8: no_value_record("w7")}  # no kind (router); no value (a shard)
    batch = wire(raws, extra)
    outcome = run(cluster.ingest_wire(batch, partial=True))
    assert [(e.index, e.field) for e in outcome.errors] == [(3, "attrs.amount"), (5, ""), (8, "attrs.amount")]
    expected = [RecordStatus.ACCEPTED] * 14
    for index in (3, 5, 8):
        expected[index] = RecordStatus.REJECTED
    assert outcome.statuses == expected and outcome.accepted == 11

    again = run(cluster.ingest_wire(batch, partial=True))  # duplicates map back through the dropped records
    assert again.statuses == [RecordStatus.REJECTED if i in (3, 5, 8) else RecordStatus.DUPLICATE for i in range(14)]
    assert again.duplicates == 11
    assert count(run, cluster, 'count(order_created where amount = 10) >= 1') == 11
    assert prepared_left(cluster) == 0


def test_an_undecodable_record_refuses_the_whole_batch(run: Run, cluster: Cluster) -> None:
    raws = [order(f"wr-{i}", f"wr{i}", "31") for i in range(6)]
    with pytest.raises(RecordBatchError) as caught:
        run(cluster.ingest_wire(wire(raws, {2: no_value_record("wr9")})))
    assert [(e.index, e.field) for e in caught.value.errors] == [(2, "attrs.amount")]
    assert count(run, cluster, "count(order_created where amount = 31) >= 1") == 0  # on no shard
    assert run(cluster.ingest_wire(wire(raws))).accepted == 6
    assert prepared_left(cluster) == 0


def test_a_batch_is_stored_only_after_its_predecessor(run: Run, cluster: Cluster) -> None:
    rule = 'count(order_created where amount = 77) >= 1'

    async def ordered() -> None:
        before = (await cluster.count(rule, AS_OF)).count
        gate: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        second = asyncio.ensure_future(cluster.ingest_wire(wire([order("wa-1", "wa1", "77")]), after=gate))
        await asyncio.sleep(0.3)
        assert not second.done() and (await cluster.count(rule, AS_OF)).count == before  # prepared, not stored
        gate.set_result(None)
        assert (await second).accepted == 1
        assert (await cluster.count(rule, AS_OF)).count == before + 1

        failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        third = asyncio.ensure_future(cluster.ingest_wire(wire([order("wa-2", "wa2", "77")]), after=failed))
        await asyncio.sleep(0.1)
        failed.set_exception(ValueError("the batch before failed"))
        with pytest.raises(PredecessorFailedError):
            await third
        assert (await cluster.count(rule, AS_OF)).count == before + 1

    run(ordered())
    assert prepared_left(cluster) == 0
    assert run(cluster.ingest_wire(wire([order("wa-2", "wa2", "77")]))).accepted == 1  # it was never stored


def test_wire_batches_are_bounded(run: Run, cluster: Cluster) -> None:
    too_many = WireBatch(b"", [0] * 100_001, [0] * 100_001, ["x"] * 100_001)
    with pytest.raises(ValueError, match="at most 100000"):
        run(cluster.ingest_wire(too_many))
