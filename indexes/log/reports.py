"""What the log tells its owner and the operator: problems found, torn tails cut, operation reports.

Offsets are byte offsets inside the named segment file, so an operator can look at the bytes with
`xxd -s OFFSET FILE`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """Damage at one place of one segment file; the log refuses to open until it is repaired."""

    file: str
    offset: int
    kind: str  # bad_header, bad_length, bad_crc, truncated_frame, undecodable, lsn_gap, bad_seal
    detail: str

    def __str__(self) -> str:
        return f"{self.file} at byte offset {self.offset}: {self.kind}: {self.detail}"


@dataclass(frozen=True, slots=True)
class TornTail:
    """The unacknowledged end of the last segment, cut on open (see docs/LOG.md, torn-tail rule).

    The file is truncated to `offset` bytes; offset 0 means its header was torn and the file was removed.
    """

    file: str
    offset: int
    bytes_dropped: int
    reason: str


@dataclass(frozen=True, slots=True)
class OpenReport:
    """What `FileLog` found and did when it opened its directory."""

    end_lsn: int
    segments: int
    torn_tail: TornTail | None
    rewrite_completed: bool  # an interrupted, committed rewrite was rolled forward
    sealed_segments: int = 0  # segments opened by their seal, without reading their frames


@dataclass(frozen=True, slots=True)
class SegmentReport:
    file: str
    size_bytes: int
    frames: int  # valid frames before the first problem, if any
    first_lsn: int
    last_lsn: int  # first_lsn - 1 when the segment holds no frame


@dataclass(frozen=True, slots=True)
class VerifyReport:
    data_dir: str
    segments: tuple[SegmentReport, ...]
    problems: tuple[Problem, ...]
    torn_tail: TornTail | None  # would be cut by the next open; not a problem
    end_lsn: int
    rewrite_pending: bool  # an interrupted rewrite that the next open or repair resolves

    @property
    def ok(self) -> bool:
        """The log opens without an operator (a torn tail is cut automatically)."""
        return not self.problems


@dataclass(frozen=True, slots=True)
class RepairReport:
    data_dir: str
    problems_found: tuple[Problem, ...]
    torn_tail: TornTail | None
    actions: tuple[str, ...]
    side_files: tuple[str, ...]  # dropped bytes, kept for forensics; nothing is silently destroyed
    rewrite_completed: bool
    end_lsn: int
    ok: bool  # the log opens now


@dataclass(frozen=True, slots=True)
class RewriteReport:
    """A rewrite renumbers LSNs: the kept records get 0..records_kept-1, in their old order."""

    records_before: int
    records_kept: int
    records_dropped: int
    end_lsn: int
    segments: int
