"""A batch between the two phases of ingest: admitted by `prepare`, not yet committed or released.

The sharded cluster (actors/) prepares a batch on every shard it touches and commits only when all
of them admitted it; see indexes/durable/engine.py for the phases and docs/DURABILITY.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from indexes.durable.inflight import Ticket
from indexes.records import BatchResult, Record, RecordError
from indexes.schema import Schema

# validate_batch's form: (raws, schema, *, partial) -> BatchResult, RecordBatchError when refused.
Validator = Callable[..., BatchResult]

PREPARED = "prepared"
COMMITTING = "committing"
COMMITTED = "committed"
FAILED = "failed"
RELEASED = "released"


class PreparedBatchError(RuntimeError):
    """`commit` of a batch that is no longer prepared (released, committed, or being committed)."""


@dataclass(eq=False)
class PreparedBatch:
    """A batch after admission (validated, deduplicated, reserved) with nothing appended. Hand it to
    `commit` or `release` of the engine that prepared it, once."""

    records: list[Record]  # what commit appends, in batch order (duplicates dropped)
    ticket: Ticket | None  # the reservation; None when nothing is left to append
    waits: list[Ticket]  # in-flight batches holding originals of dropped duplicates
    duplicate_indexes: list[int]  # input indexes of the events dropped as duplicates, ascending
    errors: list[RecordError]  # rejected records (partial mode), by input index
    schema: Schema  # the schema after this batch (its declarations applied)
    base_schema: Schema  # the admission schema it was validated against
    declares: bool
    state: str = field(default=PREPARED)

    @property
    def duplicates(self) -> int:
        return len(self.duplicate_indexes)

    @property
    def needs_commit(self) -> bool:
        """False when commit would append nothing and wait for nothing (all duplicates of applied
        events, or all rejected): the batch can be committed at once, in the caller's thread."""
        return self.ticket is not None or bool(self.waits)


__all__ = [
    "COMMITTED",
    "COMMITTING",
    "FAILED",
    "PREPARED",
    "RELEASED",
    "PreparedBatch",
    "PreparedBatchError",
    "Validator",
]
