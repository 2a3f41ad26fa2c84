"""`segments` command line, embedded mode (no server): eval and check; data-directory commands.

    segments eval --input data.jsonl.gz [--input more.jsonl] [--as-of T] [--tz ZONE] [--json]
                  [--members] RULE
    segments eval --data-dir DIR [--as-of T] [--json] [--members] RULE
    segments check RULE
    segments ingest | snapshot | rebuild | compact | stats | log verify | log repair  (--data-dir DIR;
                  indexes/durable/commands.py)

RULE is the text form, a JSON rule, or @path to a file holding either. Exit codes: 0 ok,
2 bad input (a record, a rule, an argument), with the file, line, field or rule path named.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pyroaring import BitMap

from indexes.durable.commands import CommandError, open_engine, register
from indexes.engine import Engine, now_ms
from indexes.explain import UnknownCustomerError, explain_customer, render_explanation
from indexes.insights import MAX_WINDOW_DAYS as MAX_INSIGHT_WINDOW_DAYS
from indexes.insights import engine_insights
from indexes.insights_text import insights_json, render_insights
from indexes.jsonl import JsonlError, read_batches
from indexes.records import RecordBatchError
from indexes.rules import RuleError, format_rule, rule_to_json
from indexes.rules.model import Node
from indexes.rules.summary import LANGUAGES, summarize
from indexes.timecal import TimeZoneError
from indexes.values import format_timestamp_ms, parse_timestamp_ms

EXIT_OK = 0
EXIT_BAD_INPUT = 2
LOAD_BATCH_RECORDS = 50_000


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def read_rule_argument(argument: str) -> Any:
    """Text, JSON text, or @file (whose content is either)."""
    text = argument
    if argument.startswith("@"):
        path = Path(argument[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot read rule file {path}: {exc.strerror}") from exc
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise CliError(f"rule JSON is malformed at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    return text


def parse_as_of(value: str | None) -> int:
    if value is None or value == "now":
        return now_ms()
    try:
        return parse_timestamp_ms(int(value) if value.lstrip("-").isdigit() else value)
    except ValueError as exc:
        raise CliError(f"--as-of: {exc}") from exc


def load_inputs(engine: Engine, paths: Sequence[str], progress: bool) -> int:
    """Ingest JSON Lines files batch by batch; a bad record stops with file:line, field and reason."""
    loaded = 0
    try:
        for batch in read_batches(list(paths), LOAD_BATCH_RECORDS, progress=progress):
            try:
                engine.ingest([obj for _, _, obj in batch])
            except RecordBatchError as exc:
                lines = []
                for error in exc.errors[:20]:
                    path, line, _ = batch[error.index]
                    lines.append(f"{path}:{line}: {error.field or 'record'}: {error.reason}")
                raise CliError("rejected records (nothing from this batch was loaded):\n  " + "\n  ".join(lines)) from exc
            loaded += len(batch)
    except JsonlError as exc:
        raise CliError(str(exc)) from exc
    except OSError as exc:
        raise CliError(f"cannot read input: {exc}") from exc
    return loaded


def command_eval(args: argparse.Namespace) -> int:
    if bool(args.input) == bool(args.data_dir):
        raise CliError("give either --input FILE... or --data-dir DIR")
    if args.data_dir:
        with open_engine(args.data_dir, args.tz) as durable:
            as_of = parse_as_of(args.as_of)
            rule = durable.load_rule(read_rule_argument(args.rule))
            return _print_eval(args, rule, as_of, durable.tz, durable.evaluate(rule, as_of), durable.externals)
    try:
        engine = Engine(tz=args.tz or "UTC")
    except TimeZoneError as exc:
        raise CliError(f"--tz: {exc}") from exc
    as_of = parse_as_of(args.as_of)
    rule = engine.load_rule(read_rule_argument(args.rule))
    load_inputs(engine, args.input, progress=not args.quiet and sys.stderr.isatty())
    members = engine.evaluate(rule, as_of)
    return _print_eval(args, rule, as_of, engine.tz, members, lambda dense: sorted(engine.shard.ids.externals(dense)))


def command_explain(args: argparse.Namespace) -> int:
    """Why one customer is in or out: the rule's tree with each node's answer and the customer's values."""
    if bool(args.input) == bool(args.data_dir):
        raise CliError("give either --input FILE... or --data-dir DIR")
    as_of = parse_as_of(args.as_of)
    try:
        if args.data_dir:
            with open_engine(args.data_dir, args.tz) as durable, durable.read_state() as engine:
                explanation = explain_customer(engine, read_rule_argument(args.rule), args.customer, as_of)
        else:
            try:
                engine = Engine(tz=args.tz or "UTC")
            except TimeZoneError as exc:
                raise CliError(f"--tz: {exc}") from exc
            engine.load_rule(read_rule_argument(args.rule))  # a bad rule fails before the files are read
            load_inputs(engine, args.input, progress=not args.quiet and sys.stderr.isatty())
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
    """A segment (rule) against every customer: sizes, orders, revenue, LTV buckets, breakdowns, tops."""
    if bool(args.input) == bool(args.data_dir):
        raise CliError("give either --input FILE... or --data-dir DIR")
    if not 1 <= args.window_days <= MAX_INSIGHT_WINDOW_DAYS:
        raise CliError(f"--window-days: 1..{MAX_INSIGHT_WINDOW_DAYS}")
    as_of = parse_as_of(args.as_of)
    if args.data_dir:
        with open_engine(args.data_dir, args.tz) as durable, durable.read_state() as engine:
            report = engine_insights(engine.shard, engine.evaluate(read_rule_argument(args.rule), as_of), as_of,
                                     window_days=args.window_days, top=args.top)
    else:
        try:
            engine = Engine(tz=args.tz or "UTC")
        except TimeZoneError as exc:
            raise CliError(f"--tz: {exc}") from exc
        rule = engine.load_rule(read_rule_argument(args.rule))
        load_inputs(engine, args.input, progress=not args.quiet and sys.stderr.isatty())
        report = engine_insights(engine.shard, engine.evaluate(rule, as_of), as_of,
                                 window_days=args.window_days, top=args.top)
    print(json.dumps(insights_json(report), ensure_ascii=False) if args.json else render_insights(report))
    return EXIT_OK


