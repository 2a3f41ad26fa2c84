"""`segments serve --demo`: a generated shop in the data directory, ingested on the first start only.

benchmarks/generator.py makes the records (100k customers with profiles, 400k events over the two
years before 2026-11-20, seeded, so every demo workspace is the same); they go in through the
backend's ordinary ingest, in batches. A marker file written after the last batch says "done";
a start interrupted half-way ingests again from the beginning, which changes nothing that was
already stored (events are idempotent by event_id, profiles by their ts, RECORDS.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path

from tqdm import tqdm

from actors.api import SegmentsBackend

log = logging.getLogger("segments.service")

DEMO_CUSTOMERS = 100_000
DEMO_EVENTS = 400_000
DEMO_SEED = 7
DEMO_BATCH_RECORDS = 20_000
MARKER_FILE = "demo-ingested.json"


def marker_path(data_dir: Path) -> Path:
    return data_dir / MARKER_FILE


def is_ingested(data_dir: Path) -> bool:
    return marker_path(data_dir).is_file()


def _write_marker(data_dir: Path, records: int, seconds: float) -> None:
    path = marker_path(data_dir)
    temporary = path.with_suffix(".tmp")
    body = {"customers": DEMO_CUSTOMERS, "events": DEMO_EVENTS, "seed": DEMO_SEED, "records": records,
            "seconds": round(seconds, 1), "written_at_ms": time.time_ns() // 1_000_000}
    with open(temporary, "w", encoding="utf-8") as out:
        json.dump(body, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


async def ensure_demo(backend: SegmentsBackend, data_dir: Path, stop: asyncio.Event) -> None:
    """Ingest the demo shop unless the marker says it is there; stops early when `stop` is set."""
    if is_ingested(data_dir):
        log.info("demo data already in %s", data_dir)
        return
    from benchmarks.generator import generate_columns, iter_records  # numpy work only on first start

    started = time.perf_counter()
    data = await asyncio.to_thread(generate_columns, DEMO_CUSTOMERS, DEMO_EVENTS, DEMO_SEED)
    total = DEMO_CUSTOMERS + data.event_count
    print(f"demo: ingesting {DEMO_CUSTOMERS} customers and {data.event_count} events into {data_dir} "
          "(first start only)", file=sys.stderr, flush=True)
    ingested = 0
    with tqdm(total=total, unit="rec", unit_scale=True, file=sys.stderr, disable=not sys.stderr.isatty()) as bar:
        for batch in iter_records(data, DEMO_BATCH_RECORDS):
            if stop.is_set():
                log.info("demo ingest stopped after %d records; the next start resumes it", ingested)
                return
            await backend.ingest(batch, partial=False, timeout_ms=None)
            ingested += len(batch)
            bar.update(len(batch))
    assert ingested == total
    await backend.snapshot()  # so that later starts load a snapshot instead of replaying 500k records
    seconds = time.perf_counter() - started
    _write_marker(data_dir, ingested, seconds)
    print(f"demo: {ingested} records in {seconds:.1f} s", file=sys.stderr, flush=True)
