"""The DurableEngine's bounds: batch size and how long its waits may last (docs/DURABILITY.md)."""

from __future__ import annotations

# One batch must fit the log's pending queue (200 000 records, 64 MiB) with room for others.
MAX_BATCH_RECORDS = 100_000
# A producer waits this long for the batch before its LSN to be applied; the predecessor is already
# durable and only needs CPU, so running out means a bug, and the engine stops accepting ingest.
APPLY_WAIT_TIMEOUT_MS = 120_000
CLOSE_TIMEOUT_MS = 120_000
# A declaration batch waits in `prepare` this long for another prepared declaration batch to be
# committed or released (declarations are rare; the cluster sends them one at a time).
DECLARATION_WAIT_TIMEOUT_MS = 30_000
# Waits on a condition wake at least this often, so a deadline is noticed without a notify.
WAIT_SLICE_S = 0.5

__all__ = [
    "APPLY_WAIT_TIMEOUT_MS",
    "CLOSE_TIMEOUT_MS",
    "DECLARATION_WAIT_TIMEOUT_MS",
    "MAX_BATCH_RECORDS",
    "WAIT_SLICE_S",
]
