"""Bringing the shards' saved-segment catalogs back in step after a command failed mid-commit.

The router stores segment commands one at a time, two-phase on every shard (actors/cluster_segments.py),
and checks the catalogs before the next command whenever one failed. A commit that failed on some
shards after others stored it leaves exactly two catalogs: some shards have the command, the others
lack it. The missing command is read off the difference (a new segment or version, a deletion, a
campaign attached or detached) and is what the lagging shards get; anything else is not a state this
protocol produces, and is refused with the difference named.
"""

from __future__ import annotations

from dataclasses import dataclass

from indexes.segments.catalog import ATTACH, CREATE, DELETE, DETACH, Catalog, SavedSegment


class CatalogMismatchError(RuntimeError):
    """The shards' catalogs differ by more than one command."""


@dataclass(frozen=True)
class Repair:
    body: dict  # the resolved command the lagging shards miss
    ts_ms: int  # its time, as the shards that have it applied it
    ahead: dict  # the catalog (plain form) every shard holds afterwards


def copy_of(plain: dict) -> Catalog:
    return Catalog.from_plain(plain)


def missing_command(behind: Catalog, ahead: Catalog) -> tuple[dict, int] | None:
    """(body, ts_ms) of one command taking `behind` towards `ahead`, or None when none is found."""
    for segment_id, segment in ahead.segments.items():
        old = behind.segments.get(segment_id)
        if old is None:
            return _version_body(segment, 1, CREATE), segment.versions[0].at_ms
        if len(segment.versions) == len(old.versions) + 1:
            newest = segment.current
            return _version_body(segment, newest.version, newest.op), newest.at_ms
        if segment.deleted and not old.deleted:
            assert segment.deleted_at_ms is not None
            return {"op": DELETE, "id": segment_id}, segment.deleted_at_ms
        if segment.campaigns != old.campaigns:
            for campaign, active in segment.campaigns.items():
                if old.campaigns.get(campaign) != active:
                    return {"op": ATTACH, "id": segment_id, "campaign": campaign, "active": active}, segment.changed_at_ms
            gone = sorted(set(old.campaigns) - set(segment.campaigns))
            return {"op": DETACH, "id": segment_id, "campaign": gone[0]}, segment.changed_at_ms
    return None


def _version_body(segment: SavedSegment, version: int, op: str) -> dict:
    made = segment.versions[version - 1]
    content = made.content
    body = {"op": op, "id": segment.id, "version": version, "name": content.name, "description": content.description,
            "rule": content.rule, "tags": list(content.tags), "active": content.active}
    if made.from_version is not None:
        body["from_version"] = made.from_version
    return body


def plan_repair(catalogs: list[dict]) -> Repair | None:
    """None when every shard holds the same catalog; else the command the lagging shards miss.
    CatalogMismatchError when no single command explains the difference."""
    distinct: list[dict] = []
    for plain in catalogs:
        if plain not in distinct:
            distinct.append(plain)
    if len(distinct) == 1:
        return None
    if len(distinct) == 2:
        for behind, ahead in (distinct, distinct[::-1]):
            found = missing_command(copy_of(behind), copy_of(ahead))
            if found is None:
                continue
            body, ts_ms = found
            repaired = copy_of(behind)
            try:
                repaired.apply(body, ts_ms)
            except (AssertionError, KeyError):
                continue
            if repaired.to_plain() == ahead:
                return Repair(body, ts_ms, ahead)
    summary = ", ".join(f"{len(p['segments'])} segments" for p in distinct)
    raise CatalogMismatchError(f"the shards hold {len(distinct)} different segment catalogs ({summary}) that no "
                               "single command reconciles; restore the lagging shards from their logs")
