"""Benchmark data sources: the deterministic generator and the real datasets, as one shape.

A Source gives the engine and the gRPC server raw RECORDS.md dicts (`batches`) and the SQL peers Arrow
tables in benchmarks/sql.py's layout (`tables`), both from the same records. For the real datasets the
tables are built from the engine's own validation of those records (fixed-point numbers, ms timestamps,
dense customer ids), so the peers see exactly what the engine indexed.
"""

from __future__ import annotations

import collections
import gzip
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.duckdb_runner import arrow_tables
from benchmarks.generator import DAY_MS, generate_columns, iter_records, placeholders
from indexes.records import EventRecord, ProfileRecord, validate_batch
from indexes.schema import Schema

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL_DATASETS = ("online_retail", "cdnow")
MAX_REAL_RECORDS = 5_000_000  # the real files hold ~100k records; a bound on what is held in memory
VALIDATE_BATCH = 50_000


@dataclass
class Source:
    name: str
    customers: int
    events: int
    as_of_ms: int
    placeholders: dict[str, str]
    batches: Callable[[int], Iterator[list[dict[str, Any]]]]  # batch size -> raw records
    tables: Callable[[], tuple[pa.Table, pa.Table]]  # (events, customers) for the SQL peers


def generated(customers: int, events: int, seed: int = 7) -> Source:
    data = generate_columns(customers, events, seed=seed)
    return Source(f"generated {customers:,}", customers, data.event_count, data.as_of_ms, placeholders(data),
                  lambda size: iter_records(data, size), lambda: arrow_tables(data))


def read_records(path: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            records.append(json.loads(line))
            assert len(records) <= MAX_REAL_RECORDS, f"{path} is larger than this loader expects"
    return records


def _column(values: list[Any], kind: str) -> pa.Array:
    if kind in ("set", "list"):
        return pa.array([None if v is None else list(v) for v in values], type=pa.list_(pa.string()))
    if kind in ("string", "enum"):
        return pa.array(values, type=pa.string())
    if kind == "bool":
        return pa.array(values, type=pa.bool_())
    return pa.array(values, type=pa.int64())  # numbers (fixed point), timestamps (ms), dates (days)


def records_to_tables(records: list[dict[str, Any]]) -> tuple[pa.Table, pa.Table]:
    """Validated like the engine does, then laid out for SQL (profiles applied in ts order, last wins)."""
    schema = Schema()
    events: list[EventRecord] = []
    profiles: dict[str, dict[str, Any]] = collections.defaultdict(dict)
    profile_ts: dict[str, int] = {}
    cid: dict[str, int] = {}
    for start in range(0, len(records), VALIDATE_BATCH):
        result = validate_batch(records[start : start + VALIDATE_BATCH], schema)
        schema = result.schema
        for record in result.records:
            if isinstance(record, EventRecord):
                cid.setdefault(record.customer_id, len(cid))
                events.append(record)
            elif isinstance(record, ProfileRecord):
                cid.setdefault(record.customer_id, len(cid))
                if record.ts_ms >= profile_ts.get(record.customer_id, record.ts_ms):
                    profile_ts[record.customer_id] = record.ts_ms
                    for name, value in record.properties.items():
                        profiles[record.customer_id][name] = value
    attr_kinds = {name: t.kind for attrs in schema.events.values() for name, t in attrs.items()}
    event_columns: dict[str, pa.Array] = {
        "cid": pa.array(np.array([cid[e.customer_id] for e in events], dtype=np.int32)),
        "type": pa.array([e.type for e in events], type=pa.string()),
        "ts": pa.array(np.array([e.ts_ms for e in events], dtype=np.int64)),
    }
    for name, kind in attr_kinds.items():
        event_columns[name] = _column([e.attrs.get(name) for e in events], kind)
    ids = list(cid)  # dense id order
    customer_columns: dict[str, pa.Array] = {"cid": pa.array(np.arange(len(ids), dtype=np.int32))}
    for name, value_type in schema.properties.items():
        customer_columns[name] = _column([profiles.get(i, {}).get(name) for i in ids], value_type.kind)
    return pa.table(event_columns), pa.table(customer_columns)


def _batches(records: list[dict[str, Any]]) -> Callable[[int], Iterator[list[dict[str, Any]]]]:
    def chunks(size: int) -> Iterator[list[dict[str, Any]]]:
        for start in range(0, len(records), size):
            yield records[start : start + size]
    return chunks


def _real_placeholders(records: list[dict[str, Any]]) -> dict[str, str]:
    """PRODUCT_A / PRODUCT_B: popular-but-not-top products of the data (as the generator's mapping);
    categories and forms do not occur in these files, so their rules count nobody on every engine."""
    products = collections.Counter(p for r in records for p in r.get("attrs", {}).get("product_ids", ()))
    popular = [p for p, _ in products.most_common(10)]
    return {"CATEGORY_A": "cat-3", "PRODUCT_A": popular[4] if len(popular) > 8 else "p-5",
            "PRODUCT_B": popular[8] if len(popular) > 8 else "p-9", "FORM_A": "form-2"}


def real(name: str, data_dir: Path = DATA_DIR) -> Source:
    assert name in REAL_DATASETS, name
    records = read_records(data_dir / f"{name}.jsonl.gz")
    tables = records_to_tables(records)
    last_ms = int(pc.max(tables[0]["ts"]).as_py())
    as_of_ms = (last_ms // DAY_MS + 1) * DAY_MS  # midnight after the last event: windows end with the data
    return Source(name, tables[1].num_rows, tables[0].num_rows, as_of_ms, _real_placeholders(records),
                  _batches(records), lambda: tables)
