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
# Ray starts worker processes at nice 15 so that a laptop's desktop stays responsive. Here the workers
# are the shard actors, where every query and ingest does its work: at nice 15 they get ~1/28 of the
# CPU share of any nice-0 process (the router, gRPC clients on the same machine, other jobs), and under
# load a count waited most of its time for the shard's turn on a core. Same priority as the router.
WORKER_NICENESS = 0


def ensure_ray(address: str | None = None) -> bool:
    """Initialise Ray unless it is; True when this call started (or joined) it."""
    if ray.is_initialized():
        return False
    options: dict = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False}
    if address is None:
        # "local": a runtime of our own, even when another one (`ray start`) runs on the machine.
        options.update(address="local", object_store_memory=OBJECT_STORE_SIZE_BYTES,
                       _system_config={"worker_niceness": WORKER_NICENESS})
    else:
        options["address"] = address  # an existing cluster brings its own object store
    ray.init(**options)
    return True


def shutdown_if_started(started: bool) -> None:
    if started and ray.is_initialized():
        ray.shutdown()
