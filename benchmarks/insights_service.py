"""Issue 7 over gRPC: insights and a CSV export of a ~half-the-base segment through `segments serve`
with N shards (default 2), as a client sees them.

    python -m benchmarks.insights_service --customers 100000 --events 1000000 [--shards 2] [--repeats 10]
        [--json benchmarks/results/insights_service_100k.json]

1. `segments serve --shards N` in a subprocess on a fresh data directory; the generated shop
   (benchmarks/generator.py, seeded) streamed in; the segment saved: among the candidate rules of
   benchmarks/insights_export.py, the one whose count is nearest half the base.
2. Insights (30-day window, top 10) of the saved segment and of the same ad-hoc rule: p50/p99 over
   --repeats (each call runs every round across the shards: quantiles, partials, exact top counts).
3. Export of the saved segment over the Export stream into a file: rows/s, client and server RSS
   (server: the serve process and its children, the shard actors) before and after - flat memory means
   the growth does not scale with rows. Then ExportToFile (the server writes DATA_DIR/exports/).
Prints a summary and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.engine import percentile, rss_bytes
from benchmarks.generator import generate_columns, iter_records
from benchmarks.grpc_service import Server
from benchmarks.insights_export import CANDIDATE_RULES, EXPORT_COLUMNS
from service.client import SegmentsClient

LOAD_BATCH_RECORDS = 20_000


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = generate_columns(args.customers, args.events, seed=args.seed)
    as_of = data.as_of_ms
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "customers": args.customers,
                              "events": data.event_count, "shards": args.shards, "cores": os.cpu_count()}
    data_dir = Path(tempfile.mkdtemp(prefix="segments-insights-bench-"))
    server = Server(data_dir, args.shards)
    try:
        with SegmentsClient(server.target, timeout_s=None) as client:
            t0 = time.perf_counter()
            loaded = client.ingest_stream(iter_records(data, LOAD_BATCH_RECORDS))
            result["load_s"] = round(time.perf_counter() - t0, 1)
            print(f"loaded {loaded.accepted:,} records in {result['load_s']} s", file=sys.stderr)
            counts = {rule: client.count(rule, as_of).count for rule in CANDIDATE_RULES}
            rule = min(counts, key=lambda r: abs(counts[r] - args.customers / 2))
            client.create_segment("half", rule, segment_id="half")
            result["segment"] = {"rule": rule, "members": counts[rule]}
            for name, kwargs in (("saved", {"segment_id": "half"}), ("ad_hoc", {"rule": rule})):
                client.insights(as_of_ms=as_of, **kwargs)  # warm-up
                times = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    client.insights(as_of_ms=as_of, **kwargs)
                    times.append((time.perf_counter() - t0) * 1000)
                result[f"insights_{name}_ms"] = {"p50": round(percentile(times, 0.5), 1),
                                                 "p99": round(percentile(times, 0.99), 1)}
            client_before, server_before = rss_bytes(), server.rss_bytes()
            peak = [server_before]
            out_path = data_dir.parent / f"{data_dir.name}-export.csv"

            def sample(done: int, total: int) -> None:
                if done % 100_000 < 20_000:
                    peak.append(server.rss_bytes())

            t0 = time.perf_counter()
            with open(out_path, "w", encoding="utf-8", newline="") as out:
                outcome = client.export(out, EXPORT_COLUMNS, segment_id="half", as_of_ms=as_of, progress=sample)
            export_s = time.perf_counter() - t0
            result["export_stream"] = {
                "rows": outcome.rows, "seconds": round(export_s, 2), "rows_per_s": round(outcome.rows / export_s),
                "bytes": out_path.stat().st_size,
                "client_rss_growth_mib": round((rss_bytes() - client_before) / 2**20, 1),
                "server_rss_growth_mib": round((max(peak) - server_before) / 2**20, 1)}
            out_path.unlink()
            t0 = time.perf_counter()
            written = client.export_to_file(EXPORT_COLUMNS, segment_id="half", as_of_ms=as_of, file_name="half.csv")
            file_s = time.perf_counter() - t0
            result["export_to_file"] = {"rows": written.rows, "seconds": round(file_s, 2),
                                        "rows_per_s": round(written.rows / file_s)}
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
