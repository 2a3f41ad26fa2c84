"""Fuzz soak: every target of benchmarks/fuzz_targets.py, a mutation loop over seed inputs.

    python -m benchmarks.fuzz_soak --inputs 1000000        # the soak (issue 10: >= 1M inputs in total)
    python -m benchmarks.fuzz_soak --quick                 # 20k inputs, run by tests/test_fuzz_soak.py
    python -m benchmarks.fuzz_soak --engine atheris --target rule_text --inputs 200000

The loop (default engine) mutates seed inputs - valid rules in both forms, records as JSON, msgpack and
IngestRequest bytes, damage scripts for the log and snapshot files, choice streams for the
structure-aware targets - with bit flips, interesting bytes, deletions, duplicated chunks (deeper
nesting), grammar keywords and splices of two seeds; random bytes too. Inputs are split across targets
by weight (file-system targets are ~100x slower per input). Every input runs under a time bound
(SIGALRM); one that exceeds it runs again with six times the bound, and is a finding (a hang) only if
it exceeds that too - otherwise it is counted as slow (a shared machine's file-system stalls). A
C-level watchdog (faulthandler) ends the process with every
thread's traceback if 100 inputs take over 300 s, for a call stuck where SIGALRM cannot interrupt it.
RSS is sampled with psutil every 500 inputs; a target fails when it grows more than --rss-growth-mib
above its level after warm-up.
Findings (an exception a target does not allow, a hang) are written to --findings-dir with the
traceback, and the run exits 1. `--engine atheris` runs one target under libFuzzer with coverage
instrumentation of indexes/ and service/ instead (its own -timeout and -rss_limit_mb).

Prints per target: inputs, seconds, inputs/s, max RSS, RSS growth, slow inputs, findings; then totals.
"""

from __future__ import annotations

import argparse
import faulthandler
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgpack
import psutil

from benchmarks import fuzz_targets
from benchmarks.fuzz_targets import RULE_TEXTS, TARGETS, HangError, seed_records, time_bound

QUICK_INPUTS = 20_000
RSS_SAMPLE_EVERY = 500
WARMUP_INPUTS = 2_000
MAX_MUTATED_BYTES = 8 * 1024
HANG_CONFIRM_FACTOR = 6  # a second run of an input that hit the time bound gets this many times longer
WATCHDOG_EVERY = 100  # inputs between re-arms of the C-level watchdog (re-arming costs ~30 us)
WATCHDOG_S = 300.0  # for WATCHDOG_EVERY inputs: far above any honest run, even on a loaded machine
# Relative cost: the file-system targets write and read files for every input.
WEIGHTS = {"rule_text": 3, "rule_json": 3, "rule_tokens": 3, "rule_json_shaped": 3, "record_shaped": 3,
           "record_json": 2, "record_msgpack": 2, "wire_records": 3, "page_tokens": 2, "log_frames": 3, "log_open": 1, "log_random_file": 1,
           "snapshot_files": 1, "snapshot_manifest": 1}
assert set(WEIGHTS) == set(TARGETS)

KEYWORDS = [b"(", b")", b"not ", b" and ", b" or ", b"all(", b"any(", b"count(", b"sum(", b", last ", b" days",
            b"between ", b"\"", b"\\u", b"\\ud800", b"9999999999999999999999", b"-0.000001", b"2026-02-30",
            b"{", b"}", b"[", b"]", b'{"not":', b'"all":[', b"null", b"1e999", b"\x00", b"\xff", b"in (",
            b"where ", b"in_segment(", b"exists", b"#", b"\n"]
INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, ord('"'), ord("\\"), ord("("), ord("{"), ord("["), ord("9"), ord("-")]


def seeds(target: str) -> list[bytes]:
    """Starting inputs: valid ones (so mutations reach past the first check) and a few odd ones."""
    from indexes.rules import rule_to_json
    from indexes.rules.text_form import parse_unvalidated
    from proto.segments.v1 import ingest_pb2
    from service.convert_records import records_to_pb

    if target == "rule_text":
        return [text.encode() for text in RULE_TEXTS]
    if target == "rule_json":
        return [json.dumps(rule_to_json(parse_unvalidated(text))).encode() for text in RULE_TEXTS]
    if target == "record_json":
        return [json.dumps(r).encode() for r in seed_records()]
    if target == "record_msgpack":
        return [msgpack.packb(r) for r in seed_records()]
    if target == "wire_records":
        return [ingest_pb2.IngestRequest(records=records_to_pb(seed_records())).SerializeToString()]
    return [bytes(range(0, 256, 7)), b"\x00\x00\x10" * 8, b"\x01\x00\x40\x03\xff\xff", b""]


