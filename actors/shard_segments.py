"""One shard's saved-segment calls (the router's side: actors/cluster_segments.py).

* Commands arrive resolved by the router (indexes/segments/commands.py, against its catalog copy) and
  are stored in two phases like declarations: `prepare_segment` resolves the same command against
  this shard's own catalog and refuses unless it gets the very same body (the catalogs drifted), then
  admits it as a batch of one SegmentRecord; `commit` / `release` are the ingest ones.
* Counts and member pages at an instant T: from the materialized bitmap when it is exact at T, else
  by evaluating the rule at T (indexes/segments/materialized.py).
* `changes_wait` is the long poll behind Watch: it blocks (in its own thread group) until the change
  log moves past what the router knows, or a timeout.
"""

from __future__ import annotations

import json
from typing import Any

from actors.member_pages import ShardPage, SortedMembersCache, page_after
from actors.shard_service import PrepareReply, ShardService
from indexes.durable.engine import DurableEngine
from indexes.records import BatchResult, SegmentRecord
from indexes.rules.errors import RuleError
from indexes.schema import Schema
from indexes.segments.catalog import OPS, VERSION_OPS
from indexes.segments.commands import resolve_command
from indexes.segments.errors import SegmentError
from indexes.segments.materialized import members_at
from indexes.segments.views import ChangePage, DryRun, SegmentStats

MAX_CHANGES_WAIT_MS = 10_000  # the router's long poll comes back at least this often


class CatalogDriftError(RuntimeError):
    """This shard's catalog does not resolve a command as the router's copy did: the copies drifted
    (a command that failed mid-commit). The router resynchronises before its next command."""


def command_of(body: dict) -> dict:
    """The command that resolves into `body` against the catalog it was resolved on (so each shard can
    check that its own catalog agrees)."""
    op = body["op"]
    assert op in OPS, f"unknown op {op!r}"
    if op == "rollback":
        return {"op": op, "id": body["id"], "version": body["from_version"]}
    if op in VERSION_OPS:
        command = {key: body[key] for key in ("op", "id", "name", "description", "tags", "active")}
        command["rule"] = json.loads(body["rule"])
        return command
    return dict(body)


class ShardSegments:
    def __init__(self, service: ShardService) -> None:
        self._service = service
        self._members = SortedMembersCache()

    # --- commands ------------------------------------------------------------------------------
    def segment_catalog(self) -> dict:
        """The catalog in its plain form (indexes/segments/catalog.py `to_plain`)."""
        with self._service.using() as engine, engine.read_state() as inner:
            return inner.segments.catalog.to_plain()

    def prepare_segment(self, body: dict, ts_ms: int) -> PrepareReply:
        """Admit one resolved command (nothing appended); commit / release it by the token."""
        command = command_of(body)
        shard = self._service.shard
        with self._service.using() as engine:

            def validate(raws: list[Any], schema: Schema, *, partial: bool) -> BatchResult:
                # Called by DurableEngine.prepare under its admission lock, with the pending schema.
                with engine.read_state() as inner:
                    try:
                        resolved = resolve_command(command, inner.segments.catalog, schema)
                    except (SegmentError, RuleError) as exc:
                        raise CatalogDriftError(f"shard {shard} refuses {body['op']} of {body['id']!r}: {exc}") from None
                if resolved != body:
                    raise CatalogDriftError(f"shard {shard} resolves {body['op']} of {body['id']!r} differently "
                                            "from the router: the catalogs drifted")
                return BatchResult(records=[SegmentRecord(body, ts_ms)], indexes=[0], schema=schema)

            return self._service.prepare_validated([body], validate)

    def advance_clock(self, now_ms: int) -> bool:
        with self._service.using() as engine:
            return engine.advance_clock(now_ms)

    # --- reads ---------------------------------------------------------------------------------
    def segment_count(self, segment_id: str, as_of_ms: int) -> tuple[int, int, int | None, bool]:
        """(members at as_of, the shard's clock, its last membership change, active)."""
        with self._service.using() as engine, engine.read_state() as inner:
            found = members_at(inner, segment_id, as_of_ms)
            live = inner.segments
            return len(found), live.clock_ms, live.last_change_ms.get(segment_id), segment_id in live.active_ids()

    def segment_members_page(self, segment_id: str, as_of_ms: int, after: str | None, page_size: int) -> ShardPage:
        with self._service.using() as engine:
            with engine.read_state() as inner:
                # Under the state lock: the LSN in the key is the state the list is built from.
                key = (f"segment:{segment_id}", as_of_ms, engine.applied_lsn)
                members = self._members.get(key)
                unsorted = None if members is not None else inner.shard.ids.externals(
                    members_at(inner, segment_id, as_of_ms))
            if members is None:
                assert unsorted is not None
                members = sorted(unsorted)  # outside the state lock: ingest is not held up by the sort
                self._members.put(key, members)
            return page_after(members, after, page_size)

    def segment_stats(self, segment_id: str) -> SegmentStats:
        with self._service.using() as engine:
            return engine.segment_stats(segment_id)

    def segment_dry_run(self, segment_id: str, rule: dict, as_of_ms: int, samples: int) -> DryRun:
        with self._service.using() as engine:
            return engine.dry_run_edit(segment_id, rule, as_of_ms=as_of_ms, samples=samples)

    def segment_changes(self, segment_ids: list[str] | None, after_seq: int | None, customer_id: str | None,
                        from_ms: int | None, to_ms: int | None, limit: int, epoch: int | None) -> ChangePage:
        with self._service.using() as engine:
            return engine.segment_changes(segment_ids, after_seq=after_seq, customer_id=customer_id,
                                          from_ms=from_ms, to_ms=to_ms, limit=limit, epoch=epoch)

    def changes_end(self) -> tuple[int, int]:
        """(epoch, next seq) of the change log."""
        with self._service.using() as engine, engine.read_state() as inner:
            log = inner.segments.changes
            return log.epoch, log.next_seq

    def changes_wait(self, epoch: int, next_seq: int, timeout_ms: int) -> tuple[int, int]:
        """`changes_end` once it differs from (epoch, next_seq), or after timeout_ms."""
        timeout_ms = min(max(timeout_ms, 0), MAX_CHANGES_WAIT_MS)
        with self._service.using() as engine:
            current = self._end(engine)
            if current == (epoch, next_seq):
                engine.wait_for_changes(next_seq - 1, timeout_ms)
                current = self._end(engine)
            return current

    @staticmethod
    def _end(engine: DurableEngine) -> tuple[int, int]:
        with engine.read_state() as inner:
            log = inner.segments.changes
            return log.epoch, log.next_seq
