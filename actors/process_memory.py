"""Resident memory of the calling process, for shard statistics (metrics: per-shard memory).

Read from /proc/self/statm (Linux: one small read, no psutil in the server's dependencies); 0 where
there is no /proc, which the metrics show as "unknown" rather than failing the stats call.
"""

from __future__ import annotations

import os

_PAGE_SIZE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def process_rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            resident_pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident_pages * _PAGE_SIZE_BYTES
