"""The checked-in generated modules match the .proto files; `segments` is the service-level CLI."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

from tests.paths import REPO


def test_generated_modules_are_up_to_date() -> None:
    result = subprocess.run([sys.executable, "-m", "proto.generate", "--check"], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_console_script_is_the_service_cli() -> None:
    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts.get("segments") == "service.cli:main"


def test_check_loads_neither_grpc_nor_ray() -> None:
    code = ("import sys; from service.cli import main; main(['check', 'order_count >= 5']); "
            "print(sorted(m for m in ('grpc', 'ray') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.splitlines()[-1] == "[]", result.stderr
