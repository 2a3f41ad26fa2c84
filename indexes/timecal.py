"""Calendar arithmetic in the workspace time zone, exact and vectorised.

Rules speak in local calendar days and clock hours (RULES.md "Time"), events arrive as UTC epoch
milliseconds. Converting millions of instants through `zoneinfo` one by one is too slow, so a
zone is turned once into a table of offset transitions; `local_day` is then a `searchsorted` plus
an add. The table is exact: every transition instant is located to the millisecond by bisection
between hourly probes.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000
EPOCH = dt.date(1970, 1, 1)
# The table covers these UTC years; outside it the offsets at the edges are used.
TABLE_FIRST_YEAR = 1900
TABLE_LAST_YEAR = 2100
_PROBE_STEP_MS = 3 * MS_PER_HOUR  # no zone changes offset twice within 3 hours


def _offset_ms(zone: ZoneInfo, t_ms: int) -> int:
    instant = dt.datetime.fromtimestamp(t_ms / 1000, tz=dt.UTC)
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return int(offset.total_seconds() * 1000)


def _exact_offset_ms(zone: ZoneInfo, t_ms: int) -> int:
    # fromtimestamp on a float loses nothing at ms precision in this range, but sub-second
    # transitions do not exist in tzdata, so probing whole seconds is exact.
    return _offset_ms(zone, (t_ms // 1000) * 1000)


class TimeZoneError(ValueError):
    pass


class Calendar:
    """Local days and hours of one IANA zone."""

    def __init__(self, name: str = "UTC") -> None:
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise TimeZoneError(f"unknown time zone {name!r}") from exc
        self.name = name
        starts, offsets = _transition_table(name)
        self._starts = starts  # int64 ms; offsets[i] applies from starts[i] (starts[0] = -inf)
        self._offsets = offsets
        self._starts_list = starts.tolist()
        self._offsets_list = offsets.tolist()
        self._zone = zone

    # --- instants -> local ----------------------------------------------------------------
    def offset_ms(self, t_ms: int) -> int:
        return self._offsets_list[bisect_right(self._starts_list, t_ms) - 1]

    def local_day(self, t_ms: int) -> int:
        """Local calendar date of an instant, as days since 1970-01-01."""
        return (t_ms + self.offset_ms(t_ms)) // MS_PER_DAY

    def offsets_ms(self, t_ms: np.ndarray) -> np.ndarray:
        """UTC offset in force at each instant (vectorised offset_ms)."""
        return self._offsets[np.searchsorted(self._starts, t_ms, side="right") - 1]

    def local_days(self, t_ms: np.ndarray) -> np.ndarray:
        index = np.searchsorted(self._starts, t_ms, side="right") - 1
        return (t_ms + self._offsets[index]) // MS_PER_DAY

    # --- local -> instants ----------------------------------------------------------------
    def day_start_ms(self, day: int) -> int:
        """First instant whose local date is `day` (midnight, or the end of a DST gap)."""
        return _day_start_cached(self.name, day)

    def day_start_ms_uncached(self, day: int) -> int:
        midnight_local = day * MS_PER_DAY
        lo = midnight_local - 26 * MS_PER_HOUR
        hi = midnight_local + 26 * MS_PER_HOUR
        first = bisect_right(self._starts_list, lo) - 1
        best: int | None = None
        # Offsets are piecewise constant: within a piece starting at a with offset o the local
        # time t + o reaches midnight at t = midnight - o; before that piece began, at a.
        for i in range(first, len(self._starts_list)):
            piece_start = max(self._starts_list[i], lo)
            if piece_start > hi:
                break
            piece_end = self._starts_list[i + 1] if i + 1 < len(self._starts_list) else hi + 1
            candidate = max(piece_start, midnight_local - self._offsets_list[i])
            if candidate < piece_end and self.local_day(candidate) == day:
                best = candidate if best is None else min(best, candidate)
        assert best is not None, f"no instant has local date {day} in {self.name}"
        return best

    def hour_start_ms(self, t_ms: int) -> int:
        """Start of the local clock hour containing t, never before the last transition <= t."""
        index = bisect_right(self._starts_list, t_ms) - 1
        offset = self._offsets_list[index]
        start = ((t_ms + offset) // MS_PER_HOUR) * MS_PER_HOUR - offset
        return max(start, self._starts_list[index]) if index > 0 else start

    # --- conveniences ---------------------------------------------------------------------
    @staticmethod
    def date_to_day(value: dt.date) -> int:
        return (value - EPOCH).days

    @staticmethod
    def day_to_date(day: int) -> dt.date:
        return EPOCH + dt.timedelta(days=day)


@lru_cache(maxsize=65536)
def _day_start_cached(name: str, day: int) -> int:
    return calendar(name).day_start_ms_uncached(day)


@lru_cache(maxsize=64)
def calendar(name: str) -> Calendar:
    return Calendar(name)


@lru_cache(maxsize=64)
def _transition_table(name: str) -> tuple[np.ndarray, np.ndarray]:
    zone = ZoneInfo(name)
    first_ms = int(dt.datetime(TABLE_FIRST_YEAR, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
    last_ms = int(dt.datetime(TABLE_LAST_YEAR, 12, 31, tzinfo=dt.UTC).timestamp() * 1000)
    starts = [np.iinfo(np.int64).min // 4]
    offsets = [_exact_offset_ms(zone, first_ms)]
    if name in ("UTC", "Etc/UTC", "GMT"):
        return np.array(starts, dtype=np.int64), np.array(offsets, dtype=np.int64)
    probes = np.arange(first_ms, last_ms + _PROBE_STEP_MS, _PROBE_STEP_MS, dtype=np.int64)
    probe_offsets = _probe_offsets(zone, probes)
    changed = np.flatnonzero(probe_offsets[1:] != probe_offsets[:-1])
    for i in changed.tolist():
        lo, hi = int(probes[i]), int(probes[i + 1])  # offset(lo) != offset(hi)
        lo_offset = int(probe_offsets[i])
        # Bisect to the second, then the transition is at hi (tzdata has whole-second changes).
        while hi - lo > 1000:
            mid = ((lo + hi) // 2000) * 1000
            if mid <= lo:
                mid = lo + 1000
            if _exact_offset_ms(zone, mid) == lo_offset:
                lo = mid
            else:
                hi = mid
        starts.append(hi)
        offsets.append(_exact_offset_ms(zone, hi))
    return np.array(starts, dtype=np.int64), np.array(offsets, dtype=np.int64)


def _probe_offsets(zone: ZoneInfo, probes: np.ndarray) -> np.ndarray:
    # One zoneinfo call per probe: ~600k calls for 200 years, about a second, cached per zone.
    # Cheaper: probe daily first, and only refine the days whose offset differs from the next.
    daily = probes[:: max(1, MS_PER_DAY // _PROBE_STEP_MS)]
    daily_offsets = np.array([_exact_offset_ms(zone, int(t)) for t in daily.tolist()], dtype=np.int64)
    out = np.repeat(daily_offsets, MS_PER_DAY // _PROBE_STEP_MS)[: len(probes)]
    if len(out) < len(probes):
        out = np.concatenate([out, np.full(len(probes) - len(out), daily_offsets[-1])])
    steps_per_day = MS_PER_DAY // _PROBE_STEP_MS
    # A change between daily probes d and d+1 is located by probing every step of that day.
    # A zone that changed and changed back within one day would be missed; tzdata has none.
    suspicious = np.flatnonzero(daily_offsets[1:] != daily_offsets[:-1])
    for d in suspicious.tolist():
        for k in range(steps_per_day * d, min(len(probes), steps_per_day * (d + 1) + 1)):
            out[k] = _exact_offset_ms(zone, int(probes[k]))
    return out
