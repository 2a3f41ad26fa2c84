"""The data-directory commands: ingest, eval --data-dir, snapshot, rebuild, compact, stats, log."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from indexes.cli import main
from indexes.durable import DurableEngine
from indexes.engine import Engine
from indexes.snapshot import write_snapshot


def write_jsonl(path: Path, records: list[dict | str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def orders(start: int, count: int) -> list[dict]:
    return [{"event_id": f"o-{i}", "customer_id": f"c-{i % 5}", "type": "order_created", "ts": 1000 + i,
             "attrs": {"amount": "10.00"}} for i in range(start, start + count)]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_ingest_then_eval_matches_eval_on_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    first = write_jsonl(tmp_path / "a.jsonl", orders(0, 20))
    second = write_jsonl(tmp_path / "b.jsonl.gz", [*orders(20, 10),
                                                   {"customer_id": "c-1", "ts": 5, "properties": {"country": "TR"}}])
    code, out, _ = run(capsys, "ingest", str(first), str(second), "--data-dir", str(data), "--tz", "Europe/Istanbul")
    assert code == 0 and "ingested 31 records (0 duplicate" in out
    rule = "order_count >= 6 or country exists"
    code, on_files, _ = run(capsys, "eval", "--input", str(first), "--input", str(second), "--tz", "Europe/Istanbul",
                            "--as-of", "2030-01-01T00:00:00Z", "--json", "--members", rule)
    code, on_dir, _ = run(capsys, "eval", "--data-dir", str(data), "--as-of", "2030-01-01T00:00:00Z", "--json",
                          "--members", rule)
    assert code == 0 and json.loads(on_dir) == json.loads(on_files)
    assert json.loads(on_dir)["tz"] == "Europe/Istanbul"
    # Ingesting the same file again: acknowledged, ignored.
    code, out, _ = run(capsys, "ingest", str(first), "--data-dir", str(data), "--json")
    assert code == 0 and json.loads(out)["duplicates"] == 20 and json.loads(out)["accepted"] == 0


def test_a_bad_record_rejects_its_batch_with_file_line_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    records: list[dict | str] = [*orders(0, 4), {"event_id": "x", "customer_id": "c", "type": "order_created",
                                                 "ts": 0, "attrs": {"amount": 1.234}}, *orders(4, 2)]
    path = write_jsonl(tmp_path / "in.jsonl", records)
    code, _, err = run(capsys, "ingest", str(path), "--data-dir", str(data), "--batch-size", "3")
    assert code == 2
    assert f"{path}:5: attrs.amount" in err and "nothing from this batch of 3 was ingested" in err
    assert "(3 records of earlier batches were)" in err
    code, out, _ = run(capsys, "eval", "--data-dir", str(data), "--as-of", "now", "order_count >= 1")
    assert out.strip() == "3"


def test_partial_accepts_the_valid_records_and_reports_the_rest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    records: list[dict | str] = [*orders(0, 3), {"event_id": "x", "customer_id": "c", "type": "nope", "ts": 0},
                                 *orders(3, 2), {"customer_id": "c-9", "ts": 1, "properties": {"shoe_size": 4}}]
    path = write_jsonl(tmp_path / "in.jsonl", records)
    code, out, err = run(capsys, "ingest", str(path), "--data-dir", str(data), "--partial")
    assert code == 2 and "ingested 5 records" in out and "2 rejected" in out
    assert f"{path}:4: type: unknown event type 'nope'" in err
    assert f"{path}:7: properties.shoe_size: unknown property" in err


def test_malformed_json_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [*orders(0, 2), "{not json"])
    code, _, err = run(capsys, "ingest", str(path), "--data-dir", str(tmp_path / "d"))
    assert code == 2 and f"{path}:3: malformed JSON" in err
    code, _, err = run(capsys, "ingest", str(path), "--data-dir", str(tmp_path / "d"), "--batch-size", "0")
    assert code == 2 and "--batch-size must be" in err


def test_time_zone_only_when_creating(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    path = write_jsonl(tmp_path / "in.jsonl", orders(0, 2))
    assert run(capsys, "ingest", str(path), "--data-dir", str(data), "--tz", "Asia/Kolkata")[0] == 0
    code, _, err = run(capsys, "ingest", str(path), "--data-dir", str(data), "--tz", "UTC")
    assert code == 2 and "created with time zone Asia/Kolkata" in err
    code, _, err = run(capsys, "eval", "--data-dir", str(data), "--tz", "UTC", "order_count >= 1")
    assert code == 2 and "created with time zone Asia/Kolkata" in err
    assert run(capsys, "eval", "--data-dir", str(data), "--tz", "Asia/Kolkata", "order_count >= 1")[1].strip() == "2"
    code, _, err = run(capsys, "ingest", str(path), "--data-dir", str(tmp_path / "new"), "--tz", "Nowhere/Land")
    assert code == 2 and "unknown time zone" in err


def test_eval_needs_exactly_one_source_and_an_existing_workspace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "eval", "order_count >= 1")
    assert code == 2 and "either --input" in err
    code, _, err = run(capsys, "eval", "--data-dir", str(tmp_path / "missing"), "order_count >= 1")
    assert code == 2 and "no workspace" in err
    assert not (tmp_path / "missing").exists(), "eval creates nothing"
    for command in ("stats", "snapshot", "rebuild", "compact"):
        code, _, err = run(capsys, command, "--data-dir", str(tmp_path / "missing"))
        assert code == 2 and "no workspace" in err, command


def test_snapshot_stats_rebuild(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    path = write_jsonl(tmp_path / "in.jsonl", orders(0, 30))
    run(capsys, "ingest", str(path), "--data-dir", str(data))
    code, out, _ = run(capsys, "stats", "--data-dir", str(data), "--json")
    stats = json.loads(out)
    assert stats["customers"] == 5 and stats["events"] == 30 and stats["snapshot"] is None
    assert stats["log_size_bytes"] > 0 and stats["event_ids"] == 30
    code, out, _ = run(capsys, "snapshot", "--data-dir", str(data))
    assert code == 0 and "covers LSN < 31" in out
    code, out, _ = run(capsys, "stats", "--data-dir", str(data))
    assert "customers     5" in out and "events        30" in out and "0 log records since" in out
    code, out, _ = run(capsys, "rebuild", "--data-dir", str(data))
    assert code == 0 and "state identical to the live one" in out


def test_rebuild_reports_a_mismatch_by_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    path = write_jsonl(tmp_path / "in.jsonl", orders(0, 10))
    run(capsys, "ingest", str(path), "--data-dir", str(data))
    # A snapshot that does not match the log (as a bug in a snapshot writer would leave).
    wrong = Engine()
    wrong.ingest([*orders(0, 10), {"customer_id": "c-1", "ts": 1, "properties": {"country": "TR"}}])
    with DurableEngine.open(data) as engine:
        covered = engine.applied_lsn
    write_snapshot(wrong.shard, data / "snapshots", covered)
    code, out, _ = run(capsys, "rebuild", "--data-dir", str(data))
    assert code == 1 and "MISMATCH" in out and "columns.country" in out
    code, out, _ = run(capsys, "rebuild", "--data-dir", str(data), "--force")
    assert code == 1 and "wrote snapshot" in out
    code, out, _ = run(capsys, "rebuild", "--data-dir", str(data))
    assert code == 0
    assert run(capsys, "eval", "--data-dir", str(data), "country exists")[1].strip() == "0"


def test_log_verify_and_repair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    path = write_jsonl(tmp_path / "in.jsonl", orders(0, 10))
    run(capsys, "ingest", str(path), "--data-dir", str(data))
    code, out, _ = run(capsys, "log", "verify", "--data-dir", str(data))
    assert code == 0 and "11 records; ok" in out
    segment = sorted((data / "log").glob("*.seg"))[0]
    with open(segment, "ab") as f:
        f.write(b"\x07\x00\x00")  # a torn append
    code, out, _ = run(capsys, "log", "verify", "--data-dir", str(data), "--json")
    assert code == 0 and json.loads(out)["torn_tail"] is not None
    code, out, _ = run(capsys, "log", "repair", "--data-dir", str(data))
    assert code == 0 and "action:" in out
    assert run(capsys, "log", "verify", "--data-dir", str(tmp_path / "none"))[0] == 2
