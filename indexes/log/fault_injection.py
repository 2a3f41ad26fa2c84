"""Fault injection for tests of the whole service: fsync failures on demand (RELIABILITY.md, "Faults").

With SEGMENTS_FAULT_FSYNC_FILE=PATH in the server's environment (its Ray shard actors inherit it), every
fsync of a shard's log raises OSError(EIO) - what a failing disk reports - while a file exists at PATH,
so a test can make a running server's disk fail and recover. Unset (always, outside tests), the shards
get os.fsync itself and nothing here runs.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from indexes.log.fsio import Fsync

FSYNC_FAULT_ENV = "SEGMENTS_FAULT_FSYNC_FILE"


def fsync_from_env() -> Fsync:
    path = os.environ.get(FSYNC_FAULT_ENV)
    if not path:
        return os.fsync
    trigger = Path(path)

    def fsync(fd: int) -> None:
        if trigger.exists():
            raise OSError(errno.EIO, f"injected fsync failure ({FSYNC_FAULT_ENV}={path} exists)")
        os.fsync(fd)

    return fsync
