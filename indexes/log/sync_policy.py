"""When an append is acknowledged, and what a crash can lose. docs/LOG.md has the same table.

| policy   | acknowledged after         | lost on kill -9 | lost on power loss / kernel crash         |
| -------- | -------------------------- | --------------- | ----------------------------------------- |
| always   | write() + fsync()          | nothing         | nothing acknowledged                      |
| interval | write(); fsync within      | nothing         | up to `sync_interval_ms` of acknowledged  |
|          | `sync_interval_ms`         | (page cache)    | records (plus one fsync's duration)       |
| never    | write(); fsync on sync()   | nothing         | anything since the last sync() / close()  |
|          | and close() only           |                 | (tests and benchmarks only)               |

Every policy group-commits: one write() per gathered group of batches, and under `always` one fsync()
for the whole group. Whatever the policy, a new segment file is fsynced with its directory when created
and the previous segment is fsynced before it, so only the last segment can ever have a torn tail.
"""

from __future__ import annotations

from enum import StrEnum


class SyncPolicy(StrEnum):
    ALWAYS = "always"
    INTERVAL = "interval"
    NEVER = "never"

    @classmethod
    def of(cls, value: SyncPolicy | str) -> SyncPolicy:
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(policy.value for policy in cls)
            raise ValueError(f"unknown sync policy {value!r}; one of {choices}") from None