class Mutator:
    def __init__(self, corpus: list[bytes], rng: random.Random) -> None:
        assert corpus
        self.corpus = corpus
        self.rng = rng

    def next_input(self) -> bytes:
        rng = self.rng
        if rng.random() < 0.05:
            return rng.randbytes(rng.randrange(64))
        data = bytearray(rng.choice(self.corpus))
        for _ in range(rng.randrange(1, 5)):
            self._mutate(data)
        return bytes(data[:MAX_MUTATED_BYTES])

    def _mutate(self, data: bytearray) -> None:
        rng = self.rng
        choice = rng.randrange(7)
        at = rng.randrange(len(data) + 1)
        if choice == 0 and data:
            data[at % len(data)] ^= 1 << rng.randrange(8)
        elif choice == 1 and data:
            data[at % len(data)] = rng.choice(INTERESTING)
        elif choice == 2:
            del data[at:at + rng.randrange(1, 9)]
        elif choice == 3:
            end = min(len(data), at + rng.randrange(1, 32))
            data[at:at] = data[at:end] * rng.randrange(1, 20)  # repeated chunks nest deeper
        elif choice == 4:
            data[at:at] = rng.choice(KEYWORDS)
        elif choice == 5:
            other = rng.choice(self.corpus)
            cut = rng.randrange(len(other) + 1)
            data[at:] = other[cut:]
        else:
            data[at:at] = rng.randbytes(rng.randrange(1, 5))


@dataclass
class TargetRun:
    name: str
    inputs: int = 0
    seconds: float = 0.0
    max_rss_mib: float = 0.0
    rss_growth_mib: float = 0.0
    findings: int = 0
    slow: int = 0  # inputs over the time bound once that finished on a second, longer run

    @property
    def per_second(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0


def _run_one(target: Callable[[bytes], None], data: bytes, timeout_s: float) -> BaseException | None:
    """What escaped the target for `data` (a finding), or None."""
    try:
        with time_bound(timeout_s):
            target(data)
    except (Exception, HangError) as error:  # noqa: BLE001 - every escape is a finding
        return error
    return None


def _rss_mib(process: psutil.Process) -> float:
    return process.memory_info().rss / (1 << 20)


def _record_finding(findings_dir: Path, target: str, data: bytes, error: BaseException) -> None:
    findings_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:16]
    (findings_dir / f"{target}-{digest}.bin").write_bytes(data)
    text = "".join(traceback.format_exception(error))
    (findings_dir / f"{target}-{digest}.txt").write_text(text, encoding="utf-8")
    print(f"  FINDING {target}: {type(error).__name__}: {str(error)[:200]} -> {findings_dir}/{target}-{digest}.bin",
          flush=True)


