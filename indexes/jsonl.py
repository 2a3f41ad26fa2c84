"""JSON Lines input (plain or .gz): one record per line, with line numbers for error messages."""

from __future__ import annotations

import gzip
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

from tqdm import tqdm


class JsonlError(ValueError):
    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


def _open(path: str) -> tuple[IO[bytes], IO[bytes]]:
    """(raw file for progress by compressed bytes, stream of decompressed bytes)."""
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    if path.endswith(".gz"):
        return raw, gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw, raw


def iter_jsonl(path: str, *, progress: bool = False) -> Iterator[tuple[int, Any]]:
    """(line number from 1, parsed object) for every non-blank line."""
    raw, stream = _open(path)
    bar = tqdm(total=os.path.getsize(path), unit="B", unit_scale=True, desc=os.path.basename(path),
               file=sys.stderr, disable=not progress, leave=False)
    try:
        last_position = 0
        for number, line in enumerate(stream, start=1):
            if progress and number % 4096 == 0:
                position = raw.tell()
                bar.update(position - last_position)
                last_position = position
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer of > 4,300 digits
                raise JsonlError(path, number, f"malformed JSON: {exc}") from None
            except RecursionError:
                raise JsonlError(path, number, "malformed JSON: nested too deeply") from None
            yield number, value
        bar.update(bar.total - last_position)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise JsonlError(path, 0, f"cannot read: {exc}") from None
    finally:
        bar.close()
        stream.close()
        raw.close()


def read_batches(
    paths: Sequence[str], batch_size: int, *, progress: bool = False
) -> Iterator[list[tuple[str, int, Any]]]:
    """Batches of (path, line, object) across files, at most batch_size each."""
    assert batch_size > 0
    batch: list[tuple[str, int, Any]] = []
    for path in paths:
        for line, obj in iter_jsonl(path, progress=progress):
            batch.append((path, line, obj))
            if len(batch) >= batch_size:
                yield batch
                batch = []
    if batch:
        yield batch
