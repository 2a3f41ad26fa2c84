"""The server's runner of scheduled exports (indexes/segments/export_schedules.py).

Every INTERVAL_S the scheduler looks at the live schedules of live segments; a schedule is due when the
period (hour, day, ISO week in the workspace zone) holding `now` started after the schedule was created
and after the period its last run covered. A due schedule writes
DATA_DIR/exports/<schedule>/<period start, UTC, YYYYMMDDTHHMMSSZ>.csv (a .partial file renamed when
complete) and records the run through a segment command, so the history is in the log on every shard
and survives restarts. Missed periods (the server was down) run once, for the latest period.

"changes" schedules export the members who entered the segment since the last run: the run reads the
segment's change log from the position the last run recorded (the latest state per customer wins) and
exports those still members; the first run, or one whose position was compacted away, is full.

Bounded: one schedule runs at a time, a round waits for its runs; `now` is injectable (tests drive it;
`segments serve` reads SEGMENTS_EXPORT_CLOCK_FILE when set, see clock_from_env).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from actors.api_segments import ChangePosition, ShardPosition
from indexes.csv_text import csv_header, csv_rows
from indexes.engine import now_ms
from indexes.segments.export_schedules import ExportSchedule, due_at
from indexes.segments.queries import MAX_CHANGES_PER_PAGE

INTERVAL_S = 1.0
CLOCK_FILE_ENV = "SEGMENTS_EXPORT_CLOCK_FILE"
EXPORTS_DIR = "exports"
log = logging.getLogger("segments.actors")


def clock_from_env() -> Callable[[], int]:
    """Wall time; or, when SEGMENTS_EXPORT_CLOCK_FILE names a file holding epoch ms, that (tests)."""
    path = os.environ.get(CLOCK_FILE_ENV)
    if not path:
        return now_ms

    def now() -> int:
        try:
            return int(Path(path).read_text().strip())
        except (OSError, ValueError):
            return now_ms()

    return now


@dataclass(frozen=True)
class WrittenExport:
    rows: int
    left_out: int  # members missing a mandatory column
    members: int
    read_at: ChangePosition  # the change-log positions the membership was read at (ExportBatch.read_at)


async def write_export_file(path: Path, batches: AsyncIterator[Any], columns: list[str]) -> WrittenExport:
    """The CSV of `batches` (actors/cluster_insights.py ExportBatch) at `path`, written to a .partial
    file renamed at the end."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    rows = left_out = members = 0
    read_at: ChangePosition = ()
    try:
        with open(partial, "w", encoding="utf-8", newline="") as out:
            out.write(csv_header(columns))
            async for batch in batches:
                # Formatting and writing a block takes milliseconds: off the event loop serving RPCs.
                await asyncio.to_thread(_write_rows, out, batch.rows)
                rows += len(batch.rows)
                left_out, members, read_at = batch.left_out, batch.total, batch.read_at
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return WrittenExport(rows, left_out, members, read_at)


def _write_rows(out: TextIO, rows: list[tuple[str | None, ...]]) -> None:
    out.write(csv_rows(rows))


def position_text(position: ChangePosition) -> str:
    return json.dumps([[p.epoch, p.after_seq] for p in position])


def position_of(text: str) -> ChangePosition:
    return tuple(ShardPosition(int(epoch), None if seq is None else int(seq)) for epoch, seq in json.loads(text))


class ExportScheduler:
    def __init__(self, cluster: Any, now: Callable[[], int] = now_ms, interval_s: float = INTERVAL_S) -> None:
        self._cluster = cluster
        self._now = now
        self._interval_s = interval_s
        self.runs = 0
        self.failed = 0

    async def run(self) -> None:
        # Ends when cancelled (the server's shutdown); one round per interval.
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a failed round is logged; the next one tries again
                self.failed += 1
                log.exception("scheduled exports: round failed")

    async def round(self) -> int:
        """Run every due schedule once; how many ran."""
        ran = 0
        for schedule in await self._cluster.export_schedules(None, include_deleted=False):
            if not self._cluster.segment_exists(schedule.segment_id):
                continue
            now = self._now()
            due = due_at(schedule.every, now, self._cluster.layout.tz)
            last = schedule.last_run
            if due <= schedule.created_at_ms or (last is not None and due <= last.due_ms):
                continue
            await self._run(schedule, due, now)
            ran += 1
        return ran

    async def _run(self, schedule: ExportSchedule, due: int, now: int) -> None:
        cluster = self._cluster
        ids: list[str] | None = None
        mode = "full"
        last = schedule.last_run
        if schedule.mode == "changes" and last is not None and last.position:
            try:
                ids, position = await self._entered_since(schedule.segment_id, position_of(last.position))
                mode = "changes"
            except Exception as exc:  # noqa: BLE001 - an expired position: this run is full
                log.info("scheduled export %s: changes unreadable (%r), running in full", schedule.id, exc)
        stamp = dt.datetime.fromtimestamp(due / 1000, tz=dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        relative = f"{EXPORTS_DIR}/{schedule.id}/{stamp}.csv"
        columns = list(schedule.columns)
        batches = cluster.export_rows(schedule.segment_id, None, columns, list(schedule.mandatory), now, only_ids=ids)
        written = await write_export_file(Path(cluster.data_dir) / relative, batches, columns)
        if mode == "full":
            # The positions the membership was read at, not ones read before or after it: the next
            # changes-only run then neither repeats an entry this file holds nor misses one it does not.
            position = written.read_at
        await cluster.segment_command({
            "op": "record_export_run", "schedule": schedule.id, "due_ms": due, "at_ms": now, "rows": written.rows,
            "left_out": written.left_out, "members": written.members, "path": relative, "mode": mode,
            "position": position_text(position)})
        self.runs += 1
        log.info("scheduled export %s: %d rows to %s", schedule.id, written.rows, relative)

    async def _entered_since(self, segment_id: str, start: ChangePosition) -> tuple[list[str], ChangePosition]:
        """Customers whose latest change since `start` is an entry, and the position after them."""
        latest: dict[str, bool] = {}
        position = start
        # Bounded by the log: each page moves the position forward.
        while True:
            outcome = await self._cluster.segment_changes([segment_id], position, None, None, None,
                                                          MAX_CHANGES_PER_PAGE)
            for change in outcome.changes:
                if change.entry.customer_id is not None:
                    latest[change.entry.customer_id] = change.entry.entered
            position = outcome.position
            if not outcome.has_more or not outcome.changes:
                return sorted(c for c, entered in latest.items() if entered), position
