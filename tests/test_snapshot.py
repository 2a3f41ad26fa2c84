"""Snapshots (indexes/snapshot): round trips, digest canonicalisation, corruption fallback, pruning."""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexes.engine import Engine
from indexes.schema import Schema, ValueType
from indexes.shard import event_store, keyed_bitmaps
from indexes.shard.event_store import EventStore
from indexes.shard.property_index import StringColumn
from indexes.snapshot import (
    SnapshotError,
    delete_all_snapshots,
    index_digests,
    list_snapshots,
    load_newest_snapshot,
    prune_snapshots,
    shard_digest,
    write_snapshot,
)
from indexes.snapshot.blobs import ARRAYS_FILE, BITMAPS_FILE, STRINGS_FILE
from indexes.snapshot.digest_events import store_digest
from indexes.snapshot.layout import TEMP_PREFIX, snapshot_name
from indexes.snapshot.manifest import MANIFEST_FILE, encode_manifest, read_manifest
from tests.strategies_records import BASE_MS, HOUR_MS, ZONES, as_of_ms, record_batches
from tests.strategies_rules import rules

SCHEMA = Schema()
TEST_SETTINGS = settings(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
)


def no_fsync(fd: int) -> None:
    """Durability is not under test in most cases; skipping fsync keeps the suite fast."""


@contextlib.contextmanager
def thresholds(tiny_tail: bool, bitmap_min_holders: int, tiny_buffers: bool) -> Iterator[None]:
    """Shrunk storage thresholds (as in test_engine_vs_reference) so every representation occurs."""
    with (
        patch.object(event_store, "MIN_TAIL_ROWS", 2 if tiny_tail else event_store.MIN_TAIL_ROWS),
        patch.object(StringColumn, "BITMAP_MIN_HOLDERS", bitmap_min_holders),
        patch.object(keyed_bitmaps, "MAX_PENDING_PAIRS", 1 if tiny_buffers else keyed_bitmaps.MAX_PENDING_PAIRS),
    ):
        yield


THRESHOLDS = st.tuples(st.booleans(), st.sampled_from([1, 2, StringColumn.BITMAP_MIN_HOLDERS]), st.booleans())


def build(tz: str, batches: list[list[dict]], queries: list = (), as_of: int = BASE_MS) -> Engine:  # type: ignore[assignment]
    engine = Engine(tz=tz)
    for batch in batches:
        engine.ingest(batch)
        for rule in queries:  # builds first/last/sum indexes on the way, as a live shard would
            engine.members(rule, as_of)
    return engine


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


def differing(a: Engine, b: Engine) -> list[str]:
    da, db = index_digests(a.shard), index_digests(b.shard)
    return sorted(k for k in da.keys() | db.keys() if da.get(k) != db.get(k))


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


