"""InsightsService through the real server (`segments serve --shards 2` in a subprocess), held to the
embedded engine fed the same records: insights (every figure; top lists exact though the shards differ),
explanations, summaries, member profiles paged in sort order, a 20k-member export compared row by row
with the Members listing and with the embedded write_csv output, the CLI with --server."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from benchmarks.generator import generate_columns, iter_records, load_seed_suite, placeholders
from indexes.engine import Engine
from indexes.explain import explain_customer
from indexes.export import write_csv
from indexes.insights import (
    InsightsRequest,
    amount_scale,
    engine_insights,
    finish_insights,
    shard_insights,
)
from indexes.profiles import ColumnReader
from indexes.rules.summary import summarize
from service.cli import main as cli_main
from service.client import SegmentsClient
from service.client_types import SegmentsError
from tests.paths import SEED_SUITE
from tests.service_process import ServerProcess

CUSTOMERS = 24_000
EVENTS = 60_000
BATCH_RECORDS = 6_000
EVERYONE = {"not": {"property": "email", "op": "ends_with", "value": "@nowhere.invalid"}}
COLUMNS = ["customer_id", "email", "country", "tags", "lifetime_value", "order_count", "last_order_at"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess(tmp_path_factory.mktemp("insights") / "data", "--shards", "2")
    yield running
    if running.process is not None:
        assert running.stop() == 0, running.log_tail()


@pytest.fixture(scope="module")
def shop(server: ServerProcess) -> dict[str, Any]:
    data = generate_columns(CUSTOMERS, EVENTS, seed=11)
    rules = dict(load_seed_suite(SEED_SUITE, placeholders(data)))
    mirror = Engine()
    with SegmentsClient(server.target) as client:
        batches = list(iter_records(data, BATCH_RECORDS))
        assert client.ingest_stream(batches).rejected == 0
        for batch in batches:
            mirror.ingest(batch)
        for name in ("vip", "nested_mix", "never_ordered"):
            client.create_segment(name, rules[name], segment_id=name)
            mirror.create_segment(name, rules[name], segment_id=name)
    return {"rules": rules, "mirror": mirror, "as_of": data.as_of_ms}


@pytest.fixture
def client(server: ServerProcess) -> Iterator[SegmentsClient]:
    with SegmentsClient(server.target) as c:
        yield c


def _members(mirror: Engine, rule: Any, as_of: int) -> Any:
    return mirror.evaluate(rule, as_of)


@pytest.mark.parametrize("name", ["vip", "nested_mix", "never_ordered", "students"])
def test_insights_equal_the_embedded_engine(shop: dict[str, Any], client: SegmentsClient, name: str) -> None:
    mirror, as_of, rule = shop["mirror"], shop["as_of"], shop["rules"][name]
    saved = name != "students"
    for top in (3, 10):
        got = (client.insights(segment_id=name, as_of_ms=as_of, top=top) if saved
               else client.insights(rule, as_of_ms=as_of, top=top))
        members = _members(mirror, rule, as_of)
        scale = amount_scale(mirror.shard)
        # The cluster's bucket edges come from both shards' quantiles: count the same buckets here.
        edges = tuple(int(e.scaleb(scale)) for e in got.ltv_edges)
        request = InsightsRequest(window_days=30, ltv_edges=edges, top=top)
        same_buckets = finish_insights([shard_insights(mirror.shard, members, as_of, request)], request, top, scale)
        for field in got.__dataclass_fields__:
            assert getattr(got, field) == getattr(same_buckets, field), (field, getattr(got, field), getattr(same_buckets, field))
        embedded = engine_insights(mirror.shard, members, as_of, top=top)
        for field in ("members", "base", "orders", "revenue", "buyers", "breakdowns", "window_tops"):
            assert getattr(got, field) == getattr(embedded, field), field


def test_summaries_and_explanations(shop: dict[str, Any], client: SegmentsClient) -> None:
    mirror, as_of = shop["mirror"], shop["as_of"]
    for language in ("en", "tr", "de"):
        summary, text = client.summarize(segment_id="nested_mix", language=language)
        assert summary == summarize(mirror.load_rule(shop["rules"]["nested_mix"]), language)
        assert text
    members = sorted(mirror.shard.ids.externals(_members(mirror, shop["rules"]["nested_mix"], as_of)))
    others = [f"c{i}" for i in range(0, 400, 37)]
    for customer in members[:5] + others:
        if mirror.shard.ids.lookup(customer) is None:
            continue
        for kwargs in ({"segment_id": "nested_mix"}, {"rule": shop["rules"]["nested_mix"]}):
            got = client.explain(customer, as_of_ms=as_of, **kwargs)
            expected = explain_customer(mirror, shop["rules"]["nested_mix"], customer, as_of)
            assert got.node.to_json() == expected.node.to_json()
            assert got.node.holds == (customer in members)
    with pytest.raises(SegmentsError) as caught:
        client.explain("nobody-at-all", segment_id="vip")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(SegmentsError) as caught:
        client.explain(members[0], segment_id="no-such-segment")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND


def test_bad_requests_name_their_fields(client: SegmentsClient, shop: dict[str, Any]) -> None:
    with pytest.raises(SegmentsError) as caught:
        client.insights({"all": [{"property": "nope", "op": "eq", "value": 1}]})
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.violations[0].field.startswith("target.rule")
    with pytest.raises(SegmentsError) as caught:
        client.export(io.StringIO(), ["customer_id", "no_such_column"], segment_id="vip")
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.violations[0].field == "columns[1]"
    with pytest.raises(SegmentsError) as caught:
        next(client.member_profiles(["email"], segment_id="vip", sort_by="shoe_size"))
    assert caught.value.violations[0].field == "sort_by"
    with pytest.raises(SegmentsError) as caught:
        client.customer_profile("nobody-at-all")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND


def test_export_of_20k_members_row_by_row(shop: dict[str, Any], client: SegmentsClient, server: ServerProcess) -> None:
    mirror, as_of = shop["mirror"], shop["as_of"]
    members = _members(mirror, EVERYONE, as_of)
    assert len(members) >= 20_000
    out = io.StringIO()
    seen: list[tuple[int, int]] = []
    outcome = client.export(out, COLUMNS, EVERYONE, as_of_ms=as_of, mandatory=["country"],
                            progress=lambda done, total: seen.append((done, total)))
    expected = io.StringIO()
    result = write_csv(mirror.shard, members, COLUMNS, expected, as_of_ms=as_of, mandatory=["country"])
    assert out.getvalue() == expected.getvalue()
    assert (outcome.rows, outcome.left_out, outcome.members) == (result.rows, result.left_out, result.members)
    assert len(seen) > 1 and seen[-1] == (len(members), len(members))
    rows = list(csv.reader(io.StringIO(out.getvalue())))[1:]
    listed = list(client.members(EVERYONE, as_of_ms=as_of, page_size=5000))
    exported = {r[0] for r in rows}
    kept = [i for i in listed if i in exported]
    assert [r[0] for r in rows] == kept  # Members order, the left-out ones skipped
    written = client.export_to_file(COLUMNS, segment_id="vip", as_of_ms=as_of, file_name="vip.csv")
    assert written.path == "exports/vip.csv"
    expected = io.StringIO()
    write_csv(mirror.shard, _members(mirror, shop["rules"]["vip"], as_of), COLUMNS, expected, as_of_ms=as_of)
    assert (server.data_dir / written.path).read_text(encoding="utf-8") == expected.getvalue()


@pytest.mark.parametrize(("sort_by", "descending"), [("lifetime_value", True), ("country", False),
                                                       ("customer_id", True), ("last_order_at", False)])
def test_profiles_page_every_member_once_in_order(shop: dict[str, Any], client: SegmentsClient, sort_by: str,
                                                  descending: bool) -> None:
    mirror, as_of = shop["mirror"], shop["as_of"]
    rule = shop["rules"]["never_ordered"] if sort_by != "last_order_at" else shop["rules"]["nested_mix"]
    members = _members(mirror, rule, as_of)
    got = list(client.member_profiles(["email", sort_by], rule, sort_by=sort_by, descending=descending,
                                      page_size=333, as_of_ms=as_of))
    assert sorted(c for c, _ in got) == sorted(mirror.shard.ids.externals(members))
    reader = ColumnReader(mirror.shard, sort_by, as_of)
    keys = []
    for customer, values in got:
        dense = mirror.shard.ids.lookup(customer)
        import numpy as np

        missing, value = reader.sort_keys(np.array([dense], dtype=np.int64))
        text = reader.read(np.array([dense], dtype=np.int64))[0]
        assert values[sort_by] == text
        keys.append((bool(missing[0]), text if sort_by in ("country", "customer_id") else value.tolist()[0], customer))
    present = [k for k in keys if not k[0]]
    assert keys == present + [k for k in keys if k[0]]  # missing values last
    for a, b in zip(present, present[1:], strict=False):
        assert (a[1] > b[1] if descending else a[1] < b[1]) or (a[1] == b[1] and a[2] < b[2]), (a, b)


def test_customer_profile_and_cli(shop: dict[str, Any], client: SegmentsClient, server: ServerProcess,
                                  capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from indexes.profiles import customer_profile

    mirror, as_of = shop["mirror"], shop["as_of"]
    customer = sorted(mirror.shard.ids.externals(_members(mirror, shop["rules"]["vip"], as_of)))[0]
    got = client.customer_profile(customer, recent=5, as_of_ms=as_of)
    expected = customer_profile(mirror.shard, customer, as_of, 5)
    assert expected is not None
    assert got.properties == expected.properties
    assert got.computed == {k: v for k, v in expected.computed.items() if v is not None}
    assert [(t, ts) for t, ts, _ in got.recent_events] == [(t, ts) for t, ts, _ in expected.recent_events]
    at = str(as_of)
    assert cli_main(["insights", "--server", server.target, "--segment", "vip", "--as-of", at]) == 0
    assert "lifetime value" in capsys.readouterr().out
    assert cli_main(["summarize", "--server", server.target, "--segment", "vip", "--lang", "de"]) == 0
    assert capsys.readouterr().out.strip() == summarize(mirror.load_rule(shop["rules"]["vip"]), "de")
    out = tmp_path / "vip.csv"
    assert cli_main(["export", "--server", server.target, "--segment", "vip", "--columns", ",".join(COLUMNS),
                     "--out", str(out), "--as-of", at, "--quiet"]) == 0
    assert out.read_text(encoding="utf-8") == (server.data_dir / "exports" / "vip.csv").read_text(encoding="utf-8")
    assert cli_main(["explain", "--server", server.target, "--segment", "vip", "--customer", customer,
                     "--as-of", at]) == 0
    assert capsys.readouterr().out.startswith(f"{customer}: IN")
    assert cli_main(["profile", "--server", server.target, "--customer", customer, "--json", "--as-of", at]) == 0
    assert customer in capsys.readouterr().out


def test_profiles_cli_lists_the_first_members_in_order(shop: dict[str, Any], server: ServerProcess,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from indexes.profile_pages import profile_page

    mirror, as_of = shop["mirror"], shop["as_of"]
    members = _members(mirror, shop["rules"]["vip"], as_of)
    expected = profile_page(mirror.shard, members, as_of, ["email", "lifetime_value"], "lifetime_value", True,
                            None, 25)
    assert cli_main(["profiles", "--server", server.target, "--segment", "vip", "--columns", "email,lifetime_value",
                     "--sort-by", "lifetime_value", "--descending", "--limit", "25", "--as-of", str(as_of)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "customer_id\temail\tlifetime_value"
    assert lines[1:] == ["\t".join([key[2], *("" if v is None else str(v) for v in values)])
                         for key, values in expected.rows]
