"""Issue 7 targets: insights of a ~half-the-base segment, and a CSV export of it, side by side with DuckDB.

    python -m benchmarks.insights_export --customers 1000000 --events 20000000 [--repeats 10]
        [--json benchmarks/results/insights_export_1m.json]

One engine shard holds the generated data (benchmarks/generator.py, seeded), built through the public
entry points as benchmarks/engine.py does; DuckDB holds the same data in the same process.
1. The segment: among a few candidate rules, the one whose member count is nearest half the base.
2. Insights (indexes/insights.py engine_insights: both phases, 30-day window, top 10): p50/p99 over
   --repeats. DuckDB runs the SQL a person would write for the same figures (segment table, orders and
   revenue for segment and base, four breakdowns, tags, viewed categories / bought products in the
   window); the segment's order count and revenue are asserted equal between the two.
3. Export: the segment's members to CSV (customer_id, email, country, city, order_count,
   lifetime_value, last_order_at) into a file under a temporary directory; rows/s, and the process's RSS
   before and after (flat memory: the growth must not scale with rows). DuckDB's COPY of the same columns
   (a join with per-customer aggregates) to CSV is timed alongside; row counts asserted equal.
4. Export of every customer (the whole base, 1M rows at 1M): rows/s and RSS growth, the same columns.
Prints markdown and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.duckdb_runner import DuckDbRunner
from benchmarks.engine import build_engine, percentile, rss_bytes
from benchmarks.generator import generate_columns
from indexes.export import write_csv
from indexes.insights import engine_insights
from indexes.plan.time_bounds import window_bounds
from indexes.rules.model import Duration, Last

CANDIDATE_RULES = [
    "count(product_viewed) >= 10",
    "count(product_viewed) >= 15",
    "count(product_viewed) >= 20",
    "count(session_started) >= 3",
    "count(email_sent) >= 3",
    'marketing_consent = "granted"',
]
EXPORT_COLUMNS = ["customer_id", "email", "country", "city", "order_count", "lifetime_value", "last_order_at"]
WINDOW_DAYS = 30


def _duck_insights(duck: DuckDbRunner, predicate: str, as_of: int, window_start: int) -> tuple[int, int]:
    con = duck.con
    con.execute(f"CREATE OR REPLACE TEMP TABLE seg AS SELECT cid FROM customers c WHERE {predicate}")
    orders = con.execute(
        f"SELECT count(*), coalesce(sum(coalesce(amount, 0)), 0) FROM events JOIN seg USING (cid) "
        f"WHERE type = 'order_created' AND ts <= {as_of}").fetchone()
    con.execute(f"SELECT count(*), sum(coalesce(amount, 0)) FROM events WHERE type = 'order_created' AND ts <= {as_of}").fetchall()
    for column in ("marketing_consent", "sms_consent", "country", "language", "city"):
        con.execute(f"SELECT {column}, count(*) FROM customers JOIN seg USING (cid) GROUP BY 1 ORDER BY 2 DESC LIMIT 10").fetchall()
        con.execute(f"SELECT {column}, count(*) FROM customers GROUP BY 1").fetchall()
    con.execute("SELECT t, count(*) FROM (SELECT unnest(tags) AS t FROM customers JOIN seg USING (cid)) GROUP BY 1").fetchall()
    con.execute(
        f"SELECT category, count(*) FROM events JOIN seg USING (cid) WHERE type = 'product_viewed' "
        f"AND ts BETWEEN {window_start} AND {as_of} GROUP BY 1 ORDER BY 2 DESC LIMIT 10").fetchall()
    con.execute(
        f"SELECT p, count(*) FROM (SELECT unnest(product_ids) AS p FROM events JOIN seg USING (cid) "
        f"WHERE type = 'order_created' AND ts BETWEEN {window_start} AND {as_of}) GROUP BY 1 ORDER BY 2 DESC LIMIT 10"
    ).fetchall()
    assert orders is not None
    return int(orders[0]), int(orders[1])


def _duck_export(duck: DuckDbRunner, predicate: str, as_of: int, path: Path) -> int:
    duck.con.execute(
        f"COPY (SELECT c.cid, c.email, c.country, c.city, coalesce(o.n, 0) AS order_count, "
        f"coalesce(o.total, 0) - coalesce(r.total, 0) AS lifetime_value, o.last_ts AS last_order_at "
        f"FROM customers c "
        f"LEFT JOIN (SELECT cid, count(*) AS n, sum(coalesce(amount, 0)) AS total, max(ts) AS last_ts FROM events "
        f"  WHERE type = 'order_created' AND ts <= {as_of} GROUP BY cid) o USING (cid) "
        f"LEFT JOIN (SELECT cid, sum(coalesce(amount, 0)) AS total FROM events "
        f"  WHERE type = 'order_refunded' AND ts <= {as_of} GROUP BY cid) r USING (cid) "
        f"WHERE {predicate.replace('c.', 'c.')} ORDER BY c.cid) TO '{path}' (HEADER, DELIMITER ',')")
    with path.open("rb") as handle:
        return sum(1 for _ in handle) - 1


def run(customers: int, events: int, repeats: int) -> dict:
    data = generate_columns(customers, events)
    as_of = data.as_of_ms
    engine, build = build_engine(data, 100_000)
    duck = DuckDbRunner(data)
    chosen, members = None, None
    for rule in CANDIDATE_RULES:
        found = engine.evaluate(rule, as_of)
        if members is None or abs(len(found) - customers / 2) < abs(len(members) - customers / 2):
            chosen, members = rule, found
    assert chosen is not None and members is not None
    plan = engine.compile(chosen)
    predicate = duck.sql(plan, as_of).split(" WHERE ", 1)[1]
    assert duck.count(plan, as_of) == len(members)

    engine_ms, duck_ms = [], []
    report = None
    window_start, _ = window_bounds(engine.shard.calendar, as_of, Last(Duration("days", WINDOW_DAYS)))
    for _ in range(repeats):
        started = time.perf_counter()
        report = engine_insights(engine.shard, members, as_of, window_days=WINDOW_DAYS)
        engine_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        duck_orders = _duck_insights(duck, predicate, as_of, int(window_start or 0))
        duck_ms.append((time.perf_counter() - started) * 1000)
    assert report is not None
    assert report.orders[0] == duck_orders[0], (report.orders, duck_orders)
    assert int(report.revenue[0] * 100) == duck_orders[1], (report.revenue, duck_orders)

    with tempfile.TemporaryDirectory() as tmp:
        result, export_s, rss_growth, export_bytes = _timed_export(engine, members, Path(tmp) / "export.csv", as_of)
        started = time.perf_counter()
        duck_rows = _duck_export(duck, predicate, as_of, Path(tmp) / "duck.csv")
        duck_export_s = time.perf_counter() - started
        everyone = engine.shard.alive
        every, every_s, every_growth, _ = _timed_export(engine, everyone, Path(tmp) / "everyone.csv", as_of)
    assert duck_rows == result.rows == len(members)
    assert every.rows == len(everyone) == customers
    return {
        "customers": customers, "events": events, "build": build, "rule": chosen, "members": len(members),
        "insights_ms": {"engine_p50": round(percentile(engine_ms, 0.5), 2),
                        "engine_p99": round(percentile(engine_ms, 0.99), 2),
                        "duckdb_p50": round(percentile(duck_ms, 0.5), 2)},
        "export": {"rows": result.rows, "seconds": round(export_s, 2), "rows_per_s": round(result.rows / export_s),
                   "bytes": export_bytes, "rss_growth_bytes": rss_growth,
                   "duckdb_seconds": round(duck_export_s, 2), "duckdb_rows_per_s": round(duck_rows / duck_export_s)},
        "export_everyone": {"rows": every.rows, "seconds": round(every_s, 2), "rows_per_s": round(every.rows / every_s),
                            "rss_growth_bytes": every_growth},
        "load_average": os.getloadavg(),
    }


def _timed_export(engine: Any, members: Any, path: Path, as_of: int) -> tuple[Any, float, int, int]:
    """(ExportResult, seconds, RSS growth, file bytes) of one CSV export of `members` into `path`."""
    rss_before = rss_bytes()
    started = time.perf_counter()
    with path.open("w", encoding="utf-8", newline="") as out:
        result = write_csv(engine.shard, members, EXPORT_COLUMNS, out, as_of_ms=as_of)
    seconds = time.perf_counter() - started
    return result, seconds, rss_bytes() - rss_before, path.stat().st_size


def markdown(result: dict) -> str:
    i, e = result["insights_ms"], result["export"]
    return "\n".join([
        f"Insights and export, {result['customers']:,} customers / {result['events']:,} events, segment "
        f"`{result['rule']}` ({result['members']:,} members); load average {result['load_average'][0]:.1f}",
        "",
        "| | engine | DuckDB |",
        "| --- | ---: | ---: |",
        f"| insights p50 (ms) | {i['engine_p50']} | {i['duckdb_p50']} |",
        f"| insights p99 (ms) | {i['engine_p99']} | |",
        f"| export rows/s | {e['rows_per_s']:,} | {e['duckdb_rows_per_s']:,} |",
        f"| export RSS growth (MiB) | {e['rss_growth_bytes'] / 2**20:.1f} | |",
        f"| export of every customer ({result['export_everyone']['rows']:,} rows) rows/s | "
        f"{result['export_everyone']['rows_per_s']:,} | |",
        f"| its RSS growth (MiB) | {result['export_everyone']['rss_growth_bytes'] / 2**20:.1f} | |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json")
    args = parser.parse_args()
    result = run(args.customers, args.events, args.repeats)
    print(markdown(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
