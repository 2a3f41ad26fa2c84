"""The project's other benchmarks, run by run_all in full mode: one subprocess each, its JSON kept.

Each writes its own JSON (its `--json`); a failure (non-zero exit: a count mismatch, a missed invariant)
is recorded with the tail of its stderr and fails the whole run at the end, after the report is written.
The seed suite at 1M customers in process and over gRPC is already the peers' run; engine.py and
grpc_service.py run here at 100k so that their own extras (CPU per count, concurrent clients) are kept.
"""

from __future__ import annotations

import json
import subprocess
import sys
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


def run_one(name: str, argv: list[str], out_dir: Path) -> dict[str, Any]:
    assert name in FULL, name
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


def run_all(out_dir: Path) -> list[dict[str, Any]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for name, argv in FULL.items():
        print(f"[others] {name} {' '.join(argv)}", file=sys.stderr, flush=True)
        results.append(run_one(name, argv, out_dir))
    return results
