"""`segments segment ...`: saved segments from the command line, on a server or on a data directory.

    segments segment create NAME (--rule RULE | --template TPL) [--id ID] [--description TEXT] [--tag T]...
                            [--inactive]
    segments segment edit ID [--name NAME] [--rule RULE] [--description TEXT] [--tag T]... [--clear-tags]
                             [--active | --inactive]
    segments segment show ID [--version N] [--deleted]        segments segment versions ID
    segments segment list [--name TEXT] [--tag T] [--deleted] segments segment templates
    segments segment delete ID                                segments segment rollback ID VERSION
    segments segment attach ID CAMPAIGN [--inactive]          segments segment detach ID CAMPAIGN
    segments segment dry-run ID RULE [--as-of T] [--samples N]
    segments segment count ID [--as-of T]                     segments segment members ID [--as-of T]
    segments segment sizes ID
    segments segment log [ID...] [--customer C] [--from T] [--to T] [--limit N] [--after TOKEN]
    segments segment watch [ID...] --server HOST:PORT [--from TOKEN] [--max N] [--timeout S]

Every command takes `--server HOST:PORT` (a `segments serve` server) or `--data-dir DIR` (a workspace
opened in this process; `watch` needs a server) and `--json`. Tables otherwise; times in UTC. The
tokens `log` and `watch` print are opaque positions: `--after` / `--from` resume right after them.
grpc is imported only for --server (service/cli_segments_remote.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from tqdm import tqdm

from indexes import cli as embedded
from indexes.durable.commands import CommandError, open_engine
from indexes.segments.views import DryRun, SegmentView
from indexes.values import format_timestamp_ms

DEFAULT_LOG_LIMIT = 100
MAX_LOG_LIMIT = 100_000
PAGE_SIZE = 5_000


@dataclasses.dataclass(frozen=True)
class LogLine:
    segment_id: str
    customer_id: str | None
    entered: bool
    at_ms: int
    reason: str
    event_id: str | None
    version: int | None
    upstream: str | None


class Segments(Protocol):
    """What the commands need, from a server (cli_segments_remote.py) or a data directory (below)."""

    def command(self, method: str, /, **kwargs: Any) -> SegmentView | None: ...

    def show(self, segment_id: str, version: int | None, deleted: bool) -> SegmentView: ...

    def versions(self, segment_id: str) -> list[SegmentView]: ...

    def search(self, name: str | None, tag: str | None, deleted: bool) -> list[SegmentView]: ...

    def templates(self) -> list[tuple[str, str, str, tuple[str, ...], str]]: ...

    def count(self, segment_id: str, as_of_ms: int | None) -> dict[str, Any]: ...

    def members(self, segment_id: str, as_of_ms: int | None) -> tuple[int, Iterator[str]]: ...

    def sizes(self, segment_id: str) -> list[tuple[str, int]]: ...

    def dry_run(self, segment_id: str, rule: Any, as_of_ms: int | None, samples: int) -> DryRun: ...

    def log(self, ids: list[str], customer: str | None, from_ms: int | None, to_ms: int | None, limit: int,
            after: str | None) -> tuple[list[LogLine], str, bool]:
        """(lines, position token after them, more waiting)."""
        ...


# --- a data directory ------------------------------------------------------------------------------
class LocalSegments:
    """The DurableEngine of a data directory; counts and members at now unless --as-of."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine

    def command(self, method: str, /, **kwargs: Any) -> SegmentView | None:
        given = {key: value for key, value in kwargs.items() if value is not None}  # None: the engine's default
        return getattr(self._engine, method)(**given)  # type: ignore[no-any-return]

    def show(self, segment_id: str, version: int | None, deleted: bool) -> SegmentView:
        return self._engine.get_segment(segment_id, version=version, include_deleted=deleted)  # type: ignore[no-any-return]

    def versions(self, segment_id: str) -> list[SegmentView]:
        return self._engine.segment_versions(segment_id, include_deleted=True)  # type: ignore[no-any-return]

    def search(self, name: str | None, tag: str | None, deleted: bool) -> list[SegmentView]:
        return self._engine.list_segments(name_contains=name, tag=tag, include_deleted=deleted)  # type: ignore[no-any-return]

    def templates(self) -> list[tuple[str, str, str, tuple[str, ...], str]]:
        from indexes.rules import format_rule
        from indexes.rules.json_form import rule_from_json

        schema = self._engine.schema
        return [(t.id, t.name, t.description, t.tags, format_rule(rule_from_json(t.rule, schema)))
                for t in self._engine.segment_templates()]

    def count(self, segment_id: str, as_of_ms: int | None) -> dict[str, Any]:
        from indexes.engine import now_ms
        from indexes.segments.materialized import members_at

        at_ms = now_ms() if as_of_ms is None else as_of_ms
        with self._engine.read_state() as inner:
            count = len(members_at(inner, segment_id, at_ms))
            live = inner.segments
            return {"count": count, "as_of_ms": at_ms, "clock_ms": live.clock_ms,
                    "last_update_ms": live.last_change_ms.get(segment_id), "active": segment_id in live.active_ids()}

    def members(self, segment_id: str, as_of_ms: int | None) -> tuple[int, Iterator[str]]:
        from indexes.engine import now_ms
        from indexes.segments.materialized import members_at

        at_ms = now_ms() if as_of_ms is None else as_of_ms
        with self._engine.read_state() as inner:
            ids = sorted(inner.shard.ids.externals(members_at(inner, segment_id, at_ms)))
        return len(ids), iter(ids)

    def sizes(self, segment_id: str) -> list[tuple[str, int]]:
        return [(day.isoformat(), count) for day, count in self._engine.segment_stats(segment_id).daily_sizes]

    def dry_run(self, segment_id: str, rule: Any, as_of_ms: int | None, samples: int) -> DryRun:
        from indexes.engine import now_ms

        at_ms = now_ms() if as_of_ms is None else as_of_ms
        return self._engine.dry_run_edit(segment_id, rule, as_of_ms=at_ms, samples=samples)  # type: ignore[no-any-return]

    def log(self, ids: list[str], customer: str | None, from_ms: int | None, to_ms: int | None, limit: int,
            after: str | None) -> tuple[list[LogLine], str, bool]:
        from actors.api_segments import ShardPosition
        from service.cursor_token import decode_position, encode_position

        epoch: int | None = None
        after_seq: int | None = None
        if after:
            position = decode_position(after)
            if len(position) != 1:
                raise CommandError(f"--after: a position of {len(position)} shards; a data directory is one")
            epoch, after_seq = (None if position[0].epoch < 0 else position[0].epoch), position[0].after_seq
        lines: list[LogLine] = []
        more = False
        # Bounded: each page advances the position; at most limit / PAGE_SIZE + 1 pages.
        while len(lines) < limit:
            page = self._engine.segment_changes(ids or None, after_seq=after_seq, customer_id=customer, from_ms=from_ms,
                                                to_ms=to_ms, limit=min(PAGE_SIZE, limit - len(lines)), epoch=epoch)
            lines.extend(LogLine(e.segment_id, e.customer_id, e.entered, e.at_ms, e.reason, e.event_id, e.version,
                                 e.upstream) for e in page.entries)
            epoch, after_seq = page.epoch, page.next_after_seq
            more = page.next_after_seq + 1 < page.end_seq
            if not more:
                break
        return lines, encode_position((ShardPosition(page.epoch, after_seq),)), more


