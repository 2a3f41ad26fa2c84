"""Columns of stored values -> text, vectorised (exports write millions of cells).

Numbers are formatted from their scaled integers (exact, never through a float); instants as RFC 3339
with milliseconds and the offset in force in the workspace zone at that instant; dates as YYYY-MM-DD.
Each is a few numpy string passes instead of one Python call per value (isoformat alone costs ~2 us).
"""

from __future__ import annotations

import numpy as np

from indexes.timecal import Calendar

MS_PER_MINUTE = 60_000


def numbers_text(scaled: np.ndarray, scale: int) -> np.ndarray:
    """'-12.50' for -1250 at scale 2; '7' for 7 at scale 0."""
    scaled = np.asarray(scaled, dtype=np.int64)
    if scale == 0 or len(scaled) == 0:
        return scaled.astype(str)
    magnitude = np.abs(scaled)
    unit = 10**scale
    whole = (magnitude // unit).astype(str)
    fraction = np.char.zfill((magnitude % unit).astype(str), scale)
    text = np.char.add(np.char.add(whole, "."), fraction)
    return np.where(scaled < 0, np.char.add("-", text), text)


def instants_text(t_ms: np.ndarray, calendar: Calendar) -> np.ndarray:
    """'2026-11-20T10:15:00.000+03:00': local wall time and the offset in force."""
    t_ms = np.asarray(t_ms, dtype=np.int64)
    if len(t_ms) == 0:
        return np.zeros(0, dtype=str)
    offsets = calendar.offsets_ms(t_ms)
    local = np.datetime_as_string((t_ms + offsets).astype("datetime64[ms]"), unit="ms")
    suffixes = {int(o): _offset_text(int(o)) for o in np.unique(offsets)}
    if len(suffixes) == 1:
        return np.char.add(local, next(iter(suffixes.values())))
    suffix = np.empty(len(t_ms), dtype=object)
    for offset, text in suffixes.items():
        suffix[offsets == offset] = text
    return np.char.add(local, suffix.astype(str))


def _offset_text(offset_ms: int) -> str:
    minutes = abs(offset_ms) // MS_PER_MINUTE
    return f"{'-' if offset_ms < 0 else '+'}{minutes // 60:02d}:{minutes % 60:02d}"


def dates_text(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(np.asarray(days, dtype=np.int64).astype("datetime64[D]"), unit="D")
