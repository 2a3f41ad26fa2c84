"""Crash soak: a child ingests batches in a loop and is killed with SIGKILL at random moments; after
each kill the workspace is reopened and checked (tests/test_durable_crash.py runs a short version).

    python -m benchmarks.crash_soak --kills 500 [--mode fork|spawn] [--threads 3] [--seed 1] [--json out.json]
    python -m benchmarks.crash_soak child --data-dir DIR --start N ...   (what spawn mode runs)

The child prints `ACK n` (flushed) after batch n is acknowledged. Batch n holds one event per customer
c-0..c-(size-1), ids `b{n}-{i}`, and one profile write (language `l{n}` of customer c-(n % size),
last writer wins by ts = n). On restart the child first re-sends the batches just before `start`:
retries, as a client would after a crash. After each kill the check asserts:

* every acknowledged batch is present, and every batch is present whole or not at all (its event ids
  are all "seen" or none is: nothing half-applied);
* exactly once: the number of event rows equals `size` times the batches present, and every customer
  has exactly one page_viewed per batch present;
* the profile of each customer is that of the newest batch present that wrote it.

Fork mode forks the (already imported) harness, so a kill cycle costs milliseconds, not an
interpreter start; spawn mode runs the child with `python -m`, as an operator's process would be.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexes.durable import DurableEngine

BASE_MS = 1_763_000_000_000
FAR_MS = 10**13


def batch_records(n: int, size: int) -> list[dict]:
    events = [
        {"event_id": f"b{n}-{i}", "customer_id": f"c-{i}", "type": "page_viewed", "ts": BASE_MS + n * 1000 + i,
         "attrs": {"url": f"/b{n}"}}
        for i in range(size)
    ]
    return [*events, {"customer_id": f"c-{n % size}", "ts": n, "properties": {"language": f"l{n}"}}]


# --- the child ---------------------------------------------------------------------------------
def child_loop(data_dir: Path, start: int, size: int, threads: int, snapshot_every: int, out: object) -> None:
    """Ingest forever from `threads` producers; print each acknowledged batch. Never returns normally."""
    engine = DurableEngine.open(data_dir)
    lock = threading.Lock()
    print("READY", file=out, flush=True)  # type: ignore[call-overload]
    next_batch = [max(0, start - 3)]  # re-send the last batches before `start`: retries

    def produce() -> None:
        while True:
            with lock:
                n = next_batch[0]
                next_batch[0] += 1
            engine.ingest(batch_records(n, size))
            with lock:
                print(f"ACK {n}", file=out, flush=True)  # type: ignore[call-overload]
            if snapshot_every and n % snapshot_every == 0:
                engine.snapshot()

    workers = [threading.Thread(target=produce, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


# --- the check ---------------------------------------------------------------------------------
@dataclass
class CheckResult:
    present: list[int]
    open_seconds: float
    snapshot_used: bool
    torn_records: int


def check_workspace(data_dir: Path, acked: set[int], sent_up_to: int, size: int) -> CheckResult:
    """Open the workspace and assert the invariants in the module docstring; AssertionError if not."""
    started = time.perf_counter()
    engine, report = DurableEngine.open_with_report(data_dir)
    open_seconds = time.perf_counter() - started
    with engine:
        batches = sent_up_to + 1
        ids = [f"b{n}-{i}" for n in range(batches) for i in range(size)]
        with engine.read_state() as inner:
            fresh, _ = inner.shard.event_ids.filter_new(ids)
            seen_per_batch = (~fresh).reshape(batches, size).sum(axis=1) if batches else np.zeros(0)
            event_rows = inner.shard.event_count
        half = [(n, int(k)) for n, k in enumerate(seen_per_batch.tolist()) if 0 < k < size]
        assert not half, f"half-applied batches (batch, events seen): {half[:5]}"
        present = [n for n, k in enumerate(seen_per_batch.tolist()) if k == size]
        lost = sorted(acked - set(present))
        assert not lost, f"acknowledged batches lost: {lost[:10]}"
        assert event_rows == size * len(present), f"{event_rows} event rows for {len(present)} batches"
        if present:
            members = engine.members(f"count(page_viewed) = {len(present)}", FAR_MS)
            assert len(members) == size, f"{len(members)} customers with exactly one event per batch"
            for i in range(size):
                writers = [n for n in present if n % size == i]
                if writers:
                    assert engine.members(f'language = "l{max(writers)}"', FAR_MS).count(f"c-{i}") == 1
    return CheckResult(present, open_seconds, report.snapshot is not None, report.replay.uncommitted_records)


# --- kill cycles ---------------------------------------------------------------------------------
@dataclass
class SoakState:
    data_dir: Path
    size: int = 8
    threads: int = 3
    snapshot_every: int = 25
    acked: set[int] = field(default_factory=set)
    sent_up_to: int = -1  # highest batch number any child may have sent
    kills: int = 0
    open_seconds: list[float] = field(default_factory=list)
    snapshot_opens: int = 0
    torn_opens: int = 0

    @property
    def start(self) -> int:
        return max(self.acked, default=-1) + 1


def _parse_acks(text: str, state: SoakState) -> None:
    for line in text.splitlines():
        if line.startswith("ACK "):
            state.acked.add(int(line[4:]))


def _kill_delay_s(rng: random.Random, early: bool) -> float:
    """Early kills land while the child opens (snapshot load, replay, abort mark); the others while
    it ingests, at any moment of a batch (validate, append, fsync, apply, snapshot)."""
    return rng.uniform(0.0, 0.08) if early else rng.uniform(0.0, 0.25)


def fork_cycle(state: SoakState, rng: random.Random) -> None:
    start = state.start
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        os.close(read_fd)
        code = 1
        try:
            out = os.fdopen(write_fd, "w", buffering=1)
            child_loop(state.data_dir, start, state.size, state.threads, state.snapshot_every, out)
        finally:
            os._exit(code)
    os.close(write_fd)
    early = rng.random() < 0.25
    reader = _PipeReader(read_fd)
    if not early:
        reader.wait_ready(timeout_s=60)
    time.sleep(_kill_delay_s(rng, early))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    _parse_acks(reader.finish(), state)
    state.sent_up_to = max(state.sent_up_to, reader.highest_possible(start, state.threads))
    state.kills += 1


def spawn_cycle(state: SoakState, rng: random.Random) -> None:
    start = state.start
    command = [sys.executable, "-m", "benchmarks.crash_soak", "child", "--data-dir", str(state.data_dir),
               "--start", str(start), "--size", str(state.size), "--threads", str(state.threads),
               "--snapshot-every", str(state.snapshot_every)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1])
    assert process.stdout is not None
    reader = _PipeReader(process.stdout.fileno())
    early = rng.random() < 0.25
    if not early:
        reader.wait_ready(timeout_s=120)
    time.sleep(_kill_delay_s(rng, early))
    process.send_signal(signal.SIGKILL)
    process.wait()
    _parse_acks(reader.finish(), state)
    state.sent_up_to = max(state.sent_up_to, reader.highest_possible(start, state.threads))
    state.kills += 1


class _PipeReader:
    """Drains a child's stdout in a thread, so the child never blocks on a full pipe."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._eof = False
        self._text = ""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:  # ends at EOF: the child exited or was killed
                chunk = os.read(self._fd, 65536)
                if not chunk:
                    return
                with self._lock:
                    self._chunks.append(chunk)
                    if not self._ready.is_set() and b"READY" in b"".join(self._chunks[:2]):
                        self._ready.set()
        finally:
            self._eof = True
            self._ready.set()

    def wait_ready(self, timeout_s: float) -> None:
        """Until the child printed READY; raises if it exited first or took too long."""
        if not self._ready.wait(timeout_s):
            raise TimeoutError("the child did not become ready")
        with self._lock:
            if b"READY" not in b"".join(self._chunks[:2]):
                raise RuntimeError("the child exited before it was ready (see its stderr)")

    def finish(self) -> str:
        self._thread.join(30)
        os.close(self._fd)
        with self._lock:
            self._text = b"".join(self._chunks).decode()
        return self._text

    def highest_possible(self, start: int, threads: int) -> int:
        """A batch may have been sent without its ACK being printed: at most `threads` past the last."""
        acks = [int(line[4:]) for line in self._text.splitlines() if line.startswith("ACK ")]
        return max([start - 1, *acks]) + threads


