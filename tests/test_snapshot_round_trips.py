"""Snapshots (indexes/snapshot) round-trip: the loaded shard has the same digest, answers and bytes,
and goes on ingesting alike; declarations and erasures survive."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexes.engine import Engine
from indexes.schema import ValueType
from indexes.snapshot import load_newest_snapshot, shard_digest, write_snapshot
from indexes.snapshot.blobs import ARRAYS_FILE, BITMAPS_FILE, STRINGS_FILE
from indexes.snapshot.layout import snapshot_name
from indexes.snapshot.manifest import read_manifest
from tests.snapshot_engines import SCHEMA, TEST_SETTINGS, THRESHOLDS, build, differing, no_fsync, thresholds
from tests.strategies_records import BASE_MS, HOUR_MS, ZONES, as_of_ms, record_batches
from tests.strategies_rules import rules


def wrap(shard: object, tz: str) -> Engine:
    engine = Engine(tz=tz)
    engine.shard = shard  # type: ignore[assignment]
    return engine


def round_trip(engine: Engine, lsn: int = 7) -> Engine:
    with tempfile.TemporaryDirectory() as directory:
        write_snapshot(engine.shard, Path(directory), lsn, fsync=no_fsync)
        loaded = load_newest_snapshot(Path(directory))
    assert loaded is not None and loaded.skipped == [] and loaded.info.covered_lsn == lsn
    return wrap(loaded.shard, engine.tz)



def data_files(directory: Path) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in (ARRAYS_FILE, BITMAPS_FILE, STRINGS_FILE)}


# --- round trips -----------------------------------------------------------------------------
@settings(TEST_SETTINGS, max_examples=60)
@given(
    tz=st.sampled_from(ZONES),
    batches=record_batches(),
    more=record_batches(min_records=4, max_records=20),
    rule_list=st.lists(rules(SCHEMA), min_size=1, max_size=3),
    as_of=as_of_ms(),
    query_between=st.booleans(),
    limits=THRESHOLDS,
)
def test_round_trip_keeps_digest_answers_and_bytes(
    tz: str, batches: list, more: list, rule_list: list, as_of: int, query_between: bool, limits: tuple
) -> None:
    with thresholds(*limits):
        live = build(tz, batches, rule_list if query_between else [], as_of)
        with tempfile.TemporaryDirectory() as directory:
            first = Path(directory) / "a"
            info = write_snapshot(live.shard, first, 11, fsync=no_fsync)
            loaded = load_newest_snapshot(first)
            assert loaded is not None and loaded.info == info
            restored = wrap(loaded.shard, tz)
            # Saving the loaded shard again gives the same bytes: the representation round-trips,
            # not only the logical state.
            second = Path(directory) / "b"
            write_snapshot(restored.shard, second, 11, fsync=no_fsync)
            assert data_files(first / snapshot_name(11)) == data_files(second / snapshot_name(11))
            assert read_manifest(first / snapshot_name(11))["shard"] == read_manifest(second / snapshot_name(11))["shard"]
        assert differing(live, restored) == []
        assert shard_digest(live.shard) == shard_digest(restored.shard)
        for rule in rule_list:
            assert restored.members(rule, as_of) == live.members(rule, as_of)
        # Both go on ingesting alike (log-tail replay after a restart).
        for batch in more:
            live.ingest(batch)
            restored.ingest(batch)
        assert differing(live, restored) == []
        for rule in rule_list:
            assert restored.members(rule, as_of) == live.members(rule, as_of)


def test_empty_shard_round_trips() -> None:
    live = Engine(tz="America/Santiago")
    restored = round_trip(live, lsn=0)
    assert shard_digest(restored.shard) == shard_digest(live.shard)
    assert restored.tz == "America/Santiago" and restored.customer_count() == 0


DECLARATIONS = [
    {"declare": {"property": "loyalty_tier", "type": "enum", "values": ["gold", "silver"]}},
    {"declare": {"property": "score", "type": "number", "scale": 0}},
    {"declare": {"property": "newsletter", "type": "bool"}},
    {"declare": {"property": "anniversary", "type": "date"}},
    {"declare": {"event": "app_opened", "attributes": {"first_time": "bool", "opened_at": "timestamp",
                                                       "screens": "list", "load_ms": {"type": "number", "scale": 0}}}},
]


def test_declarations_survive_a_round_trip() -> None:
    records = [
        *DECLARATIONS,
        {"customer_id": "a", "ts": BASE_MS, "properties": {"loyalty_tier": "gold", "score": 7, "newsletter": True,
                                                          "anniversary": "2020-02-29"}},
        {"event_id": "x1", "customer_id": "a", "type": "app_opened", "ts": BASE_MS,
         "attrs": {"first_time": True, "opened_at": BASE_MS - 5, "screens": ["home", "cart"], "load_ms": 120}},
        {"event_id": "x2", "customer_id": "b", "type": "order_created", "ts": BASE_MS, "attrs": {"amount": 10}},
        # After events of the type exist: an added attribute, and an enum that grows.
        {"declare": {"event": "order_created", "attributes": {"gift": "bool", "channel": "string"}}},
        {"declare": {"property": "loyalty_tier", "type": "enum", "values": ["gold", "silver", "bronze"]}},
        {"event_id": "x3", "customer_id": "b", "type": "order_created", "ts": BASE_MS + 1,
         "attrs": {"amount": 5, "gift": True, "channel": "web"}},
        {"customer_id": "b", "ts": BASE_MS, "properties": {"loyalty_tier": "bronze"}},
    ]
    live = build("Europe/Istanbul", [records])
    restored = round_trip(live)
    assert restored.schema == live.schema and restored.schema.properties["score"] == ValueType("number", scale=0)
    assert restored.shard.columns["loyalty_tier"].value_type.enum_values == ("gold", "silver", "bronze")
    assert differing(live, restored) == []
    as_of = BASE_MS + HOUR_MS
    for rule in ('loyalty_tier = "bronze"', "score >= 7", "newsletter = true", 'count(app_opened where screens has "cart") >= 1',
                 "count(order_created where gift = true) = 1", "count(app_opened where load_ms > 100) >= 1"):
        assert restored.members(rule, as_of) == live.members(rule, as_of) != []
    # A restored schema keeps validating what the declarations allow, and refuses a type change.
    later = [{"customer_id": "c", "ts": BASE_MS, "properties": {"loyalty_tier": "silver"}}]
    restored.ingest(later)
    live.ingest(later)
    assert differing(live, restored) == []
    with pytest.raises(ValueError):
        restored.ingest([{"declare": {"property": "score", "type": "string"}}])


def test_erased_customers_stay_erased() -> None:
    records = [
        {"event_id": "e1", "customer_id": "gone", "type": "order_created", "ts": BASE_MS, "attrs": {"amount": 10}},
        {"customer_id": "gone", "ts": BASE_MS, "properties": {"email": "gone@x.com", "tags": ["vip"]}},
        {"event_id": "e2", "customer_id": "kept", "type": "order_created", "ts": BASE_MS, "attrs": {"amount": 10}},
        {"forget_customer": "gone", "ts": BASE_MS},
    ]
    live = build("UTC", [records])
    restored = round_trip(live)
    assert restored.shard.ids.lookup("gone") is None and restored.customer_count() == 1
    as_of = BASE_MS + HOUR_MS
    for rule in ("count(order_created) >= 1", 'email = "gone@x.com"', 'tags has "vip"', "lifetime_value > 0"):
        assert restored.members(rule, as_of) == live.members(rule, as_of)
    assert restored.members("count(order_created) >= 1", as_of) == ["kept"]
    # The erased event id stays seen; the same external id comes back as a new customer.
    again = [{"event_id": "e1", "customer_id": "gone", "type": "order_created", "ts": BASE_MS, "attrs": {"amount": 1}},
             {"customer_id": "gone", "ts": BASE_MS, "properties": {"country": "TR"}}]
    for engine in (live, restored):
        result = engine.ingest(again)
        assert result.duplicates == 1
    assert restored.shard.ids.lookup("gone") == live.shard.ids.lookup("gone") == 2
    assert differing(live, restored) == []
    assert restored.members('email = "gone@x.com"', as_of) == []

