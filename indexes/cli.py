"""`segments` command line, embedded mode (no server): eval and check; data-directory commands.

    segments eval --input data.jsonl.gz [--input more.jsonl] [--as-of T] [--tz ZONE] [--json]
                  [--members] RULE
    segments eval --data-dir DIR [--as-of T] [--json] [--members] RULE
    segments check RULE
    segments explain | insights | export | profile  (indexes/cli_reports.py)
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

    check = commands.add_parser("check", help="validate a rule; print its text and JSON forms and a plain-language summary")
    check.add_argument("--lang", choices=LANGUAGES, default="en", help="language of the summary (default en)")
    check.add_argument("rule", help="rule: text form, JSON, or @file")
    check.set_defaults(handler=command_check)
    register(commands)
    from indexes.cli_reports import register_reports  # imports this module's helpers

    register_reports(commands)
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
