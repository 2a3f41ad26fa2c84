"""`segments reshard` (actors/reshard.py): 2 -> 3 and 3 -> 2 shards by replaying every shard's log.

The sharded data directories are built without Ray, the way the cluster stores records: each record
on the DurableEngine of its customer's shard (actors/placement.py), declarations and saved-segment
commands on every shard. Answers are sums over the shards' engines. After each reshard, every count
of the seed rules (/work/shared/bench/seed_suite.json) and of random rules equals the reference
evaluator (tests/reference.py) and the answer before the reshard; saved segments keep their
members; erased customers stay erased; every event id stays a duplicate (tombstoned ones too). A
failure before the commit point leaves the old layout in use; a held lock (a running server) refuses.
tests/test_multinode.py serves a directory resharded by the CLI command on the 3-node Ray cluster.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors.reshard as reshard_module
from actors.layout import CLUSTER_FILE, ClusterLayout, open_layout
from actors.placement import is_declaration, route_batch
from actors.reshard import ReshardError, reshard
from benchmarks.generator import generate_columns, iter_records, load_seed_suite, placeholders
from indexes.durable import DurableEngine, compact
from indexes.durable.engine import LOG_DIR
from indexes.durable.record_codec import EVENT
from indexes.log import FileLog, LogLockedError
from indexes.log.fsio import DirLock
from indexes.records import validate_batch
from indexes.rules import format_rule
from indexes.schema import Schema
from indexes.segments.errors import PositionExpiredError
from tests import paths
from tests.reference import ReferenceEvaluator
from tests.strategies_records import as_of_ms, record_batches
from tests.strategies_rules import rules

pytestmark = pytest.mark.timeout(300)
TZ = "Europe/Istanbul"
DECLARATIONS = [{"declare": {"property": "loyalty_tier", "type": "enum", "values": ["gold", "silver"]}},
                {"declare": {"event": "return_requested", "attributes": {"amount": "number"}}}]
SEGMENT_RULES = {"vip": "order_count >= 3 and lifetime_value > 100", "gold": 'loyalty_tier = "gold"'}
# Saved before any data, so every batch is maintained on its own in the replays (its change log too).
EARLY_SEGMENT_RULES = {"early": "count(order_created) >= 2 and count(page_viewed, last 30 days) >= 1"}
ALL_SEGMENTS = {**SEGMENT_RULES, **EARLY_SEGMENT_RULES}
EXTRA_RULES = ['loyalty_tier = "silver" or sum(return_requested.amount) >= 10',
               "order_count >= 2 and not tags has \"vip\"", "count(page_viewed, last 30 days) >= 2"]
ERASED = 25  # customers erased; shard 0 is compacted afterwards (its log keeps tombstones only)


class Sharded:
    """Engines on every shard of a layout, and sums of their answers."""

    def __init__(self, layout: ClusterLayout) -> None:
        self.layout = layout
        self.engines = [DurableEngine.open(layout.shard_dir(s), sync="never", create=False)
                        for s in range(layout.shards)]

    def ingest(self, raws: list[dict]) -> tuple[int, int]:
        """(accepted, duplicates) over the shards; declarations go to every shard."""
        if all(is_declaration(r) for r in raws):
            results = [engine.ingest(raws) for engine in self.engines]
            return results[0].accepted, results[0].duplicates
        routed = route_batch(raws, self.layout.shards)
        assert not routed.declarations and not routed.unroutable
        results = [self.engines[s].ingest(routed.raws[s]) for s in routed.targets()]
        return sum(r.accepted for r in results), sum(r.duplicates for r in results)

    def count(self, rule: Any, as_of_ms: int) -> int:
        return sum(engine.count(rule, as_of_ms) for engine in self.engines)

    def segment_members(self, segment_id: str) -> set[str]:
        return {c for engine in self.engines for c in engine.segment_members(segment_id)}

    def customers(self) -> int:
        return sum(engine.stats().customers for engine in self.engines)

    def close(self) -> None:
        for engine in self.engines:
            engine.close()


def build(root: Path, shards: int, batches: list[list[dict]], tz: str = TZ) -> ClusterLayout:
    layout = open_layout(root, shards, tz)
    cluster = Sharded(layout)
    try:
        for batch in batches:
            cluster.ingest(batch)
    finally:
        cluster.close()
    return layout


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A 2-shard shop: generated customers and events, declarations, saved segments (one from before
    the data, two after), erasures (compacted on shard 0), duplicates; the reference evaluator fed the
    same records."""
    data = generate_columns(1200, 15_000, seed=5)
    batches = [DECLARATIONS] + list(iter_records(data, 2500))
    customers = [f"c{i}" for i in range(data.customers)]
    batches.append([{"customer_id": c, "ts": data.as_of_ms - i, "properties": {"loyalty_tier": ["gold", "silver"][i % 2]}}
                    for i, c in enumerate(customers[::7])])
    batches.append([{"event_id": f"rr-{i}", "customer_id": c, "type": "return_requested", "ts": data.as_of_ms - 5000 - i,
                     "attrs": {"amount": 4 + i % 9}} for i, c in enumerate(customers[::5])])
    erased = customers[3 : 3 + ERASED]
    batches.append([{"forget_customer": c, "ts": data.as_of_ms} for c in erased])
    root = tmp_path_factory.mktemp("shop")
    layout = build(root, 2, batches[:1])
    cluster = Sharded(layout)

    def create(segments: dict[str, str]) -> None:
        for engine in cluster.engines:  # every shard stores the same commands, as the router sends them
            for segment_id, rule in segments.items():
                engine.create_segment(segment_id.upper(), rule, segment_id=segment_id, now_ms=data.as_of_ms)

    create(EARLY_SEGMENT_RULES)
    for batch in batches[1:]:
        cluster.ingest(batch)
    create(SEGMENT_RULES)
    cluster.close()
    compact(layout.shard_dir(0))
    reference = ReferenceEvaluator(tz=TZ)
    for batch in batches:
        reference.apply(validate_batch(batch, reference.schema).records)
    rules_by_text = [rule for _, rule in load_seed_suite(paths.SEED_SUITE, placeholders(data))] + EXTRA_RULES
    yield {"root": root, "batches": batches, "reference": reference, "rules": rules_by_text, "as_of_ms": data.as_of_ms,
           "erased": erased, "customers": customers}


