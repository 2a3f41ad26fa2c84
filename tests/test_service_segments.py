"""Saved segments through the real server: `segments serve --shards 2` in a subprocess, driven by the
typed client and the CLI, checked against ad-hoc queries and against the embedded engine fed the same
batches (merged counts, members and change logs of two shards equal one engine's).

One server for the module. Segment ids and customer ids are per test where tests add their own."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from benchmarks.generator import generate_columns, iter_records, load_seed_suite, placeholders
from indexes.engine import Engine
from service import cursor_token
from service.cli import main as cli_main
from service.client import SegmentsClient
from service.client_segments import Change, WatchMessage
from service.client_types import SegmentsError
from tests.paths import SEED_SUITE
from tests.service_process import ServerProcess

CUSTOMERS = 2_000
EVENTS = 20_000
BATCH_RECORDS = 2_000
FIRST_BATCHES = 6  # streamed before the segments exist; the rest go one Ingest call each, after
# Rules whose answers do not move with the clock (the change logs compared must not depend on when
# each side's clock crossed a midnight), and two that do (compared by count at one instant).
STILL = ("vip", "ordered_once", "ordered_more_than_once", "never_ordered", "loyal_order_value", "tagged_not_grouped",
         "nested_mix")
MOVING = ("no_email_open_90d", "new_customers")
WAIT_S = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess(tmp_path_factory.mktemp("segments") / "data", "--shards", "2")
    yield running
    if running.process is not None:
        assert running.stop() == 0, running.log_tail()


@pytest.fixture(scope="module")
def shop(server: ServerProcess) -> dict[str, Any]:
    """The generated shop on the server and in an embedded engine, with the same saved segments created
    between the same batches."""
    data = generate_columns(CUSTOMERS, EVENTS, seed=5)
    batches = list(iter_records(data, BATCH_RECORDS))
    rules = dict(load_seed_suite(SEED_SUITE, placeholders(data)))
    mirror = Engine()
    with SegmentsClient(server.target) as client:
        assert client.ingest_stream(batches[:FIRST_BATCHES]).rejected == 0
        for batch in batches[:FIRST_BATCHES]:
            mirror.ingest(batch)
        for name in STILL + MOVING:
            client.create_segment(name.replace("_", " "), rules[name], segment_id=name, tags=["seed"])
            mirror.create_segment(name.replace("_", " "), rules[name], segment_id=name, tags=["seed"])
        for batch in batches[FIRST_BATCHES:]:
            assert client.ingest(batch).rejected == 0
            mirror.ingest(batch)
    return {"rules": rules, "mirror": mirror}


@pytest.fixture
def client(server: ServerProcess) -> Iterator[SegmentsClient]:
    with SegmentsClient(server.target) as c:
        yield c


def _raises(code: grpc.StatusCode, call: Any, *args: Any, **kwargs: Any) -> SegmentsError:
    with pytest.raises(SegmentsError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


def test_counts_and_members_equal_ad_hoc_rules_and_the_embedded_engine(shop: dict[str, Any],
                                                                       client: SegmentsClient) -> None:
    mirror: Engine = shop["mirror"]
    nonempty = 0
    for name in STILL + MOVING:
        counted = client.segment_count(name)
        at_ms = counted.as_of_ms
        rule = shop["rules"][name]
        expected = mirror.count(rule, at_ms)
        assert counted.count == client.count(rule, at_ms).count == expected, name
        assert client.count({"segment": name}, at_ms).count == expected  # a saved segment in an ad-hoc rule
        assert counted.active and counted.clock_ms > 0 and counted.last_update_ms is not None
        nonempty += expected > 0
        if name in ("ordered_once", "never_ordered", "no_email_open_90d"):
            members = list(client.segment_members(name, at_ms, page_size=333))
            assert members == list(client.members(rule, at_ms)) == mirror.members(rule, at_ms)
            assert list(client.members({"segment": name}, at_ms, page_size=500)) == members
    assert nonempty >= 6  # the comparison is not among empty answers
    with_segment = {"all": [{"segment": "ordered_once"}, {"property": "country", "op": "eq", "value": "TR"}]}
    at_ms = client.segment_count("ordered_once").as_of_ms
    assert client.preview(with_segment, at_ms).count == mirror.count(with_segment, at_ms)


def _key(segment_id: str, customer_id: str | None, entered: bool, reason: str, event_id: str | None,
         version: int | None, upstream: str | None) -> tuple:
    return (segment_id, customer_id, entered, reason, event_id, version, upstream)


def test_change_log_pages_and_equals_the_embedded_engines(shop: dict[str, Any], client: SegmentsClient) -> None:
    whole = list(client.segment_changes(list(STILL), page_size=5_000))
    paged = list(client.segment_changes(list(STILL), page_size=97))
    assert paged == whole and len(whole) > 500
    assert [c.at_ms for c in whole] == sorted(c.at_ms for c in whole)
    assert len({(c.shard, c.seq) for c in whole}) == len(whole) and {c.shard for c in whole} == {0, 1}
    mirror: Engine = shop["mirror"]
    expected = [e for e in mirror.segment_changes(list(STILL), limit=10_000).entries]
    assert len(expected) < 10_000
    served = Counter(_key(c.segment_id, c.customer_id, c.entered, c.reason, c.event_id, c.version, c.upstream)
                     for c in whole)
    assert served == Counter(_key(e.segment_id, e.customer_id, e.entered, e.reason, e.event_id, e.version, e.upstream)
                             for e in expected)
    assert {c.reason for c in whole} >= {"activated", "event"}

    customer = next(c.customer_id for c in whole if c.reason == "event")
    assert customer is not None
    of_customer = list(client.segment_changes(customer_id=customer))
    assert of_customer and all(c.customer_id == customer for c in of_customer)
    assert [c for c in of_customer if c.segment_id in STILL] == [c for c in whole if c.customer_id == customer]
    middle = whole[len(whole) // 2].at_ms
    later = list(client.segment_changes(list(STILL), from_ms=middle))
    assert later == [c for c in whole if c.at_ms >= middle]


def test_create_edit_rollback_and_version_history(shop: dict[str, Any], client: SegmentsClient) -> None:
    created = client.create_segment("Edited buyers", "order_count >= 2", segment_id="edited", description="v1",
                                    tags=["b", "a"])
    assert (created.version, created.op, created.tags, created.active) == (1, "create", ("a", "b"), True)
    first_count = client.segment_count("edited").count
    edited = client.edit_segment("edited", name="Edited big buyers", rule="order_count >= 5", tags=[])
    assert (edited.version, edited.op, edited.tags, edited.rule_text) == (2, "edit", (), "order_count >= 5")
    counted = client.segment_count("edited")
    assert counted.count == client.count("order_count >= 5", counted.as_of_ms).count < first_count
    rolled = client.rollback_segment("edited", 1)
    assert (rolled.version, rolled.op, rolled.from_version, rolled.name, rolled.description) == (
        3, "rollback", 1, "Edited buyers", "v1")
    assert client.segment_count("edited").count == first_count
    versions = client.segment_versions("edited")
    assert [(v.version, v.op, v.rule_text) for v in versions] == [
        (1, "create", "order_count >= 2"), (2, "edit", "order_count >= 5"), (3, "rollback", "order_count >= 2")]
    assert client.get_segment("edited", version=2).name == "Edited big buyers"
    reasons = Counter(c.reason for c in client.segment_changes(["edited"]))
    assert set(reasons) == {"activated", "rule_edit"}
    assert [s.id for s in client.list_segments(name_contains="EDITED")] == ["edited"]
    assert {s.id for s in client.list_segments(tag="seed")} == set(STILL + MOVING)
    assert [s.id for s in client.list_segments(tag="seed", page_size=2)] == list(STILL + MOVING)

    _raises(grpc.StatusCode.ALREADY_EXISTS, client.create_segment, "edited BUYERS", "order_count >= 1")
    _raises(grpc.StatusCode.ALREADY_EXISTS, client.create_segment, "Other", "order_count >= 1", segment_id="edited")
    _raises(grpc.StatusCode.NOT_FOUND, client.get_segment, "no-such-segment")
    _raises(grpc.StatusCode.NOT_FOUND, client.get_segment, "edited", version=9)
    bad = _raises(grpc.StatusCode.INVALID_ARGUMENT, client.edit_segment, "edited",
                  rule={"all": [{"property": "order_count", "op": "gte", "value": "x"}]})
    assert bad.violations[0].field == "rule.all[0].value"
    client.create_segment("Reads edited", {"segment": "edited"}, segment_id="reads-edited")
    cycle = _raises(grpc.StatusCode.INVALID_ARGUMENT, client.edit_segment, "edited", rule={"segment": "reads-edited"})
    assert cycle.violations[0].field == "rule.segment" and "cycle" in cycle.violations[0].description
    assert _raises(grpc.StatusCode.INVALID_ARGUMENT, client.create_segment, "", "order_count >= 1").violations[0].field == "name"


def test_delete_of_a_segment_in_use_fails_with_who_uses_it(client: SegmentsClient) -> None:
    client.create_segment("Base", "order_count >= 1", segment_id="base")
    client.create_segment("On base", {"all": [{"segment": "base"}, {"property": "country", "op": "eq", "value": "TR"}]},
                          segment_id="on-base")
    assert client.attach_campaign("base", "spring-sale").campaigns == (("spring-sale", True),)
    client.attach_campaign("base", "old-mail", active=False)
    refused = _raises(grpc.StatusCode.FAILED_PRECONDITION, client.delete_segment, "base")
    assert [(p.type, p.subject) for p in refused.preconditions] == [("campaign", "spring-sale"), ("segment", "on-base")]
    assert client.get_segment("base").deleted is False
    client.detach_campaign("base", "spring-sale")
    _raises(grpc.StatusCode.NOT_FOUND, client.detach_campaign, "base", "spring-sale")
    assert client.delete_segment("on-base").deleted
    assert client.delete_segment("base").deleted  # an inactive campaign does not block it
    _raises(grpc.StatusCode.NOT_FOUND, client.get_segment, "base")
    assert client.get_segment("base", include_deleted=True).deleted
    _raises(grpc.StatusCode.NOT_FOUND, client.segment_count, "base")
    _raises(grpc.StatusCode.INVALID_ARGUMENT, client.count, {"segment": "base"})


def test_templates_copy_and_dry_run(shop: dict[str, Any], client: SegmentsClient) -> None:
    templates = client.segment_templates()
    assert len(templates) >= 12 and all(t.rule_text for t in templates)
    vip = next(t for t in templates if t.id == "tpl_vip")
    copy = client.create_from_template("tpl_vip", segment_id="vip-copy")
    assert (copy.name, copy.tags, copy.rule) == (vip.name, tuple(sorted(vip.tags)), vip.rule)
    renamed = client.create_from_template("tpl_vip", name="My VIPs", tags=["mine"])
    assert (renamed.name, renamed.tags, renamed.rule) == ("My VIPs", ("mine",), vip.rule)
    _raises(grpc.StatusCode.NOT_FOUND, client.create_from_template, "tpl_nope")

    new_rule = "order_count >= 3"
    run = client.dry_run_edit("ordered_more_than_once", new_rule, samples=5)
    before = set(client.members(shop["rules"]["ordered_more_than_once"], run.as_of_ms))
    after = set(client.members(new_rule, run.as_of_ms))
    assert (run.before_count, run.after_count) == (len(before), len(after))
    assert (run.entering, run.exiting) == (len(after - before), len(before - after)) and run.exiting > 0
    assert set(run.exiting_samples) <= before - after and len(run.exiting_samples) == min(5, run.exiting)
    assert client.get_segment("ordered_more_than_once").version == 1  # nothing saved


def _collect(stream: Any, until_changes: int, out: list[WatchMessage], started: threading.Event) -> None:
    total = 0
    for message in stream:
        out.append(message)
        started.set()
        total += len(message.changes)
        if total >= until_changes:
            return


def test_watch_gets_the_changes_of_an_ingest_and_resumes_without_gaps(client: SegmentsClient) -> None:
    client.create_segment("Watchville", 'city = "Watchville"', segment_id="watched")
    customers = [f"w-{i:04d}" for i in range(120)]
    batches = [[{"customer_id": c, "ts": 1_700_000_000_000, "properties": {"city": "Watchville"}}
                for c in customers[i : i + 20]] for i in range(0, len(customers), 20)]
    first: list[WatchMessage] = []
    started = threading.Event()
    with client.watch(["watched"], heartbeat_ms=200, reconnect=False) as stream:
        reader = threading.Thread(target=_collect, args=(stream, 50, first, started))
        reader.start()
        assert started.wait(WAIT_S) and first[0].heartbeat  # the first message holds the starting position
        start_token = first[0].position_token
        began = time.monotonic()
        for batch in batches:
            client.ingest(batch)
        reader.join(WAIT_S)
        assert not reader.is_alive()
    assert time.monotonic() - began < WAIT_S
    resume_token = first[-1].position_token
    rest: list[WatchMessage] = []
    with client.watch(["watched"], position_token=resume_token, heartbeat_ms=200) as resumed:
        seen = sum(len(m.changes) for m in first)
        _collect(resumed, len(customers) - seen, rest, threading.Event())
    received = [c for m in first + rest for c in m.changes]
    logged = list(client.segment_changes(["watched"], position_token=start_token))
    assert sorted(c.customer_id or "" for c in received) == customers  # each once
    assert _by_shard(received) == _by_shard(logged)  # the same entries, no gap, no repeat
    assert all(c.entered and c.reason == "profile" for c in received)


def _by_shard(changes: list[Change]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for change in changes:
        out.setdefault(change.shard, []).append(change.seq)
    return {shard: sorted(seqs) for shard, seqs in out.items()}


def test_positions_of_another_epoch_are_out_of_range_and_damaged_tokens_invalid(client: SegmentsClient) -> None:
    stale = cursor_token.encode_position((cursor_token.ShardPosition(7, 0), cursor_token.ShardPosition(7, 0)))
    expired = _raises(grpc.StatusCode.OUT_OF_RANGE, client.segment_changes_page, position_token=stale)
    assert "epoch" in expired.message
    with client.watch(position_token=stale, reconnect=False) as stream:
        _raises(grpc.StatusCode.OUT_OF_RANGE, list, stream)
    damaged = _raises(grpc.StatusCode.INVALID_ARGUMENT, client.segment_changes_page, position_token="abc")
    assert damaged.violations[0].field == "position_token"
    three = cursor_token.encode_position(tuple(cursor_token.ShardPosition(0, 0) for _ in range(3)))
    assert _raises(grpc.StatusCode.INVALID_ARGUMENT, client.segment_changes_page,
                   position_token=three).violations[0].field == "position_token"


def test_cli_segment_commands_against_the_server(server: ServerProcess, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    target = server.target

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli_main(["segment", *argv, "--server", target])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    code, out, _ = run("create", "CLI buyers", "--rule", "order_count >= 4", "--id", "cli-buyers", "--tag", "cli")
    assert code == 0 and "cli-buyers  CLI buyers  (version 1 of 1, active)" in out
    code, out, _ = run("list", "--tag", "cli")
    assert code == 0 and out.splitlines()[0].split() == ["id", "name", "version", "state", "tags", "updated"]
    assert out.splitlines()[2].startswith("cli-buyers  CLI buyers")
    code, out, _ = run("count", "cli-buyers", "--json")
    counted = json.loads(out)
    with SegmentsClient(target) as client:
        assert code == 0 and counted["count"] == client.count("order_count >= 4", counted["as_of_ms"]).count
    code, out, err = run("log", "cli-buyers", "--limit", "5", "--json")
    logged = json.loads(out)
    assert code == 0 and len(logged["changes"]) == min(5, counted["count"]) and logged["position"]
    code, out, _ = run("edit", "cli-buyers", "--rule", "order_count >= 6")
    assert code == 0 and "version 2 of 2" in out
    code, out, _ = run("dry-run", "cli-buyers", "order_count >= 4")
    assert code == 0 and "would enter" in out
    code, _, err = run("show", "no-such")
    assert code == 2 and "NOT_FOUND" in err
    code, out, _ = run("templates")
    assert code == 0 and "tpl_vip" in out

    position = json.loads(run("log", "cli-buyers", "--json", "--limit", "100000")[1])["position"]
    orders = [{"event_id": f"cli-o{i}", "customer_id": "cli-new", "type": "order_created", "ts": 1_700_000_000_000 + i,
               "attrs": {"amount": "5.00"}} for i in range(6)]
    with SegmentsClient(target) as client:
        client.ingest(orders)
    code, out, err = run("watch", "cli-buyers", "--from", position, "--max", "1", "--timeout", "20")
    assert code == 0 and "+  cli-buyers  cli-new  event cli-o5" in out and "resume with --from" in err


def test_time_passes_without_ingest_the_ticker_moves_the_clocks(client: SegmentsClient) -> None:
    """An order dated 1.5 s ahead counts once its time comes: the clock ticker lets the shards' clocks
    pass it with nothing ingested, and the customer enters with reason `time`."""
    rule = {"all": [{"property": "city", "op": "eq", "value": "Tickville"},
                    {"event": "order_created", "count": {"op": "gte", "value": 1}, "window": "all_time"}]}
    client.create_segment("Tickville buyers", rule, segment_id="ticked")
    with client.watch(["ticked"], heartbeat_ms=200, reconnect=False) as stream:
        messages = iter(stream)
        assert next(messages).heartbeat
        due_ms = int(time.time() * 1000) + 1_500
        client.ingest([{"customer_id": "tick-1", "ts": 1_700_000_000_000, "properties": {"city": "Tickville"}},
                       {"event_id": "tick-order", "customer_id": "tick-1", "type": "order_created", "ts": due_ms,
                        "attrs": {"amount": "1.00"}}])
        assert client.segment_count("ticked").count == 0
        deadline = time.monotonic() + WAIT_S
        changes: list[Change] = []
        while not changes and time.monotonic() < deadline:  # bounded by the deadline (heartbeats every 0.2 s)
            changes = next(messages).changes
    assert [(c.customer_id, c.entered, c.reason) for c in changes] == [("tick-1", True, "time")]
    assert changes[0].at_ms >= due_ms and client.segment_count("ticked").count == 1
