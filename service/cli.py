"""`segments`: the embedded commands of indexes/cli.py, plus the server and its clients.

    segments serve [--data-dir DIR] [--host 127.0.0.1] [--port 50051] [--shards N] [--tz ZONE] [--demo]
                   [--count-cache N] [--auth] [--insecure] [--tls-cert F --tls-key F [--tls-client-ca F]]
    segments token create | list | revoke, segments workspace create | list, segments audit  (docs/SECURITY.md)
    every --server command also takes --token (or $SEGMENTS_TOKEN), --tls, --tls-ca, --tls-cert, --tls-key
    segments ingest FILE... --server HOST:PORT [--partial] [--batch-size N] [--json]
    segments eval | count | members --server HOST:PORT [--as-of T] [--json] RULE
    segments stats | snapshot | compact --server HOST:PORT [--json]
    segments segment create | edit | show | list | delete | log | watch | templates | rollback | dry-run |
                     attach | detach | versions | count | members | sizes ... (--server HOST:PORT | --data-dir DIR)

Every command without --server works as in indexes/cli.py (files or a data directory; `count` and
`members` are `eval` without / with the member list). grpc and Ray are imported only by the commands
that need them, so `segments check` stays as fast as before.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from indexes import cli as embedded
from indexes.durable.commands import CommandError, open_engine
from indexes.engine import Engine
from indexes.rules import RuleError
from indexes.timecal import TimeZoneError
from service import cli_reshard, cli_segments, cli_tokens
from service.auth_cli_options import add_connection_options
from service.auth_serve import add_security_arguments
from service.cli_insights import extend_reports, register_export_schedule, register_summarize
from service.limits import MAX_CONCURRENT_CALLS, MAX_PENDING_CALLS_SOFT, PENDING_CALLS_HARD_FACTOR
from service.serve_operations import add_operations_arguments
from service.serve_placement import add_placement_arguments

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50051
DEFAULT_DATA_DIR = ".data/server"
DEFAULT_DEMO_DATA_DIR = ".data/demo"
REMOTE_COMMANDS = ("ingest", "eval", "count", "members", "stats", "snapshot", "compact")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            return action.choices  # type: ignore[return-value]
    raise AssertionError("the embedded parser has subcommands")


def _optional_data_dir(parser: argparse.ArgumentParser) -> None:
    """--data-dir stays, but is no longer required: --server is the other way to say where."""
    for action in parser._actions:
        if action.dest == "data_dir":
            action.required = False
            action.help = f"{action.help or 'data directory'}; or --server HOST:PORT"


def _add_server_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", metavar="HOST:PORT", help="run against a `segments serve` server")


def _add_count_and_members(commands: Any) -> None:
    for name, help_text in (("count", "count the members of a rule (eval without --members)"),
                            ("members", "list the member ids of a rule, one per line")):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--input", action="append", help="JSON Lines file (.gz ok); repeatable")
        sub.add_argument("--data-dir", help="a workspace's data directory")
        _add_server_option(sub)
        sub.add_argument("--as-of", help="reference time: RFC 3339, epoch ms or 'now' (default)")
        sub.add_argument("--tz", help="IANA time zone for --input (default UTC)")
        sub.add_argument("--json", action="store_true", help="print a JSON object")
        sub.add_argument("--quiet", action="store_true", help="no progress bar")
        sub.add_argument("rule", help="rule: text form, JSON, or @file")
        sub.set_defaults(handler=_count_or_members, members=(name == "members"))


def _count_or_members(args: argparse.Namespace) -> int:
    """Local `count` / `members`: eval without / with the member list; plain `members` prints the
    ids alone, one per line (eval prints the count first)."""
    if not args.members or args.json:
        return int(embedded.command_eval(args))
    if bool(args.input) == bool(args.data_dir):
        raise embedded.CliError("give either --input FILE... or --data-dir DIR (or --server HOST:PORT)")
    as_of = embedded.parse_as_of(args.as_of)
    rule = embedded.read_rule_argument(args.rule)
    if args.data_dir:
        with open_engine(args.data_dir, args.tz) as durable:
            ids = durable.members(rule, as_of)
    else:
        try:
            engine = Engine(tz=args.tz or "UTC")
        except TimeZoneError as exc:
            raise embedded.CliError(f"--tz: {exc}") from exc
        model = engine.load_rule(rule)
        embedded.load_inputs(engine, args.input, progress=not args.quiet and sys.stderr.isatty())
        ids = engine.members(model, as_of)
    for customer_id in ids:
        print(customer_id)
    return embedded.EXIT_OK


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the gRPC server (Ray shard actors) on a data directory")
    serve.add_argument("--data-dir", help=f"data directory (default {DEFAULT_DATA_DIR}, with --demo {DEFAULT_DEMO_DATA_DIR})")
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    serve.add_argument("--shards", type=int, help="shards of a new data directory (default: one per core); "
                                                  "an existing one keeps its count")
    serve.add_argument("--tz", help="IANA time zone of a new data directory (default UTC)")
    serve.add_argument("--demo", action="store_true",
                       help="on first start, fill the data directory with a generated shop (100k customers)")
    serve.add_argument("--count-cache", type=int, default=0, metavar="N",
                       help="keep up to N exact counts per shard, keyed by rule, as_of_ms and the shard's log "
                            "position (any write invalidates them; default 0: off; docs/SERVICE.md)")
    serve.add_argument("--max-pending-calls", type=int, default=MAX_PENDING_CALLS_SOFT, metavar="N",
                       help="calls gRPC may hold before the server takes them in; beyond, new calls are refused "
                            f"at once (at random, always past {PENDING_CALLS_HARD_FACTOR}x N; default "
                            f"{MAX_PENDING_CALLS_SOFT}; RELIABILITY.md)")
    serve.add_argument("--max-concurrent-calls", type=int, default=MAX_CONCURRENT_CALLS, metavar="N",
                       help="calls (streams included) the server holds at once; beyond, RESOURCE_EXHAUSTED before "
                            f"any other work (default {MAX_CONCURRENT_CALLS}; RELIABILITY.md)")
    add_operations_arguments(serve)  # --ray-address, --log-format/--log-level, --metrics-port/--metrics-host
    add_placement_arguments(serve)  # --placement local|spread, --shard-resource (docs/SCALING.md)
    add_security_arguments(serve)  # --auth, --insecure, --tls-cert/--tls-key/--tls-client-ca (docs/SECURITY.md)
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from service.serve_command import run_serve  # grpc and Ray only for this command

    return run_serve(args)


def build_parser() -> argparse.ArgumentParser:
    parser = embedded.build_parser()
    commands = _subcommands(parser)
    for name in ("ingest", "eval", "stats", "snapshot", "compact"):
        _optional_data_dir(commands[name])
        _add_server_option(commands[name])
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    _add_count_and_members(subparsers)
    _add_serve(subparsers)
    cli_segments.register(subparsers)
    extend_reports(commands)  # --server / --segment on insights, explain, export, profile
    register_summarize(subparsers)
    register_export_schedule(subparsers)
    cli_tokens.register(subparsers, DEFAULT_DATA_DIR)  # token, workspace, audit
    cli_reshard.register(subparsers)  # reshard a stopped server's data directory (docs/SCALING.md)
    add_connection_options(parser)  # --token and --tls-* wherever there is --server
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    if args.command in ("token", "workspace", "audit"):  # files of the server's data directory
        return int(args.handler(args))
    if args.command == "segment":  # --server or --data-dir, decided inside (service/cli_segments.py)
        return int(args.handler(args))
    if getattr(args, "server", None):
        from service.cli_remote import run_remote  # grpc only for remote commands

        return run_remote(args)
    if args.command in ("ingest", "stats", "snapshot", "compact") and not args.data_dir:
        raise CommandError(f"{args.command}: give --data-dir DIR or --server HOST:PORT")
    return int(args.handler(args))


EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE, what a shell reports for a killed pipe writer


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except RuleError as exc:
        print(f"error: rule: {exc}", file=sys.stderr)
    except embedded.CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader stopped early (`segments ... | head`): not an error of ours. Point stdout at
        # devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE_CLOSED
    return embedded.EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
