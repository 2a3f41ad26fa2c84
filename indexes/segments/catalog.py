"""The catalog of saved segments: definitions, every version, campaign references; a function of the log.

The catalog changes only by `apply` of a resolved command (indexes/segments/commands.py), which
was validated against this very catalog before it was appended, so applying never fails; the
asserts below only guard that promise. Every create, edit and rollback adds a version holding the
whole content; a rollback to version N adds a version equal to N's content. A deleted segment keeps
its history (readable with include_deleted) and its id (ids are never reused).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from indexes.segments.errors import SegmentNotFoundError
from indexes.segments.export_schedules import EXPORT_OPS, ExportSchedules
from indexes.segments.graph import json_segment_refs

CREATE = "create"
EDIT = "edit"
ROLLBACK = "rollback"
DELETE = "delete"
ATTACH = "attach_campaign"
DETACH = "detach_campaign"
VERSION_OPS = (CREATE, EDIT, ROLLBACK)
OPS = (*VERSION_OPS, DELETE, ATTACH, DETACH, *EXPORT_OPS)  # + scheduled exports (export_schedules.py)
GENERATED_ID_PREFIX = "seg_"


@dataclass(frozen=True)
class SegmentContent:
    name: str
    description: str
    rule: str  # canonical JSON text of the rule (json.dumps of rule_to_json, sorted keys, compact)
    tags: tuple[str, ...]  # sorted, unique
    active: bool

    @property
    def rule_json(self) -> dict:
        return json.loads(self.rule)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class SegmentVersion:
    version: int  # 1, 2, ...
    content: SegmentContent
    at_ms: int  # the command's time
    op: str  # create, edit or rollback
    from_version: int | None = None  # rollback: the version whose content this one copies


@dataclass
class SavedSegment:
    id: str
    versions: list[SegmentVersion]
    campaigns: dict[str, bool] = field(default_factory=dict)  # campaign id -> active
    deleted_at_ms: int | None = None
    changed_at_ms: int = 0  # the last command that touched it (campaign changes included)

    @property
    def current(self) -> SegmentVersion:
        return self.versions[-1]

    @property
    def deleted(self) -> bool:
        return self.deleted_at_ms is not None

    @property
    def created_at_ms(self) -> int:
        return self.versions[0].at_ms


@dataclass(frozen=True)
class CatalogChange:
    """What one applied command did, for the materialization (indexes/segments/live.py)."""

    segment_id: str
    op: str
    version: int | None  # the new version (create, edit, rollback)
    was_active: bool  # a live, active segment before the command
    is_active: bool  # ... after it
    rule_changed: bool  # the current rule differs from before (a create counts as a change)


def name_key(name: str) -> str:
    """Names are unique case-insensitively: 'VIP' and 'vip' are the same name to a merchant."""
    return name.casefold()


class Catalog:
    def __init__(self) -> None:
        self.segments: dict[str, SavedSegment] = {}  # every segment ever created, in creation order
        self.created = 0  # segments ever created: the number generated ids count from
        self._names: dict[str, str] = {}  # name_key -> id, live segments only
        self._refs: dict[str, tuple[str, ...]] = {}  # id -> segments its current rule names, live only
        self.exports = ExportSchedules()  # scheduled exports and their runs (indexes/segments/export_schedules.py)

    # --- reads ---------------------------------------------------------------------------------
    def live(self, segment_id: str) -> SavedSegment | None:
        segment = self.segments.get(segment_id)
        return segment if segment is not None and not segment.deleted else None

    def is_live(self, segment_id: str) -> bool:
        return self.live(segment_id) is not None

    def require(self, segment_id: str, *, include_deleted: bool = False) -> SavedSegment:
        segment = self.segments.get(segment_id)
        if segment is None or (segment.deleted and not include_deleted):
            state = "deleted" if segment is not None else "unknown"
            raise SegmentNotFoundError("id", f"{state} segment {segment_id!r}")
        return segment

    def live_ids(self) -> list[str]:
        return [segment_id for segment_id, s in self.segments.items() if not s.deleted]

    def refs(self) -> dict[str, tuple[str, ...]]:
        """Live segment -> the segments its current rule names (a copy)."""
        return dict(self._refs)

    def refs_of(self, segment_id: str) -> tuple[str, ...]:
        return self._refs.get(segment_id, ())

    def name_owner(self, name: str) -> str | None:
        return self._names.get(name_key(name))

    def users(self, segment_id: str) -> tuple[list[str], list[str]]:
        """(active campaigns attached, live segments whose current rule names it), both sorted."""
        segment = self.require(segment_id)
        campaigns = sorted(c for c, active in segment.campaigns.items() if active)
        segments = sorted(s for s, refs in self._refs.items() if segment_id in refs)
        return campaigns, segments

    def generated_id(self) -> str:
        """The id a create without one gets: seg_<n>, n counting creates, skipping taken ids. The
        same on every replica of the log, because it depends only on the catalog."""
        number = self.created + 1
        for _ in range(len(self.segments) + 1):  # at most that many ids can be taken
            candidate = f"{GENERATED_ID_PREFIX}{number}"
            if candidate not in self.segments:
                return candidate
            number += 1
        raise AssertionError("no free generated id")  # unreachable: the loop outlasts the taken ids

    def search(self, name_contains: str | None = None, tag: str | None = None, *,
               include_deleted: bool = False) -> list[SavedSegment]:
        """Segments whose current name contains `name_contains` (case-insensitive) and whose tags
        hold `tag` (exact), in creation order."""
        needle = name_key(name_contains) if name_contains else None
        out = []
        for segment in self.segments.values():
            if segment.deleted and not include_deleted:
                continue
            content = segment.current.content
            if needle is not None and needle not in name_key(content.name):
                continue
            if tag is not None and tag not in content.tags:
                continue
            out.append(segment)
        return out

    # --- apply ---------------------------------------------------------------------------------
    def apply(self, body: dict, ts_ms: int) -> CatalogChange:
        """Apply a resolved command (validated before it was appended: see commands.py)."""
        op, segment_id = body["op"], body["id"]
        assert op in OPS, f"unknown segment op {op!r}"
        segment = self.segments.get(segment_id)
        was_active = segment is not None and not segment.deleted and segment.current.content.active
        if op in EXPORT_OPS:  # membership untouched
            self.exports.apply(body, ts_ms)
            return CatalogChange(segment_id, op, None, was_active, was_active, False)
        if op in VERSION_OPS:
            content = SegmentContent(
                name=body["name"], description=body["description"], rule=body["rule"],
                tags=tuple(body["tags"]), active=bool(body["active"]),
            )
            if op == CREATE:
                assert segment is None, f"segment {segment_id} exists"
                segment = self.segments[segment_id] = SavedSegment(segment_id, [])
                self.created += 1
                old_rule = None
            else:
                assert segment is not None and not segment.deleted, f"segment {segment_id} is not live"
                old_rule = segment.current.content.rule
                del self._names[name_key(segment.current.content.name)]
            version = len(segment.versions) + 1
            assert body["version"] == version, f"version {body['version']} applied as {version}"
            segment.versions.append(SegmentVersion(version, content, ts_ms, op, body.get("from_version")))
            assert name_key(content.name) not in self._names, "names are unique among live segments"
            self._names[name_key(content.name)] = segment_id
            self._refs[segment_id] = json_segment_refs(content.rule_json)
            segment.changed_at_ms = ts_ms
            return CatalogChange(segment_id, op, version, was_active, content.active, content.rule != old_rule)
        assert segment is not None and not segment.deleted, f"segment {segment_id} is not live"
        segment.changed_at_ms = ts_ms
        if op == DELETE:
            segment.deleted_at_ms = ts_ms
            del self._names[name_key(segment.current.content.name)]
            del self._refs[segment_id]
            return CatalogChange(segment_id, op, None, was_active, False, False)
        if op == ATTACH:
            segment.campaigns[body["campaign"]] = bool(body["active"])
        else:
            assert body["campaign"] in segment.campaigns
            del segment.campaigns[body["campaign"]]
        return CatalogChange(segment_id, op, None, was_active, was_active, False)

    # --- snapshots -----------------------------------------------------------------------------
    def to_plain(self) -> dict:
        """msgpack-able form, exact (from_plain(to_plain()) applies the same future commands alike)."""
        return {
            "created": self.created,
            "segments": [
                [s.id, s.deleted_at_ms, s.changed_at_ms, [[c, a] for c, a in s.campaigns.items()],
                 [[v.version, v.at_ms, v.op, v.from_version, v.content.name, v.content.description,
                   v.content.rule, list(v.content.tags), v.content.active] for v in s.versions]]
                for s in self.segments.values()
            ],
            "exports": self.exports.to_plain(),
        }

    @staticmethod
    def from_plain(plain: dict) -> Catalog:
        catalog = Catalog()
        catalog.created = int(plain["created"])
        catalog.exports = ExportSchedules.from_plain(plain.get("exports"))
        for segment_id, deleted_at_ms, changed_at_ms, campaigns, versions in plain["segments"]:
            segment = SavedSegment(str(segment_id), [], {str(c): bool(a) for c, a in campaigns}, deleted_at_ms,
                                   int(changed_at_ms))
            for version, at_ms, op, from_version, name, description, rule, tags, active in versions:
                content = SegmentContent(str(name), str(description), str(rule), tuple(tags), bool(active))
                segment.versions.append(SegmentVersion(int(version), content, int(at_ms), str(op), from_version))
            if not segment.versions or [v.version for v in segment.versions] != list(range(1, len(segment.versions) + 1)):
                raise ValueError(f"segment {segment_id}: versions are not 1..n")
            catalog.segments[segment.id] = segment
            if not segment.deleted:
                catalog._names[name_key(segment.current.content.name)] = segment.id
                catalog._refs[segment.id] = json_segment_refs(segment.current.content.rule_json)
        return catalog
