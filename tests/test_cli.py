"""The embedded CLI: eval and check, their output and their errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from indexes.cli import main
from tests import paths

DATA = paths.DATA / "online_retail.jsonl.gz"


def test_eval_counts_the_real_data(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["eval", "--input", str(DATA), "--as-of", "2011-12-10T00:00:00Z", "count(order_created) >= 1"])
    assert code == 0
    assert capsys.readouterr().out.strip() == "4339"


def test_eval_json_with_members(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"customer_id": "b", "ts": 0, "properties": {"country": "TR"}},
        {"customer_id": "a", "ts": 0, "properties": {"country": "TR"}},
        {"customer_id": "c", "ts": 0, "properties": {"country": "DE"}},
    ]))
    rule_file = tmp_path / "rule.json"
    rule_file.write_text(json.dumps({"property": "country", "op": "eq", "value": "TR"}))
    assert main(["eval", "--input", str(path), "--json", "--members", f"@{rule_file}"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["count"] == 2 and out["members"] == ["a", "b"]
    assert out["rule"] == 'country = "TR"'


def test_bad_record_names_file_line_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps({"customer_id": "a", "ts": 0, "properties": {"country": "TR"}}) + "\n\n")
        f.write(json.dumps({"event_id": "e1", "customer_id": "a", "type": "order_created", "ts": 0,
                            "attrs": {"amount": 1.234}}) + "\n")
    assert main(["eval", "--input", str(path), "country exists"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:3: attrs.amount" in err and "scale 2" in err


def test_bad_rule_names_line_and_column(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", 'country = "TR" and\n  count(order_created) >']) == 2
    err = capsys.readouterr().err
    assert "line 2, column 25" in err and "whole number" in err


def test_check_prints_both_forms(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", '{"event": "order_created", "count": {"op": "eq", "value": 0}, "window": {"last": {"days": 30}}}']) == 0
    out = capsys.readouterr().out
    assert "count(order_created, last 30 days) = 0" in out
    assert '"window": {"last": {"days": 30}}' in out


def test_unknown_zone_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--input", str(DATA), "--tz", "Nowhere/Land", "country exists"]) == 2
    assert "unknown time zone" in capsys.readouterr().err


def test_profiles_lists_members_sorted_by_a_column(capsys: pytest.CaptureFixture[str]) -> None:
    rule = "count(order_created) >= 5"
    args = ["--input", str(DATA), "--as-of", "2011-12-10T00:00:00Z"]
    assert main(["profiles", *args, "--columns", "country,order_count", "--sort-by", "order_count",
                 "--descending", "--limit", "7", "--json", rule]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert len(rows) == 7 and all(int(r["order_count"]) >= 5 for r in rows)
    counts = [int(r["order_count"]) for r in rows]
    assert counts == sorted(counts, reverse=True)
    assert captured.err.strip().startswith("7 of ")
    assert main(["profiles", *args, "--columns", "no_such_column", rule]) == 2
