"""Errors of the event log. Every one is a LogError, so a caller can catch the family."""

from __future__ import annotations

from collections.abc import Sequence

from indexes.log.reports import Problem


class LogError(Exception):
    """Base of every event-log error."""


class LogCorruptError(LogError):
    """The log is damaged somewhere other than its torn tail; it will not open until repaired."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        assert problems, "a corruption error names at least one problem"
        self.problems = tuple(problems)
        first = self.problems[0]
        self.file = first.file
        self.offset = first.offset
        more = f" (and {len(self.problems) - 1} more problem(s))" if len(self.problems) > 1 else ""
        super().__init__(f"event log corrupt: {first}{more}; run repair() (see docs/LOG.md)")


class LogFailedError(LogError):
    """A write or fsync failed: the log accepts nothing more (it never retries and acknowledges)."""


class LogBackpressureError(LogError):
    """The pending queue stayed full for the whole timeout; nothing of the batch was appended."""


class LogClosedError(LogError):
    """The log is closed (or closing)."""


class LogLockedError(LogError):
    """Another log, repair or rewrite holds the data directory."""


class RecordTooLargeError(LogError, ValueError):
    """One encoded record exceeds MAX_RECORD_BYTES."""
