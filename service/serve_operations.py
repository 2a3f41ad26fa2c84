"""`segments serve` options for running in production: which Ray cluster, how to log, where metrics go.

deploy/README.md documents each flag next to the others.
"""

from __future__ import annotations

import argparse

from service.log_format import LOG_FORMATS, LOG_LEVELS


def add_operations_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--ray-address", metavar="ADDR",
                       help="join an existing Ray cluster (`auto`, or HOST:6379 / ray://HOST:10001) instead of "
                            "starting a local Ray runtime (default: a runtime of its own)")
    serve.add_argument("--log-format", choices=LOG_FORMATS, default="text",
                       help="stderr log lines: text (default) or json (one object per line: ts, level, logger, "
                            "msg and fields such as method, code, duration_ms, peer)")
    serve.add_argument("--log-level", choices=LOG_LEVELS, default="INFO",
                       help="INFO (default): failed and slow RPCs, lifecycle; DEBUG: one line per RPC")
    serve.add_argument("--metrics-port", type=int, metavar="N",
                       help="serve Prometheus metrics over HTTP on this port, path /metrics (default: off; 0 picks "
                            "a free port, logged as `metrics on URL`)")
    serve.add_argument("--metrics-host", metavar="ADDR",
                       help="address of the metrics endpoint (default: the --host address)")


def check_operations_arguments(args: argparse.Namespace) -> str | None:
    """The first unusable option as a message naming it, or None."""
    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        return f"--metrics-port must be 0..65535 (got {args.metrics_port})"
    if args.ray_address is not None and not args.ray_address.strip():
        return "--ray-address must not be empty (use `auto` to find the local cluster)"
    return None
