"""Start or join the Ray runtime the shard actors run in.

The service runs on one machine: `ray.init` starts a local runtime (a small object store, no dashboard,
quiet logs) unless the process already has one (a test session, or an embedding application that
called `ray.init` itself). Only a runtime started here is shut down by `shutdown_if_started`.
"""

from __future__ import annotations

import logging

import ray

# Calls carry record batches and member pages, not bulk data; Ray's minimum is 75 MiB.
OBJECT_STORE_SIZE_BYTES = 128 * 1024 * 1024


def ensure_ray(address: str | None = None) -> bool:
    """Initialise Ray unless it is; True when this call started (or joined) it."""
    if ray.is_initialized():
        return False
    options: dict = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False}
    if address is None:
        # "local": a runtime of our own, even when another one (`ray start`) runs on the machine.
        options.update(address="local", object_store_memory=OBJECT_STORE_SIZE_BYTES)
    else:
        options["address"] = address  # an existing cluster brings its own object store
    ray.init(**options)
    return True


def shutdown_if_started(started: bool) -> None:
    if started and ray.is_initialized():
        ray.shutdown()