# --- digests ---------------------------------------------------------------------------------
def cut(records: list[dict], cuts: list[int]) -> list[list[dict]]:
    bounds = [0, *sorted(c % (len(records) + 1) for c in cuts), len(records)]
    return [records[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


@settings(TEST_SETTINGS, max_examples=80)
@given(
    tz=st.sampled_from(ZONES),
    batches=record_batches(max_records=80),
    cuts=st.lists(st.integers(0, 200), max_size=8),
    rule_list=st.lists(rules(SCHEMA, max_leaves=3), max_size=2),
    limits_a=THRESHOLDS,
    limits_b=THRESHOLDS,
)
def test_batchings_give_equal_digests(
    tz: str, batches: list, cuts: list, rule_list: list, limits_a: tuple, limits_b: tuple
) -> None:
    records = [r for batch in batches for r in batch]
    # Live: many small batches, queries in between, its own storage thresholds. Replay: one batch.
    with thresholds(*limits_a):
        live = build(tz, cut(records, cuts), rule_list)
    with thresholds(*limits_b):
        replayed = build(tz, [records])
    # Dense ids depend on the record sequence only: they may be hashed as they are.
    assert live.shard.ids._external_by_dense == replayed.shard.ids._external_by_dense
    assert differing(live, replayed) == []
    assert shard_digest(live.shard) == shard_digest(replayed.shard)


def test_lww_tie_older_than_the_stored_write() -> None:
    """Regression: found by test_batchings_give_equal_digests (writes tied within a batch, older than
    the stored write, replaced it: the state depended on batch boundaries)."""
    newer = {"customer_id": "c", "ts": BASE_MS + HOUR_MS, "properties": {"country": "TR"}}
    older_tied = [{"customer_id": "c", "ts": BASE_MS, "properties": {"country": "TR"}},
                  {"customer_id": "c", "ts": BASE_MS, "properties": {"country": None}}]
    apart = build("UTC", [[newer], older_tied])
    together = build("UTC", [[newer, *older_tied]])  # one run: the newest write wins outright
    assert together.shard.columns["country"].current(0) == "TR"
    assert apart.shard.columns["country"].current(0) == "TR"  # last writer (ts + 1h) wins
    assert differing(apart, together) == []


def test_running_sums_leave_batching_dependent_slices_that_the_digest_ignores() -> None:
    def event(i: int, event_type: str) -> dict:
        return {"event_id": f"e{i}", "customer_id": "a", "type": event_type, "ts": BASE_MS + i, "attrs": {"amount": 100}}

    records = [event(0, "order_created"), event(1, "order_created"), event(2, "order_refunded"), event(3, "order_refunded")]
    together = build("UTC", [records])  # +200 then -200: the sum passed 2**14 on the way
    apart = build("UTC", [[records[0], records[2]], [records[1], records[3]]])  # +-100 twice: it never did
    assert len(together.shard.lifetime_value.slices) != len(apart.shard.lifetime_value.slices)
    assert differing(together, apart) == []


@settings(TEST_SETTINGS, max_examples=40)
@given(batches=record_batches(), pick=st.integers(0, 10_000), change=st.sampled_from(["ts", "type", "attr", "id"]))
def test_a_changed_event_changes_the_digest(batches: list, pick: int, change: str) -> None:
    records = [r for batch in batches for r in batch]
    seen: set[str] = set()
    firsts = []  # events that are the first with their id: each leaves a row for good
    for position, record in enumerate(records):
        if "event_id" in record and record["event_id"] not in seen:
            seen.add(record["event_id"])
            firsts.append(position)
    position = firsts[pick % len(firsts)]
    changed = dict(records[position])
    expected: str
    if change == "ts":
        changed["ts"] = BASE_MS + 13 * HOUR_MS + 7  # no instant the strategy draws
        expected = f"events.{changed['type']}.store"
    elif change == "type":
        changed["type"] = "email_opened" if changed["type"] != "email_opened" else "subscribed"
        changed.pop("attrs", None)
        expected = f"events.{changed['type']}.store"
    elif change == "attr":
        changed["attrs"] = {**changed.get("attrs", {}), "currency": "JPY"} if changed["type"] == "order_created" else {}
        changed["type"] = "order_created"
        expected = "events.order_created.store"
    else:
        changed["event_id"] = "never-drawn"
        expected = "event_ids"
    if changed == records[position]:
        return
    mutated = [*records[:position], changed, *records[position + 1 :]]
    if change == "id" and any(r.get("event_id") == records[position]["event_id"] for r in records[position + 1 :]):
        return  # a later duplicate of the old id would now be accepted: more than one change
    a, b = build("UTC", [records]), build("UTC", [mutated])
    assert shard_digest(a.shard) != shard_digest(b.shard)
    assert expected in differing(a, b)


def test_each_kind_of_difference_names_its_index() -> None:
    base = [
        {"customer_id": "a", "ts": BASE_MS, "properties": {"email": "a@x.com", "tags": ["vip"], "total_order_value": 5}},
        {"event_id": "e1", "customer_id": "a", "type": "order_created", "ts": BASE_MS,
         "attrs": {"amount": 10, "product_ids": ["p1"]}},
    ]
    reference = build("UTC", [base])

    def changed(records: list[dict]) -> list[str]:
        return differing(reference, build("UTC", [records]))

    assert changed(base) == []
    assert changed([{**base[0], "properties": {**base[0]["properties"], "email": "b@x.com"}}, base[1]]) == ["columns.email"]
    assert changed([base[0], {**base[1], "event_id": "e2"}]) == ["event_ids"]
    assert changed([{"declare": {"property": "score", "type": "number"}}, *base]) == ["schema"]
    assert "events.order_created.values.product_ids" in changed(
        [base[0], {**base[1], "attrs": {"amount": 10, "product_ids": ["p2"]}}])
    # Direct damage to one structure is seen in that structure's digest.
    damaged = build("UTC", [base])
    damaged.shard.columns["tags"].bitmaps[0].add(9)
    assert differing(reference, damaged) == ["columns.tags"]
    damaged = build("UTC", [base])
    damaged.shard.events["order_created"].store.flush()
    damaged.shard.events["order_created"].store.columns["amount"][0] += 1
    assert differing(reference, damaged) == ["events.order_created.store"]
    damaged = build("UTC", [base])
    damaged.shard.columns["email"].bitmaps[0] = damaged.shard.columns["email"].exists.copy()  # a stray bitmap
    damaged.shard.columns["email"].has_bitmap[0] = True
    damaged.shard.columns["email"].bitmaps[0].add(3)
    assert differing(reference, damaged) == ["columns.email"]


def test_store_rows_with_equal_ts_digest_alike_in_any_arrival_order() -> None:
    attributes = {"sku": ValueType("string"), "qty": ValueType("number"), "items": ValueType("list")}
    rows = [(3, BASE_MS, {"sku": "b", "qty": 2, "items": ("x", "y")}),
            (1, BASE_MS, {"sku": "a", "items": ("y",)}),
            (1, BASE_MS, {"sku": "a", "items": ("x",)}),
            (2, BASE_MS - 1, {"qty": 5}),
            (1, BASE_MS, {"sku": "c"})]
    digests = set()
    for order in ([0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 1, 3]):
        store = EventStore(attributes)
        for position in order:  # one append per row: codes are handed out in arrival order
            customer, ts, attrs = rows[position]
            store.append(np.array([customer], np.uint32), np.array([ts], np.int64), store.encode({name: [value] for name, value in attrs.items()}, 1))
        digests.add(store_digest(store, BASE_MS))
        store.flush()
        digests.add(store_digest(store, BASE_MS))
    assert len(digests) == 1


# --- corruption and fallback -----------------------------------------------------------------
@pytest.fixture(scope="module")
def sample_engine() -> Engine:
    records = [
        {"customer_id": f"c{i}", "ts": BASE_MS, "properties": {"email": f"u{i}@x.com", "tags": ["vip"] if i % 2 else []}}
        for i in range(40)
    ] + [
        {"event_id": f"e{i}", "customer_id": f"c{i % 40}", "type": "product_viewed", "ts": BASE_MS + i * HOUR_MS,
         "attrs": {"category": f"cat{i % 3}", "price": i}}
        for i in range(200)
    ]
    return build("Europe/Istanbul", [records])


@pytest.fixture
def two_snapshots(tmp_path: Path, sample_engine: Engine) -> Path:
    write_snapshot(sample_engine.shard, tmp_path, 100, fsync=no_fsync)
    sample_engine.ingest([{"event_id": "late", "customer_id": "c1", "type": "product_viewed", "ts": BASE_MS}])
    write_snapshot(sample_engine.shard, tmp_path, 200, fsync=no_fsync)
    return tmp_path


def flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    position = len(data) // 2 if offset is None else offset
    data[position] ^= 0x40
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def future_version(path: Path) -> None:
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 8, 99)
    path.write_bytes(bytes(data))


DAMAGE = {
    "flip manifest": (MANIFEST_FILE, flip_byte, "CRC32C"),
    "flip manifest magic": (MANIFEST_FILE, lambda p: flip_byte(p, 0), "magic"),
    "flip arrays": (ARRAYS_FILE, flip_byte, "CRC32C"),
    "flip bitmaps": (BITMAPS_FILE, flip_byte, "CRC32C"),
    "flip strings": (STRINGS_FILE, flip_byte, "CRC32C"),
    "truncate manifest": (MANIFEST_FILE, truncate, "manifest"),
    "truncate arrays": (ARRAYS_FILE, truncate, "bytes"),
    "truncate bitmaps": (BITMAPS_FILE, truncate, "bytes"),
    "truncate strings": (STRINGS_FILE, truncate, "bytes"),
    "delete manifest": (MANIFEST_FILE, Path.unlink, "missing MANIFEST"),
    "delete arrays": (ARRAYS_FILE, Path.unlink, "missing file"),
    "unknown version": (MANIFEST_FILE, future_version, "unknown format version 99"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_newest_snapshot_falls_back_to_the_older_one(two_snapshots: Path, damage: str) -> None:
    name, act, reason = DAMAGE[damage]
    newest = two_snapshots / snapshot_name(200)
    act(newest / name)
    loaded = load_newest_snapshot(two_snapshots)
    assert loaded is not None and loaded.info.covered_lsn == 100
    assert [s.path for s in loaded.skipped] == [newest]
    assert reason in loaded.skipped[0].reason, loaded.skipped[0].reason
    assert loaded.shard.ids.lookup("c5") is not None


@pytest.mark.parametrize(("edit", "reason"), [
    (lambda body: body.update(capacity=0), "bad capacity 0"),
    (lambda body: body.update(tz="Mars/Olympus"), "unknown time zone"),
    (lambda body: body["shard"].update(event_count=-1), "bad event_count"),
    (lambda body: body["shard"].pop("ids"), "KeyError"),
    (lambda body: body["blobs"]["arrays"][0].__setitem__(0, "|O"), "refused dtype"),
])
def test_well_framed_but_wrong_manifest_is_skipped(two_snapshots: Path, edit: object, reason: str) -> None:
    """A manifest with a valid CRC whose content does not fit (another build wrote it, say)."""
    path = two_snapshots / snapshot_name(200) / MANIFEST_FILE
    body = read_manifest(path.parent)
    edit(body)  # type: ignore[operator]
    path.write_bytes(encode_manifest(body))
    loaded = load_newest_snapshot(two_snapshots)
    assert loaded is not None and loaded.info.covered_lsn == 100
    assert reason in loaded.skipped[0].reason, loaded.skipped[0].reason


def test_half_written_temp_dir_is_ignored_and_reported(two_snapshots: Path) -> None:
    temp = two_snapshots / f"{TEMP_PREFIX}00000000000000000300-1-ab"
    shutil.copytree(two_snapshots / snapshot_name(200), temp)
    (temp / MANIFEST_FILE).unlink()
    truncate(temp / ARRAYS_FILE)
    loaded = load_newest_snapshot(two_snapshots)
    assert loaded is not None and loaded.info.covered_lsn == 200
    assert [s.path for s in loaded.skipped] == [temp]
    assert prune_snapshots(two_snapshots, keep=2, fsync=no_fsync) == [temp]


def test_nothing_valid_gives_none(two_snapshots: Path) -> None:
    for lsn in (100, 200):
        flip_byte(two_snapshots / snapshot_name(lsn) / BITMAPS_FILE)
    assert load_newest_snapshot(two_snapshots) is None
    assert load_newest_snapshot(two_snapshots / "missing") is None


def test_snapshot_beyond_the_log_end_is_skipped(two_snapshots: Path) -> None:
    loaded = load_newest_snapshot(two_snapshots, max_covered_lsn=150)
    assert loaded is not None and loaded.info.covered_lsn == 100
    assert "beyond the log's end 150" in loaded.skipped[0].reason


def test_renamed_snapshot_is_refused(two_snapshots: Path) -> None:
    os.rename(two_snapshots / snapshot_name(100), two_snapshots / snapshot_name(300))
    loaded = load_newest_snapshot(two_snapshots)
    assert loaded is not None and loaded.info.covered_lsn == 200
    assert "directory name says 300" in loaded.skipped[0].reason


# --- atomicity -------------------------------------------------------------------------------
def test_failed_fsync_leaves_no_snapshot_and_no_temp_dir(tmp_path: Path, sample_engine: Engine) -> None:
    write_snapshot(sample_engine.shard, tmp_path, 100, fsync=no_fsync)
    calls = 0

    def failing(fd: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(5, "Input/output error")

    with pytest.raises(SnapshotError, match="Input/output error"):
        write_snapshot(sample_engine.shard, tmp_path, 200, fsync=failing)
    assert sorted(p.name for p in tmp_path.iterdir()) == [snapshot_name(100)]
    loaded = load_newest_snapshot(tmp_path)
    assert loaded is not None and loaded.info.covered_lsn == 100 and loaded.skipped == []


def test_every_file_and_both_directories_are_fsynced(tmp_path: Path, sample_engine: Engine) -> None:
    synced: list[str] = []

    def recording(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        os.fsync(fd)

    info = write_snapshot(sample_engine.shard, tmp_path / "snaps", 5, fsync=recording)
    names = [Path(p).name for p in synced]
    for name in (ARRAYS_FILE, BITMAPS_FILE, STRINGS_FILE, MANIFEST_FILE):
        assert name in names
    assert names.index(MANIFEST_FILE) > max(names.index(n) for n in (ARRAYS_FILE, BITMAPS_FILE, STRINGS_FILE))
    assert any(n.startswith(TEMP_PREFIX) for n in names)  # the temp dir, before its rename
    assert names[-1] == "snaps"  # the snapshots dir, after it
    assert info.size_bytes == sum(p.stat().st_size for p in info.path.iterdir())


def test_same_lsn_again_replaces_the_snapshot(tmp_path: Path) -> None:
    engine = Engine()
    write_snapshot(engine.shard, tmp_path, 10, fsync=no_fsync)
    engine.ingest([{"customer_id": "a", "ts": BASE_MS, "properties": {"country": "TR"}}])
    write_snapshot(engine.shard, tmp_path, 10, fsync=no_fsync)
    assert [p.name for p in tmp_path.iterdir()] == [snapshot_name(10)]
    loaded = load_newest_snapshot(tmp_path)
    assert loaded is not None and shard_digest(loaded.shard) == shard_digest(engine.shard)


def test_unknown_shard_attribute_refuses_to_write(tmp_path: Path) -> None:
    engine = Engine()
    engine.shard.events_cache = {}  # type: ignore[attr-defined]  # state the format does not know
    with pytest.raises(SnapshotError, match="events_cache"):
        write_snapshot(engine.shard, tmp_path, 1, fsync=no_fsync)
    assert list(tmp_path.iterdir()) == []


# --- housekeeping ----------------------------------------------------------------------------
def test_prune_keeps_the_newest_valid_ones(tmp_path: Path) -> None:
    engine = Engine()
    for lsn in (1, 2, 3, 4, 5):
        write_snapshot(engine.shard, tmp_path, lsn, fsync=no_fsync)
    (tmp_path / snapshot_name(5) / MANIFEST_FILE).unlink()  # the newest is unusable
    (tmp_path / f"{TEMP_PREFIX}00000000000000000006-1-cd").mkdir()
    assert [i.covered_lsn for i in list_snapshots(tmp_path)] == [4, 3, 2, 1]
    removed = prune_snapshots(tmp_path, keep=2, fsync=no_fsync)
    assert sorted(p.name for p in removed) == sorted(
        [snapshot_name(5), snapshot_name(2), snapshot_name(1), f"{TEMP_PREFIX}00000000000000000006-1-cd"])
    assert [i.covered_lsn for i in list_snapshots(tmp_path)] == [4, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == [snapshot_name(3), snapshot_name(4)]
    assert prune_snapshots(tmp_path, keep=2, fsync=no_fsync) == []
    with pytest.raises(ValueError):
        prune_snapshots(tmp_path, keep=0)


def test_delete_all(tmp_path: Path) -> None:
    engine = Engine()
    for lsn in (1, 2):
        write_snapshot(engine.shard, tmp_path, lsn, fsync=no_fsync)
    (tmp_path / f"{TEMP_PREFIX}00000000000000000003-1-ef").mkdir()
    delete_all_snapshots(tmp_path, fsync=no_fsync)
    assert list(tmp_path.iterdir()) == [] and list_snapshots(tmp_path) == []
    assert load_newest_snapshot(tmp_path) is None
    delete_all_snapshots(tmp_path / "missing")