def change_log_members(engine: DurableEngine, segment_id: str) -> set[str]:
    """A segment's members on one shard, replayed from its change log (entered / exited)."""
    members: set[str] = set()
    after: int | None = None
    for _ in range(10_000):  # bounded: each page moves past up to `limit` entries
        page = engine.segment_changes([segment_id], after_seq=after, limit=10_000)
        for entry in page.entries:
            if entry.customer_id is not None:
                (members.add if entry.entered else members.discard)(entry.customer_id)
        if len(page.entries) < 10_000:
            return members
        after = page.next_after_seq
    raise AssertionError("change log longer than expected")


def answers(cluster: Sharded, shop: dict[str, Any]) -> list[int]:
    return [cluster.count(rule, shop["as_of_ms"]) for rule in shop["rules"]]


def check_against_reference(cluster: Sharded, shop: dict[str, Any]) -> list[int]:
    reference: ReferenceEvaluator = shop["reference"]
    got = answers(cluster, shop)
    for rule, count in zip(shop["rules"], got, strict=True):
        node = cluster.engines[0].load_rule(rule)
        assert count == reference.count(node, shop["as_of_ms"]), format_rule(node)
    assert cluster.customers() == len(reference.customer_ids())
    return got


def test_reshard_2_to_3_to_2_keeps_every_answer(shop: dict[str, Any]) -> None:
    root: Path = shop["root"]
    before = Sharded(open_layout(root))
    expected = check_against_reference(before, shop)
    members = {segment_id: before.segment_members(segment_id) for segment_id in ALL_SEGMENTS}
    assert all(members.values()) and not members["vip"] & set(shop["erased"])
    epochs = [engine.segment_changes(limit=1).epoch for engine in before.engines]
    assert epochs == [1, 0]  # shard 0 was compacted
    before.close()

    for shards, generation in ((3, 1), (2, 2)):
        report = reshard(root, shards)
        assert (report.old_shards, report.new_shards, report.generation) == (5 - shards, shards, generation)
        assert report.replicated_records == len(DECLARATIONS) + len(ALL_SEGMENTS)  # one copy each, not two
        assert report.duplicate_replicas == (5 - shards - 1) * report.replicated_records
        assert report.tombstone_digests > 0  # shard 0's compaction, kept through 3 -> 2 too
        layout = open_layout(root)
        assert (layout.shards, layout.generation) == (shards, generation)
        assert sorted(p.name for p in root.iterdir() if p.is_dir()) == [f"gen-{generation:04d}"]  # old ones removed
        after = Sharded(layout)
        try:
            assert check_against_reference(after, shop) == expected
            assert {s: after.segment_members(s) for s in ALL_SEGMENTS} == members
            # A new change-log epoch on every shard: no position read before the reshard resumes.
            new_epochs = [engine.segment_changes(limit=1).epoch for engine in after.engines]
            assert min(new_epochs) > max(epochs)
            with pytest.raises(PositionExpiredError):
                after.engines[0].segment_changes(after_seq=0, epoch=max(epochs))
            epochs = new_epochs
            for engine in after.engines:  # saved segments and declarations on every new shard
                assert {v.id for v in engine.list_segments()} == set(ALL_SEGMENTS)
                for segment_id in ALL_SEGMENTS:  # each new shard's change log was rebuilt to its bitmap
                    assert change_log_members(engine, segment_id) == set(engine.segment_members(segment_id))
                assert "loyalty_tier" in engine.schema.properties
            # Idempotency follows the events: every id of the history is a duplicate, erased and
            # compacted customers' included; erased customers stay erased.
            events = [r for batch in shop["batches"] for r in batch if "event_id" in r]
            accepted, duplicates = after.ingest(events[::7])
            assert (accepted, duplicates) == (0, len(events[::7]))
            erased_events = [r for r in events if r["customer_id"] in set(shop["erased"])]
            assert erased_events and after.ingest(erased_events) == (0, len(erased_events))
            assert after.count("order_count >= 0", shop["as_of_ms"]) == len(shop["reference"].customer_ids())
        finally:
            after.close()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(batches=record_batches(min_records=20, max_records=80), rule_list=st.lists(rules(Schema()), min_size=3, max_size=6),
       as_of=as_of_ms(), shards=st.sampled_from([(2, 3), (3, 2), (2, 1)]))
