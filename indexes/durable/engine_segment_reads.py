"""Saved-segment reads on a DurableEngine: each is the in-memory Engine's, under the state lock, so
it sees only applied (durable) state. See indexes/engine.py for what each returns.

A mixin of DurableEngine (indexes/durable/engine.py).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from pyroaring import BitMap

from indexes.engine import Engine
from indexes.segments.templates import TEMPLATES, Template
from indexes.segments.views import ChangePage, DryRun, SegmentStats, SegmentView


class EngineSegmentReads:
    _state: threading.Condition  # DurableEngine's state lock
    _engine: Engine

    def get_segment(self, segment_id: str, *, version: int | None = None, include_deleted: bool = False) -> SegmentView:
        with self._state:
            return self._engine.get_segment(segment_id, version=version, include_deleted=include_deleted)

    def segment_versions(self, segment_id: str, *, include_deleted: bool = False) -> list[SegmentView]:
        with self._state:
            return self._engine.segment_versions(segment_id, include_deleted=include_deleted)

    def list_segments(self, *, name_contains: str | None = None, tag: str | None = None,
                      include_deleted: bool = False) -> list[SegmentView]:
        with self._state:
            return self._engine.list_segments(name_contains=name_contains, tag=tag, include_deleted=include_deleted)

    def segment_evaluate(self, segment_id: str, as_of_ms: int | None = None) -> BitMap:
        with self._state:
            return self._engine.segment_evaluate(segment_id, as_of_ms)

    def segment_count(self, segment_id: str, as_of_ms: int | None = None) -> int:
        with self._state:
            return self._engine.segment_count(segment_id, as_of_ms)

    def segment_members(self, segment_id: str, as_of_ms: int | None = None) -> list[str]:
        with self._state:
            return self._engine.segment_members(segment_id, as_of_ms)

    def segment_stats(self, segment_id: str) -> SegmentStats:
        with self._state:
            return self._engine.segment_stats(segment_id)

    def segment_changes(self, segment_ids: Sequence[str] | None = None, *, after_seq: int | None = None,
                        customer_id: str | None = None, from_ms: int | None = None, to_ms: int | None = None,
                        limit: int = 1000, epoch: int | None = None) -> ChangePage:
        with self._state:
            return self._engine.segment_changes(segment_ids, after_seq=after_seq, customer_id=customer_id,
                                                from_ms=from_ms, to_ms=to_ms, limit=limit, epoch=epoch)

    def dry_run_edit(self, segment_id: str, rule: Any, *, as_of_ms: int | None = None, samples: int = 10) -> DryRun:
        with self._state:
            return self._engine.dry_run_edit(segment_id, rule, as_of_ms=as_of_ms, samples=samples)

    @staticmethod
    def segment_templates() -> list[Template]:
        return list(TEMPLATES)


__all__ = ["EngineSegmentReads"]
