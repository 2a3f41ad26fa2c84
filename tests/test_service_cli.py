"""service/cli.py without a server: count / members on files and data directories, argument errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.cli import main

RECORDS = [
    {"event_id": f"o-{i}", "customer_id": f"c-{i % 4}", "type": "order_created", "ts": 1_000 + i,
     "attrs": {"amount": "10.00"}}
    for i in range(10)
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def records(tmp_path: Path) -> Path:
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    return path


def test_count_and_members_on_files_and_a_data_dir(
    tmp_path: Path, records: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = "order_count >= 3"  # c-0 and c-1 have 3 orders, c-2 and c-3 have 2
    assert run(capsys, "count", "--input", str(records), "--as-of", "2030-01-01T00:00:00Z", rule)[1] == "2\n"
    assert run(capsys, "members", "--input", str(records), "--as-of", "2030-01-01T00:00:00Z", rule)[1] == "c-0\nc-1\n"
    data = tmp_path / "data"
    assert run(capsys, "ingest", str(records), "--data-dir", str(data))[0] == 0
    assert run(capsys, "members", "--data-dir", str(data), "--as-of", "2030-01-01T00:00:00Z", rule)[1] == "c-0\nc-1\n"
    code, out, _ = run(capsys, "members", "--data-dir", str(data), "--json", "--as-of", "2030-01-01T00:00:00Z", rule)
    assert code == 0 and json.loads(out)["members"] == ["c-0", "c-1"]
    code, out, _ = run(capsys, "eval", "--data-dir", str(data), "--as-of", "2030-01-01T00:00:00Z", rule)
    assert (code, out) == (0, "2\n")  # the embedded commands are unchanged


@pytest.mark.parametrize("argv", [
    ["stats"],
    ["ingest", "x.jsonl"],
    ["members", "order_count >= 1"],
    ["count", "--server", "127.0.0.1:1", "--data-dir", "d", "order_count >= 1"],
])
def test_where_to_run_must_be_said_once(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.startswith("error: ")


def test_an_unreachable_server_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "stats", "--server", "127.0.0.1:1")
    assert code == 1 and "cannot reach a segments server at 127.0.0.1:1" in err and "Traceback" not in err
