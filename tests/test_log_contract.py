"""The EventLog contract, run against every implementation (after the `eventsourcing` library's
recorder tests): what one backend does, every backend does. A new backend joins by adding a factory."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from indexes.log import (
    AppendResult,
    EventLog,
    FileLog,
    LogClosedError,
    MemoryLog,
    RecordTooLargeError,
)
from indexes.log.codec import MAX_RECORD_BYTES

pytestmark = pytest.mark.timeout(60)


@dataclass
class Backend:
    """Opens a log; `reopens` says whether a second open sees the first one's records."""

    open: Callable[[], EventLog]
    reopens: bool


def _memory(tmp_path: Path) -> Backend:
    return Backend(MemoryLog, reopens=False)


def _file_always(tmp_path: Path) -> Backend:
    return Backend(lambda: FileLog(tmp_path / "log"), reopens=True)


def _file_interval_small_segments(tmp_path: Path) -> Backend:
    # Tiny segments: every test then also crosses many roll-overs.
    return Backend(
        lambda: FileLog(tmp_path / "log", sync="interval", sync_interval_ms=5, segment_size_bytes=2048),
        reopens=True,
    )


def _file_never(tmp_path: Path) -> Backend:
    return Backend(lambda: FileLog(tmp_path / "log", sync="never", segment_size_bytes=64 * 1024), reopens=True)


BACKENDS = {
    "memory": _memory,
    "file-always": _file_always,
    "file-interval-small-segments": _file_interval_small_segments,
    "file-never": _file_never,
}


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return BACKENDS[request.param](tmp_path)


@pytest.fixture
def log(backend: Backend) -> Iterator[EventLog]:
    opened = backend.open()
    yield opened
    opened.close()


def event(i: int, **extra: object) -> dict:
    return {
        "event_id": f"e-{i:06d}",
        "customer_id": f"c-{i % 97}",
        "type": "product_viewed",
        "ts": 1763630000000 + i,
        "attrs": {"product_id": f"p-{i % 13}", "price": i * 10},
        **extra,
    }


def test_empty_log(log: EventLog) -> None:
    assert log.end_lsn == 0
    assert list(log.read()) == []
    assert list(log.read_batches()) == []
    log.sync()


def test_round_trip(log: EventLog) -> None:
    records = [event(i) for i in range(5)]
    result = log.append(records)
    assert result == AppendResult(0, 4)
    assert result.count == 5
    assert log.end_lsn == 5
    assert list(log.read()) == list(enumerate(records))


def test_lsns_are_consecutive_across_batches(log: EventLog) -> None:
    expected: list[dict] = []
    for size in [1, 3, 1, 10, 2]:
        batch = [event(len(expected) + k) for k in range(size)]
        result = log.append(batch)
        assert (result.first_lsn, result.last_lsn) == (len(expected), len(expected) + size - 1)
        expected.extend(batch)
    assert log.end_lsn == len(expected)
    assert [lsn for lsn, _ in log.read()] == list(range(len(expected)))
    assert [record for _, record in log.read(7)] == expected[7:]
    assert list(log.read(len(expected))) == []


def test_read_range_is_checked(log: EventLog) -> None:
    log.append([event(0)])
    with pytest.raises(ValueError):
        log.read(2)
    with pytest.raises(ValueError):
        log.read(-1)


def test_read_batches_equal_read(log: EventLog) -> None:
    records = [event(i) for i in range(57)]
    for start in range(0, 57, 10):
        log.append(records[start : start + 10])
    batches = list(log.read_batches(5, max_records=8))
    assert all(0 < len(batch) <= 8 for _, batch in batches)
    flattened = [(first + k, record) for first, batch in batches for k, record in enumerate(batch)]
    assert flattened == list(log.read(5))
    assert [record for _, record in flattened] == records[5:]


def test_read_is_a_snapshot(log: EventLog) -> None:
    log.append([event(0), event(1)])
    reader = log.read()
    log.append([event(2)])
    assert [lsn for lsn, _ in reader] == [0, 1]
    assert [lsn for lsn, _ in log.read()] == [0, 1, 2]


