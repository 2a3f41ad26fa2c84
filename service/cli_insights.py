"""`--server HOST:PORT` forms of `segments insights | explain | export | profile` (the local ones are
indexes/cli_reports.py, whose arguments they reuse), `--segment ID` as an alternative to a rule, and
`segments summarize RULE|--segment ID [--lang en|tr|de]`.

    segments insights --server 127.0.0.1:50051 --segment vip --top 5
    segments explain  --server 127.0.0.1:50051 --segment vip --customer c42
    segments export   --server 127.0.0.1:50051 --segment vip --columns customer_id,email --out vip.csv
    segments export   --server 127.0.0.1:50051 --segment vip --columns customer_id,email --server-file vip.csv
    segments profile  --server 127.0.0.1:50051 --customer c42
    segments profiles --server 127.0.0.1:50051 --segment vip --columns email,lifetime_value \
        --sort-by lifetime_value --descending --limit 50
    segments summarize --server 127.0.0.1:50051 --segment vip --lang tr
    segments export-schedule create --server 127.0.0.1:50051 --segment vip --every daily \
        --columns customer_id,email [--mode changes]
    segments export-schedule list|delete ID|runs ID --server 127.0.0.1:50051
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from typing import Any

from tqdm import tqdm

from indexes import cli as embedded
from indexes.cli_reports import _output, command_export, command_insights, print_profiles, profile_columns
from indexes.explain import render_explanation
from indexes.insights_text import insights_json, render_insights
from indexes.values import format_timestamp_ms

REPORTS = ("explain", "insights", "export", "profile", "profiles")


def extend_reports(commands: dict[str, argparse.ArgumentParser]) -> None:
    """--server and --segment on the report commands; their rule becomes optional."""
    for name in REPORTS:
        parser = commands[name]
        parser.add_argument("--server", metavar="HOST:PORT", help="run against a `segments serve` server")
        if name != "profile":
            parser.add_argument("--segment", metavar="ID", help="a saved segment instead of RULE (with --server)")
            for action in parser._actions:
                if action.dest == "rule":
                    action.nargs = "?"
                    action.required = False
            parser.set_defaults(handler=_local_with_rule(parser.get_default("handler")))
        if name == "export":
            parser.add_argument("--server-file", metavar="NAME",
                                help="with --server: write DATA_DIR/exports/NAME on the server instead")


def _local_with_rule(handler: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        if args.segment is not None:
            raise embedded.CliError("--segment needs --server (saved segments live on the server)")
        if args.rule is None:
            raise embedded.CliError("give a RULE (or --server with --segment ID)")
        return int(handler(args))

    return run


def register_summarize(commands: Any) -> None:
    summarize = commands.add_parser("summarize", help="a rule or saved segment in plain words (en, tr, de)")
    summarize.add_argument("--server", metavar="HOST:PORT", required=True, help="a `segments serve` server")
    summarize.add_argument("--segment", metavar="ID", help="a saved segment instead of RULE")
    summarize.add_argument("--lang", default="en", choices=("en", "tr", "de"), help="language (default en)")
    summarize.add_argument("--json", action="store_true", help="print the summary and the rule's text form")
    summarize.add_argument("rule", nargs="?", help="rule: text form, JSON, or @file")


def _target(args: argparse.Namespace) -> dict[str, Any]:
    if (args.rule is None) == (args.segment is None):
        raise embedded.CliError("give a RULE or --segment ID (one of them)")
    if args.segment is not None:
        return {"segment_id": args.segment}
    return {"rule": embedded.read_rule_argument(args.rule)}


def _as_of(args: argparse.Namespace) -> int:
    return embedded.parse_as_of(getattr(args, "as_of", None))


def remote_summarize(args: argparse.Namespace, client: Any) -> int:
    summary, text = client.summarize(language=args.lang, **_target(args))
    if args.json:
        print(json.dumps({"summary": summary, "rule": text, "language": args.lang}, ensure_ascii=False))
    else:
        print(summary)
    return embedded.EXIT_OK


def remote_insights(args: argparse.Namespace, client: Any) -> int:
    if not 1 <= args.window_days <= 3660 or args.top < 1:
        return int(command_insights(args))  # the local command's argument errors
    report = client.insights(as_of_ms=_as_of(args), window_days=args.window_days, top=args.top, **_target(args))
    print(json.dumps(insights_json(report), ensure_ascii=False) if args.json else render_insights(report))
    return embedded.EXIT_OK


def remote_explain(args: argparse.Namespace, client: Any) -> int:
    explanation = client.explain(args.customer, as_of_ms=_as_of(args), **_target(args))
    if args.json:
        print(json.dumps({"customer_id": explanation.customer_id, "as_of": format_timestamp_ms(explanation.as_of_ms),
                          "member": explanation.node.holds, "tree": explanation.node.to_json()}, ensure_ascii=False))
    else:
        print(render_explanation(explanation))
    return embedded.EXIT_OK


def remote_export(args: argparse.Namespace, client: Any) -> int:
    columns = [c.strip() for c in args.columns.split(",") if c.strip()]
    mandatory = [c.strip() for c in (args.mandatory or "").split(",") if c.strip()]
    if not columns:
        return int(command_export(args))
    target = _target(args)
    if args.server_file:
        outcome = client.export_to_file(columns, mandatory=mandatory, as_of_ms=_as_of(args),
                                        file_name=args.server_file, **target)
        print(f"{outcome.rows} rows exported to {outcome.path} on the server; {outcome.left_out} of "
              f"{outcome.members} members left out (missing {', '.join(mandatory) or 'nothing'})", file=sys.stderr)
        return embedded.EXIT_OK
    with _output(args.out) as out, tqdm(unit="rows", disable=args.quiet or not sys.stderr.isatty(),
                                        file=sys.stderr) as bar:
        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        outcome = client.export(out, columns, mandatory=mandatory, as_of_ms=_as_of(args), progress=advance, **target)
    print(f"{outcome.rows} rows exported; {outcome.left_out} of {outcome.members} members left out "
          f"(missing {', '.join(mandatory) or 'nothing'})", file=sys.stderr)
    return embedded.EXIT_OK


def remote_profile(args: argparse.Namespace, client: Any) -> int:
    if not 0 <= args.recent <= 200:
        raise embedded.CliError("--recent: 0..200")
    profile = client.customer_profile(args.customer, recent=args.recent, as_of_ms=_as_of(args))
    out = {"customer_id": profile.customer_id, "properties": profile.properties, "computed": profile.computed,
           "recent_events": [{"type": t, "ts": ts, "attrs": attrs} for t, ts, attrs in profile.recent_events]}
    print(json.dumps(out, ensure_ascii=False, indent=None if args.json else 2))
    return embedded.EXIT_OK


def remote_profiles(args: argparse.Namespace, client: Any) -> int:
    columns = profile_columns(args)
    target = _target(args)
    rows = client.member_profiles(columns, target.get("rule"), segment_id=target.get("segment_id"),
                                  sort_by=args.sort_by, descending=args.descending,
                                  page_size=min(args.limit, 1_000), as_of_ms=_as_of(args))
    listed = ((customer_id, [values[c] for c in columns]) for customer_id, values in itertools.islice(rows, args.limit))
    print_profiles(listed, columns, args.json)
    return embedded.EXIT_OK


REMOTE_COMMANDS = {"insights": remote_insights, "explain": remote_explain, "export": remote_export,
                   "profile": remote_profile, "profiles": remote_profiles, "summarize": remote_summarize}


def register_export_schedule(commands: Any) -> None:
    """`segments export-schedule create|list|delete|runs --server HOST:PORT ...`."""
    parser = commands.add_parser("export-schedule", help="scheduled exports of saved segments (on a server)")
    sub = parser.add_subparsers(dest="schedule_command", required=True)
    create = sub.add_parser("create", help="export a saved segment every hour, day or week")
    create.add_argument("--segment", required=True, metavar="ID", help="the saved segment")
    create.add_argument("--every", required=True, choices=("hourly", "daily", "weekly"),
                        help="at the start of each hour / day / week (Monday) of the workspace time zone")
    create.add_argument("--mode", default="full", choices=("full", "changes"),
                        help="every member, or those who entered since the last run")
    create.add_argument("--columns", required=True, help="comma-separated columns")
    create.add_argument("--mandatory", help="comma-separated columns a row must have")
    create.add_argument("--id", default="", help="the schedule's id (default: generated)")
    listing = sub.add_parser("list", help="the scheduled exports")
    listing.add_argument("--segment", default="", metavar="ID", help="only this segment's")
    listing.add_argument("--include-deleted", action="store_true", help="deleted ones too")
    delete = sub.add_parser("delete", help="stop a scheduled export (files and history stay)")
    delete.add_argument("schedule", help="schedule id")
    runs = sub.add_parser("runs", help="a schedule's runs, newest first")
    runs.add_argument("schedule", help="schedule id")
    runs.add_argument("--limit", type=int, default=20, help="runs to show (default 20)")
    for command in (create, listing, delete, runs):
        command.add_argument("--server", metavar="HOST:PORT", required=True, help="a `segments serve` server")
        command.add_argument("--json", action="store_true", help="print JSON")


def _when(ms: int) -> str:
    return format_timestamp_ms(ms) if ms else "-"


def remote_export_schedule(args: argparse.Namespace, client: Any) -> int:
    from google.protobuf.json_format import MessageToDict

    action = args.schedule_command
    if action == "runs":
        found = list(itertools.islice(client.export_runs(args.schedule), max(args.limit, 0)))
        if args.json:
            print(json.dumps([MessageToDict(r) for r in found]))
        for run in [] if args.json else found:
            print(f"{_when(run.due_ms)}  {run.mode:7}  {run.rows:>9} rows  {run.left_out:>7} left out  {run.path}")
        return embedded.EXIT_OK
    if action == "create":
        split = [c.strip() for c in args.columns.split(",") if c.strip()]
        schedules = [client.create_export_schedule(
            args.segment, split, every=args.every, mode=args.mode, schedule_id=args.id,
            mandatory=[c.strip() for c in (args.mandatory or "").split(",") if c.strip()])]
    elif action == "delete":
        schedules = [client.delete_export_schedule(args.schedule)]
    else:
        schedules = client.list_export_schedules(args.segment, include_deleted=args.include_deleted)
    if args.json:
        print(json.dumps([MessageToDict(s) for s in schedules]))
        return embedded.EXIT_OK
    for s in schedules:
        last = f"last run {_when(s.last_run.due_ms)} ({s.last_run.rows} rows)" if s.HasField("last_run") else "never run"
        print(f"{s.schedule_id}  segment {s.segment_id}  {s.every} {s.mode}  columns {','.join(s.columns)}  "
              f"{s.runs} runs, {last}{'  [deleted]' if s.deleted else ''}")
    return embedded.EXIT_OK


REMOTE_COMMANDS["export-schedule"] = remote_export_schedule
