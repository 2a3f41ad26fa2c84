"""`segments serve`: open the sharded backend on a data directory and run the gRPC server until SIGTERM.

Prints exactly one line on stdout when the port is open, `listening on HOST:PORT` (with --port 0 the
port picked), so scripts and tests can wait for it; logs go to stderr. Exit code 0 after a clean
shutdown, 2 when the data directory or an option is unusable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
from pathlib import Path

from actors.api import SegmentsBackend
from indexes.durable.commands import CommandError
from service.admission import AdmissionInterceptor
from service.auth_serve import SecurityConfigError, serve_security
from service.backend import BackendOpenError, open_backend
from service.cli import DEFAULT_DATA_DIR, DEFAULT_DEMO_DATA_DIR
from service.demo import ensure_demo
from service.log_format import configure_logging
from service.metrics_setup import ServerObservability
from service.serve_operations import check_operations_arguments
from service.serve_placement import placement_from_args
from service.server import ServerOptions, serve

MAX_CALL_BOUND = 100_000  # --max-pending-calls / --max-concurrent-calls (gRPC's hard pending limit is 4x: an int)
MAX_COUNT_CACHE_ENTRIES = 1_000_000  # a key holds a plan's repr (~1 KiB): about 1 GiB per shard at most

DEMO_EXAMPLES = (
    "count --server {target} 'count(order_created, last 30 days) = 0'",
    "members --server {target} 'tags has \"vip\" and sum(order_created.amount, last 365 days) >= 500'",
    "stats --server {target}",
)


def _segments_command() -> str:
    """How this process was started, for commands a person can paste (e.g. .venv/bin/segments)."""
    script = Path(sys.argv[0])
    if script.name == "segments" and script.is_file():
        relative = os.path.relpath(script.resolve(), Path.cwd())
        return relative if not relative.startswith("..") else str(script.resolve())
    return "segments"


def _ignore_default_data_root(data_dir: Path) -> None:
    """The default data directories live under .data/ in the checkout; keep them out of git status."""
    root = data_dir.parent
    if root.name == ".data" and not (root / ".gitignore").exists():
        root.mkdir(parents=True, exist_ok=True)
        (root / ".gitignore").write_text("# written by `segments serve`: data, not sources\n*\n", encoding="utf-8")


def run_serve(args: argparse.Namespace) -> int:
    configure_logging(args.log_format, args.log_level)  # service/log_format.py: text or one JSON object per line
    if (problem := check_operations_arguments(args)) is not None:
        raise CommandError(problem)
    if not 0 <= args.port <= 65535:
        raise CommandError(f"--port must be 0..65535 (got {args.port})")
    if not 0 <= args.count_cache <= MAX_COUNT_CACHE_ENTRIES:
        raise CommandError(f"--count-cache must be 0..{MAX_COUNT_CACHE_ENTRIES} (got {args.count_cache})")
    for flag, bound in (("--max-pending-calls", args.max_pending_calls), ("--max-concurrent-calls", args.max_concurrent_calls)):
        if not 1 <= bound <= MAX_CALL_BOUND:
            raise CommandError(f"{flag} must be 1..{MAX_CALL_BOUND} (got {bound})")
    placement = placement_from_args(args)  # --placement, --shard-resource: refused here, before Ray starts
    data_dir = Path(args.data_dir or (DEFAULT_DEMO_DATA_DIR if args.demo else DEFAULT_DATA_DIR))
    if args.data_dir is None:
        _ignore_default_data_root(data_dir)
    try:
        security = serve_security(args, data_dir)
    except SecurityConfigError as exc:
        raise CommandError(str(exc)) from exc

    def on_listening(host: str, port: int) -> None:
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        print(f"listening on {target}", flush=True)
        if args.demo:
            command = _segments_command()
            examples = "\n".join(f"  {shlex.quote(command) if ' ' in command else command} {e.format(target=target)}"
                                 for e in DEMO_EXAMPLES)
            print(f"demo workspace in {data_dir}; try:\n{examples}\nstop with Ctrl-C (or SIGTERM)",
                  file=sys.stderr, flush=True)

    try:  # bound before the shards recover, so a taken metrics port fails at once
        observability = ServerObservability(args.metrics_host or args.host, args.metrics_port)
    except OSError as exc:
        raise CommandError(f"--metrics-port: {exc}") from exc

    async def prepare(backend: SegmentsBackend, stop: asyncio.Event) -> None:
        await observability.attach(backend)  # the default workspace
        if args.demo:
            await ensure_demo(backend, data_dir, stop)

    async def opened() -> SegmentsBackend:
        return observability.wrap(await open_backend(data_dir, shards=args.shards, tz=args.tz,
                                                     count_cache_entries=args.count_cache,
                                                     ray_address=args.ray_address, placement=placement))

    async def opened_workspace(directory: Path) -> SegmentsBackend:
        # Laid out by `segments workspace create` (its own shards and time zone): opened as it is.
        backend = observability.wrap(await open_backend(directory, shards=None, tz=None,
                                                        count_cache_entries=args.count_cache, placement=placement))
        await observability.attach(backend, directory.name)  # its shard gauges, label workspace=NAME
        return backend

    options = ServerOptions(data_dir=data_dir, auth=security.auth, tls=security.tls, open_workspace=opened_workspace,
                            interceptors=(AdmissionInterceptor.default(),),  # overload: RELIABILITY.md
                            max_pending_calls=args.max_pending_calls, max_concurrent_calls=args.max_concurrent_calls)
    try:
        return asyncio.run(serve(opened, args.host, args.port, on_listening=on_listening, prepare=prepare,
                                 interceptors=observability.interceptors, options=options))
    except BackendOpenError as exc:
        raise CommandError(f"cannot open {data_dir}: {exc}") from exc
    except OSError as exc:
        raise CommandError(str(exc) if str(exc).startswith("cannot listen") else
                           f"cannot serve on {args.host}:{args.port}: {exc}") from exc
    finally:
        observability.close()