def soak(state: SoakState, kills: int, mode: str, seed: int, spawn_every: int = 0) -> list[CheckResult]:
    """`kills` kill-and-check cycles; with spawn_every=k, every k-th cycle spawns instead of forking."""
    rng = random.Random(seed)
    results = []
    for cycle in range(kills):
        spawn = mode == "spawn" or (spawn_every and cycle % spawn_every == spawn_every - 1)
        (spawn_cycle if spawn else fork_cycle)(state, rng)
        result = check_workspace(state.data_dir, state.acked, state.sent_up_to, state.size)
        state.open_seconds.append(result.open_seconds)
        state.snapshot_opens += result.snapshot_used
        state.torn_opens += result.torn_records > 0
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("role", nargs="?", default="soak", choices=["soak", "child"])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=3)
    parser.add_argument("--snapshot-every", type=int, default=25)
    parser.add_argument("--kills", type=int, default=500)
    parser.add_argument("--mode", choices=["fork", "spawn"], default="fork")
    parser.add_argument("--spawn-every", type=int, default=10, help="in fork mode, every k-th cycle spawns")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.role == "child":
        child_loop(args.data_dir, args.start, args.size, args.threads, args.snapshot_every, sys.stdout)
        return 0
    import tempfile

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="crash-soak-"))
    state = SoakState(data_dir, args.size, args.threads, args.snapshot_every)
    started = time.perf_counter()
    results = soak(state, args.kills, args.mode, args.seed, args.spawn_every if args.mode == "fork" else 0)
    out = {
        "kills": state.kills,
        "mode": args.mode,
        "acknowledged_batches": len(state.acked),
        "present_batches": len(results[-1].present) if results else 0,
        "opens_from_snapshot": state.snapshot_opens,
        "opens_with_torn_batch": state.torn_opens,
        "open_seconds_max": round(max(state.open_seconds, default=0.0), 3),
        "seconds": round(time.perf_counter() - started, 1),
        "data_dir": str(data_dir),
        "result": "ok: every acknowledged batch present exactly once, none half-applied",
    }
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
