"""`segments explain | insights | export | profile`: what a marketing team reads off a segment, on record
files (--input) or a workspace's data directory (--data-dir), without a server.

    segments explain  --customer C RULE                       why C is in or out, node by node
    segments insights [--window-days N] [--top K] RULE        the segment against all customers
    segments export   --columns a,b,c [--mandatory a] [--out FILE] RULE    CSV, streamed
    segments profile  --customer C [--recent N]               one customer's values and latest events
    segments profiles --columns a,b [--sort-by c] [--descending] [--limit N] RULE   members with columns
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm

from indexes.cli import EXIT_OK, CliError, load_inputs, parse_as_of, read_rule_argument
from indexes.durable.commands import open_engine
from indexes.engine import Engine
from indexes.explain import UnknownCustomerError, explain_customer, render_explanation
from indexes.export import write_csv
from indexes.insights import MAX_WINDOW_DAYS, engine_insights
from indexes.insights_text import insights_json, render_insights
from indexes.profile_pages import profile_page
from indexes.profiles import MAX_COLUMNS, UnknownColumnError, customer_profile
from indexes.timecal import TimeZoneError
from indexes.values import format_timestamp_ms


@contextmanager
def workspace(args: argparse.Namespace) -> Iterator[Engine]:
    """The engine of --data-dir (its state held for the whole command) or one loaded from --input."""
    if bool(args.input) == bool(args.data_dir):
        raise CliError("give either --input FILE... or --data-dir DIR")
    if args.data_dir:
        with open_engine(args.data_dir, args.tz) as durable, durable.read_state() as engine:
            yield engine
        return
    try:
        engine = Engine(tz=args.tz or "UTC")
    except TimeZoneError as exc:
        raise CliError(f"--tz: {exc}") from exc
    rule = getattr(args, "rule", None)
    if rule is not None:
        engine.load_rule(read_rule_argument(rule))  # a bad rule fails before the files are read
    load_inputs(engine, args.input, progress=not args.quiet and sys.stderr.isatty())
    yield engine


def command_explain(args: argparse.Namespace) -> int:
    as_of = parse_as_of(args.as_of)
    with workspace(args) as engine:
        try:
            explanation = explain_customer(engine, read_rule_argument(args.rule), args.customer, as_of)
        except UnknownCustomerError as exc:
            raise CliError(f"--customer: no customer {args.customer!r} in this workspace") from exc
    if args.json:
        print(json.dumps({"customer_id": explanation.customer_id, "as_of": format_timestamp_ms(as_of),
                          "member": explanation.node.holds, "tree": explanation.node.to_json()}, ensure_ascii=False))
    else:
        print(render_explanation(explanation))
    return EXIT_OK


def command_insights(args: argparse.Namespace) -> int:
    if not 1 <= args.window_days <= MAX_WINDOW_DAYS:
        raise CliError(f"--window-days: 1..{MAX_WINDOW_DAYS}")
    if args.top < 1:
        raise CliError("--top: at least 1")
    as_of = parse_as_of(args.as_of)
    with workspace(args) as engine:
        members = engine.evaluate(read_rule_argument(args.rule), as_of)
        report = engine_insights(engine.shard, members, as_of, window_days=args.window_days, top=args.top)
    print(json.dumps(insights_json(report), ensure_ascii=False) if args.json else render_insights(report))
    return EXIT_OK


def command_export(args: argparse.Namespace) -> int:
    columns = [c.strip() for c in args.columns.split(",") if c.strip()]
    mandatory = [c.strip() for c in (args.mandatory or "").split(",") if c.strip()]
    if not 1 <= len(columns) <= MAX_COLUMNS:
        raise CliError(f"--columns: 1..{MAX_COLUMNS} comma-separated names")
    as_of = parse_as_of(args.as_of)
    with workspace(args) as engine, _output(args.out) as out:
        members = engine.evaluate(read_rule_argument(args.rule), as_of)
        with tqdm(total=len(members), unit="rows", disable=args.quiet or not sys.stderr.isatty(),
                  file=sys.stderr) as bar:
            def advance(rows_done: int) -> None:
                bar.update(rows_done - bar.n)

            try:
                result = write_csv(engine.shard, members, columns, out, as_of_ms=as_of, mandatory=mandatory,
                                   progress=advance)
            except (UnknownColumnError, ValueError) as exc:
                raise CliError(f"--columns: {exc}") from exc
    print(f"{result.rows} rows exported; {result.left_out} of {result.members} members left out "
          f"(missing {', '.join(mandatory) or 'nothing'})", file=sys.stderr)
    return EXIT_OK


def profile_columns(args: argparse.Namespace) -> list[str]:
    columns = [c.strip() for c in args.columns.split(",") if c.strip()]
    if not 1 <= len(columns) <= MAX_COLUMNS:
        raise CliError(f"--columns: 1..{MAX_COLUMNS} comma-separated names")
    if args.limit < 1:
        raise CliError("--limit: at least 1")
    return columns


def print_profiles(rows: Iterator[tuple[str, list[str | None]]], columns: list[str], as_json: bool) -> None:
    """One member per line: JSON objects, or tab-separated values under a header (missing: empty)."""
    if not as_json:
        print("\t".join(["customer_id", *columns]))
    for customer_id, values in rows:
        if as_json:
            print(json.dumps({"customer_id": customer_id, **dict(zip(columns, values, strict=True))},
                             ensure_ascii=False))
        else:
            print("\t".join([customer_id, *("" if v is None else str(v) for v in values)]))


def command_profiles(args: argparse.Namespace) -> int:
    columns = profile_columns(args)
    as_of = parse_as_of(args.as_of)
    with workspace(args) as engine:
        members = engine.evaluate(read_rule_argument(args.rule), as_of)
        try:
            page = profile_page(engine.shard, members, as_of, columns, args.sort_by, args.descending, None, args.limit)
        except (UnknownColumnError, ValueError) as exc:
            raise CliError(f"--columns/--sort-by: {exc}") from exc
    print_profiles(((key[2], values) for key, values in page.rows), columns, args.json)
    print(f"{len(page.rows)} of {page.count} members", file=sys.stderr)
    return EXIT_OK


@contextmanager
def _output(path: str | None) -> Iterator[Any]:
    if path in (None, "-"):
        yield sys.stdout
        return
    try:
        with open(path, "w", encoding="utf-8", newline="") as out:  # type: ignore[arg-type]
            yield out
    except OSError as exc:
        raise CliError(f"--out: {exc}") from exc


def command_profile(args: argparse.Namespace) -> int:
    if not 0 <= args.recent <= 200:
        raise CliError("--recent: 0..200")
    as_of = parse_as_of(args.as_of)
    with workspace(args) as engine:
        profile = customer_profile(engine.shard, args.customer, as_of, args.recent)
    if profile is None:
        raise CliError(f"--customer: no customer {args.customer!r} in this workspace")
    out = {"customer_id": profile.customer_id, "properties": profile.properties, "computed": profile.computed,
           "recent_events": [{"type": t, "ts": ts, "attrs": attrs} for t, ts, attrs in profile.recent_events]}
    print(json.dumps(out, ensure_ascii=False, indent=None if args.json else 2))
    return EXIT_OK


def _common(parser: argparse.ArgumentParser, rule: bool = True) -> None:
    parser.add_argument("--input", action="append", help="JSON Lines file (.gz ok); repeatable")
    parser.add_argument("--data-dir", help="a workspace's data directory instead of --input files")
    parser.add_argument("--as-of", help="reference time: RFC 3339, epoch ms or 'now' (default)")
    parser.add_argument("--tz", help="IANA time zone (default UTC); with --data-dir it must match the workspace")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    if rule:
        parser.add_argument("rule", help="rule: text form, JSON, or @file")


def register_reports(commands: Any) -> None:
    explain = commands.add_parser("explain", help="why a customer is in or out of a rule: each node's answer and values")
    explain.add_argument("--customer", required=True, help="customer id")
    explain.add_argument("--json", action="store_true", help="print the tree as JSON")
    _common(explain)
    explain.set_defaults(handler=command_explain)

    insights = commands.add_parser("insights", help="a segment against all customers: orders, revenue, LTV, tops")
    insights.add_argument("--window-days", type=int, default=30, help="window of the viewed/bought tops (days)")
    insights.add_argument("--top", type=int, default=10, help="values per top list (default 10)")
    insights.add_argument("--json", action="store_true", help="print JSON")
    _common(insights)
    insights.set_defaults(handler=command_insights)

    export = commands.add_parser("export", help="CSV of a segment's members with chosen columns, streamed")
    export.add_argument("--columns", required=True, help="comma-separated: customer_id, properties, computed ones")
    export.add_argument("--mandatory", help="comma-separated columns a row must have (others are left out)")
    export.add_argument("--out", help="file to write (default stdout)")
    _common(export)
    export.set_defaults(handler=command_export)

    profile = commands.add_parser("profile", help="one customer's properties, computed values and latest events")
    profile.add_argument("--customer", required=True, help="customer id")
    profile.add_argument("--recent", type=int, default=20, help="latest events to show (default 20)")
    profile.add_argument("--json", action="store_true", help="one line of JSON")
    _common(profile, rule=False)
    profile.set_defaults(handler=command_profile)

    profiles = commands.add_parser("profiles", help="a segment's members with chosen columns, sorted by one")
    profiles.add_argument("--columns", required=True, help="comma-separated: properties and computed ones")
    profiles.add_argument("--sort-by", default="customer_id", help="column to sort by (default customer_id)")
    profiles.add_argument("--descending", action="store_true", help="largest values first (missing ones last)")
    profiles.add_argument("--limit", type=int, default=20, help="members to list (default 20)")
    profiles.add_argument("--json", action="store_true", help="one JSON object per member")
    _common(profiles)
    profiles.set_defaults(handler=command_profiles)