def test_concurrent_producers_acknowledged_once_in_one_order(log: EventLog) -> None:
    producers, appends_each = 8, 25
    results: dict[int, list[tuple[AppendResult, list[dict]]]] = {p: [] for p in range(producers)}
    errors: list[BaseException] = []
    start = threading.Barrier(producers)

    def produce(p: int) -> None:
        try:
            start.wait()
            for seq in range(appends_each):
                batch = [{"producer": p, "seq": seq, "k": k} for k in range(1 + (p + seq) % 5)]
                results[p].append((log.append(batch), batch))
        except BaseException as exc:  # reported below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    ranges = sorted((r.first_lsn, r.last_lsn) for mine in results.values() for r, _ in mine)
    total = sum(len(batch) for mine in results.values() for _, batch in mine)
    assert ranges[0][0] == 0 and ranges[-1][1] == total - 1
    assert all(prev[1] + 1 == nxt[0] for prev, nxt in zip(ranges, ranges[1:], strict=False))
    assert log.end_lsn == total
    stored = dict(log.read())
    for mine in results.values():
        # A producer's batches get increasing LSNs, and each batch is stored whole at its LSNs.
        assert [r.first_lsn for r, _ in mine] == sorted(r.first_lsn for r, _ in mine)
        for result, batch in mine:
            assert [stored[lsn] for lsn in range(result.first_lsn, result.last_lsn + 1)] == batch


def test_large_records(log: EventLog) -> None:
    big = {"blob": "x" * (2 * 1024 * 1024), "bytes": bytes(range(256)) * 1000}
    small = event(1)
    log.append([small, big, small])
    assert [record for _, record in log.read()] == [small, big, small]
    with pytest.raises(RecordTooLargeError):
        log.append([{"blob": "y" * (MAX_RECORD_BYTES + 1)}])
    assert log.end_lsn == 3


def test_unicode_and_value_types(log: EventLog) -> None:
    records = [
        {"customer_id": "c-ğüşiöç-İstanbul", "note": "naïve café ☕ 日本語 🎉", "ключ": "значение"},
        {"nested": {"list": [1, 2.5, None, True, "ß"], "empty": {}}, "neg": -(2**63), "big": 2**64 - 1},
        {"tuple": (1, 2), "emoji_key_😀": "", "zero": "\u0000"},
    ]
    log.append(records)
    back = [record for _, record in log.read()]
    assert back[:2] == records[:2]
    assert back[2] == {"tuple": [1, 2], "emoji_key_😀": "", "zero": "\u0000"}  # tuples come back as lists


def test_bad_batches_are_rejected_whole(log: EventLog) -> None:
    log.append([event(0)])
    with pytest.raises(ValueError):
        log.append([])
    with pytest.raises(TypeError):
        log.append([event(1), "neither a map nor an array"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        log.append([event(2), {"a set": {1, 2}}])
    assert log.end_lsn == 1
    assert [record for _, record in log.read()] == [event(0)]


def test_closed_log_refuses_calls(backend: Backend) -> None:
    with backend.open() as log:
        log.append([event(0)])
    with pytest.raises(LogClosedError):
        log.append([event(1)])
    with pytest.raises(LogClosedError):
        log.read()
    log.close()  # idempotent


def test_reopen_keeps_everything(backend: Backend) -> None:
    if not backend.reopens:
        pytest.skip("this backend does not persist")
    records = [event(i, pad="p" * (i % 50)) for i in range(300)]
    with backend.open() as log:
        for start in range(0, 300, 30):
            log.append(records[start : start + 30])
        log.sync()
    with backend.open() as log:
        assert log.end_lsn == 300
        assert [record for _, record in log.read()] == records
        assert log.append([event(300)]) == AppendResult(300, 300)
    with backend.open() as log:
        assert [record for _, record in log.read(299)] == [records[299], event(300)]
