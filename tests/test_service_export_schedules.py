"""Scheduled exports through the real server (2 shards): the scheduler's clock is driven through
SEGMENTS_EXPORT_CLOCK_FILE; a full and a changes-only hourly schedule run once per period, write the
embedded engine's CSV, record their runs through the log, and keep running with their history after a
server restart."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from actors.export_scheduler import CLOCK_FILE_ENV
from benchmarks.generator import generate_columns, iter_records
from indexes.engine import Engine, now_ms
from indexes.export import write_csv
from service.cli import main as cli_main
from service.client import SegmentsClient
from service.client_types import SegmentsError
from tests.service_process import ServerProcess

HOUR_MS = 3_600_000
EVERYONE = {"not": {"property": "email", "op": "ends_with", "value": "@nowhere.invalid"}}
COLUMNS = ["customer_id", "email", "country", "lifetime_value", "last_order_at"]
WAIT_S = 30


class Clock:
    def __init__(self, path: Path, start_ms: int) -> None:
        self.path = path
        self.set(start_ms)

    def set(self, at_ms: int) -> None:
        self.now_ms = at_ms
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(str(at_ms))
        temporary.replace(self.path)  # the server never reads half a number


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> Clock:
    return Clock(tmp_path_factory.mktemp("clock") / "now", now_ms())


def _start(data_dir: Path, clock: Clock) -> ServerProcess:
    os.environ[CLOCK_FILE_ENV] = str(clock.path)
    try:
        return ServerProcess(data_dir, "--shards", "2")
    finally:
        del os.environ[CLOCK_FILE_ENV]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clock: Clock) -> Iterator[ServerProcess]:
    running = _start(tmp_path_factory.mktemp("schedules") / "data", clock)
    yield running
    if running.process is not None:
        assert running.stop() == 0, running.log_tail()


def _runs(client: SegmentsClient, schedule: str, count: int) -> list[Any]:
    deadline = time.monotonic() + WAIT_S
    # Bounded by the deadline.
    while True:
        runs = list(client.export_runs(schedule, page_size=1))
        if len(runs) >= count or time.monotonic() > deadline:
            return runs
        time.sleep(0.2)


def _expected(mirror: Engine, at_ms: int, customers: list[str] | None = None) -> str:
    members = mirror.evaluate(EVERYONE, at_ms)
    if customers is not None:
        from pyroaring import BitMap

        members &= BitMap(mirror.shard.ids.lookup(c) for c in customers)
    out = io.StringIO()
    write_csv(mirror.shard, members, COLUMNS, out, as_of_ms=at_ms)
    return out.getvalue()


def test_schedules_run_per_period_and_survive_a_restart(server: ServerProcess, clock: Clock) -> None:
    data = generate_columns(600, 3_000, seed=3)
    batches = list(iter_records(data, 1_000))
    records = [r for batch in batches for r in batch]
    early = {r["customer_id"] for r in records if "properties" in r}
    early = set(sorted(early)[:400])
    first = [r for r in records if r["customer_id"] in early]
    later = [r for r in records if r["customer_id"] not in early]
    mirror = Engine()
    with SegmentsClient(server.target) as client:
        assert client.ingest(first).rejected == 0
        mirror.ingest(first)
        client.create_segment("everyone", EVERYONE, segment_id="everyone")
        full = client.create_export_schedule("everyone", COLUMNS, every="hourly", schedule_id="hourly-full")
        changes = client.create_export_schedule("everyone", COLUMNS, every="hourly", mode="changes",
                                                schedule_id="hourly-changes")
        assert (full.every, full.mode, changes.mode, full.runs) == ("hourly", "full", "changes", 0)
        with pytest.raises(SegmentsError) as caught:
            client.create_export_schedule("everyone", ["customer_id", "shoe_size"], schedule_id="bad")
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.violations[0].field == "columns[1]"
        with pytest.raises(SegmentsError) as caught:
            client.create_export_schedule("nobody", COLUMNS)
        assert caught.value.code == grpc.StatusCode.NOT_FOUND
        with pytest.raises(SegmentsError) as caught:
            client.create_export_schedule("everyone", COLUMNS, schedule_id="hourly-full")
        assert caught.value.code == grpc.StatusCode.ALREADY_EXISTS
        time.sleep(1.5)
        assert list(client.export_runs("hourly-full")) == []  # the current hour began before the schedule

        start = clock.now_ms
        clock.set(start + HOUR_MS)
        (run,) = _runs(client, "hourly-full", 1)
        (first_changes,) = _runs(client, "hourly-changes", 1)
        assert run.at_ms == clock.now_ms and run.mode == "full" and first_changes.mode == "full"
        assert run.rows == 400 and run.members == 400 and run.left_out == 0
        assert (server.data_dir / run.path).read_text(encoding="utf-8") == _expected(mirror, run.at_ms)
        assert run.path.startswith("exports/hourly-full/") and run.path.endswith("Z.csv")
        time.sleep(1.5)
        assert len(list(client.export_runs("hourly-full"))) == 1  # once per period

        assert client.ingest(later).rejected == 0
        mirror.ingest(later)
        new_ids = sorted({r["customer_id"] for r in later})
        deadline = time.monotonic() + WAIT_S
        while client.segment_count("everyone").count < 400 + len(new_ids) and time.monotonic() < deadline:
            time.sleep(0.1)
        clock.set(start + 2 * HOUR_MS)
        runs = _runs(client, "hourly-changes", 2)
        assert [r.mode for r in runs] == ["changes", "full"]  # newest first
        assert runs[0].rows == len(new_ids) > 0
        assert (server.data_dir / runs[0].path).read_text(encoding="utf-8") == _expected(
            mirror, runs[0].at_ms, new_ids)
        assert _runs(client, "hourly-full", 2)[0].rows == 400 + len(new_ids)
        assert cli_main(["export-schedule", "runs", "hourly-changes", "--server", server.target]) == 0
        assert cli_main(["export-schedule", "list", "--server", server.target]) == 0

    assert server.stop() == 0
    server.process = None
    restarted = _start(server.data_dir, clock)
    server.process, server.target = restarted.process, restarted.target
    server._stderr = restarted._stderr  # noqa: SLF001 - the fixture stops the restarted process
    with SegmentsClient(server.target) as client:
        assert len(list(client.export_runs("hourly-full"))) == 2
        (listed,) = [s for s in client.list_export_schedules("everyone") if s.schedule_id == "hourly-full"]
        assert listed.runs == 2 and listed.last_run.rows == 400 + len(new_ids)
        clock.set(start + 3 * HOUR_MS)
        runs = _runs(client, "hourly-changes", 3)
        assert [r.mode for r in runs] == ["changes", "changes", "full"] and runs[0].rows == 0
        assert len(_runs(client, "hourly-full", 3)) == 3
        deleted = client.delete_export_schedule("hourly-full")
        assert deleted.deleted
        clock.set(start + 4 * HOUR_MS)
        assert len(_runs(client, "hourly-changes", 4)) == 4
        assert len(list(client.export_runs("hourly-full"))) == 3  # deleted: no more runs, history kept
