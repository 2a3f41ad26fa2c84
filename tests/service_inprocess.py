"""Run service.server in this process on a background event loop (fast handler tests, no Ray)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any

from actors.api import SegmentsBackend
from service.server import Running, ServerOptions, start_server, stop_server

START_TIMEOUT_S = 30


class InProcessServer:
    def __init__(self, backend: SegmentsBackend, options: ServerOptions | None = None, host: str = "127.0.0.1") -> None:
        self.backend = backend
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="grpc-aio-test-server", daemon=True)
        self._thread.start()
        self._running: Running = self.run(start_server(backend, host, 0, options=options))
        self.target = f"{host}:{self._running.port}"

    def run(self, coroutine: Any) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(START_TIMEOUT_S)

    def stop(self) -> None:
        self.run(stop_server(self._running, grace_s=2))
        self.run(self.backend.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_TIMEOUT_S)
