"""The project's other benchmarks, run by run_all in full mode: one subprocess each, its JSON kept.

Each writes its own JSON (its `--json`); a failure (non-zero exit: a count mismatch, a missed invariant)
is recorded with the tail of its stderr and fails the whole run at the end, after the report is written.
The seed suite at 1M customers in process and over gRPC is already the peers' run; engine.py and
grpc_service.py run here at 100k so that their own extras (CPU per count, concurrent clients) are kept.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TIMEOUT_S = 6 * 3600
M, E = "1000000", "20000000"
FULL: dict[str, list[str]] = {
    "engine": ["--customers", "100000", "--events", "2000000"],
    "grpc_service": ["--customers", "100000", "--events", "2000000", "--load-seconds", "20"],
    "saved_segments": ["--customers", M, "--events", E],
    "insights_export": ["--customers", M, "--events", E],
    "durable_ingest": ["--customers", M, "--events", E, "--producers", "2"],
    "replay_parallel": ["--customers", M, "--events", E],
    "snapshot": ["--customers", M, "--events", E],
    "log_append": [],
    "shard_ingest_profile": [],
    "crash_soak": ["--kills", "50"],
}
# the same set at tiny sizes: `python -m benchmarks.others --smoke` checks them before a long full run
S_C, S_E = "3000", "30000"
SMOKE: dict[str, list[str]] = {
    "engine": ["--customers", S_C, "--events", S_E, "--repeats", "3", "--duckdb-repeats", "1"],
    "grpc_service": ["--customers", S_C, "--events", S_E, "--repeats", "3", "--duckdb-repeats", "1",
                     "--clients", "2", "--client-processes", "1", "--load-seconds", "2"],
    "saved_segments": ["--customers", S_C, "--events", S_E, "--segments", "30", "--watch-seconds", "3",
                       "--rate", "500", "--count-repeats", "50"],
    "insights_export": ["--customers", S_C, "--events", S_E, "--repeats", "2"],
    "durable_ingest": ["--customers", S_C, "--events", S_E, "--producers", "2", "--tail", "1000",
                       "--idempotency-ids", "1000"],
    "replay_parallel": ["--customers", S_C, "--events", S_E],
    "snapshot": ["--customers", S_C, "--events", S_E, "--tail-records", "1000"],
    "log_append": ["--records", "20000", "--pool", "5000", "--producers", "2"],
    "shard_ingest_profile": ["--customers", S_C, "--events", S_E],
    "crash_soak": ["--kills", "3"],
}


def run_one(name: str, argv: list[str], out_dir: Path) -> dict[str, Any]:
    assert name in FULL and name in SMOKE, name
    json_path = out_dir / f"other_{name}.json"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *argv, "--json", str(json_path)],
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    entry: dict[str, Any] = {"name": name, "argv": argv, "seconds": round(time.perf_counter() - started, 1),
                             "exit_code": done.returncode, "json": json_path.name if json_path.exists() else None}
    if done.returncode != 0:
        entry["stderr_tail"] = done.stderr[-2000:]
    elif json_path.exists():
        try:
            json.loads(json_path.read_text())
        except json.JSONDecodeError:
            entry["json"] = None
    return entry


def run_all(out_dir: Path, sizes: dict[str, list[str]] = FULL) -> list[dict[str, Any]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for name, argv in sizes.items():
        print(f"[others] {name} {' '.join(argv)}", file=sys.stderr, flush=True)
        results.append(run_one(name, argv, out_dir))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, into a temporary directory")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="others-") as work:
        out_dir = Path(work) if args.smoke else Path(__file__).resolve().parent / "results"
        results = run_all(out_dir, SMOKE if args.smoke else FULL)
    for r in results:
        print(f"{r['name']:22s} exit {r['exit_code']} {r['seconds']:7.1f} s json {r['json']} {r.get('stderr_tail', '')[-300:]}")
    return 1 if any(r["exit_code"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
