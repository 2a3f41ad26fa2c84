"""The membership change log of one shard: who entered or left which saved segment, when and why.

Columnar and bounded. Entries live in chunks of CHUNK_ENTRIES rows of numpy columns (segment code,
dense customer id, entered, at_ms, reason, detail); an entry's `seq` is its chunk's base plus its row,
so seqs are consecutive and a reader resumes after any seq it has seen. Event ids (the detail of
`event` entries) are strings kept per chunk. Retention drops whole chunks from the front: a chunk
goes once the entries after it still number at least `max_entries`, or once its newest entry is older
than `max_age_ms` before the clock (the newest chunk always stays). So at most max_entries +
CHUNK_ENTRIES entries are held; a reader asking for a position before the oldest kept entry gets
PositionExpiredError (never a silent gap), as does one holding a position of another epoch (the
number of tombstone batches in the log: compaction rewrites the log and the change log is rebuilt
from it, with new seqs).

Entries name dense ids, never customer ids: an erased customer's entries stay readable and name no
customer (the dense id is retired), and compaction, which rebuilds the log without the erased
customer's records, rebuilds this log without their entries.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from indexes.segments.errors import PositionExpiredError
from indexes.shard.bitmaps import in_sorted

CHUNK_ENTRIES = 65_536
MAX_ENTRIES = 1_000_000
MAX_AGE_MS = 90 * 86_400_000
REASONS = ("event", "profile", "erasure", "time", "rule_edit", "activated", "dependency")
EVENT, PROFILE, ERASURE, TIME, RULE_EDIT, ACTIVATED, DEPENDENCY = range(len(REASONS))
NO_DETAIL = -1


class ChangeRow(NamedTuple):
    """One entry as stored: the engine turns it into the caller's form (customer ids, names)."""
    # A NamedTuple: built per entry read (a frozen dataclass's __init__ costs ~2 us).

    seq: int
    segment_id: str
    dense_id: int
    entered: bool
    at_ms: int
    reason: str
    event_id: str | None  # event: the event that caused it
    version: int | None  # rule_edit / activated: the segment version
    upstream: str | None  # dependency: the segment whose change caused it


@dataclass(frozen=True)
class ChangeRead:
    rows: list[ChangeRow]
    next_after_seq: int  # pass as after_seq to continue: no entry is skipped or repeated
    first_seq: int  # the oldest entry kept
    end_seq: int  # one past the newest entry


class Chunk:
    """Up to `capacity` consecutive entries from `base_seq`."""

    def __init__(self, base_seq: int, capacity: int) -> None:
        self.base_seq = base_seq
        self.size = 0
        self.segment = np.zeros(capacity, dtype=np.int32)
        self.customer = np.zeros(capacity, dtype=np.uint32)
        self.entered = np.zeros(capacity, dtype=np.bool_)
        self.at_ms = np.zeros(capacity, dtype=np.int64)
        self.reason = np.zeros(capacity, dtype=np.int8)
        self.detail = np.zeros(capacity, dtype=np.int64)
        self.strings: list[str] = []  # event ids; an `event` entry's detail indexes them

    @property
    def capacity(self) -> int:
        return len(self.segment)

    def columns(self) -> dict[str, np.ndarray]:
        """The filled part of every column (views)."""
        n = self.size
        return {"segment": self.segment[:n], "customer": self.customer[:n], "entered": self.entered[:n],
                "at_ms": self.at_ms[:n], "reason": self.reason[:n], "detail": self.detail[:n]}


