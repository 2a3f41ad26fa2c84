"""How many dense customer ids a batch may need: checked before it is appended, never after.

A batch in the log must apply: one that fails on replay would stop every restart. So a batch that
could overflow the shard (ShardFullError) is refused before it is appended. Batches admitted but not
yet applied hold a reservation, and the count is an upper bound: a customer named by two in-flight
batches is counted by both, and one named after an erasure (in the batch, or in a batch in flight)
counts as new because it will get a fresh dense id (indexes/shard/dense_ids.py).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from itertools import compress, repeat
from operator import attrgetter, is_

from indexes.records import ErasureRecord, EventRecord, ProfileRecord, Record

_RUN_KINDS = {EventRecord, ProfileRecord}
_CUSTOMER = attrgetter("customer_id")


def customers_needed(
    records: Sequence[Record],
    lookup_many: Callable[[list[str]], list[int | None]],
    erased_in_flight: Collection[str],
) -> int:
    """Upper bound on the dense ids applying `records` allocates, and at least what the shard's own
    check (Shard._check_capacity) will count when it applies them: that check must never fail on a
    batch in the log. Like it, count per run of events and profiles between barrier records
    (erasures, declarations): distinct names unknown now, plus distinct names erased before."""
    erased = set(erased_in_flight)
    if set(map(type, records)) <= _RUN_KINDS:  # one run, the common case: C-level passes only
        names = list(map(_CUSTOMER, records))
        found = lookup_many(names)
        unknown = set(compress(names, map(is_, found, repeat(None))))
        return len(unknown) + (len(set(names) & erased) if erased else 0)
    needed = 0
    run: list[str] = []

    def close_run() -> int:
        if not run:
            return 0
        found = lookup_many(run)
        distinct = set(run)
        unknown = {name for name, dense in zip(run, found, strict=True) if dense is None}
        return len(unknown) + len(distinct & erased)

    for record in records:
        kind = type(record)
        if kind is EventRecord or kind is ProfileRecord:
            run.append(record.customer_id)  # type: ignore[union-attr]
            continue
        needed += close_run()
        run = []
        if kind is ErasureRecord:
            erased.add(record.customer_id)  # type: ignore[union-attr]
    return needed + close_run()
