"""Load generated data into in-process DuckDB (through Arrow) and run translated rules on it."""

from __future__ import annotations

import time

import duckdb
import numpy as np
import pyarrow as pa

from benchmarks.generator import ATTR_VOCAB, GeneratedData, customer_id
from benchmarks.sql import SqlTranslator
from indexes.plan.compile import Plan
from indexes.schema import Schema
from indexes.timecal import Calendar

_NULL_INT = pa.int64()


def _strings(codes: np.ndarray, vocab: list[str]) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32()), pa.array(vocab)).cast(pa.string())


def _events_table(data: GeneratedData, schema: Schema) -> pa.Table:
    attr_types: dict[str, str] = {}
    for attrs in schema.events.values():
        for name, value_type in attrs.items():
            attr_types[name] = value_type.kind
    pieces = []
    for event_type, cols in data.events.items():
        n = len(cols.ts)
        columns: dict[str, pa.Array] = {
            "cid": pa.array(cols.customers, type=pa.int32()),
            "type": pa.array(np.full(n, event_type, dtype=object), type=pa.string()),
            "ts": pa.array(cols.ts, type=pa.int64()),
        }
        for name, kind in attr_types.items():
            if name in cols.attrs:
                values = cols.attrs[name]
                columns[name] = (
                    _strings(values, data.vocab[ATTR_VOCAB[name]]) if kind == "string" else pa.array(values, type=_NULL_INT)
                )
            elif name in cols.lists:
                offsets, codes = cols.lists[name]
                items = _strings(codes, data.vocab[ATTR_VOCAB[name]])
                columns[name] = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), items)
            else:
                arrow_type = {"string": pa.string(), "list": pa.list_(pa.string())}.get(kind, _NULL_INT)
                columns[name] = pa.nulls(n, type=arrow_type)
        pieces.append(pa.table(columns))
    return pa.concat_tables(pieces)


def _customers_table(data: GeneratedData, schema: Schema) -> pa.Table:
    n = data.customers
    p, v = data.profiles, data.vocab
    columns: dict[str, pa.Array] = {"cid": pa.array(np.arange(n, dtype=np.int32))}
    domains = v["email_domain"]
    for name, value_type in schema.properties.items():
        kind = value_type.kind
        if name in p and kind in ("string", "enum"):
            columns[name] = _strings(p[name], v[name])
        elif name == "email":
            columns[name] = pa.array([f"user{i}@{domains[d]}" for i, d in enumerate(p["email_domain"].tolist())])
        elif name == "tags":
            columns[name] = pa.array([
                [t for t in ("vip", "newsletter", "blacklist") if p[f"tag_{t}"][i]] for i in range(n)
            ], type=pa.list_(pa.string()))
        elif name == "customer_groups":
            columns[name] = pa.array([["wholesale"] if w else ["retail"] for w in p["group_wholesale"].tolist()],
                                     type=pa.list_(pa.string()))
        elif name in p:
            columns[name] = pa.array(p[name], type=pa.int64())
        else:
            arrow_type = {"string": pa.string(), "enum": pa.string(), "set": pa.list_(pa.string()),
                          "bool": pa.bool_()}.get(kind, _NULL_INT)
            columns[name] = pa.nulls(n, type=arrow_type)
    return pa.table(columns)


def arrow_tables(data: GeneratedData) -> tuple[pa.Table, pa.Table]:
    """(events, customers) in benchmarks/sql.py's layout; every peer loads these same tables."""
    schema = Schema()
    return _events_table(data, schema), _customers_table(data, schema)


class DuckDbRunner:
    def __init__(self, data: GeneratedData | None, tz: str = "UTC", threads: int = 2,
                 tables: tuple[pa.Table, pa.Table] | None = None) -> None:
        """From generated data, or from ready `tables` (events, customers) shared with other peers."""
        self.data = data
        self.calendar = Calendar(tz)
        self.con = duckdb.connect()
        self.con.execute(f"SET threads = {threads}")
        started = time.perf_counter()
        if tables is None:
            assert data is not None
            tables = arrow_tables(data)
        self.con.register("events_arrow", tables[0])
        self.con.register("customers_arrow", tables[1])
        self.con.execute("CREATE TABLE events AS SELECT * FROM events_arrow")
        self.con.execute("CREATE TABLE customers AS SELECT * FROM customers_arrow")
        self.con.unregister("events_arrow")
        self.con.unregister("customers_arrow")
        self.load_seconds = time.perf_counter() - started

    def count(self, plan: Plan, as_of_ms: int) -> int:
        sql = SqlTranslator(self.calendar, as_of_ms).count_query(plan)
        row = self.con.execute(sql).fetchone()
        assert row is not None
        return int(row[0])

    def sql(self, plan: Plan, as_of_ms: int) -> str:
        return SqlTranslator(self.calendar, as_of_ms).count_query(plan)


def external_ids(indices: np.ndarray) -> list[str]:
    return [customer_id(int(i)) for i in indices]
