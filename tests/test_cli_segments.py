"""`segments segment ...` on a data directory (the DurableEngine in process); --server forms are in
tests/test_service_segments.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.cli import main

RECORDS = [
    {"event_id": f"o-{i}", "customer_id": f"c-{i % 5}", "type": "order_created", "ts": 1_700_000_000_000 + i,
     "attrs": {"amount": "10.00"}}
    for i in range(12)  # c-0, c-1: 3 orders; c-2, c-3, c-4: 2
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    records = tmp_path / "records.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    data = str(tmp_path / "data")
    assert run(capsys, "ingest", str(records), "--data-dir", data)[0] == 0
    return data


def test_create_list_show_edit_rollback_and_history(data_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    d = ("--data-dir", data_dir)
    code, out, _ = run(capsys, "segment", "create", "Three orders", "--rule", "order_count >= 3", "--tag", "orders", *d)
    assert code == 0 and out.splitlines()[:2] == ["created", "seg_1  Three orders  (version 1 of 1, active)"]
    code, out, _ = run(capsys, "segment", "create", "--template", "tpl_repeat_buyers", "--id", "repeat", *d)
    assert code == 0 and "repeat  Repeat buyers  (version 1 of 1, active)" in out
    code, out, _ = run(capsys, "segment", "list", "--tag", "orders", *d)
    rows = out.splitlines()
    assert code == 0 and rows[0].split() == ["id", "name", "version", "state", "tags", "updated"]
    assert [r.split()[0] for r in rows[2:]] == ["seg_1", "repeat"]
    assert run(capsys, "segment", "count", "seg_1", *d)[1] == "2\n"
    assert run(capsys, "segment", "members", "seg_1", *d)[1] == "c-0\nc-1\n"
    code, out, _ = run(capsys, "segment", "dry-run", "seg_1", "order_count >= 2", *d)
    assert code == 0 and "2 -> 5 members (3 would enter, 0 would exit)" in out and "c-2 c-3 c-4" in out
    assert run(capsys, "segment", "edit", "seg_1", "--rule", "order_count >= 2", "--name", "Two orders", *d)[0] == 0
    assert run(capsys, "segment", "count", "seg_1", *d)[1] == "5\n"
    assert run(capsys, "segment", "rollback", "seg_1", "1", *d)[0] == 0
    code, out, _ = run(capsys, "segment", "versions", "seg_1", "--json", *d)
    assert [(v["version"], v["op"], v["rule_text"]) for v in json.loads(out)] == [
        (1, "create", "order_count >= 3"), (2, "edit", "order_count >= 2"), (3, "rollback", "order_count >= 3")]
    code, out, _ = run(capsys, "segment", "show", "seg_1", "--version", "2", "--json", *d)
    assert code == 0 and json.loads(out)["name"] == "Two orders"


def test_log_pages_with_after_and_reasons(data_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    d = ("--data-dir", data_dir)
    run(capsys, "segment", "create", "Three orders", "--rule", "order_count >= 3", "--id", "three", *d)
    run(capsys, "segment", "edit", "three", "--rule", "order_count >= 2", *d)
    code, out, err = run(capsys, "segment", "log", "three", "--limit", "3", *d)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3 and "more: --after " in err
    assert [line.split()[1:4] for line in lines] == [["+", "three", "c-0"], ["+", "three", "c-1"], ["+", "three", "c-2"]]
    assert lines[0].split()[4:] == ["activated", "v1"] and lines[2].split()[4:] == ["rule_edit", "v2"]
    after = err.split("--after ")[1].strip()
    code, out, err = run(capsys, "segment", "log", "three", "--after", after, "--json", *d)
    rest = json.loads(out)
    assert [c["customer_id"] for c in rest["changes"]] == ["c-3", "c-4"] and rest["more"] is False
    code, out, _ = run(capsys, "segment", "log", "--customer", "c-4", "--json", *d)
    assert [c["reason"] for c in json.loads(out)["changes"]] == ["rule_edit"]


def test_refusals_are_one_line_errors(data_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    d = ("--data-dir", data_dir)
    run(capsys, "segment", "create", "Base", "--rule", "order_count >= 1", "--id", "base", *d)
    run(capsys, "segment", "attach", "base", "spring", *d)
    code, _, err = run(capsys, "segment", "delete", "base", *d)
    assert code == 2 and err == "error: id: segment 'base' is used by campaign spring\n"
    code, _, err = run(capsys, "segment", "create", "base", "--rule", "order_count >= 2", *d)
    assert code == 2 and "already named" in err
    code, _, err = run(capsys, "segment", "create", "Bad", "--rule", "count(nope) >= 1", *d)
    assert code == 2 and err.startswith("error: rule: ")
    assert run(capsys, "segment", "watch", "base", *d)[0] == 2
    assert run(capsys, "segment", "count", "base")[0] == 2  # neither --server nor --data-dir
    code, out, _ = run(capsys, "segment", "templates", "--json", *d)
    assert code == 0 and len(json.loads(out)) >= 12
