"""Record codec (exact round trip through msgpack), batch marks, log items as shard columns, capacity bound."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexes.durable.capacity import customers_needed
from indexes.durable.control import BatchScanner, iter_split, kinds_of, tombstone_batch
from indexes.durable.event_id_keys import add_unseen
from indexes.durable.log_columns import event_columns, profile_columns_of, steps_of_items
from indexes.durable.record_codec import (
    ABORT_MARK,
    COMMIT_MARK,
    CodecError,
    Tombstone,
    decode,
    encode,
    encode_batch,
    encode_control,
)
from indexes.engine import Engine
from indexes.event_ids import EventIdSet, digests
from indexes.records import validate_batch
from indexes.shard.dense_ids import ShardFullError
from indexes.snapshot import index_digests
from tests.strategies_records import record_batches


def through_log(item: dict) -> dict:
    """What the log gives back: msgpack with its defaults (tuples become lists)."""
    return msgpack.unpackb(msgpack.packb(item, use_bin_type=True), strict_map_key=False)


@settings(max_examples=60, deadline=None)
@given(batches=record_batches(min_records=1, max_records=40))
def test_every_record_round_trips_exactly(batches: list[list[dict]]) -> None:
    schema = Engine().schema
    for batch in batches:
        records = validate_batch(batch, schema).records
        assert [decode(through_log(encode(r))) for r in records] == records


def test_declarations_and_tuples_round_trip() -> None:
    raws = [
        {"declare": {"property": "tier", "type": "enum", "values": ["a", "b"]}, "ts": 5},
        {"declare": {"event": "zap", "attributes": {"ids": "list", "n": {"type": "number", "scale": 0}}}},
        {"event_id": "z", "customer_id": "c", "type": "zap", "ts": 1, "attrs": {"ids": ["y", "x"], "n": 3}},
        {"customer_id": "c", "ts": 2, "properties": {"tier": "a", "tags": [], "email": None}},
        {"forget_customer": "c", "ts": 3},
    ]
    records = validate_batch(raws, Engine().schema).records
    decoded = [decode(through_log(encode(r))) for r in records]
    assert decoded == records
    assert isinstance(decoded[2].attrs["ids"], tuple) and decoded[3].properties["tags"] == ()


def test_control_marks_round_trip() -> None:
    keys = digests(["a", "b", "c"])
    for mark in (COMMIT_MARK, ABORT_MARK, Tombstone(keys)):
        assert decode(through_log(encode_control(mark))) == mark
    for foreign in ([7], [], {"x": "c"}, ["e"], [6, b"123"], [0, "id-without-the-rest"], [0, "c", 1, "t", "e"],
                    [1, "c", 1, "x,y", 1], [0, "c", 1, "t:", "e", 5], [0, "c", 1, ":a", "e", 5]):
        with pytest.raises(CodecError):
            decode(foreign)  # type: ignore[arg-type]
    with pytest.raises(CodecError):
        kinds_of([[4], {"x": "c"}])
    with pytest.raises(CodecError):
        kinds_of([[4], [9]])


def test_records_are_arrays_with_a_layout_of_names_then_the_values() -> None:
    raws = [{"event_id": "e", "customer_id": "c", "type": "order_created", "ts": 5,
             "attrs": {"amount": "1.50", "product_ids": ["b", "a"]}},
            {"event_id": "f", "customer_id": "c", "type": "page_viewed", "ts": 6},
            {"customer_id": "c", "ts": 7, "properties": {"country": "TR", "tags": ["x"], "city": None}}]
    records = validate_batch(raws, Engine().schema).records
    assert [through_log(encode(r)) for r in records] == [
        [0, "c", 5, "order_created:amount,product_ids", "e", 150, ["a", "b"]],
        [0, "c", 6, "page_viewed:", "f"],
        [1, "c", 7, "country,tags,city", "TR", ["x"], None],
    ]


def test_batch_scanner_applies_only_committed_batches() -> None:
    records = validate_batch([{"forget_customer": f"c{i}", "ts": 0} for i in range(6)], Engine().schema).records
    log = [*encode_batch(records[:2]), *[encode(r) for r in records[2:4]], encode_control(ABORT_MARK),
           *encode_batch(records[4:5]), encode(records[5])]
    scanner = BatchScanner(0)
    ready: list = []
    scanner.feed([through_log(item) for item in log[:4]], ready)  # a batch split across reads
    assert [decode(item) for item in ready] == records[:2]
    scanner.feed([through_log(item) for item in log[4:]], ready)
    assert [decode(item) for item in ready] == [*records[:2], records[4]]
    assert scanner.aborted_records == 2 and scanner.commits == 2
    assert scanner.committed_lsn == 8 and scanner.uncommitted_records == 1


def test_tombstones_are_split_and_kept_in_order() -> None:
    keys = digests([f"e{i}" for i in range(5)])
    marks = tombstone_batch(keys)
    assert marks[-1] == COMMIT_MARK and np.array_equal(marks[0].keys, keys)
    items = [through_log(item) for item in [[0], [0], encode_control(marks[0]), [1]]]
    assert list(iter_split(items, kinds_of(items))) == [(0, 2), (2, 3), (3, 4)]
    assert decode(items[2]) == marks[0]


def test_add_unseen_never_counts_a_digest_twice() -> None:
    ids = EventIdSet()
    ids.add(digests(["a", "b"]))
    keys = digests(["b", "c", "c", "d"])
    fresh, _ = ids.filter_new_keys(keys)
    assert fresh.tolist() == [False, True, False, True]  # b seen; the second c repeats the first
    assert add_unseen(ids, keys) == 2 and len(ids) == 4
    assert add_unseen(ids, keys) == 0 and len(ids) == 4


@settings(max_examples=60, deadline=None)
@given(batches=record_batches(min_records=1, max_records=30), capacity=st.integers(1, 8))
def test_the_capacity_bound_covers_the_shards_own_check(batches: list[list[dict]], capacity: int) -> None:
    """If customers_needed says a batch fits, the shard's check never refuses it."""
    engine = Engine(capacity=capacity)
    for batch in batches:
        records = validate_batch(batch, engine.schema).records
        needed = customers_needed(records, engine.shard.ids.lookup_many, ())
        fits = engine.shard.ids.allocated + needed <= capacity
        try:
            engine.apply_validated(records)
        except ShardFullError:
            assert not fits, "the bound let through a batch the shard refuses"


