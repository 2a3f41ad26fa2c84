"""What tokens and TLS cost per call: a real `segments serve --shards 1` three times (plain text without
tokens; tokens; tokens + TLS), the same small shop ingested, then sequential Count calls of one rule.

    python -m benchmarks.auth_overhead [--calls 2000] [--customers 2000] [--json FILE]

Prints p50 / p99 / mean latency per configuration and the difference to the first. Sequential calls on
one channel, so the figures are one caller's round trip (the interceptor's work is on that path: a
metadata lookup, a SHA-256 and a stat of tokens.json at most every 0.25 s). TLS certificates come from
trustme (a test dependency), as in tests/test_tls.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trustme

from service.auth_interceptor import authenticate, authorize
from service.auth_scopes import METHOD_RULES
from service.auth_table import TokenTable
from service.auth_tokens import create_token
from service.client import SegmentsClient

RULE = 'city = "Bench"'
WARMUP_CALLS = 200
START_TIMEOUT_S = 180
MAX_CALLS = 1_000_000
INGEST_BATCH = 5_000
TOKEN_CHECK_CALLS = 100_000


def _start(data_dir: Path, extra: list[str]) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "service.cli", "serve", "--data-dir", str(data_dir), "--port", "0",
               "--shards", "1", *extra]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:  # bounded by the deadline
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"server exited with {process.wait()} before listening")
        if line.startswith("listening on "):
            return process, line.split()[-1].replace("127.0.0.1", "localhost")
    process.kill()
    raise SystemExit("server did not start listening in time")


def _latencies_ms(call: Callable[[], Any], calls: int) -> list[float]:
    for _ in range(WARMUP_CALLS):
        call()
    out = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def _summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {"p50_ms": round(ordered[len(ordered) // 2], 3), "p99_ms": round(ordered[int(len(ordered) * 0.99)], 3),
            "mean_ms": round(statistics.fmean(ordered), 3)}


def token_check_us(workdir: Path, calls: int) -> float:
    """The interceptor's own work per call, in process: parse the metadata, SHA-256, table lookup,
    scope check (the stat of tokens.json runs at most every 0.25 s, so rarely within this loop)."""
    data_dir = workdir / "token-check"
    data_dir.mkdir()
    _, secret = create_token(data_dir, "default", ("read",))
    table = TokenTable(data_dir)
    metadata = (("authorization", f"Bearer {secret}"), ("user-agent", "bench"))
    method = "/segments.v1.QueryService/Count"
    started = time.perf_counter()
    for _ in range(calls):
        authorize(authenticate(table, metadata), method, METHOD_RULES[method])
    return (time.perf_counter() - started) / calls * 1e6


def measure(calls: int, customers: int, workdir: Path) -> dict[str, dict[str, float]]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    ca_file, cert_file, key_file = workdir / "ca.pem", workdir / "cert.pem", workdir / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_pem.write_to_path(str(key_file))
    cert_file.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    records = [{"customer_id": f"c{i:07d}", "ts": 1_700_000_000_000, "properties": {"city": "Bench"}}
               for i in range(customers)]
    configurations: list[tuple[str, bool, list[str]]] = [
        ("plain, no tokens", False, []),
        ("plain, tokens", True, []),
        ("TLS, tokens", True, ["--tls-cert", str(cert_file), "--tls-key", str(key_file)]),
    ]
    results: dict[str, dict[str, float]] = {}
    for index, (name, tokens, flags) in enumerate(configurations):
        data_dir = workdir / f"data-{index}"
        data_dir.mkdir()
        token = create_token(data_dir, "default", ("read", "write"))[1] if tokens else None
        process, target = _start(data_dir, flags)
        try:
            tls_ca = str(ca_file) if flags else None
            with SegmentsClient(target, token=token, tls_ca=tls_ca, timeout_s=30) as client:
                for start in range(0, len(records), INGEST_BATCH):
                    client.ingest(records[start : start + INGEST_BATCH])
                assert client.count(RULE).count == customers
                results[name] = {"count": _summary(_latencies_ms(lambda c=client: c.count(RULE), calls)),
                                 "health": _summary(_latencies_ms(lambda c=client: c.health(), calls))}
        finally:
            process.terminate()
            process.wait(120)
        base = next(iter(results.values()))
        print(f"{name:18} Count p50 {results[name]['count']['p50_ms']:.3f} ms (+{results[name]['count']['p50_ms'] - base['count']['p50_ms']:.3f})"
              f"  p99 {results[name]['count']['p99_ms']:.3f} ms  mean {results[name]['count']['mean_ms']:.3f} ms"
              f" | Health p50 {results[name]['health']['p50_ms']:.3f} ms", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per configuration")
    parser.add_argument("--customers", type=int, default=2000, help="customers in the shop")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    if not 1 <= args.calls <= MAX_CALLS or not 1 <= args.customers <= MAX_CALLS:
        parser.error(f"--calls and --customers must be 1..{MAX_CALLS}")
    with tempfile.TemporaryDirectory(prefix="auth-overhead-") as workdir:
        check_us = token_check_us(Path(workdir), TOKEN_CHECK_CALLS)
        print(f"token check in process: {check_us:.2f} us per call ({TOKEN_CHECK_CALLS} calls)", flush=True)
        results = measure(args.calls, args.customers, Path(workdir))
    if args.json:
        Path(args.json).write_text(json.dumps({"calls": args.calls, "customers": args.customers,
                                               "cpus": os.cpu_count(), "token_check_us": round(check_us, 3),
                                               "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
