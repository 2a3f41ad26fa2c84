"""Snapshot digests (indexes/snapshot): equal for any batching of the same records, and a change names
the index it is in."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from indexes.schema import ValueType
from indexes.shard.event_store import EventStore
from indexes.snapshot import shard_digest
from indexes.snapshot.digest_events import store_digest
from tests.snapshot_engines import SCHEMA, TEST_SETTINGS, THRESHOLDS, build, differing, thresholds
from tests.strategies_records import BASE_MS, HOUR_MS, ZONES, record_batches
from tests.strategies_rules import rules


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