def _print_eval(
    args: argparse.Namespace, rule: Node, as_of: int, tz: str, members: BitMap, externals: Callable[[BitMap], list[str]]
) -> int:
    """Print the count (and the sorted member ids) of an evaluated rule."""
    if args.json:
        out: dict[str, Any] = {
            "count": len(members),
            "as_of": format_timestamp_ms(as_of),
            "tz": tz,
            "rule": format_rule(rule),
        }
        if args.members:
            out["members"] = externals(members)
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(len(members))
        if args.members:
            for customer in externals(members):
                print(customer)
    return EXIT_OK


def command_check(args: argparse.Namespace) -> int:
    engine = Engine()
    rule = engine.load_rule(read_rule_argument(args.rule))
    print("text:")
    print("  " + format_rule(rule).replace("\n", "\n  "))
    print("json:")
    print("  " + json.dumps(rule_to_json(rule), ensure_ascii=False))
    print(f"summary ({args.lang}):")
    print("  " + summarize(rule, args.lang))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="segments", description="Exact customer segments.")
    commands = parser.add_subparsers(dest="command", required=True)

    evaluate = commands.add_parser("eval", help="count (and list) the members of a rule over record files or a data dir")
    evaluate.add_argument("--input", action="append", help="JSON Lines file (.gz ok); repeatable")
    evaluate.add_argument("--data-dir", help="evaluate on a workspace's data directory instead of --input files")
    evaluate.add_argument("--as-of", help="reference time: RFC 3339, epoch ms or 'now' (default)")
    evaluate.add_argument("--tz", help="IANA time zone (default UTC); with --data-dir it must match the workspace")
    evaluate.add_argument("--json", action="store_true", help="print a JSON object")
    evaluate.add_argument("--members", action="store_true", help="also print the member customer ids")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluate.add_argument("rule", help="rule: text form, JSON, or @file")
    evaluate.set_defaults(handler=command_eval)

    explain = commands.add_parser("explain", help="why a customer is in or out of a rule: each node's answer and values")
    explain.add_argument("--customer", required=True, help="customer id")
    explain.add_argument("--input", action="append", help="JSON Lines file (.gz ok); repeatable")
    explain.add_argument("--data-dir", help="explain on a workspace's data directory instead of --input files")
    explain.add_argument("--as-of", help="reference time: RFC 3339, epoch ms or 'now' (default)")
    explain.add_argument("--tz", help="IANA time zone (default UTC); with --data-dir it must match the workspace")
    explain.add_argument("--json", action="store_true", help="print the tree as JSON")
    explain.add_argument("--quiet", action="store_true", help="no progress bar")
    explain.add_argument("rule", help="rule: text form, JSON, or @file")
    explain.set_defaults(handler=command_explain)

    insights = commands.add_parser("insights", help="a segment against all customers: orders, revenue, LTV, tops")
    insights.add_argument("--input", action="append", help="JSON Lines file (.gz ok); repeatable")
    insights.add_argument("--data-dir", help="a workspace's data directory instead of --input files")
    insights.add_argument("--as-of", help="reference time: RFC 3339, epoch ms or 'now' (default)")
    insights.add_argument("--tz", help="IANA time zone (default UTC); with --data-dir it must match the workspace")
    insights.add_argument("--window-days", type=int, default=30, help="window of the viewed/bought tops (days)")
    insights.add_argument("--top", type=int, default=10, help="values per top list (default 10)")
    insights.add_argument("--json", action="store_true", help="print JSON")
    insights.add_argument("--quiet", action="store_true", help="no progress bar")
    insights.add_argument("rule", help="rule: text form, JSON, or @file")
    insights.set_defaults(handler=command_insights)

    check = commands.add_parser("check", help="validate a rule; print its text and JSON forms and a plain-language summary")
    check.add_argument("--lang", choices=LANGUAGES, default="en", help="language of the summary (default en)")
    check.add_argument("rule", help="rule: text form, JSON, or @file")
    check.set_defaults(handler=command_check)
    register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except RuleError as exc:
        print(f"error: rule: {exc}", file=sys.stderr)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
