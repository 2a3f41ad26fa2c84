"""The `segments` subcommands that work on a data directory (indexes/cli.py registers them).

    segments ingest FILE... --data-dir DIR [--tz ZONE] [--partial] [--sync POLICY]
    segments eval --data-dir DIR [--as-of T] [--json] [--members] RULE      (in indexes/cli.py)
    segments snapshot | rebuild [--force] | compact | stats   --data-dir DIR [--json]
    segments log verify | repair [--truncate-corrupt]         --data-dir DIR [--json]

Exit codes: 0 ok; 1 a check failed (rebuild mismatch, log verify/repair not ok); 2 bad input
(a record, with file:line and field; an argument; a missing or conflicting workspace).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from indexes.durable.compaction import compact
from indexes.durable.engine import LOG_DIR, MAX_BATCH_RECORDS, DurableEngine
from indexes.durable.rebuild import rebuild
from indexes.durable.workspace import WorkspaceError
from indexes.jsonl import JsonlError, read_batches
from indexes.log import LogCorruptError, LogError, LogLockedError, repair, verify
from indexes.records import RecordBatchError
from indexes.shard.dense_ids import ShardFullError
from indexes.timecal import TimeZoneError

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
INGEST_BATCH_RECORDS = 50_000
MAX_REPORTED_ERRORS = 50


class CommandError(Exception):
    """A user-facing error: printed as `error: ...`, exit code `exit_code`."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@contextmanager
def open_engine(data_dir: str, tz: str | None = None, *, create: bool = False, sync: str = "always"
                ) -> Iterator[DurableEngine]:
    """The engine of a data directory, with its errors turned into one-line messages."""
    try:
        engine = DurableEngine.open(data_dir, tz=tz, sync=sync, create=create)
    except (WorkspaceError, TimeZoneError) as exc:
        raise CommandError(str(exc)) from exc
    except LogLockedError as exc:
        raise CommandError(f"{exc} (another segments process is using it)") from exc
    except LogCorruptError as exc:
        raise CommandError(f"{exc}\n  inspect with: segments log verify --data-dir {data_dir}", EXIT_CHECK_FAILED) from exc
    with engine:
        yield engine


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, default=str, indent=1))


