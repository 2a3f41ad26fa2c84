"""The `--server HOST:PORT` forms of ingest, eval/count/members, stats, snapshot and compact.

Output is the local commands' (indexes/cli.py, indexes/durable/commands.py): the same lines and JSON
keys, with the server's address where a local command names its data directory. Rejected records
are reported as FILE:LINE: FIELD: REASON, mapped back from the server's `records[i].field` details.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from indexes import cli as embedded
from indexes.durable.commands import (
    EXIT_BAD_INPUT,
    EXIT_CHECK_FAILED,
    MAX_BATCH_RECORDS,
    MAX_REPORTED_ERRORS,
    CommandError,
)
from indexes.jsonl import JsonlError, read_batches
from indexes.records import RecordBatchError, RecordError
from indexes.values import format_timestamp_ms
from service.auth_cli_options import client_options
from service.cli_insights import REMOTE_COMMANDS
from service.client import SegmentsClient
from service.client_types import SegmentsError

_RECORD_FIELD = re.compile(r"records\[(\d+)\](?:\.(.*))?\Z", re.DOTALL)
_BAD_INPUT_CODES = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, default=str, indent=1))


def _failure(exc: SegmentsError, server: str, what: str = "") -> CommandError:
    code = EXIT_BAD_INPUT if exc.code in _BAD_INPUT_CODES else EXIT_CHECK_FAILED
    if exc.code == grpc.StatusCode.UNAVAILABLE and "connect" in exc.message.lower():
        return CommandError(f"cannot reach a segments server at {server}: {exc.message}", EXIT_CHECK_FAILED)
    lines = [f"{v.field}: {v.description}" for v in exc.violations]
    detail = ("\n  " + "\n  ".join(lines)) if lines and exc.code == grpc.StatusCode.INVALID_ARGUMENT else ""
    return CommandError(f"{what}server {server}: {exc.code.name}: {exc.message}{detail}", code)


@contextmanager
def _client(server: str, options: dict[str, Any]) -> Iterator[SegmentsClient]:
    """`options`: token and TLS (service/auth_cli_options.py)."""
    try:
        opened = SegmentsClient(server, **options)
    except ValueError as exc:  # a TLS file or token that cannot be used (it names the flag)
        raise CommandError(str(exc), EXIT_BAD_INPUT) from exc
    with opened as client:
        try:
            yield client
        except SegmentsError as exc:
            raise _failure(exc, server) from exc


def _as_of(args: argparse.Namespace) -> int | None:
    return None if args.as_of is None else embedded.parse_as_of(args.as_of)


# --- ingest ------------------------------------------------------------------------------------------
def _located(batch: list[tuple[str, int, Any]], errors: list[RecordError]) -> list[str]:
    out = []
    for error in errors:
        path, line, _ = batch[error.index]
        out.append(f"{path}:{line}: {error.field or 'record'}: {error.reason}")
    return out


def _violations_as_errors(exc: SegmentsError) -> list[RecordError]:
    errors = []
    for violation in exc.violations:
        match = _RECORD_FIELD.match(violation.field)
        if match:
            errors.append(RecordError(int(match.group(1)), match.group(2) or "", violation.description))
    return errors


def ingest(args: argparse.Namespace, client: SegmentsClient) -> int:
    if not 1 <= args.batch_size <= MAX_BATCH_RECORDS:
        raise CommandError(f"--batch-size must be 1..{MAX_BATCH_RECORDS}")
    if args.tz and args.tz != (zone := client.schema().time_zone):
        raise CommandError(f"--tz {args.tz}: the server's workspace is in {zone}")
    progress = not args.quiet and sys.stderr.isatty()
    accepted = duplicates = rejected = batches = 0
    reported: list[str] = []
    started = time.perf_counter()
    try:
        for batch in read_batches(list(args.files), args.batch_size, progress=progress):
            raws = [obj for _, _, obj in batch]
            try:
                result = client.ingest(raws, partial=args.partial)
            except (RecordBatchError, SegmentsError) as exc:
                errors = exc.errors if isinstance(exc, RecordBatchError) else _violations_as_errors(exc)
                if not errors:
                    assert isinstance(exc, SegmentsError)
                    raise _failure(exc, args.server, f"batch of {len(batch)} records not ingested "
                                                     f"({accepted} records of earlier batches were): ") from exc
                raise CommandError(
                    f"rejected records; nothing from this batch of {len(batch)} was ingested "
                    f"({accepted} records of earlier batches were):\n  " + "\n  ".join(_located(batch, errors))
                ) from exc
            batches += 1
            accepted += result.accepted
            duplicates += result.duplicates
            rejected += result.rejected
            if result.errors and len(reported) < MAX_REPORTED_ERRORS:
                reported.extend(_located(batch, result.errors)[: MAX_REPORTED_ERRORS - len(reported)])
    except JsonlError as exc:
        raise CommandError(f"{exc} ({accepted} records of earlier batches were ingested)") from exc
    except OSError as exc:
        raise CommandError(f"cannot read input: {exc}") from exc
    seconds = time.perf_counter() - started
    summary = {"accepted": accepted, "duplicates": duplicates, "rejected": rejected, "batches": batches,
               "seconds": round(seconds, 3), "server": args.server}
    if args.json:
        _print_json({**summary, "rejections": reported})
    else:
        print(f"ingested {accepted} records ({duplicates} duplicate events acknowledged and ignored, "
              f"{rejected} rejected) in {seconds:.1f} s into {args.server}")
    if reported:
        more = f"\n  ... and {rejected - len(reported)} more" if rejected > len(reported) else ""
        print("rejected records (the rest was ingested):\n  " + "\n  ".join(reported) + more, file=sys.stderr)
        return EXIT_BAD_INPUT
    return embedded.EXIT_OK


# --- eval, count, members ------------------------------------------------------------------------------
def evaluate(args: argparse.Namespace, client: SegmentsClient) -> int:
    rule = embedded.read_rule_argument(args.rule)
    with_members = bool(getattr(args, "members", False))
    if args.tz and args.tz != (zone := client.schema().time_zone):
        raise CommandError(f"--tz {args.tz}: the server's workspace is in {zone} (omit --tz with --server)")
    if args.json:
        preview = client.preview(rule, _as_of(args), sample_size=1)
        out: dict[str, Any] = {"count": preview.count, "as_of": format_timestamp_ms(preview.as_of_ms),
                               "tz": client.schema().time_zone, "rule": preview.rule_text}
        if with_members:
            out["members"] = list(client.members(rule, as_of_ms=preview.as_of_ms))
        print(json.dumps(out, ensure_ascii=False))
        return embedded.EXIT_OK
    if args.command == "members":  # the ids alone
        for customer_id in client.members(rule, as_of_ms=_as_of(args)):
            print(customer_id)
        return embedded.EXIT_OK
    counted = client.count(rule, _as_of(args))
    print(counted.count)
    if with_members:
        for customer_id in client.members(rule, as_of_ms=counted.as_of_ms):
            print(customer_id)
    return embedded.EXIT_OK


# --- stats, snapshot, compact ----------------------------------------------------------------------------
def stats(args: argparse.Namespace, client: SegmentsClient) -> int:
    cluster = client.stats()
    if args.json:
        _print_json({**dataclasses.asdict(cluster), "customers": cluster.customers, "events": cluster.events,
                     "log_size_bytes": cluster.log_size_bytes, "server": args.server})
        return embedded.EXIT_OK
    ages = [s.snapshot_age_ms for s in cluster.shards]
    age = "none" if any(a is None for a in ages) else f"oldest {max(a or 0 for a in ages) / 1000:.0f} s old"
    print(f"data dir      {cluster.data_dir} (time zone {cluster.time_zone}) on {args.server}")
    print(f"customers     {cluster.customers}")
    print(f"events        {cluster.events}")
    print(f"event ids     {sum(s.event_ids for s in cluster.shards)}")
    print(f"log           {cluster.log_size_bytes} bytes, {sum(s.applied_lsn for s in cluster.shards)} records")
    print(f"snapshot      {age}; {sum(s.records_since_snapshot for s in cluster.shards)} log records since")
    for s in cluster.shards:
        print(f"shard {s.shard:<7} {s.state}: {s.customers} customers, {s.events} events, LSN {s.applied_lsn}, {s.path}")
    return embedded.EXIT_OK


def snapshot(args: argparse.Namespace, client: SegmentsClient) -> int:
    shards = client.snapshot()
    if args.json:
        _print_json([dataclasses.asdict(s) for s in shards])
        return embedded.EXIT_OK
    for s in shards:
        print(f"snapshot {s.path}: covers LSN < {s.lsn}, {s.size_bytes} bytes")
    return embedded.EXIT_OK


def compact(args: argparse.Namespace, client: SegmentsClient) -> int:
    shards = client.compact()
    if args.json:
        _print_json([dataclasses.asdict(s) for s in shards])
        return embedded.EXIT_OK
    for s in shards:
        print(f"shard {s.shard}: records {s.records_before} -> {s.records_after}; "
              f"log {s.size_bytes_before} -> {s.size_bytes_after} bytes")
    return embedded.EXIT_OK


_COMMANDS = {"ingest": ingest, "eval": evaluate, "count": evaluate, "members": evaluate, "stats": stats,
             "snapshot": snapshot, "compact": compact, **REMOTE_COMMANDS}  # + service/cli_insights.py


def run_remote(args: argparse.Namespace) -> int:
    command = _COMMANDS.get(args.command)
    if command is None:
        raise CommandError(f"{args.command} has no --server form")
    if getattr(args, "data_dir", None) or getattr(args, "input", None):
        raise CommandError("--server excludes --data-dir and --input: the server has its own data directory")
    with _client(args.server, client_options(args)) as client:
        return command(args, client)
