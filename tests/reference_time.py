"""Reference time arithmetic: definitions of docs/SEMANTICS.md "Time", by brute force with zoneinfo.

Deliberately shares no code with indexes/timecal.py: day starts are found by scanning instants and
bisecting, not from a transition table.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
EPOCH = dt.date(1970, 1, 1)


@lru_cache(maxsize=32)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local(name: str, t_ms: int) -> dt.datetime:
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=t_ms)).astimezone(zone(name))


def local_date(name: str, t_ms: int) -> dt.date:
    return local(name, t_ms).date()


@lru_cache(maxsize=100_000)
def day_start(name: str, date: dt.date) -> int:
    """The first instant whose local date is `date`."""
    midnight_as_utc = (date - EPOCH).days * 86_400_000
    step = 15 * MINUTE_MS
    t = midnight_as_utc - 16 * HOUR_MS
    steps = 0
    while local_date(name, t) < date:
        t += step
        steps += 1
        assert steps < 200, "no instant with that local date"
    lo, hi = t - step, t  # local_date(lo) < date <= local_date(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if local_date(name, mid) < date:
            lo = mid
        else:
            hi = mid
    return hi


def hour_start(name: str, as_of_ms: int) -> int:
    """Start of the local clock hour containing as_of, never before the last offset change."""
    here = local(name, as_of_ms)
    into_hour_ms = (here.minute * 60 + here.second) * 1000 + here.microsecond // 1000
    start = as_of_ms - into_hour_ms
    offset = here.utcoffset()
    if local(name, start).utcoffset() != offset:
        lo, hi = start, as_of_ms  # the offset changed in between: start at the change
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if local(name, mid).utcoffset() == offset:
                hi = mid
            else:
                lo = mid
        start = hi
    return start


def recent_lower_bound(name: str, as_of_ms: int, unit: str, amount: int) -> int:
    if unit == "days":
        return day_start(name, local_date(name, as_of_ms) - dt.timedelta(days=amount - 1))
    return hour_start(name, as_of_ms) - (amount - 1) * HOUR_MS


def next_day(date: dt.date) -> dt.date:
    return date + dt.timedelta(days=1)
