"""The --server side of `segments segment ...` (service/cli_segments.py): SegmentsClient calls, and watch."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from indexes import cli as embedded
from indexes.segments.views import DryRun, SegmentView
from service.auth_cli_options import client_options
from service.cli_remote import _failure
from service.cli_segments import LogLine, change_text
from service.client import SegmentsClient
from service.client_segments import Change
from service.client_types import SegmentsError

LOG_PAGE_SIZE = 5_000


def _line(change: Change) -> LogLine:
    return LogLine(change.segment_id, change.customer_id, change.entered, change.at_ms, change.reason, change.event_id,
                   change.version, change.upstream)


class RemoteSegments:
    def __init__(self, client: SegmentsClient) -> None:
        self._client = client

    def command(self, method: str, /, **kwargs: Any) -> SegmentView | None:
        given = {key: value for key, value in kwargs.items() if value is not None}  # None: the server's default
        return getattr(self._client, method)(**given)  # type: ignore[no-any-return]

    def show(self, segment_id: str, version: int | None, deleted: bool) -> SegmentView:
        return self._client.get_segment(segment_id, version, deleted)

    def versions(self, segment_id: str) -> list[SegmentView]:
        return self._client.segment_versions(segment_id, include_deleted=True)

    def search(self, name: str | None, tag: str | None, deleted: bool) -> list[SegmentView]:
        return self._client.list_segments(name or "", tag or "", deleted)

    def templates(self) -> list[tuple[str, str, str, tuple[str, ...], str]]:
        return [(t.id, t.name, t.description, t.tags, t.rule_text) for t in self._client.segment_templates()]

    def count(self, segment_id: str, as_of_ms: int | None) -> dict[str, Any]:
        counted = self._client.segment_count(segment_id, as_of_ms)
        return {"count": counted.count, "as_of_ms": counted.as_of_ms, "clock_ms": counted.clock_ms,
                "last_update_ms": counted.last_update_ms, "active": counted.active}

    def members(self, segment_id: str, as_of_ms: int | None) -> tuple[int, Iterator[str]]:
        total = self._client.segment_count(segment_id, as_of_ms)
        return total.count, self._client.segment_members(segment_id, total.as_of_ms, page_size=10_000)

    def sizes(self, segment_id: str) -> list[tuple[str, int]]:
        return [(day.isoformat(), count) for day, count in self._client.segment_size_history(segment_id)]

    def dry_run(self, segment_id: str, rule: Any, as_of_ms: int | None, samples: int) -> DryRun:
        return self._client.dry_run_edit(segment_id, rule, as_of_ms, samples)

    def log(self, ids: list[str], customer: str | None, from_ms: int | None, to_ms: int | None, limit: int,
            after: str | None) -> tuple[list[LogLine], str, bool]:
        lines: list[LogLine] = []
        token, position, more = "", after or "", False
        # Bounded: each page advances; at most limit / LOG_PAGE_SIZE + 1 pages.
        while len(lines) < limit:
            page = self._client.segment_changes_page(ids, customer_id=customer or "", from_ms=from_ms, to_ms=to_ms,
                                                     page_size=min(LOG_PAGE_SIZE, limit - len(lines)),
                                                     page_token=token, position_token="" if token else position)
            lines.extend(_line(c) for c in page.changes)
            token, position, more = page.next_page_token, page.position_token, bool(page.next_page_token)
            if not more:
                break
        return lines, position, more


@contextmanager
def remote_segments(server: str, options: dict[str, Any]) -> Iterator[RemoteSegments]:
    """`options`: token and TLS (service/auth_cli_options.py)."""
    with SegmentsClient(server, **options) as client:
        try:
            yield RemoteSegments(client)
        except SegmentsError as exc:
            raise _failure(exc, server) from exc


def run_watch(args: argparse.Namespace) -> int:
    """Print changes as they come until --max changes, --timeout seconds, or Ctrl-C; then the position
    to resume from (on stderr, or in the last JSON line)."""
    from service.cli_segments import CommandError

    if args.max is not None and args.max < 1:
        raise CommandError("--max must be at least 1")
    seen = 0
    with SegmentsClient(args.server, **client_options(args)) as client, client.watch(args.ids, position_token=args.from_ or "") as stream:
        timer = threading.Timer(args.timeout, stream.close) if args.timeout else None
        if timer is not None:
            timer.start()
        previous = signal.signal(signal.SIGINT, lambda *_: stream.close())
        try:
            for message in stream:
                if message.heartbeat and args.heartbeats:
                    print(json.dumps({"heartbeat": message.server_time_ms, "position": message.position_token})
                          if args.json else f"heartbeat  server time {message.server_time_ms}", flush=True)
                for change in message.changes:
                    line = _line(change)
                    print(json.dumps({**line.__dict__, "position": message.position_token}) if args.json
                          else change_text(line), flush=True)
                seen += len(message.changes)
                if args.max is not None and seen >= args.max:
                    break
        except SegmentsError as exc:
            raise _failure(exc, args.server) from exc
        finally:
            signal.signal(signal.SIGINT, previous)
            if timer is not None:
                timer.cancel()
        print(f"{seen} changes; resume with --from {stream.position_token}", file=sys.stderr)
    return embedded.EXIT_OK
