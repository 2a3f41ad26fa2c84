"""Exit 0 when a segments server answers SERVING, 1 otherwise: a container HEALTHCHECK and a probe command.

    python -m service.healthcheck [HOST:PORT] [--service NAME] [--timeout-ms N] [--alive]
                                  [--tls-ca FILE [--tls-server-name NAME] [--tls-cert FILE --tls-key FILE]]

Asks the standard grpc.health.v1 service (service/health.py), open to any caller even when the server
requires tokens; HOST:PORT defaults to 127.0.0.1:50051 or $SEGMENTS_HEALTH_TARGET. Against a TLS server
give the CA (or $SEGMENTS_HEALTH_TLS_CA), the name in its certificate when it is not the target's host
(a probe inside the pod dials 127.0.0.1), and for mutual TLS a client certificate and key. One line on stdout says what it saw (SERVING, NOT_SERVING,
or the gRPC error), so `docker inspect` shows why a container is unhealthy. Needs only grpcio and
grpcio-health-checking: no Ray, no engine, so it starts in well under a second.

`--alive` (a liveness probe) exits 0 on any answer, NOT_SERVING included: a server whose shard is
replaying its log after a crash is alive and must not be restarted, which would only restart the replay.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_TIMEOUT_MS = 3_000
MAX_TIMEOUT_MS = 60_000
EXIT_SERVING = 0
EXIT_UNHEALTHY = 1
EXIT_USAGE = 2
ANSWERS = frozenset(health_pb2.HealthCheckResponse.ServingStatus.keys())  # anything else is a gRPC error


@dataclass(frozen=True)
class ProbeTls:
    ca_path: str
    server_name: str | None = None
    cert_path: str | None = None
    key_path: str | None = None


def _channel(target: str, tls: ProbeTls | None) -> grpc.Channel:
    if tls is None:
        return grpc.insecure_channel(target)
    client_pair = [Path(p).read_bytes() for p in (tls.key_path, tls.cert_path) if p is not None]
    credentials = grpc.ssl_channel_credentials(Path(tls.ca_path).read_bytes(), *client_pair)
    options = [("grpc.ssl_target_name_override", tls.server_name)] if tls.server_name else []
    return grpc.secure_channel(target, credentials, options=options)


def check(target: str, service: str = "", timeout_ms: int = DEFAULT_TIMEOUT_MS,
          tls: ProbeTls | None = None) -> tuple[bool, str]:
    """(serving, what was seen) for one Health/Check call."""
    with _channel(target, tls) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_ms / 1000,
                               wait_for_ready=False)
        except grpc.RpcError as exc:
            return False, f"{exc.code().name}: {exc.details()}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.healthcheck", description=__doc__.split("\n\n")[0])
    parser.add_argument("target", nargs="?", default=os.environ.get("SEGMENTS_HEALTH_TARGET", DEFAULT_TARGET),
                        help=f"HOST:PORT of the server (default $SEGMENTS_HEALTH_TARGET or {DEFAULT_TARGET})")
    parser.add_argument("--service", default="", help="service name to ask about (default \"\": the whole server)")
    parser.add_argument("--timeout-ms", type=int, default=DEFAULT_TIMEOUT_MS,
                        help=f"deadline of the call (default {DEFAULT_TIMEOUT_MS})")
    parser.add_argument("--tls-ca", default=os.environ.get("SEGMENTS_HEALTH_TLS_CA") or None, metavar="FILE",
                        help="PEM CA bundle of a TLS server (default $SEGMENTS_HEALTH_TLS_CA; unset: plaintext)")
    parser.add_argument("--tls-server-name", metavar="NAME", help="name the server's certificate carries")
    parser.add_argument("--tls-cert", metavar="FILE", help="client certificate (mutual TLS)")
    parser.add_argument("--tls-key", metavar="FILE", help="client key of --tls-cert")
    parser.add_argument("--alive", action="store_true",
                        help="exit 0 on any health answer (NOT_SERVING included): a liveness probe")
    args = parser.parse_args(argv)
    if not 1 <= args.timeout_ms <= MAX_TIMEOUT_MS:
        print(f"--timeout-ms must be 1..{MAX_TIMEOUT_MS} (got {args.timeout_ms})", file=sys.stderr)
        return EXIT_USAGE
    if ":" not in args.target:
        print(f"target must be HOST:PORT (got {args.target!r})", file=sys.stderr)
        return EXIT_USAGE
    if (args.tls_cert is None) != (args.tls_key is None) or (args.tls_cert and not args.tls_ca):
        print("--tls-cert and --tls-key go together, and with --tls-ca", file=sys.stderr)
        return EXIT_USAGE
    tls = None
    if args.tls_ca:
        tls = ProbeTls(args.tls_ca, args.tls_server_name, args.tls_cert, args.tls_key)
        unreadable = [p for p in (tls.ca_path, tls.cert_path, tls.key_path) if p and not os.access(p, os.R_OK)]
        if unreadable:
            print(f"--tls-*: cannot read {', '.join(unreadable)}", file=sys.stderr)
            return EXIT_USAGE
    serving, seen = check(args.target, args.service, args.timeout_ms, tls)
    print(f"{args.target}: {seen}", flush=True)
    answered = seen in ANSWERS
    return EXIT_SERVING if serving or (args.alive and answered) else EXIT_UNHEALTHY


if __name__ == "__main__":
    sys.exit(main())
