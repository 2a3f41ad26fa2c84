"""CI smoke of the benchmark harness: `run_all --mode quick` end to end (engine, gRPC server, DuckDB,
chDB on generated and real data; curves; load), into a temporary directory. Counts that differ between
engines fail it; so does a missing JSON, report or plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import run_all
from benchmarks.hdr import Histogram, bucket_high, bucket_of
from benchmarks.load import require_loopback


def test_hdr_buckets_bound_values_within_one_percent() -> None:
    for value in (0, 1, 127, 128, 129, 255, 256, 1000, 123_456, 10**9):
        index = bucket_of(value)
        assert bucket_high(index) >= value and (index == 0 or bucket_high(index - 1) < value)
        assert bucket_high(index) <= value * 1.01 + 1
    h = Histogram()
    for value in range(1, 10_001):
        h.record(value)
    assert abs(h.percentile_us(0.99) - 9_900) <= 100 and h.percentile_us(1.0) == 10_000


def test_load_refuses_non_loopback_targets() -> None:
    require_loopback("127.0.0.1:1")
    with pytest.raises(SystemExit):
        require_loopback("10.1.2.3:50051")


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_quick_mode_writes_json_report_and_plots(tmp_path: Path) -> None:
    assert run_all.main(["--mode", "quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "bench_quick.json").read_text())
    assert {p["source"] for p in result["peers"]} >= {"online_retail", "cdnow"}
    assert all(q["count"] >= 0 for p in result["peers"] for q in p["queries"])
    assert result["load"][0]["requests_ok"] > 0
    assert "| data |" in (tmp_path / "report_quick.md").read_text()
    assert len(list(tmp_path.glob("*.png"))) == len(result["images"]) >= 8
