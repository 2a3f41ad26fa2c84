"""What the fuzz tests share: hypothesis settings for fuzzing (no deadline: a slow input is bounded by the
tests' own per-input time limit instead; every health check off, inputs are meant to be odd) and the
scratch directory the file-based targets damage copies in (benchmarks/fuzz_targets.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def fuzz_scratch() -> Iterator[None]:
    """The targets' scratch files made once per module and removed after it."""
    from benchmarks.fuzz_targets import remove_scratch, scratch

    scratch()
    yield
    remove_scratch()
