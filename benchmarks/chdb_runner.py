"""The same Arrow tables in embedded ClickHouse (chDB), queried with the clickhouse dialect of benchmarks/sql.py.

Loaded through Parquet files in a temporary directory into MergeTree tables, laid out the way a
ClickHouse engineer would for these queries: `events` ordered by (type, ts) so that a leaf's event type
and time window prune granules, `type` as LowCardinality, customer ids as UInt32 (what groupBitmap
takes), strings and lists as they came (Nullable(String), Array(Nullable(String))).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from chdb import session

from benchmarks.sql import SqlTranslator
from indexes.plan.compile import Plan
from indexes.timecal import Calendar


class ChdbRunner:
    def __init__(self, tables: tuple[pa.Table, pa.Table], tz: str = "UTC", threads: int = 2) -> None:
        self.calendar = Calendar(tz)
        self._dir = Path(tempfile.mkdtemp(prefix="chdb-bench-"))
        self.session = session.Session(str(self._dir / "db"))
        self.threads = threads
        started = time.perf_counter()
        events, customers = tables
        pq.write_table(events, self._dir / "events.parquet")
        pq.write_table(customers, self._dir / "customers.parquet")
        self.session.query("CREATE DATABASE IF NOT EXISTS bench")
        self.session.query("USE bench")
        self.session.query(
            "CREATE TABLE events ENGINE = MergeTree ORDER BY (type, ts) AS "
            "SELECT toUInt32(assumeNotNull(cid)) AS cid, toLowCardinality(assumeNotNull(type)) AS type, "
            f"assumeNotNull(ts) AS ts, * EXCEPT (cid, type, ts) FROM file('{self._dir / 'events.parquet'}', Parquet)")
        self.session.query(
            "CREATE TABLE customers ENGINE = MergeTree ORDER BY cid AS "
            f"SELECT toUInt32(assumeNotNull(cid)) AS cid, * EXCEPT (cid) FROM file('{self._dir / 'customers.parquet'}', Parquet)")
        self.load_seconds = time.perf_counter() - started

    def sql(self, plan: Plan, as_of_ms: int) -> str:
        return SqlTranslator(self.calendar, as_of_ms, dialect="clickhouse").count_query(plan)

    def count(self, plan: Plan, as_of_ms: int) -> int:
        result = self.session.query(f"{self.sql(plan, as_of_ms)} SETTINGS max_threads = {self.threads}", "CSV")
        return int(str(result).strip())

    def close(self) -> None:
        self.session.close()
        shutil.rmtree(self._dir, ignore_errors=True)
