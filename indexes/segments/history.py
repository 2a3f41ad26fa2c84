"""Daily size history of a saved segment: its member count at the end of each local day.

The materialization (indexes/segments/live.py) moves the clock to the last millisecond of every day
a clock step crosses and records the count there, so an entry is the count as of that day's end in
the workspace zone, exact even when no record arrived near midnight. At most `max_days` entries are
kept (the oldest go first).
"""

from __future__ import annotations

import datetime as dt
from collections import deque

from indexes.timecal import Calendar

HISTORY_DAYS = 400


class SizeHistory:
    def __init__(self, max_days: int = HISTORY_DAYS) -> None:
        assert max_days > 0
        self.entries: deque[tuple[int, int]] = deque(maxlen=max_days)  # (local day number, count)

    def record(self, day: int, count: int) -> None:
        assert not self.entries or self.entries[-1][0] < day, "days are recorded once, in order"
        self.entries.append((day, count))

    def as_dates(self) -> list[tuple[dt.date, int]]:
        return [(Calendar.day_to_date(day), count) for day, count in self.entries]
