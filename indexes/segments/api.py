"""The saved-segment commands as methods, shared by the embedded Engine and the DurableEngine.

Each method builds a command (indexes/segments/commands.py) and hands it to the engine's
`segment_command`, which validates it against the catalog, puts it in the log (DurableEngine) and
applies it in log order. `now_ms` is the command's time (the version's timestamp, and the wall time
of its batch: the clock moves to it first); default the wall clock.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from indexes.segments.catalog import ATTACH, CREATE, DELETE, DETACH, EDIT, ROLLBACK
from indexes.segments.templates import template
from indexes.segments.views import SegmentView


class SegmentCommands(ABC):
    @abstractmethod
    def segment_command(self, command: dict, *, now_ms: int | None = None) -> SegmentView | None:
        """Validate, store and apply one command; the segment as it is afterwards (None after delete)."""

    def create_segment(self, name: str, rule: Any, *, segment_id: str | None = None, description: str = "",
                       tags: Sequence[str] = (), active: bool = True, now_ms: int | None = None) -> SegmentView:
        """A new saved segment (version 1). `rule`: JSON form (dict or text) or the text form. Without
        `segment_id` one is generated (seg_<n>). Active segments are materialized at once."""
        command: dict = {"op": CREATE, "name": name, "rule": rule, "description": description,
                         "tags": list(tags), "active": active}
        if segment_id is not None:
            command["id"] = segment_id
        return self._changed(command, now_ms)

    def edit_segment(self, segment_id: str, *, name: str | None = None, description: str | None = None,
                     rule: Any = None, tags: Sequence[str] | None = None, active: bool | None = None,
                     now_ms: int | None = None) -> SegmentView:
        """A new version with the given fields changed (the others as they are)."""
        command: dict = {"op": EDIT, "id": segment_id}
        for key, value in (("name", name), ("description", description), ("rule", rule), ("active", active)):
            if value is not None:
                command[key] = value
        if tags is not None:
            command["tags"] = list(tags)
        return self._changed(command, now_ms)

    def rollback_segment(self, segment_id: str, version: int, *, now_ms: int | None = None) -> SegmentView:
        """A new version equal to `version`'s content."""
        return self._changed({"op": ROLLBACK, "id": segment_id, "version": version}, now_ms)

    def delete_segment(self, segment_id: str, *, now_ms: int | None = None) -> None:
        """SegmentInUseError when an active campaign or another segment uses it."""
        self.segment_command({"op": DELETE, "id": segment_id}, now_ms=now_ms)

    def attach_campaign(self, segment_id: str, campaign_id: str, *, active: bool = True,
                        now_ms: int | None = None) -> SegmentView:
        """Register (or update) a campaign using the segment; an active one blocks its deletion."""
        return self._changed({"op": ATTACH, "id": segment_id, "campaign": campaign_id, "active": active}, now_ms)

    def detach_campaign(self, segment_id: str, campaign_id: str, *, now_ms: int | None = None) -> SegmentView:
        return self._changed({"op": DETACH, "id": segment_id, "campaign": campaign_id}, now_ms)

    def create_from_template(self, template_id: str, *, segment_id: str | None = None, name: str | None = None,
                             description: str | None = None, tags: Sequence[str] | None = None,
                             active: bool = True, now_ms: int | None = None) -> SegmentView:
        """Copy a template into a new saved segment, editable like any other."""
        found = template(template_id)
        return self.create_segment(
            found.name if name is None else name, found.rule, segment_id=segment_id,
            description=found.description if description is None else description,
            tags=found.tags if tags is None else tags, active=active, now_ms=now_ms,
        )

    def _changed(self, command: dict, now_ms: int | None) -> SegmentView:
        view = self.segment_command(command, now_ms=now_ms)
        assert view is not None
        return view
