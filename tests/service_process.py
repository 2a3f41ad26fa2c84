"""`segments serve` in a subprocess, as an operator runs it: read the `listening on` line, stop with SIGTERM."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

START_TIMEOUT_S = 120  # Ray start + shard recovery on a busy 2-core machine
STOP_TIMEOUT_S = 60
LISTENING = "listening on "


class ServerProcess:
    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.extra = extra
        self.process: subprocess.Popen[str] | None = None
        self.target = ""
        self.stderr_path = data_dir.parent / f"{data_dir.name}.server.log"
        self.start()

    def start(self) -> None:
        assert self.process is None
        # `python -m service.cli` is what the `segments` console script runs, without depending on the
        # script in .venv/bin having been regenerated since pyproject changed.
        command = [sys.executable, "-m", "service.cli", "serve", "--port", "0", "--data-dir", str(self.data_dir),
                   *self.extra]
        self._stderr = open(self.stderr_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
                                        cwd=Path(__file__).resolve().parents[1], env={**os.environ, "PYTHONUNBUFFERED": "1"})
        lines: queue.Queue[str] = queue.Queue()
        stdout = self.process.stdout
        assert stdout is not None
        threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
        try:
            line = lines.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            self.process.kill()
            raise AssertionError(f"no `listening on` line in {START_TIMEOUT_S} s; log: {self.log_tail()}") from None
        assert line.startswith(LISTENING), f"unexpected first line {line!r}; log: {self.log_tail()}"
        self.target = line[len(LISTENING):].strip()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the server (0: it was signalled already) and wait for it; its exit code."""
        assert self.process is not None
        if sig:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT_S)
            raise AssertionError(f"server did not stop within {STOP_TIMEOUT_S} s; log: {self.log_tail()}") from None
        finally:
            self._stderr.close()
        self.process = None
        return code

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.stderr_path.read_text(encoding="utf-8").splitlines()[-lines:])
        except OSError:
            return "(no log)"