# --- ingest --------------------------------------------------------------------------------------
def command_ingest(args: argparse.Namespace) -> int:
    if not 1 <= args.batch_size <= MAX_BATCH_RECORDS:
        raise CommandError(f"--batch-size must be 1..{MAX_BATCH_RECORDS}")
    progress = not args.quiet and sys.stderr.isatty()
    accepted = duplicates = rejected = batches = 0
    started = time.perf_counter()
    reported: list[str] = []
    with open_engine(args.data_dir, args.tz, create=True, sync=args.sync) as engine:
        try:
            for batch in read_batches(list(args.files), args.batch_size, progress=progress):
                raws = [obj for _, _, obj in batch]
                try:
                    result = engine.ingest(raws, partial=args.partial)
                except RecordBatchError as exc:
                    lines = _located(batch, exc.errors)
                    raise CommandError(
                        f"rejected records; nothing from this batch of {len(batch)} was ingested "
                        f"({accepted} records of earlier batches were):\n  " + "\n  ".join(lines)
                    ) from exc
                except ShardFullError as exc:
                    raise CommandError(f"{exc}; nothing from this batch was ingested") from exc
                batches += 1
                accepted += result.accepted
                duplicates += result.duplicates
                rejected += len(result.errors)
                if result.errors and len(reported) < MAX_REPORTED_ERRORS:
                    reported.extend(_located(batch, result.errors)[: MAX_REPORTED_ERRORS - len(reported)])
        except JsonlError as exc:
            raise CommandError(f"{exc} ({accepted} records of earlier batches were ingested)") from exc
        except OSError as exc:
            raise CommandError(f"cannot read input: {exc}") from exc
        except LogError as exc:
            raise CommandError(f"event log: {exc}; nothing since the last acknowledged batch was ingested",
                               EXIT_CHECK_FAILED) from exc
    seconds = time.perf_counter() - started
    summary = {"accepted": accepted, "duplicates": duplicates, "rejected": rejected, "batches": batches,
               "seconds": round(seconds, 3), "data_dir": args.data_dir}
    if args.json:
        _print_json({**summary, "rejections": reported})
    else:
        print(f"ingested {accepted} records ({duplicates} duplicate events acknowledged and ignored, "
              f"{rejected} rejected) in {seconds:.1f} s into {args.data_dir}")
    if reported:
        more = f"\n  ... and {rejected - len(reported)} more" if rejected > len(reported) else ""
        print("rejected records (the rest was ingested):\n  " + "\n  ".join(reported) + more, file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


def _located(batch: list[tuple[str, int, Any]], errors: list) -> list[str]:
    out = []
    for error in errors[:MAX_REPORTED_ERRORS]:
        path, line, _ = batch[error.index]
        out.append(f"{path}:{line}: {error.field or 'record'}: {error.reason}")
    return out


# --- snapshot, stats -----------------------------------------------------------------------------
def command_snapshot(args: argparse.Namespace) -> int:
    with open_engine(args.data_dir) as engine:
        info = engine.snapshot()
    out = {"path": str(info.path), "covered_lsn": info.covered_lsn, "size_bytes": info.size_bytes}
    if args.json:
        _print_json(out)
    else:
        print(f"snapshot {info.path}: covers LSN < {info.covered_lsn}, {info.size_bytes} bytes")
    return EXIT_OK


def command_stats(args: argparse.Namespace) -> int:
    with open_engine(args.data_dir) as engine:
        stats = engine.stats()
    out = dataclasses.asdict(stats)
    out["snapshot"] = None if stats.snapshot is None else {
        "path": str(stats.snapshot.path), "covered_lsn": stats.snapshot.covered_lsn,
        "size_bytes": stats.snapshot.size_bytes, "created_at_ms": stats.snapshot.created_at_ms,
    }
    out.pop("extra", None)
    if args.json:
        _print_json(out)
        return EXIT_OK
    age = "none" if stats.snapshot_age_ms is None else f"{stats.snapshot_age_ms / 1000:.0f} s old"
    print(f"data dir      {stats.data_dir} (time zone {stats.tz})")
    print(f"customers     {stats.customers}")
    print(f"events        {stats.events}")
    print(f"event ids     {stats.event_ids} ({stats.event_ids_size_bytes} bytes)")
    print(f"log           {stats.log_size_bytes} bytes in {stats.log_segments} segment(s), {stats.applied_lsn} records")
    print(f"snapshot      {age}; {stats.records_since_snapshot} log records since")
    return EXIT_OK


# --- rebuild, compact ------------------------------------------------------------------------------
def command_rebuild(args: argparse.Namespace) -> int:
    with open_engine(args.data_dir) as engine:
        report = rebuild(engine, replace_snapshots=args.force)
    if args.json:
        _print_json(dataclasses.asdict(report))
    else:
        print(f"replayed {report.records} records ({report.events} events) from LSN 0 in {report.seconds:.1f} s")
        if report.equal:
            print(f"state identical to the live one (digest {report.live_digest})")
        else:
            print(f"MISMATCH: live {report.live_digest}, rebuilt {report.rebuilt_digest}; differing indexes:")
            for name, (live, rebuilt) in sorted(report.differences.items()):
                print(f"  {name}: live {live} rebuilt {rebuilt}")
        if report.snapshot_path:
            print(f"wrote snapshot {report.snapshot_path}")
    return EXIT_OK if report.equal else EXIT_CHECK_FAILED


def command_compact(args: argparse.Namespace) -> int:
    try:
        report = compact(Path(args.data_dir))
    except (WorkspaceError, TimeZoneError) as exc:
        raise CommandError(str(exc)) from exc
    except LogLockedError as exc:
        raise CommandError(f"{exc} (another segments process is using it)") from exc
    if args.json:
        _print_json(dataclasses.asdict(report))
    else:
        print(f"erased customers with records dropped: {report.customers_erased}; records "
              f"{report.records_before} -> {report.records_after} ({report.records_dropped} dropped); "
              f"{report.tombstone_digests} event-id digests kept as tombstones")
        print(f"log {report.log_bytes_before} -> {report.log_bytes_after} bytes; state digest "
              f"{'unchanged' if report.digest_equal else 'CHANGED'}; snapshot {report.snapshot_path}")
        for path in report.side_files_removed:
            print(f"removed repair side file {path} (it may hold erased records)")
    return EXIT_OK if report.digest_equal else EXIT_CHECK_FAILED


# --- log verify / repair ---------------------------------------------------------------------------
def command_log_verify(args: argparse.Namespace) -> int:
    log_dir = _log_dir(args.data_dir)
    report = verify(log_dir)
    if args.json:
        _print_json(dataclasses.asdict(report) | {"ok": report.ok})
    else:
        for segment in report.segments:
            print(f"{segment.file}: {segment.frames} records, LSN {segment.first_lsn}..{segment.last_lsn}, "
                  f"{segment.size_bytes} bytes")
        if report.torn_tail:
            tail = report.torn_tail
            print(f"torn tail (cut on the next open): {tail.file} at {tail.offset}, {tail.bytes_dropped} bytes: {tail.reason}")
        for problem in report.problems:
            print(f"PROBLEM {problem}")
        if report.rewrite_pending:
            print("an interrupted rewrite is pending (the next open resolves it)")
        verdict = "ok" if report.ok else "CORRUPT: `segments log repair --truncate-corrupt` cuts it"
        print(f"{report.end_lsn} records; {verdict}")
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


def command_log_repair(args: argparse.Namespace) -> int:
    log_dir = _log_dir(args.data_dir)
    try:
        report = repair(log_dir, truncate_corrupt=args.truncate_corrupt)
    except LogLockedError as exc:
        raise CommandError(f"{exc} (stop the process using it first)") from exc
    if args.json:
        _print_json(dataclasses.asdict(report))
    else:
        for problem in report.problems_found:
            print(f"found {problem}")
        for action in report.actions:
            print(f"action: {action}")
        for side_file in report.side_files:
            print(f"side file: {side_file}")
        print(f"{report.end_lsn} records; {'ok' if report.ok else 'still does not open'}")
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


def _log_dir(data_dir: str) -> Path:
    path = Path(data_dir) / LOG_DIR
    if not path.is_dir():
        raise CommandError(f"no event log at {path}")
    return path


# --- registration ----------------------------------------------------------------------------------
def _data_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", required=True, help="workspace directory (log, snapshots)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def register(commands: Any) -> None:
    """Add the data-directory subcommands to the `segments` parser's subparsers."""
    ingest = commands.add_parser("ingest", help="append JSON Lines record files to a data directory")
    ingest.add_argument("files", nargs="+", help="JSON Lines files (.gz ok)")
    _data_dir_argument(ingest)
    ingest.add_argument("--tz", help="time zone of a new workspace (default UTC); must match an existing one")
    ingest.add_argument("--partial", action="store_true",
                        help="accept the valid records of a batch and report the rest (default: all or nothing)")
    ingest.add_argument("--batch-size", type=int, default=INGEST_BATCH_RECORDS,
                        help=f"records per all-or-nothing batch (default {INGEST_BATCH_RECORDS})")
    ingest.add_argument("--sync", default="always", choices=["always", "interval", "never"],
                        help="log sync policy (docs/LOG.md); default always")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.set_defaults(handler=command_ingest)

    snapshot = commands.add_parser("snapshot", help="write a snapshot of a data directory's state")
    _data_dir_argument(snapshot)
    snapshot.set_defaults(handler=command_snapshot)

    rebuild_parser = commands.add_parser("rebuild", help="replay the whole log and compare with the live state")
    _data_dir_argument(rebuild_parser)
    rebuild_parser.add_argument("--force", action="store_true",
                                help="on a mismatch, replace the snapshots with the rebuilt state (the log is the truth)")
    rebuild_parser.set_defaults(handler=command_rebuild)

    compact_parser = commands.add_parser("compact", help="drop erased customers' records from the log and snapshots")
    _data_dir_argument(compact_parser)
    compact_parser.set_defaults(handler=command_compact)

    stats = commands.add_parser("stats", help="customers, events, log size, snapshot age")
    _data_dir_argument(stats)
    stats.set_defaults(handler=command_stats)

    log = commands.add_parser("log", help="operator tools for the event log")
    log_commands = log.add_subparsers(dest="log_command", required=True)
    log_verify = log_commands.add_parser("verify", help="check every segment and frame (read-only)")
    _data_dir_argument(log_verify)
    log_verify.set_defaults(handler=command_log_verify)
    log_repair = log_commands.add_parser("repair", help="cut a torn tail; with --truncate-corrupt, cut corruption")
    _data_dir_argument(log_repair)
    log_repair.add_argument("--truncate-corrupt", action="store_true",
                            help="cut the log at the first corruption (dropped bytes go to side files)")
    log_repair.set_defaults(handler=command_log_repair)