class ChangeLog:
    def __init__(self, max_entries: int = MAX_ENTRIES, max_age_ms: int = MAX_AGE_MS,
                 chunk_entries: int = CHUNK_ENTRIES) -> None:
        assert max_entries > 0 and max_age_ms > 0 and chunk_entries > 0
        self.max_entries = max_entries
        self.max_age_ms = max_age_ms
        self.chunk_entries = chunk_entries
        self.segment_table: list[str] = []  # segment code -> id (every segment that ever had an entry)
        self._codes: dict[str, int] = {}
        self.chunks: list[Chunk] = []
        self.next_seq = 0
        self.epoch = 0

    def __len__(self) -> int:
        return sum(chunk.size for chunk in self.chunks)

    @property
    def first_seq(self) -> int:
        return self.chunks[0].base_seq if self.chunks else self.next_seq

    def code(self, segment_id: str) -> int:
        code = self._codes.get(segment_id)
        if code is None:
            code = self._codes[segment_id] = len(self.segment_table)
            self.segment_table.append(segment_id)
        return code

    # --- writing ------------------------------------------------------------------------------
    def append(self, segment_id: str, customers: np.ndarray, entered: np.ndarray, at_ms: int,
               reasons: np.ndarray, details: np.ndarray, event_ids: list[str | None] | None = None) -> None:
        """Entries of one segment at one clock: `details` holds the version (rule_edit, activated) or
        the upstream's segment code (dependency), `event_ids[i]` the event of an `event` entry."""
        count = len(customers)
        assert len(entered) == len(reasons) == len(details) == count
        assert event_ids is None or len(event_ids) == count
        code = self.code(segment_id)
        done = 0
        while done < count:  # bounded: each pass fills a chunk or finishes
            if not self.chunks or self.chunks[-1].size == self.chunks[-1].capacity:
                self.chunks.append(Chunk(self.next_seq, self.chunk_entries))
            chunk = self.chunks[-1]
            take = min(count - done, chunk.capacity - chunk.size)
            at, stop = chunk.size, chunk.size + take
            chunk.segment[at:stop] = code
            chunk.customer[at:stop] = customers[done : done + take]
            chunk.entered[at:stop] = entered[done : done + take]
            chunk.at_ms[at:stop] = at_ms
            chunk.reason[at:stop] = reasons[done : done + take]
            part = np.array(details[done : done + take], dtype=np.int64)
            if event_ids is not None:
                for row in np.flatnonzero(reasons[done : done + take] == EVENT).tolist():
                    event_id = event_ids[done + row]
                    if event_id is None:
                        part[row] = NO_DETAIL
                    else:
                        part[row] = len(chunk.strings)
                        chunk.strings.append(event_id)
            chunk.detail[at:stop] = part
            chunk.size = stop
            self.next_seq += take
            done += take

    def trim(self, clock_ms: int) -> None:
        """Retention: drop whole chunks from the front (module doc)."""
        total = len(self)
        while len(self.chunks) > 1:
            oldest = self.chunks[0]
            too_many = total - oldest.size >= self.max_entries
            too_old = int(oldest.at_ms[oldest.size - 1]) < clock_ms - self.max_age_ms
            if not (too_many or too_old):
                break
            total -= oldest.size
            self.chunks.pop(0)

    # --- reading ------------------------------------------------------------------------------
    def read(self, segment_ids: list[str] | None, after_seq: int | None, customers: np.ndarray | None,
             from_ms: int | None, to_ms: int | None, limit: int) -> ChangeRead:
        """Entries with seq > after_seq (None: from the oldest kept) of the given segments (None: all),
        customers (dense ids; None: all) and at_ms in [from_ms, to_ms], at most `limit`, in seq order."""
        assert limit > 0
        start = self.first_seq if after_seq is None else after_seq + 1
        if start < self.first_seq:
            raise PositionExpiredError(
                f"position {after_seq} is older than the oldest change kept ({self.first_seq}); resynchronise"
            )
        if start > self.next_seq:
            raise PositionExpiredError(f"position {after_seq} is past the end of the change log ({self.next_seq})")
        codes = None
        if segment_ids is not None:
            codes = np.array([self._codes[s] for s in segment_ids if s in self._codes], dtype=np.int32)
        rows: list[ChangeRow] = []
        last_seq = start - 1
        bases = [chunk.base_seq for chunk in self.chunks]
        first_chunk = max(0, bisect.bisect_right(bases, start) - 1)
        for chunk in self.chunks[first_chunk:]:
            offset = max(0, start - chunk.base_seq)
            picked = self._select(chunk, offset, codes, customers, from_ms, to_ms)
            room = limit - len(rows)
            if len(picked) >= room:
                picked = picked[:room]
                rows.extend(self._row(chunk, int(row)) for row in picked.tolist())
                return ChangeRead(rows, chunk.base_seq + int(picked[-1]), self.first_seq, self.next_seq)
            rows.extend(self._row(chunk, int(row)) for row in picked.tolist())
            last_seq = chunk.base_seq + chunk.size - 1
        return ChangeRead(rows, max(last_seq, start - 1), self.first_seq, self.next_seq)

    @staticmethod
    def _select(chunk: Chunk, offset: int, codes: np.ndarray | None, customers: np.ndarray | None,
                from_ms: int | None, to_ms: int | None) -> np.ndarray:
        columns = chunk.columns()
        mask = np.ones(chunk.size - offset, dtype=bool)
        if codes is not None:
            mask &= np.isin(columns["segment"][offset:], codes)
        if customers is not None:
            mask &= in_sorted(columns["customer"][offset:], np.unique(customers))
        if from_ms is not None:
            mask &= columns["at_ms"][offset:] >= from_ms
        if to_ms is not None:
            mask &= columns["at_ms"][offset:] <= to_ms
        return np.flatnonzero(mask) + offset

    def _row(self, chunk: Chunk, row: int) -> ChangeRow:
        reason = int(chunk.reason[row])
        detail = int(chunk.detail[row])
        has = detail != NO_DETAIL
        return ChangeRow(
            seq=chunk.base_seq + row,
            segment_id=self.segment_table[int(chunk.segment[row])],
            dense_id=int(chunk.customer[row]),
            entered=bool(chunk.entered[row]),
            at_ms=int(chunk.at_ms[row]),
            reason=REASONS[reason],
            event_id=chunk.strings[detail] if reason == EVENT and has else None,
            version=detail if reason in (RULE_EDIT, ACTIVATED) and has else None,
            upstream=self.segment_table[detail] if reason == DEPENDENCY and has else None,
        )