# --- output ----------------------------------------------------------------------------------------
def _time(ms: int | None) -> str:
    return "-" if ms is None or ms <= 0 else format_timestamp_ms(ms)


def _cell(value: Any) -> str:
    return "-" if value is None else " ".join(str(value).split())  # rule texts span lines


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[str(h) for h in headers]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for number, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if number == 0:
            print("  ".join("-" * w for w in widths))


def _json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, default=str, indent=1))


def _view_json(view: SegmentView) -> dict[str, Any]:
    out = dataclasses.asdict(view)
    out["campaigns"] = [{"campaign_id": c, "active": a} for c, a in view.campaigns]
    return out


def _show(view: SegmentView) -> None:
    state = "deleted" if view.deleted else ("active" if view.active else "inactive")
    print(f"{view.id}  {view.name}  (version {view.version} of {view.latest_version}, {state})")
    if view.description:
        print(f"  description  {view.description}")
    print("  rule         " + view.rule_text.replace("\n", "\n" + " " * 15))
    print(f"  tags         {', '.join(view.tags) or '-'}")
    made = f"{view.op}" + (f" of version {view.from_version}" if view.from_version else "")
    print(f"  version      {_time(view.version_at_ms)} ({made}); created {_time(view.created_at_ms)}, "
          f"updated {_time(view.updated_at_ms)}")
    campaigns = ", ".join(f"{c}{'' if a else ' (inactive)'}" for c, a in view.campaigns)
    print(f"  campaigns    {campaigns or '-'}")


