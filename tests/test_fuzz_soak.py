"""The fuzz soak's quick mode (benchmarks/fuzz_soak.py --quick: 20k inputs over every target) finds
nothing, stays within its RSS bound and prints its figures; the 1M-input soak is run by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.fuzz_targets import TARGETS

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parent.parent


def test_quick_soak_runs_every_target_without_findings(tmp_path: Path) -> None:
    findings = tmp_path / "findings"
    done = subprocess.run([sys.executable, "-m", "benchmarks.fuzz_soak", "--quick", "--findings-dir", str(findings)],
                          cwd=ROOT, capture_output=True, text=True, timeout=150, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for name in TARGETS:
        [line] = [row for row in lines if row.startswith(name + " ")]
        assert line.endswith("findings 0"), line
    [total] = [row for row in lines if row.startswith("total ")]
    assert total.split()[1] == "20000", total
    assert not findings.exists()
