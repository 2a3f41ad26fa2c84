"""A run of events and profiles (the records between two barriers) as columns: what the shard applies.

The shard applies column by column (numpy, dictionary coding, one bitmap call per key), so a run is
handed to it as columns, never as one object per record: replay builds these straight from decoded
log items (indexes/durable/log_columns.py), and `Shard.apply` builds them from validated records
(`run_of_records`). One apply path serves both, so the differential tests of the record path cover
replay's too.

Order matters only for dense ids: customers are numbered by first appearance in the run, events and
profiles interleaved, so `names` keeps every record's customer in log order.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import compress
from operator import attrgetter, itemgetter, methodcaller
from typing import Any

import numpy as np

from indexes.records import EventRecord, ProfileRecord

ABSENT = object()  # a property a profile record does not name (None would mean "remove")


@dataclass
class TypeColumns:
    """The events of one type in a run: their positions among the run's events and their attributes."""

    event_type: str
    rows: np.ndarray | None  # int64 ascending positions; None when every event of the run has this type
    attrs: dict[str, list[Any]]  # attribute -> value per row, None where absent; unnamed attributes are absent


@dataclass
class EventColumns:
    event_ids: list[str]
    ts_ms: np.ndarray  # int64
    by_type: list[TypeColumns]

    def __len__(self) -> int:
        return len(self.event_ids)

    def take(self, keep: np.ndarray) -> EventColumns:
        """The events where `keep` (bool per event) is true, in order."""
        keep_list = keep.tolist()
        new_position = np.cumsum(keep) - 1
        by_type: list[TypeColumns] = []
        for group in self.by_type:
            kept = keep if group.rows is None else keep[group.rows]
            if not kept.any():
                continue
            rows = new_position[np.flatnonzero(keep) if group.rows is None else group.rows[kept]]
            kept_list = keep_list if group.rows is None else kept.tolist()
            attrs = {name: list(compress(values, kept_list)) for name, values in group.attrs.items()}
            by_type.append(TypeColumns(group.event_type, rows, attrs))
        if len(by_type) == 1:
            by_type[0].rows = None
        return EventColumns(list(compress(self.event_ids, keep_list)), self.ts_ms[keep], by_type)


@dataclass
class ProfileColumns:
    ts_ms: np.ndarray  # int64, one per profile record
    properties: dict[str, tuple[np.ndarray, list[Any]]]  # property -> (profile positions, values; None removes)

    def __len__(self) -> int:
        return len(self.ts_ms)


@dataclass
class RunColumns:
    names: list[str]  # customer id of every record of the run, in log order
    events: EventColumns | None
    event_at: np.ndarray | None  # positions of the events among `names`; None: every record is an event
    profiles: ProfileColumns | None
    profile_at: np.ndarray | None  # positions of the profiles among `names`

    def without_events(self, keep: np.ndarray) -> RunColumns:
        """The run without the events where `keep` is false (duplicates: they do not even create
        their customer, so their names go too)."""
        assert self.events is not None
        events = self.events.take(keep)
        event_at = np.arange(len(keep)) if self.event_at is None else self.event_at
        record_keep = np.ones(len(self.names), dtype=bool)
        record_keep[event_at[~keep]] = False
        names = list(compress(self.names, record_keep.tolist()))
        new_position = np.cumsum(record_keep) - 1
        if self.profiles is None:
            return RunColumns(names, events if len(events) else None, None, None, None)
        assert self.profile_at is not None
        return RunColumns(
            names,
            events if len(events) else None,
            new_position[event_at[keep]],
            self.profiles,
            new_position[self.profile_at],
        )


def group_types(types: list[str]) -> list[tuple[str, np.ndarray | None]]:
    """(type, positions) for each type in `types`, in first-seen order; positions None for a single type."""
    first = types[0]
    if types.count(first) == len(types):  # a C-level scan: runs of one type are common
        return [(first, None)]
    codes: dict[str, int] = {}
    type_codes = np.array([codes.setdefault(t, len(codes)) for t in types], dtype=np.int32)
    order = np.argsort(type_codes, kind="stable")  # stable: rows keep log order within a type
    bounds = np.searchsorted(type_codes[order], np.arange(len(codes) + 1))
    return [(name, order[bounds[code] : bounds[code + 1]]) for name, code in codes.items()]


def pick(values: list[Any], rows: np.ndarray | None) -> list[Any]:
    """values[rows] for a list (all of it when rows is None)."""
    if rows is None:
        return values
    if len(rows) == 1:
        return [values[int(rows[0])]]
    return list(itemgetter(*rows.tolist())(values))  # one C-level gather


def event_columns_of_records(events: list[EventRecord]) -> EventColumns:
    """Columns of validated events: per type, every attribute any of its events names."""
    event_ids = list(map(attrgetter("event_id"), events))
    ts_ms = np.fromiter(map(attrgetter("ts_ms"), events), dtype=np.int64, count=len(events))
    by_type: list[TypeColumns] = []
    all_attrs = list(map(attrgetter("attrs"), events))
    for event_type, rows in group_types(list(map(attrgetter("type"), events))):
        dicts = pick(all_attrs, rows)
        names = set().union(*dicts)  # C-level: no Python step per event
        attrs = {name: list(map(methodcaller("get", name), dicts)) for name in names}
        by_type.append(TypeColumns(event_type, rows, attrs))
    return EventColumns(event_ids, ts_ms, by_type)


def profile_columns(ts_ms: np.ndarray, property_maps: list[dict[str, Any]]) -> ProfileColumns:
    """Columns of profile writes: for each property named by any record, the records naming it."""
    columns: dict[str, tuple[np.ndarray, list[Any]]] = {}
    for prop in sorted(set().union(*property_maps)):  # C-level: no Python step per record
        values = list(map(methodcaller("get", prop, ABSENT), property_maps))
        if values.count(ABSENT) == 0:
            columns[prop] = (np.arange(len(values)), values)
        else:
            present = [value is not ABSENT for value in values]
            columns[prop] = (np.flatnonzero(present), list(compress(values, present)))
    return ProfileColumns(ts_ms, columns)


def run_of_records(records: list[EventRecord | ProfileRecord]) -> RunColumns:
    """The columns of a run of validated events and profiles, in log order."""
    names = list(map(attrgetter("customer_id"), records))
    events = [r for r in records if type(r) is EventRecord]
    if len(events) == len(records):
        return RunColumns(names, event_columns_of_records(events), None, None, None)
    is_event = np.fromiter((type(r) is EventRecord for r in records), dtype=bool, count=len(records))
    profiles: list[ProfileRecord] = [r for r in records if type(r) is ProfileRecord]  # type: ignore[misc]
    profile_ts = np.fromiter(map(attrgetter("ts_ms"), profiles), dtype=np.int64, count=len(profiles))
    return RunColumns(
        names,
        event_columns_of_records(events) if events else None,
        np.flatnonzero(is_event) if events else None,
        profile_columns(profile_ts, list(map(attrgetter("properties"), profiles))),
        np.flatnonzero(~is_event),
    )