def test_random_records_and_rules_equal_the_reference_after_resharding(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[dict]], rule_list: list, as_of: int,
    shards: tuple[int, int],
) -> None:
    root = tmp_path_factory.mktemp("random")
    build(root, shards[0], batches, tz="UTC")
    reference = ReferenceEvaluator(tz="UTC")
    for batch in batches:
        reference.apply(validate_batch(batch, reference.schema).records)
    old = Sharded(open_layout(root))
    before = [old.count(rule, as_of) for rule in rule_list]
    old.close()
    reshard(root, shards[1])
    new = Sharded(open_layout(root))
    try:
        assert new.layout.shards == shards[1]
        for rule, count in zip(rule_list, before, strict=True):
            assert new.count(rule, as_of) == count == reference.count(rule, as_of), format_rule(rule)
        assert new.customers() == len(reference.customer_ids())
    finally:
        new.close()
    shutil.rmtree(root)


def small_shop(root: Path) -> ClusterLayout:
    batch = [{"event_id": f"e{i}", "customer_id": f"k{i % 40}", "type": "page_viewed", "ts": 1_000_000 + i}
             for i in range(400)]
    return build(root, 2, [batch], tz="UTC")


def test_a_failure_before_the_commit_point_leaves_the_old_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = small_shop(tmp_path)
    cluster_json = (tmp_path / CLUSTER_FILE).read_bytes()

    def broken_check(*_args: Any) -> None:
        raise RuntimeError("injected failure after the new shards were written")

    monkeypatch.setattr(reshard_module, "check_same", broken_check)
    with pytest.raises(RuntimeError, match="injected"):
        reshard(tmp_path, 3)
    assert (tmp_path / CLUSTER_FILE).read_bytes() == cluster_json
    assert not (tmp_path / "gen-0001").exists()
    monkeypatch.undo()
    # A crash (no cleanup at all) leaves a partial generation behind: the next run starts over.
    (tmp_path / "gen-0001" / "shard-0000").mkdir(parents=True)
    (tmp_path / "gen-0001" / "shard-0000" / "junk").write_bytes(b"half written")
    old = Sharded(open_layout(tmp_path))
    assert old.count("count(page_viewed) >= 10", 10**13) == 40
    old.close()
    report = reshard(tmp_path, 3)
    assert report.new_shards == 3 and not layout.shard_dir(0).exists()
    new = Sharded(open_layout(tmp_path))
    assert new.count("count(page_viewed) >= 10", 10**13) == 40
    new.close()