@settings(max_examples=80, deadline=None)
@given(batches=record_batches(min_records=1, max_records=60))
def test_log_items_apply_as_columns_exactly_as_records_do(batches: list[list[dict]]) -> None:
    """Replay's path (log items -> columns -> shard) and ingest's (records -> shard) build the same state."""
    by_records, by_items = Engine(), Engine()
    for batch in batches:
        records = validate_batch(batch, by_records.schema).records
        by_records.apply_validated(records)
        items = [through_log(encode(r)) for r in records]
        by_items.shard.apply_steps(steps_of_items(items, kinds_of(items)))
    assert index_digests(by_items.shard) == index_digests(by_records.shard)


def test_columns_of_one_layout_and_of_mixed_layouts_keep_log_order() -> None:
    rows = [[0, "c", 1, "t:a,b", f"e{i}", i, [str(i)]] for i in range(4)]
    (one,) = event_columns(rows).by_type
    assert (one.event_type, one.rows, one.attrs) == ("t", None, {"a": [0, 1, 2, 3], "b": [["0"], ["1"], ["2"], ["3"]]})
    other = [0, "c", 1, "u:a", "e7", 7]
    mixed = [*rows[:2], [0, "c", 1, "t:b,a", "e9", ["9"], 9], other, [0, "c", 1, "t:b", "e8", ["8"]], rows[3]]
    columns = event_columns(mixed)
    assert columns.event_ids == ["e0", "e1", "e9", "e7", "e8", "e3"]
    t, u = columns.by_type
    assert (t.event_type, t.rows.tolist()) == ("t", [0, 1, 2, 4, 5])  # type: ignore[union-attr]
    assert t.attrs == {"a": [0, 1, 9, None, 3], "b": [["0"], ["1"], ["9"], ["8"], ["3"]]}
    assert (u.event_type, u.rows.tolist(), u.attrs) == ("u", [3], {"a": [7]})  # type: ignore[union-attr]
    with pytest.raises(CodecError):
        event_columns([[0, "c", 1, "t:a,b", "e", 1]])  # two names, one value
    profiles = [[1, "c", 1, "x,y", "1", None], [1, "d", 2, "y", "2"], [1, "e", 3, "x,y", "3", "3"]]
    columns = profile_columns_of(profiles)
    assert columns.ts_ms.tolist() == [1, 2, 3]
    assert {name: (rows.tolist(), values) for name, (rows, values) in columns.properties.items()} == {
        "x": ([0, 2], ["1", "3"]),  # the second profile does not name x: not written, not removed
        "y": ([0, 1, 2], [None, "2", "3"]),
    }