def run_target(name: str, inputs: int, *, seed: int, timeout_s: float, rss_growth_mib: float,
               findings_dir: Path, max_findings: int = 20) -> TargetRun:
    target: Callable[[bytes], None] = TARGETS[name]
    run = TargetRun(name)
    mutator = Mutator(seeds(name), random.Random(f"{seed}:{name}"))
    process = psutil.Process()
    baseline_mib: float | None = None
    started = time.perf_counter()
    for index in range(inputs):
        if index % WATCHDOG_EVERY == 0:
            # SIGALRM interrupts Python code only; a call stuck in C (a regex, a decoder) is caught by
            # this C-level watchdog, which prints every thread's traceback and ends the process.
            faulthandler.dump_traceback_later(WATCHDOG_S, exit=True)
        data = mutator.next_input()
        error = _run_one(target, data, timeout_s)
        if isinstance(error, HangError):
            # A hang is confirmed by running the input again with a longer bound: on a shared machine
            # a file-system stall can hold one input for seconds (seen at load 27: os.rmdir of the
            # scratch directory), and such an input then takes milliseconds.
            retried = _run_one(target, data, timeout_s * HANG_CONFIRM_FACTOR)
            if retried is None:
                run.slow += 1
                print(f"  slow, not hung: {name} input took over {timeout_s} s once, then finished in time "
                      f"({str(error)[:80]})", flush=True)
            error = retried
        if error is not None:
            run.findings += 1
            if run.findings <= max_findings:
                _record_finding(findings_dir, name, data, error)
        if index % RSS_SAMPLE_EVERY == 0 or index == inputs - 1:
            rss = _rss_mib(process)
            run.max_rss_mib = max(run.max_rss_mib, rss)
            if index >= min(WARMUP_INPUTS, inputs // 4) and baseline_mib is None:
                baseline_mib = rss
            if baseline_mib is not None:
                run.rss_growth_mib = max(run.rss_growth_mib, rss - baseline_mib)
        run.inputs = index + 1
    faulthandler.cancel_dump_traceback_later()
    run.seconds = time.perf_counter() - started
    if run.rss_growth_mib > rss_growth_mib:
        print(f"  FINDING {name}: RSS grew {run.rss_growth_mib:.1f} MiB after warm-up (bound {rss_growth_mib} MiB)")
        run.findings += 1
    return run


def split_inputs(total: int, names: list[str]) -> dict[str, int]:
    weight = sum(WEIGHTS[n] for n in names)
    shares = {n: total * WEIGHTS[n] // weight for n in names}
    shares[names[0]] += total - sum(shares.values())
    return shares


def run_atheris(argv: list[str]) -> int:
    """libFuzzer ends its process without running atexit hooks, so it runs in a child whose scratch
    directory lives in one this process removes afterwards."""
    with tempfile.TemporaryDirectory(prefix="fuzz-atheris-") as parent:
        child = [sys.executable, "-m", "benchmarks.fuzz_soak", *argv, "--engine", "atheris-child"]
        done = subprocess.run(child, env={**os.environ, fuzz_targets.SCRATCH_PARENT_ENV: parent}, check=False)
    return done.returncode


def run_atheris_child(name: str, inputs: int, timeout_s: float, rss_limit_mib: int, findings_dir: Path) -> int:
    """One target under libFuzzer (coverage-guided); atheris exits the process when done."""
    import atheris

    # The readers are imported already (by fuzz_targets): instrument the loaded code for coverage.
    atheris.instrument_all()
    fuzz_targets.scratch()
    target = TARGETS[name]
    corpus_dir = Path(fuzz_targets.scratch().root) / f"corpus-{name}"
    corpus_dir.mkdir(exist_ok=True)
    for i, data in enumerate(seeds(name)):
        (corpus_dir / f"seed-{i}").write_bytes(data)
    argv = [sys.argv[0], f"-runs={inputs}", f"-timeout={max(1, int(timeout_s))}", f"-rss_limit_mb={rss_limit_mib}",
            f"-max_len={MAX_MUTATED_BYTES}", "-print_final_stats=1", f"-artifact_prefix={findings_dir}/{name}-",
            str(corpus_dir)]
    findings_dir.mkdir(parents=True, exist_ok=True)
    atheris.Setup(argv, target)
    atheris.Fuzz()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=1_000_000, help="inputs in total, split across targets")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_INPUTS} inputs in total")
    parser.add_argument("--target", action="append", choices=sorted(TARGETS), help="only these (repeatable)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout-s", type=float, default=5.0, help="per input; longer is a hang")
    parser.add_argument("--rss-growth-mib", type=float, default=256.0, help="per target, after warm-up")
    parser.add_argument("--findings-dir", type=Path, default=Path("benchmarks/results/fuzz_findings"))
    parser.add_argument("--engine", choices=("loop", "atheris", "atheris-child"), default="loop",
                        help="atheris-child: internal (the process libFuzzer runs in)")
    args = parser.parse_args(argv)
    total = QUICK_INPUTS if args.quick else args.inputs
    if total < 1 or args.timeout_s <= 0:
        parser.error("--inputs and --timeout-s must be positive")
    names = args.target or list(TARGETS)
    if args.engine != "loop" and len(names) != 1:
        parser.error("--engine atheris runs one --target")
    if args.engine == "atheris":
        return run_atheris(list(argv if argv is not None else sys.argv[1:]))  # the child's --engine comes last
    if args.engine == "atheris-child":
        return run_atheris_child(names[0], total, args.timeout_s, int(args.rss_growth_mib) + 1024, args.findings_dir)
    print(f"fuzz soak: {total} inputs over {len(names)} targets, seed {args.seed}, {args.timeout_s} s per input",
          flush=True)
    runs: list[TargetRun] = []
    try:
        fuzz_targets.scratch()  # the files targets damage copies of, made outside any input's time bound
        for name, count in split_inputs(total, names).items():
            run = run_target(name, count, seed=args.seed, timeout_s=args.timeout_s,
                             rss_growth_mib=args.rss_growth_mib, findings_dir=args.findings_dir)
            runs.append(run)
            print(f"{name:18} {run.inputs:>9} inputs {run.seconds:8.1f} s {run.per_second:9.0f}/s "
                  f"max RSS {run.max_rss_mib:7.1f} MiB growth {run.rss_growth_mib:6.1f} MiB slow {run.slow} "
                  f"findings {run.findings}",
                  flush=True)
    finally:
        fuzz_targets.remove_scratch()
    inputs = sum(r.inputs for r in runs)
    seconds = sum(r.seconds for r in runs)
    findings = sum(r.findings for r in runs)
    print(f"{'total':18} {inputs:>9} inputs {seconds:8.1f} s {inputs / max(seconds, 1e-9):9.0f}/s "
          f"max RSS {max(r.max_rss_mib for r in runs):7.1f} MiB slow {sum(r.slow for r in runs)} findings {findings}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