def test_a_torn_batch_of_an_old_shard_is_not_carried_over(tmp_path: Path) -> None:
    """Records a crash left without their commit mark were never acknowledged: replay ignores them, and
    so does the reshard (the old shard's open writes their abort mark first)."""
    layout = small_shop(tmp_path)
    torn = [[EVENT, "k1", 2_000_000, "page_viewed:", "torn-1"], [EVENT, "k2", 2_000_001, "page_viewed:", "torn-2"]]
    with FileLog(layout.shard_dir(0) / LOG_DIR, sync="never") as log:
        log.append(torn)  # no commit mark: a batch torn by a crash
    reshard(tmp_path, 3)
    new = Sharded(open_layout(tmp_path))
    try:
        assert sum(engine.stats().events for engine in new.engines) == 400
        assert new.ingest([{"event_id": "torn-1", "customer_id": "k1", "type": "page_viewed", "ts": 5}]) == (1, 0)
    finally:
        new.close()


def test_refusals_change_nothing(tmp_path: Path) -> None:
    small_shop(tmp_path)
    cluster_json = (tmp_path / CLUSTER_FILE).read_bytes()
    with DirLock(tmp_path), pytest.raises(LogLockedError):  # the lock a running server holds
        reshard(tmp_path, 3)
    with pytest.raises(ReshardError, match="already has 2 shards"):
        reshard(tmp_path, 2)
    for bad in (0, 1025):
        with pytest.raises(ReshardError, match="--shards must be 1..1024"):
            reshard(tmp_path, bad)
    with pytest.raises(ReshardError, match="--jobs must be 1..256"):
        reshard(tmp_path, 3, jobs=0)
    with pytest.raises(ReshardError, match="not a cluster data directory"):
        reshard(tmp_path / "shard-0000", 3)
    assert (tmp_path / CLUSTER_FILE).read_bytes() == cluster_json
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["shard-0000", "shard-0001"]


def test_cli_reshard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command's output and exit codes (tests/test_multinode.py serves a resharded directory on Ray)."""
    from service.cli import main

    small_shop(tmp_path)
    assert main(["reshard", "--data-dir", str(tmp_path), "--shards", "3", "--quiet", "--jobs", "2"]) == 0  # processes
    out = capsys.readouterr().out
    assert "2 -> 3 shards (generation 1)" in out and "40 customers, 400 events" in out
    assert main(["reshard", "--data-dir", str(tmp_path), "--shards", "3"]) == 2
    assert "already has 3 shards" in capsys.readouterr().err
    with DirLock(tmp_path):
        assert main(["reshard", "--data-dir", str(tmp_path), "--shards", "2"]) == 2
    assert "stop the server" in capsys.readouterr().err
