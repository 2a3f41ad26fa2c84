"""Disk faults under the real server (2 Ray shards): a full disk (a real tmpfs of a few MiB: writes fail
with ENOSPC) and failing fsyncs (EIO, injected through SEGMENTS_FAULT_FSYNC_FILE: indexes/log/
fault_injection.py). Either way the server stops acknowledging - the batch that hit the fault and every
later one get an error, never an ack - and after the fault is gone and the shards restarted (SIGKILL: Ray starts them again), the log
opens (nothing corrupt), every acknowledged batch is there, and re-sending the unacknowledged ones (as
a client retries) stores every record exactly once. RELIABILITY.md, "Faults"."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from indexes.log.fault_injection import FSYNC_FAULT_ENV
from service.client import SegmentsClient
from service.client_types import SegmentsError
from tests.service_process import ServerProcess

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

CUSTOMERS = 50
FAR_MS = 10**13
BASE_MS = 1_763_000_000_000
PADDING = "x" * 400  # makes the disk fill in a few hundred batches
MAX_BATCHES = 5_000  # the disk must be full long before this
ERRORS_AFTER_FAULT = 3  # further batches tried once the first failed: none may be acknowledged
TMPFS_SIZE = "6m"
RESTART_TIMEOUT_S = 120


def batch(n: int) -> list[dict]:
    return [{"event_id": f"b{n}-{i}", "customer_id": f"c-{i}", "type": "page_viewed", "ts": BASE_MS + n * 1000 + i,
             "attrs": {"url": f"/{n}/{PADDING}"}} for i in range(CUSTOMERS)]


def ingest_until_refused(client: SegmentsClient, first: int, fault_after: int | None = None,
                         fault: Path | None = None) -> tuple[set[int], list[int], list[SegmentsError]]:
    """Batches first, first+1, ... until one fails; then ERRORS_AFTER_FAULT more. (acknowledged, refused,
    errors). With `fault_after`, the `fault` file is created after that many batches."""
    acknowledged: set[int] = set()
    refused: list[int] = []
    errors: list[SegmentsError] = []
    for n in range(first, first + MAX_BATCHES):
        if fault is not None and n - first == fault_after:
            fault.touch()
        try:
            result = client.ingest(batch(n))
        except SegmentsError as exc:
            refused.append(n)
            errors.append(exc)
            if len(refused) > ERRORS_AFTER_FAULT:
                break
            continue
        assert not refused, f"batch {n} acknowledged after batch {refused[0]} was refused: {errors[0]}"
        assert result.rejected == 0
        acknowledged.add(n)
    assert refused, f"{MAX_BATCHES} batches stored without a fault"
    return acknowledged, refused, errors


def restart_shards(server: ServerProcess) -> None:
    """SIGKILL every shard actor process: Ray restarts them and each reopens its log (recovery cuts a
    torn tail; a log that failed is only ever reopened, never written again)."""
    assert server.process is not None
    shards = [p for p in psutil.Process(server.process.pid).children(recursive=True)
              if "ShardActor" in " ".join(_cmdline(p))]
    assert len(shards) == 2, shards
    for shard in shards:
        shard.kill()
    psutil.wait_procs(shards, timeout=30)
    time.sleep(1)  # the router notices the lost channels; do not read a SERVING from before the kill
    deadline = time.monotonic() + RESTART_TIMEOUT_S
    with SegmentsClient(server.target, timeout_s=5) as client:
        while time.monotonic() < deadline:  # bounded by the deadline
            with contextlib.suppress(SegmentsError):
                if client.health() == "SERVING":
                    return
            time.sleep(0.2)
    raise AssertionError(f"shards not back within {RESTART_TIMEOUT_S} s; log: {server.log_tail()}")


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def restart_and_verify(server: ServerProcess, acknowledged: set[int], refused: list[int]) -> None:
    """Shards restarted on their logs; acknowledged batches present; retried refused ones stored once."""
    restart_shards(server)
    with SegmentsClient(server.target, timeout_s=60) as client:
        present_before_retry = client.count(f"count(page_viewed) >= {len(acknowledged)}", FAR_MS).count
        assert present_before_retry == CUSTOMERS, "an acknowledged batch was lost"
        for n in refused:  # the client's retry of what was never acknowledged
            assert client.ingest(batch(n)).rejected == 0
        total = len(acknowledged) + len(refused)
        assert client.count(f"count(page_viewed) >= {total}", FAR_MS).count == CUSTOMERS
        assert client.count(f"count(page_viewed) >= {total + 1}", FAR_MS).count == 0, "a duplicated event"
        assert sum(s.events for s in client.stats().shards) == total * CUSTOMERS


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "data"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {made.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_refuses_acknowledgements_and_loses_nothing(small_disk: Path) -> None:
    server = ServerProcess(small_disk, "--shards", "2")
    try:
        with SegmentsClient(server.target, timeout_s=60, ingest_timeout_s=60) as client:
            acknowledged, refused, errors = ingest_until_refused(client, 0)
        assert len(acknowledged) >= 10, "the disk filled before any real work"
        print(f"full disk: {len(acknowledged)} batches acknowledged, then refused: {errors[0]}")
        assert all(e.code.name in {"FAILED_PRECONDITION", "UNAVAILABLE", "INTERNAL", "RESOURCE_EXHAUSTED"}
                   for e in errors), errors
        subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)  # space freed
        restart_and_verify(server, acknowledged, refused)
    finally:
        if server.process is not None:
            server.stop()


def test_failing_fsync_refuses_acknowledgements_and_loses_nothing(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fault = tmp_path / "fsync-fails"
    monkeypatch.setenv(FSYNC_FAULT_ENV, str(fault))  # the server and its shard actors inherit it
    server = ServerProcess(tmp_path / "data", "--shards", "2")
    try:
        with SegmentsClient(server.target, timeout_s=60, ingest_timeout_s=60) as client:
            acknowledged, refused, errors = ingest_until_refused(client, 0, fault_after=20, fault=fault)
            assert len(acknowledged) == 20 and refused[0] == 20, (len(acknowledged), refused)
            print(f"failing fsync: refused: {errors[0]}; then: {errors[-1]}")
            assert all(e.code.name in {"FAILED_PRECONDITION", "UNAVAILABLE", "INTERNAL"} for e in errors), errors
        fault.unlink()  # the disk is healthy again
        restart_and_verify(server, acknowledged, refused)
    finally:
        if server.process is not None:
            server.stop()