def _print_segment(args: argparse.Namespace, view: SegmentView | None, what: str) -> None:
    if view is None:
        return
    if args.json:
        _json(_view_json(view))
    else:
        print(what)
        _show(view)


def _line_json(line: LogLine) -> dict[str, Any]:
    return dataclasses.asdict(line)


def print_changes(lines: Sequence[LogLine]) -> None:
    for line in lines:
        print(change_text(line))


def change_text(line: LogLine) -> str:
    why = line.reason
    if line.event_id:
        why += f" {line.event_id}"
    if line.version is not None:
        why += f" v{line.version}"
    if line.upstream:
        why += f" {line.upstream}"
    who = line.customer_id if line.customer_id is not None else "(erased)"
    return f"{_time(line.at_ms)}  {'+' if line.entered else '-'}  {line.segment_id}  {who}  {why}"


# --- commands --------------------------------------------------------------------------------------
def _time_argument(value: str | None, option: str) -> int | None:
    if value is None:
        return None
    try:
        return embedded.parse_as_of(value)
    except embedded.CliError as exc:
        raise CommandError(str(exc).replace("--as-of", option)) from exc


def run_command(args: argparse.Namespace, segments: Segments) -> int:
    name = args.segment_command
    if name == "create":
        if (args.rule is None) == (args.template is None):
            raise CommandError("give --rule RULE or --template TEMPLATE_ID")
        common = {"segment_id": args.id, "active": not args.inactive}
        if args.template is not None:
            view = segments.command("create_from_template", template_id=args.template, name=args.name or None,
                                    description=args.description, tags=args.tag or None, **common)
        else:
            if not args.name:
                raise CommandError("give the segment's NAME")
            view = segments.command("create_segment", name=args.name, rule=embedded.read_rule_argument(args.rule),
                                    description=args.description or "", tags=args.tag or (), **common)
        _print_segment(args, view, "created")
    elif name == "edit":
        if args.clear_tags and args.tag:
            raise CommandError("--clear-tags and --tag exclude each other")
        tags = [] if args.clear_tags else (args.tag or None)
        rule = None if args.rule is None else embedded.read_rule_argument(args.rule)
        view = segments.command("edit_segment", segment_id=args.id, name=args.name, description=args.description,
                                rule=rule, tags=tags, active=args.active)
        _print_segment(args, view, "edited")
    elif name == "rollback":
        _print_segment(args, segments.command("rollback_segment", segment_id=args.id, version=args.version), "rolled back")
    elif name == "delete":
        segments.command("delete_segment", segment_id=args.id)
        print(json.dumps({"deleted": args.id}) if args.json else f"deleted {args.id}")
    elif name in ("attach", "detach"):
        extra = {"active": not args.inactive} if name == "attach" else {}
        view = segments.command(f"{name}_campaign", segment_id=args.id, campaign_id=args.campaign, **extra)
        _print_segment(args, view, f"{name}ed campaign {args.campaign}")
    elif name == "show":
        view = segments.show(args.id, args.version, args.deleted)
        _json(_view_json(view)) if args.json else _show(view)
    elif name == "versions":
        views = segments.versions(args.id)
        if args.json:
            _json([_view_json(v) for v in views])
        else:
            _table([(v.version, v.op + (f" {v.from_version}" if v.from_version else ""), _time(v.version_at_ms), v.name,
                     "yes" if v.active else "no", v.rule_text) for v in views],
                   ("version", "made by", "at", "name", "active", "rule"))
    elif name == "list":
        views = segments.search(args.name, args.tag, args.deleted)
        if args.json:
            _json([_view_json(v) for v in views])
        else:
            _table([(v.id, v.name, v.latest_version, "deleted" if v.deleted else ("active" if v.active else "inactive"),
                     ",".join(v.tags), _time(v.updated_at_ms)) for v in views],
                   ("id", "name", "version", "state", "tags", "updated"))
    elif name == "templates":
        found = segments.templates()
        if args.json:
            _json([{"id": t[0], "name": t[1], "description": t[2], "tags": list(t[3]), "rule": t[4]} for t in found])
        else:
            _table([(t[0], t[1], ",".join(t[3]), t[4]) for t in found], ("template", "name", "tags", "rule"))
    elif name == "count":
        counted = segments.count(args.id, _time_argument(args.as_of, "--as-of"))
        if args.json:
            _json(counted)
        else:
            print(counted["count"])
    elif name == "members":
        total, ids = segments.members(args.id, _time_argument(args.as_of, "--as-of"))
        bar = tqdm(total=total, unit="id", file=sys.stderr, disable=args.quiet or not sys.stderr.isatty(), leave=False)
        listed = []
        for customer_id in ids:
            bar.update()
            if args.json:
                listed.append(customer_id)
            else:
                print(customer_id)
        bar.close()
        if args.json:
            _json({"count": total, "members": listed})
    elif name == "sizes":
        days = segments.sizes(args.id)
        _json([{"date": d, "count": c} for d, c in days]) if args.json else _table(days, ("date", "members"))
    elif name == "dry-run":
        run = segments.dry_run(args.id, embedded.read_rule_argument(args.rule), _time_argument(args.as_of, "--as-of"),
                               args.samples)
        if args.json:
            _json(dataclasses.asdict(run))
        else:
            print(f"at {_time(run.as_of_ms)}: {run.before_count} -> {run.after_count} members "
                  f"({run.entering} would enter, {run.exiting} would exit); nothing saved")
            if run.entering_samples:
                print(f"  entering, e.g.  {' '.join(run.entering_samples)}")
            if run.exiting_samples:
                print(f"  exiting, e.g.   {' '.join(run.exiting_samples)}")
    elif name == "log":
        if not 1 <= args.limit <= MAX_LOG_LIMIT:
            raise CommandError(f"--limit must be 1..{MAX_LOG_LIMIT}")
        lines, position, more = segments.log(args.ids, args.customer, _time_argument(args.from_, "--from"),
                                             _time_argument(args.to, "--to"), args.limit, args.after)
        if args.json:
            _json({"changes": [_line_json(x) for x in lines], "position": position, "more": more})
        else:
            print_changes(lines)
            hint = "more: " if more else "the end; to continue later: "
            print(f"{len(lines)} changes; {hint}--after {position}", file=sys.stderr)
    else:
        raise CommandError(f"unknown segment command {name!r}")
    return embedded.EXIT_OK


