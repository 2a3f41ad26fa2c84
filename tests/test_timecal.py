"""The calendar's transition table against zoneinfo, instant by instant."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from indexes.timecal import MS_PER_HOUR, Calendar, TimeZoneError

ZONES = ["UTC", "America/New_York", "Europe/Istanbul", "America/Santiago", "Asia/Kolkata", "Australia/Lord_Howe"]


def _local_date_days(zone: ZoneInfo, t_ms: int) -> int:
    local = dt.datetime.fromtimestamp(t_ms / 1000, tz=dt.UTC).astimezone(zone)
    return (local.date() - dt.date(1970, 1, 1)).days


@pytest.mark.parametrize("name", ZONES)
def test_local_days_match_zoneinfo(name: str) -> None:
    calendar = Calendar(name)
    zone = ZoneInfo(name)
    rng = random.Random(name)
    instants = [rng.randrange(-2_000_000_000_000, 4_000_000_000_000) for _ in range(3000)]
    expected = [_local_date_days(zone, t) for t in instants]
    assert calendar.local_days(np.array(instants, dtype=np.int64)).tolist() == expected
    assert [calendar.local_day(t) for t in instants[:300]] == expected[:300]


@pytest.mark.parametrize("name", ZONES)
def test_day_start_is_the_first_instant_of_the_day(name: str) -> None:
    calendar = Calendar(name)
    rng = random.Random(name)
    for _ in range(500):
        day = rng.randrange(-20_000, 40_000)
        start = calendar.day_start_ms(day)
        assert calendar.local_day(start) == day
        assert calendar.local_day(start - 1) == day - 1


def test_day_without_midnight_starts_at_the_end_of_the_gap() -> None:
    # Santiago moved clocks from 00:00 to 01:00 on 2022-09-11: the day starts at 01:00 local.
    calendar = Calendar("America/Santiago")
    day = Calendar.date_to_day(dt.date(2022, 9, 11))
    start = dt.datetime.fromtimestamp(calendar.day_start_ms(day) / 1000, tz=ZoneInfo("America/Santiago"))
    assert (start.hour, start.minute) == (1, 0)


def test_hour_start_in_a_half_hour_zone() -> None:
    calendar = Calendar("Asia/Kolkata")
    t = int(dt.datetime(2026, 3, 1, 10, 47, tzinfo=ZoneInfo("Asia/Kolkata")).timestamp() * 1000)
    start = calendar.hour_start_ms(t)
    local = dt.datetime.fromtimestamp(start / 1000, tz=ZoneInfo("Asia/Kolkata"))
    assert (local.hour, local.minute) == (10, 0)
    assert t - start < MS_PER_HOUR


def test_unknown_zone_is_rejected() -> None:
    with pytest.raises(TimeZoneError):
        Calendar("Mars/Olympus_Mons")
