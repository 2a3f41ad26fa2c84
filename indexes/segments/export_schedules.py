"""Scheduled exports of saved segments (issue 7 item 5): segment commands kept in the catalog, so they
are in the log, replicated like the other segment commands, and survive restarts with their history.

    {"op": "schedule_export", "id": SEGMENT, "schedule": ID, "every": "hourly|daily|weekly",
     "mode": "full|changes", "columns": [...], "mandatory": [...]}
    {"op": "unschedule_export", "schedule": ID}                           -> "id" filled in
    {"op": "record_export_run", "schedule": ID, "due_ms": T, "at_ms": T, "rows": n, "left_out": n,
     "members": n, "path": "exports/ID/....csv", "mode": "full|changes", "position": P}  -> "id" filled in

Resolution is idempotent (a resolved body resolves to itself), as every shard re-resolves the router's
body against its own catalog (actors/shard_segments.py). A schedule is due at the start of each hour,
day (midnight) or week (Monday midnight) of the workspace time zone (`due_at`); a run records which
period it covered (`due_ms`), so a period runs once however often the scheduler looks.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from indexes.schema import Schema
from indexes.segments.errors import (
    SegmentConflictError,
    SegmentError,
    SegmentLimitError,
    SegmentNotFoundError,
)

SCHEDULE = "schedule_export"
UNSCHEDULE = "unschedule_export"
RECORD_RUN = "record_export_run"
EXPORT_OPS = (SCHEDULE, UNSCHEDULE, RECORD_RUN)
PERIODS = ("hourly", "daily", "weekly")
MODES = ("full", "changes")
SCHEDULE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
GENERATED_PREFIX = "exp_"
MAX_RUNS_KEPT = 1000  # per schedule; older runs are dropped from the history (their files stay)
# Live schedules per workspace: each runs a full export once per period; more is SegmentLimitError.
MAX_EXPORT_SCHEDULES = 1_000
_FIELDS = {
    SCHEDULE: {"op", "id", "schedule", "every", "mode", "columns", "mandatory"},
    UNSCHEDULE: {"op", "id", "schedule"},
    RECORD_RUN: {"op", "id", "schedule", "due_ms", "at_ms", "rows", "left_out", "members", "path", "mode", "position"},
}


@dataclass(frozen=True)
class ExportRun:
    due_ms: int  # the period's start this run covered
    at_ms: int  # when it ran
    rows: int
    left_out: int
    members: int
    path: str  # relative to the data directory
    mode: str  # full | changes
    position: str = ""  # the segment's change-log position the run read up to (changes-only runs start there)


@dataclass
class ExportSchedule:
    id: str
    segment_id: str
    every: str
    mode: str
    columns: tuple[str, ...]
    mandatory: tuple[str, ...]
    created_at_ms: int
    deleted_at_ms: int | None = None
    runs: list[ExportRun] = field(default_factory=list)  # oldest first

    @property
    def deleted(self) -> bool:
        return self.deleted_at_ms is not None

    @property
    def last_run(self) -> ExportRun | None:
        return self.runs[-1] if self.runs else None


class ExportSchedules:
    def __init__(self) -> None:
        self.schedules: dict[str, ExportSchedule] = {}  # every schedule ever made, in creation order
        self.created = 0

    def require(self, schedule_id: str, *, include_deleted: bool = False) -> ExportSchedule:
        found = self.schedules.get(schedule_id)
        if found is None or (found.deleted and not include_deleted):
            raise SegmentNotFoundError("schedule", f"{'deleted' if found else 'unknown'} export schedule {schedule_id!r}")
        return found

    def live(self) -> list[ExportSchedule]:
        return [s for s in self.schedules.values() if not s.deleted]

    def apply(self, body: dict, ts_ms: int) -> None:
        op = body["op"]
        if op == SCHEDULE:
            assert body["schedule"] not in self.schedules
            self.schedules[body["schedule"]] = ExportSchedule(
                body["schedule"], body["id"], body["every"], body["mode"], tuple(body["columns"]),
                tuple(body["mandatory"]), ts_ms)
            self.created += 1
            return
        schedule = self.schedules[body["schedule"]]
        assert not schedule.deleted
        if op == UNSCHEDULE:
            schedule.deleted_at_ms = ts_ms
            return
        assert op == RECORD_RUN
        schedule.runs.append(ExportRun(int(body["due_ms"]), int(body["at_ms"]), int(body["rows"]),
                                       int(body["left_out"]), int(body["members"]), str(body["path"]),
                                       str(body["mode"]), str(body.get("position", ""))))
        del schedule.runs[:-MAX_RUNS_KEPT]

    def to_plain(self) -> list:
        return [self.created, [[s.id, s.segment_id, s.every, s.mode, list(s.columns), list(s.mandatory),
                                s.created_at_ms, s.deleted_at_ms,
                                [[r.due_ms, r.at_ms, r.rows, r.left_out, r.members, r.path, r.mode, r.position] for r in s.runs]]
                               for s in self.schedules.values()]]

    @staticmethod
    def from_plain(plain: Any) -> ExportSchedules:
        schedules = ExportSchedules()
        if not plain:
            return schedules  # a catalog saved before scheduled exports existed
        created, items = plain
        schedules.created = int(created)
        for sid, segment_id, every, mode, columns, mandatory, created_at, deleted_at, runs in items:
            schedules.schedules[str(sid)] = ExportSchedule(
                str(sid), str(segment_id), str(every), str(mode), tuple(columns), tuple(mandatory), int(created_at),
                None if deleted_at is None else int(deleted_at),
                [ExportRun(int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), str(r[5]), str(r[6]), str(r[7]))
                 for r in runs])
        return schedules


def resolve_export_command(command: dict, catalog: Any, schema: Schema) -> dict:
    """The body of a scheduled-export command (module doc), or SegmentError saying why not."""
    op = command["op"]
    for key in command:
        if key not in _FIELDS[op]:
            raise SegmentError(str(key), f"not a field of {op}")
    from indexes.profiles import MAX_COLUMNS  # here: indexes.profiles reads shards, which read the catalog

    exports: ExportSchedules = catalog.exports
    if op == SCHEDULE:
        segment = catalog.require(_text(command.get("id"), "id"))
        schedule_id = command.get("schedule")
        if schedule_id is None:
            schedule_id = f"{GENERATED_PREFIX}{exports.created + 1}"
            while schedule_id in exports.schedules:  # bounded by the schedules held
                schedule_id += "_"
        if not isinstance(schedule_id, str) or not SCHEDULE_ID.match(schedule_id):
            raise SegmentError("schedule", "1..64 letters, digits, '_' or '-'")
        if schedule_id in exports.schedules:
            raise SegmentConflictError("schedule", f"export schedule {schedule_id!r} exists")
        if len(exports.live()) >= MAX_EXPORT_SCHEDULES:
            raise SegmentLimitError("schedule", f"{MAX_EXPORT_SCHEDULES} export schedules exist; delete one first")
        every = command.get("every")
        if every not in PERIODS:
            raise SegmentError("every", f"one of {', '.join(PERIODS)}")
        mode = command.get("mode", "full")
        if mode not in MODES:
            raise SegmentError("mode", f"one of {', '.join(MODES)}")
        columns = _names(command.get("columns"), "columns", schema)
        if not 1 <= len(columns) <= MAX_COLUMNS:
            raise SegmentError("columns", f"1..{MAX_COLUMNS} columns")
        mandatory = _names(command.get("mandatory", []), "mandatory", schema)
        if len(mandatory) > len(columns):
            raise SegmentError("mandatory", f"{len(mandatory)} entries for {len(columns)} columns")
        for i, name in enumerate(mandatory):
            if name not in columns:
                raise SegmentError(f"mandatory[{i}]", "must be one of the columns")
        return {"op": SCHEDULE, "id": segment.id, "schedule": schedule_id, "every": every, "mode": mode,
                "columns": columns, "mandatory": mandatory}
    schedule = exports.require(_text(command.get("schedule"), "schedule"))
    if op == UNSCHEDULE:
        return {"op": UNSCHEDULE, "id": schedule.segment_id, "schedule": schedule.id}
    body = {"op": RECORD_RUN, "id": schedule.segment_id, "schedule": schedule.id}
    for key in ("due_ms", "at_ms", "rows", "left_out", "members"):
        value = command.get(key)
        if type(value) is not int or value < 0:
            raise SegmentError(key, "a whole number >= 0")
        body[key] = value
    body["path"] = _text(command.get("path"), "path")
    if command.get("mode") not in MODES:
        raise SegmentError("mode", f"one of {', '.join(MODES)}")
    body["mode"] = command["mode"]
    position = command.get("position", "")
    if not isinstance(position, str) or len(position) > 100_000:
        raise SegmentError("position", "a change-log position as text")
    body["position"] = position
    return body


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 1000:
        raise SegmentError(name, "required: a non-empty string")
    return value


def _names(value: Any, name: str, schema: Schema) -> list[str]:
    from indexes.profiles import COMPUTED, CUSTOMER_ID

    if not isinstance(value, list):
        raise SegmentError(name, "a list of column names")
    for i, column in enumerate(value):
        if not isinstance(column, str) or not (
                column == CUSTOMER_ID or column in COMPUTED or schema.property_type(column) is not None):
            raise SegmentError(f"{name}[{i}]", f"unknown column {column!r}: a property, a computed property or "
                                               "customer_id")
    return list(value)


def due_at(every: str, now_ms: int, zone: str) -> int:
    """The start of the period (hour, day, ISO week) holding now_ms in the zone, epoch ms."""
    local = dt.datetime.fromtimestamp(now_ms / 1000, tz=ZoneInfo(zone))
    start = local.replace(minute=0, second=0, microsecond=0)
    if every in ("daily", "weekly"):
        start = start.replace(hour=0)
    if every == "weekly":
        start = start - dt.timedelta(days=start.weekday())
    # Wall-clock arithmetic in the zone (a DST change moves the instant, not the local midnight).
    start = start.replace(tzinfo=None).replace(tzinfo=ZoneInfo(zone))
    return int(start.timestamp() * 1000)
