"""Record codec (exact round trip through msgpack), batch marks, capacity bound."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexes.durable.capacity import customers_needed
from indexes.durable.control import BatchScanner, iter_split, tombstone_batch
from indexes.durable.event_id_keys import add_unseen
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
    with pytest.raises(CodecError):
        decode({"x": "?"})
    with pytest.raises(CodecError):
        decode({"x": "t", "h": b"123"})
    with pytest.raises(CodecError):
        decode({"e": "id-without-the-rest"})


def test_batch_scanner_applies_only_committed_batches() -> None:
    records = validate_batch([{"forget_customer": f"c{i}", "ts": 0} for i in range(6)], Engine().schema).records
    log = [*encode_batch(records[:2]), *[encode(r) for r in records[2:4]], encode_control(ABORT_MARK),
           *encode_batch(records[4:5]), encode(records[5])]
    scanner = BatchScanner(0)
    ready: list = []
    scanner.feed([through_log(item) for item in log[:4]], ready)  # a batch split across reads
    assert ready == records[:2]
    scanner.feed([through_log(item) for item in log[4:]], ready)
    assert ready == [*records[:2], records[4]]
    assert scanner.aborted_records == 2 and scanner.commits == 2
    assert scanner.committed_lsn == 8 and scanner.uncommitted_records == 1


def test_tombstones_are_split_and_kept_in_order() -> None:
    keys = digests([f"e{i}" for i in range(5)])
    marks = tombstone_batch(keys)
    assert marks[-1] == COMMIT_MARK and np.array_equal(marks[0].keys, keys)
    parts = list(iter_split([1, 2, marks[0], 3]))  # type: ignore[list-item]
    assert parts[0] == [1, 2] and parts[1] is marks[0] and parts[2] == [3]


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
