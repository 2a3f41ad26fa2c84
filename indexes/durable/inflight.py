"""Batches between admission and apply: what they reserve, and deduplication against them.

A batch is admitted (validated, deduplicated, capacity-checked) under the engine's admission lock,
appended without it, and applied in LSN order later. Meanwhile its event-id digests must count as
"seen" (a concurrent batch repeating an id is a duplicate of it), its erasures must count for the
capacity bound (a customer erased in flight comes back with a new dense id), and its bound on new
customers is reserved. Not thread-safe by itself: the engine guards it with its state lock.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from indexes.event_ids import EventIdSet
from indexes.records import ErasureRecord, EventRecord, Record

DIGEST_BYTES = 16


@dataclass(eq=False)
class Ticket:
    """One admitted batch; `done` once applied (ok) or abandoned (not ok)."""

    keys: list[bytes] = field(default_factory=list)  # digests of its events (16 bytes each)
    customers: int = 0  # reserved bound on new dense ids
    erased: list[str] = field(default_factory=list)
    done: bool = False
    ok: bool = False


@dataclass
class Deduplicated:
    records: list[Record]  # what is left to append, in batch order
    duplicates: int  # events dropped: accepted before, in flight, or earlier in the batch
    keys: list[bytes]  # digests of the events kept
    waits: list[Ticket]  # in-flight batches holding originals of dropped events


class InFlight:
    def __init__(self) -> None:
        self._owners: dict[bytes, Ticket] = {}
        self.erased: Counter[str] = Counter()
        self.reserved_customers = 0
        self.count = 0

    def deduplicate(self, records: list[Record], applied: EventIdSet) -> Deduplicated:
        events = [r for r in records if type(r) is EventRecord]
        if not events:
            return Deduplicated(records, 0, [], [])
        fresh, digests = applied.filter_new([e.event_id for e in events])  # also within the batch
        blob = digests.astype(">u8").tobytes()
        keys = [blob[i : i + DIGEST_BYTES] for i in range(0, len(blob), DIGEST_BYTES)]
        fresh_list = fresh.tolist()
        waits: list[Ticket] = []
        if self._owners:
            positions = [i for i, is_fresh in enumerate(fresh_list) if is_fresh]
            kept: list[bytes] = []
            for position, key in zip(positions, keys, strict=True):
                owner = self._owners.get(key)
                if owner is None:
                    kept.append(key)
                else:  # the original is in flight: acknowledge this one only once it is
                    fresh_list[position] = False
                    if owner not in waits:
                        waits.append(owner)
            keys = kept
        duplicates = len(events) - sum(fresh_list)
        if duplicates:
            dropped = {id(e) for e, ok in zip(events, fresh_list, strict=True) if not ok}
            records = [r for r in records if id(r) not in dropped]
        assert len(keys) == len(events) - duplicates
        return Deduplicated(records, duplicates, keys, waits)

    def add(self, records: list[Record], keys: list[bytes], customers: int) -> Ticket:
        ticket = Ticket(keys, customers, [r.customer_id for r in records if type(r) is ErasureRecord])
        for key in keys:
            self._owners[key] = ticket
        self.erased.update(ticket.erased)
        self.reserved_customers += customers
        self.count += 1
        return ticket

    def release(self, ticket: Ticket, *, ok: bool) -> None:
        """Forget an applied (ok) or abandoned batch; idempotent."""
        if ticket.done:
            return
        for key in ticket.keys:
            if self._owners.get(key) is ticket:
                del self._owners[key]
        self.erased.subtract(ticket.erased)
        for name in ticket.erased:
            if self.erased[name] <= 0:
                del self.erased[name]
        self.reserved_customers -= ticket.customers
        self.count -= 1
        assert self.reserved_customers >= 0 and self.count >= 0
        ticket.done, ticket.ok = True, ok