def _location(args: argparse.Namespace) -> None:
    if bool(args.server) == bool(args.data_dir):
        raise CommandError("give either --server HOST:PORT or --data-dir DIR")


@contextmanager
def _local(args: argparse.Namespace) -> Iterator[Segments]:
    from indexes.segments.errors import PositionExpiredError, SegmentError

    with open_engine(args.data_dir) as engine:
        try:
            yield LocalSegments(engine)
        except (SegmentError, PositionExpiredError) as exc:
            raise CommandError(str(exc)) from exc


def run_segment(args: argparse.Namespace) -> int:
    _location(args)
    if args.server:
        from service.auth_cli_options import client_options
        from service.cli_segments_remote import remote_segments, run_watch  # grpc only with --server

        if args.segment_command == "watch":
            return run_watch(args)
        with remote_segments(args.server, client_options(args)) as segments:
            return run_command(args, segments)
    if args.segment_command == "watch":
        raise CommandError("watch follows a server: give --server HOST:PORT (a data directory has one reader)")
    with _local(args) as segments:
        return run_command(args, segments)


# --- parser ----------------------------------------------------------------------------------------
def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", metavar="HOST:PORT", help="a `segments serve` server")
    parser.add_argument("--data-dir", help="a workspace's data directory (opened in this process)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def register(commands: Any) -> None:
    segment = commands.add_parser("segment", help="saved segments: create, edit, list, count, log, watch ...")
    sub = segment.add_subparsers(dest="segment_command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text)
        _common(parser)
        parser.set_defaults(handler=run_segment)
        return parser

    create = command("create", "save a segment (from a rule or a template)")
    create.add_argument("name", nargs="?", default="", help="its name (default with --template: the template's)")
    create.add_argument("--rule", help="rule: text form, JSON, or @file")
    create.add_argument("--template", help="copy this template (see `segment templates`)")
    create.add_argument("--id", help="its id (default: generated, seg_<n>)")
    create.add_argument("--description")
    create.add_argument("--tag", action="append", help="a tag; repeatable")
    create.add_argument("--inactive", action="store_true", help="save it without materializing it")

    edit = command("edit", "change a segment (a new version)")
    edit.add_argument("id")
    edit.add_argument("--name")
    edit.add_argument("--rule", help="rule: text form, JSON, or @file")
    edit.add_argument("--description")
    edit.add_argument("--tag", action="append", help="the new tags (all of them); repeatable")
    edit.add_argument("--clear-tags", action="store_true", help="remove every tag")
    active = edit.add_mutually_exclusive_group()
    active.add_argument("--active", dest="active", action="store_true", default=None)
    active.add_argument("--inactive", dest="active", action="store_false")

    show = command("show", "a segment's definition (any version)")
    show.add_argument("id")
    show.add_argument("--version", type=int)
    show.add_argument("--deleted", action="store_true", help="also a deleted segment")
    command("versions", "every version of a segment").add_argument("id")
    search = command("list", "segments, by name and tag")
    search.add_argument("--name", help="name contains (case-insensitive)")
    search.add_argument("--tag")
    search.add_argument("--deleted", action="store_true", help="deleted ones too")
    command("delete", "delete a segment nothing active uses").add_argument("id")
    rollback = command("rollback", "a new version equal to an older one")
    rollback.add_argument("id")
    rollback.add_argument("version", type=int)
    for verb in ("attach", "detach"):
        parser = command(verb, f"{verb} a campaign using the segment")
        parser.add_argument("id")
        parser.add_argument("campaign")
        if verb == "attach":
            parser.add_argument("--inactive", action="store_true", help="a campaign that does not block deletion")
    dry = command("dry-run", "what a new rule would change, without saving")
    dry.add_argument("id")
    dry.add_argument("rule", help="rule: text form, JSON, or @file")
    dry.add_argument("--as-of", help="RFC 3339, epoch ms or 'now' (default)")
    dry.add_argument("--samples", type=int, default=10, help="ids to show of each side (default 10)")
    command("templates", "the ready-made segments")
    for verb, text in (("count", "a segment's member count"), ("members", "a segment's member ids")):
        parser = command(verb, text)
        parser.add_argument("id")
        parser.add_argument("--as-of", help="RFC 3339, epoch ms or 'now' (default)")
        if verb == "members":
            parser.add_argument("--quiet", action="store_true", help="no progress bar")
    command("sizes", "member counts at the end of each day").add_argument("id")
    log = command("log", "the membership change log, with reasons")
    log.add_argument("ids", nargs="*", metavar="ID", help="segments (default: all)")
    log.add_argument("--customer")
    log.add_argument("--from", dest="from_", metavar="T", help="entries at or after T")
    log.add_argument("--to", metavar="T", help="entries at or before T")
    log.add_argument("--limit", type=int, default=DEFAULT_LOG_LIMIT, help=f"entries at most (default {DEFAULT_LOG_LIMIT})")
    log.add_argument("--after", metavar="TOKEN", help="continue after this position (printed by log and watch)")
    watch = command("watch", "follow membership changes live (with --server)")
    watch.add_argument("ids", nargs="*", metavar="ID", help="segments (default: all)")
    watch.add_argument("--from", dest="from_", metavar="TOKEN", help="resume after this position")
    watch.add_argument("--max", type=int, help="stop after this many changes")
    watch.add_argument("--timeout", type=float, help="stop after this many seconds")
    watch.add_argument("--heartbeats", action="store_true", help="print heartbeats too")
