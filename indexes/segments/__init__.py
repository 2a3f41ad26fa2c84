"""Saved segments: definitions as log records, membership materialized and maintained per committed
batch, a change log, daily sizes, dry runs, templates (docs/SAVED_SEGMENTS.md)."""

from indexes.segments.changelog import ChangeLog
from indexes.segments.errors import (
    PositionExpiredError,
    SegmentConflictError,
    SegmentError,
    SegmentInUseError,
    SegmentNotFoundError,
)
from indexes.segments.live import LiveSegments
from indexes.segments.templates import TEMPLATES, Template
from indexes.segments.views import ChangeEntry, ChangePage, DryRun, SegmentStats, SegmentView

__all__ = [
    "TEMPLATES",
    "ChangeEntry",
    "ChangeLog",
    "ChangePage",
    "DryRun",
    "LiveSegments",
    "PositionExpiredError",
    "SegmentConflictError",
    "SegmentError",
    "SegmentInUseError",
    "SegmentNotFoundError",
    "SegmentStats",
    "SegmentView",
    "Template",
]
