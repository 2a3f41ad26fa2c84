"""Rule time expressions -> inclusive [lo, hi] instant bounds in epoch ms (docs/SEMANTICS.md "Time").

None means unbounded. Everything here depends on `as_of` and the workspace zone, which is why plans
keep dates and durations as they are and bind them at evaluation.
"""

from __future__ import annotations

import datetime as dt

from indexes.rules.model import AllTime, Between, Duration, Last, Since, Window
from indexes.timecal import MS_PER_HOUR, Calendar

Bounds = tuple[int | None, int | None]


def _day(calendar: Calendar, date: dt.date) -> int:
    return calendar.date_to_day(date)


def recent_lower_bound(calendar: Calendar, as_of_ms: int, duration: Duration) -> int:
    """First instant of `within_last N days/hours` and of the window `last N days/hours`."""
    if duration.unit == "days":
        return calendar.day_start_ms(calendar.local_day(as_of_ms) - (duration.amount - 1))
    assert duration.unit == "hours"
    return calendar.hour_start_ms(as_of_ms) - (duration.amount - 1) * MS_PER_HOUR


def time_op_bounds(calendar: Calendar, as_of_ms: int, op: str, value: object) -> Bounds:
    """Bounds of a timestamp predicate (before / after / on / between / within_last / more_than_ago)."""
    if op == "before":
        assert isinstance(value, dt.date)
        return None, calendar.day_start_ms(_day(calendar, value)) - 1
    if op == "after":
        assert isinstance(value, dt.date)
        return calendar.day_start_ms(_day(calendar, value) + 1), None
    if op == "on":
        assert isinstance(value, dt.date)
        day = _day(calendar, value)
        return calendar.day_start_ms(day), calendar.day_start_ms(day + 1) - 1
    if op == "between":
        assert isinstance(value, tuple)
        first, last = value
        return calendar.day_start_ms(_day(calendar, first)), calendar.day_start_ms(_day(calendar, last) + 1) - 1
    if op == "within_last":
        assert isinstance(value, Duration)
        return recent_lower_bound(calendar, as_of_ms, value), as_of_ms
    if op == "more_than_ago":
        assert isinstance(value, Duration)
        return None, recent_lower_bound(calendar, as_of_ms, value) - 1
    raise ValueError(f"not a time op: {op!r}")


def window_bounds(calendar: Calendar, as_of_ms: int, window: Window) -> Bounds:
    """Bounds of an event window; never past as_of (events after as_of count nowhere)."""
    if isinstance(window, AllTime):
        return None, as_of_ms
    if isinstance(window, Last):
        return recent_lower_bound(calendar, as_of_ms, window.duration), as_of_ms
    if isinstance(window, Since):
        return calendar.day_start_ms(_day(calendar, window.day)), as_of_ms
    if isinstance(window, Between):
        end = calendar.day_start_ms(_day(calendar, window.last_day) + 1) - 1
        return calendar.day_start_ms(_day(calendar, window.first_day)), min(end, as_of_ms)
    raise TypeError(f"unknown window {window!r}")


def instant_bounds_to_days(calendar: Calendar, bounds: Bounds) -> Bounds:
    """Bounds on a date property: a date d stands for the instant start(d) (SEMANTICS.md)."""
    lo, hi = bounds
    day_lo = day_hi = None
    if lo is not None:
        day = calendar.local_day(lo)
        day_lo = day if calendar.day_start_ms(day) >= lo else day + 1
    if hi is not None:
        day_hi = calendar.local_day(hi)
    return day_lo, day_hi
