"""A small HDR-style latency histogram: log-linear buckets, mergeable across processes.

Values (microseconds) fall in buckets that are exact below SUB_BUCKETS and, above it, SUB_BUCKETS
linear buckets per power of two, so every recorded value is known to within 1/SUB_BUCKETS (~0.8 %)
whatever its size, in a fixed-size array (no samples kept; a million-count run costs the same memory).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SUB_BUCKETS = 128  # linear buckets per power of two: relative error <= 1/128
MAX_EXPONENT = 40  # values up to 2**40 us (~12 days): any latency a bounded run can see
BUCKETS = SUB_BUCKETS * (MAX_EXPONENT + 1)


def bucket_of(value_us: int) -> int:
    assert value_us >= 0
    if value_us < SUB_BUCKETS:
        return value_us
    exponent = value_us.bit_length() - SUB_BUCKETS.bit_length()  # shift that brings it into [128, 256)
    index = (exponent + 1) * SUB_BUCKETS + ((value_us >> exponent) - SUB_BUCKETS)
    return min(index, BUCKETS - 1)


def bucket_high(index: int) -> int:
    """The largest value of a bucket (what a percentile reports: never under the true value)."""
    if index < SUB_BUCKETS:
        return index
    exponent = index // SUB_BUCKETS - 1
    return ((SUB_BUCKETS + index % SUB_BUCKETS + 1) << exponent) - 1


@dataclass
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    total: int = 0
    max_us: int = 0

    def record(self, value_us: int) -> None:
        self.counts[bucket_of(value_us)] += 1
        self.total += 1
        self.max_us = max(self.max_us, value_us)

    def merge(self, other: Histogram) -> None:
        for i, n in enumerate(other.counts):
            if n:
                self.counts[i] += n
        self.total += other.total
        self.max_us = max(self.max_us, other.max_us)

    def percentile_us(self, q: float) -> int:
        assert 0.0 <= q <= 1.0
        if self.total == 0:
            return 0
        rank = max(1, int(round(q * self.total)))  # the rank-th smallest value
        seen = 0
        for i, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                return min(bucket_high(i), self.max_us)
        return self.max_us

    def summary_ms(self) -> dict[str, float]:
        out = {f"p{label}": round(self.percentile_us(q) / 1000, 3)
               for label, q in (("50", 0.5), ("90", 0.9), ("99", 0.99), ("99.9", 0.999))}
        out["max"] = round(self.max_us / 1000, 3)
        out["count"] = self.total
        return out

    def to_sparse(self) -> dict[str, int]:
        """Non-empty buckets only (for JSON and for sending between processes)."""
        return {str(i): n for i, n in enumerate(self.counts) if n}

    @classmethod
    def from_sparse(cls, sparse: dict[str, int], max_us: int) -> Histogram:
        h = cls()
        for i, n in sparse.items():
            h.counts[int(i)] = n
            h.total += n
        h.max_us = max_us
        return h
