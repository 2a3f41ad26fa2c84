"""The one exception of the snapshot package."""

from __future__ import annotations


class SnapshotError(Exception):
    """A snapshot cannot be written, or one on disk cannot be used (the message says why)."""
