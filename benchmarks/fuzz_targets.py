"""Fuzz targets: one function per decoder an outsider (or a damaged disk) can feed, bytes in.

Each target takes arbitrary bytes, drives one reader the way the service or the engine does, and lets
through only the error that reader documents (RuleError, RecordError lists, LogCorruptError naming a
file and offset, a snapshot skipped with its reason). Anything else propagates: a finding. Targets
also check what a reader promises on success (a parsed rule formats and parses back to itself, an
accepted record encodes for the log and decodes back, an opened log reads to its end).

Used by tests/test_fuzz_*.py (hypothesis drives them) and benchmarks/fuzz_soak.py (a mutation loop,
or atheris). Targets that need files keep them in one scratch directory made on first use.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import FrameType
from typing import Any

import msgpack
from google.protobuf.message import DecodeError

from actors.api import PageTokenError
from indexes.durable import record_codec
from indexes.engine import Engine
from indexes.log import FileLog, LogCorruptError
from indexes.log.codec import BodyRun, new_packer, pack_record, unpack_record
from indexes.log.segment_file import segment_name
from indexes.log.walk import BadFrame, FrameRun, walk_frames
from indexes.records import RecordBatchError, validate_batch
from indexes.rules import RuleError, format_rule, loads_rule_json, parse_rule, rule_from_json, rule_to_json
from indexes.schema import Schema
from indexes.snapshot import load_newest_snapshot, write_snapshot
from indexes.snapshot.layout import snapshot_name
from indexes.snapshot.manifest import FORMAT_VERSION, MANIFEST_FILE, encode_manifest, read_manifest
from proto.segments.v1 import ingest_pb2
from service import cursor_token, page_token
from service.wire_records import validate_wire

SCRATCH_PARENT_ENV = "FUZZ_SCRATCH_PARENT"  # where the scratch directory goes (default: the temp dir)
MAX_INPUT_BYTES = 64 * 1024  # inputs are cut to this: the readers' own limits are tested elsewhere
KNOWN_SEGMENTS = frozenset({"vip", "lapsed-buyers"})
BASE_MS = 1_793_000_000_000  # 2026-10-26
HOUR_MS = 3_600_000
ROLLED_SEGMENT_BYTES = 400  # the base log of several segments rolls over at about this size


class HangError(Exception):
    """One input took longer than its time bound."""


@contextmanager
def time_bound(seconds: float) -> Iterator[None]:
    """SIGALRM after `seconds` raises HangError in the main thread (where fuzz loops run).

    An alarm already armed (pytest-timeout's, in the tests) is put back afterwards with the time it
    had left, and expires no later than it would have: our bound is the shorter of the two."""
    def expire(signum: int, frame: FrameType | None) -> None:
        raise HangError(f"one input ran longer than {seconds:.1f} s")

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    outer_left_s, outer_interval_s = signal.setitimer(signal.ITIMER_REAL, seconds)
    if outer_left_s:
        signal.setitimer(signal.ITIMER_REAL, min(seconds, outer_left_s))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_left_s:
            left_s = max(outer_left_s - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left_s, outer_interval_s)


def _segment_exists(segment_id: str) -> bool:
    return segment_id in KNOWN_SEGMENTS


@lru_cache(maxsize=1)
def schema() -> Schema:
    return Schema()


def _text(data: bytes) -> str:
    return data[:MAX_INPUT_BYTES].decode("utf-8", "replace")


# --- rules --------------------------------------------------------------------------------------------
def _round_trip(rule: Any) -> None:
    text = format_rule(rule)
    assert parse_rule(text, schema(), _segment_exists) == rule, f"text round trip changed the rule: {text!r:.200}"
    assert rule_from_json(rule_to_json(rule), schema(), _segment_exists) == rule, "JSON round trip changed the rule"


def rule_text_value(text: str) -> None:
    """The text form, as Preview/Count/CreateSegment read it (rule.text)."""
    try:
        rule = parse_rule(text, schema(), _segment_exists)
    except RuleError:
        return
    _round_trip(rule)


def rule_text(data: bytes) -> None:
    rule_text_value(_text(data))


def rule_json_value(value: Any) -> None:
    """A decoded JSON value as a rule (the JSON form of rule.json, or a CLI's rule file)."""
    if not isinstance(value, dict):
        return
    try:
        rule = rule_from_json(value, schema(), _segment_exists)
    except RuleError:
        return
    _round_trip(rule)


def rule_json(data: bytes) -> None:
    """JSON text as the service decodes rule.json (nesting checked first), then the JSON form."""
    try:
        value = loads_rule_json(_text(data))
    except RuleError:
        return
    rule_json_value(value)


RULE_TEXTS = [
    'country = "TR" and count(order_created, last 30 days) >= 2',
    'not (tags has_any ("vip", "newsletter") or email ends_with "@x.com")',
    'sum(order_created.amount where currency = "EUR", since 2026-01-01) between 10.5 and 99',
    'first(product_viewed where category in ("shoes", "bags")) within_last 7 days',
    'last(order_created) more_than_ago 90 days and in_segment("vip")',
    'any(total_order_value > 1000, all(language = "tr", city starts_with "Ist"))',
    'count(product_viewed where price >= 5.5, between 2026-10-01 and 2026-10-31) = 0',
    'marketing_consent in ("granted") and not phone exists  # a comment',
]
def seed_records() -> list[dict]:
    """Valid records of every kind: the seeds of the record targets."""
    return [
        {"event_id": "e1", "customer_id": "c1", "type": "order_created", "ts": 1_793_000_000_000,
         "attrs": {"amount": "12.50", "currency": "EUR", "product_ids": ["p1", "p2"]}},
        {"event_id": "e2", "customer_id": "c2", "type": "product_viewed", "ts": "2026-10-26T10:00:00+03:00",
         "attrs": {"category": "shoes", "price": 5.5}},
        {"customer_id": "c1", "ts": 1_793_000_000_000,
         "properties": {"email": "A@X.com", "tags": ["vip"], "country": "TR", "total_order_value": None}},
        {"forget_customer": "c3", "ts": 1_793_000_000_001},
    ]


class Choices:
    """Bytes read as a stream of choices (0 once exhausted), so a mutated input stays well-shaped:
    the structure-aware targets below build rules and records from it."""

    def __init__(self, data: bytes) -> None:
        self._data = data[:MAX_INPUT_BYTES]
        self._at = 0

    def byte(self) -> int:
        if self._at >= len(self._data):
            return 0
        self._at += 1
        return self._data[self._at - 1]

    def pick(self, options: Sequence[Any]) -> Any:
        return options[self.byte() % len(options)]

    def left(self) -> bool:
        return self._at < len(self._data)


RULE_TOKENS = ["(", ")", ",", "not", "and", "or", "all", "any", "count", "sum", "first", "last", "in_segment",
               "where", "since", "between", "days", "hours", "all_time", "=", "!=", ">=", "<", "in", "has_any",
               "contains", "within_last", "more_than_ago", "exists", "not_exists", "before", "after", "true", "false",
               "country", "tags", "email", "total_order_value", "order_created", "product_viewed", "amount",
               "category", ".", '"TR"', '"vip"', '"\\ud800"', '"\\u00e7"', "1", "0", "-5", "10.25",
               "99999999999999999999", "2026-01-31", "2026-02-30", "#c\n", "\n", "\t"]


def rule_tokens(data: bytes) -> None:
    """Grammar-shaped text: every byte picks a token of the rule language."""
    choices = Choices(data)
    tokens: list[str] = []
    while choices.left() and len(tokens) < 400:
        tokens.append(choices.pick(RULE_TOKENS))
    rule_text_value(" ".join(tokens))


RULE_KEYS = ["all", "any", "not", "property", "op", "value", "event", "where", "attr", "count", "sum", "first",
             "last", "window", "days", "hours", "since", "between", "segment", "x"]
EDGE_SCALARS: tuple[Any, ...] = (None, True, False, 0, 1, -1, 3660, 3661, 2**63 - 1, 2**63, 10**30, 1.5, 1e308,
                                 float("inf"), float("nan"), "", "TR", "vip", "country", "eq", "in", "gte", "between",
                                 "order_created", "amount", "2026-01-01", "2026-13-01", "\ud800", "x" * 1025, "ç" * 512)


def _json_value(choices: Choices, keys: Sequence[str], depth: int) -> Any:
    kind = choices.byte() % 8
    if depth <= 0 or kind < 4:
        return choices.pick(EDGE_SCALARS)
    count = choices.byte() % 5
    if kind < 6:
        return {choices.pick(keys): _json_value(choices, keys, depth - 1) for _ in range(count)}
    return [_json_value(choices, keys, depth - 1) for _ in range(count)]


def edit_tree(value: Any, choices: Choices, keys: Sequence[str], depth: int = 0) -> Any:
    """`value` with one branch replaced, added or deleted along a path the choices pick (never the root
    itself: a rule or record replaced whole by a scalar tests nothing)."""
    if not isinstance(value, (dict, list)) or not value or depth > 40 or (depth and choices.byte() % 4 == 0):
        return _json_value(choices, keys, depth=3)
    if isinstance(value, dict):
        edited = dict(value)
        action = choices.byte() % 6
        key = choices.pick(sorted(edited, key=str)) if action else choices.pick(keys)
        if action == 1:
            del edited[key]
        else:
            edited[key] = edit_tree(edited.get(key), choices, keys, depth + 1)
        return edited
    items = list(value)
    index = choices.byte() % (len(items) + 1)
    if index == len(items):
        items.append(_json_value(choices, keys, depth=3))
    else:
        items[index] = edit_tree(items[index], choices, keys, depth + 1)
    return items


@lru_cache(maxsize=1)
def _seed_rules_json() -> tuple[dict, ...]:
    from indexes.rules.text_form import parse_unvalidated

    return tuple(rule_to_json(parse_unvalidated(text)) for text in RULE_TEXTS)


def rule_json_shaped(data: bytes) -> None:
    """A valid rule's JSON form with up to four edits (rule keys, edge scalars), as a decoded rule.json."""
    choices = Choices(data)
    value: Any = choices.pick(_seed_rules_json())
    for _ in range(1 + choices.byte() % 4):
        value = edit_tree(value, choices, RULE_KEYS)
    rule_json_value(value)


# --- records ------------------------------------------------------------------------------------------
def record_value(raw: Any) -> None:
    """One raw record (a JSON Lines line, decoded) through validation, then the log's encoding."""
    try:
        result = validate_batch([raw], schema(), partial=True)
    except RecordBatchError as exc:  # partial=True reports instead of raising
        raise AssertionError(f"partial validation raised: {exc}") from exc
    assert len(result.records) + len(result.errors) == 1
    for record in result.records:
        item = record_codec.encode(record)
        body = pack_record(new_packer(), item, 0)
        decoded = record_codec.decode(unpack_record(body))
        assert decoded == record, f"log encoding changed the record: {record!r:.200}"


RECORD_KEYS = ["event_id", "customer_id", "type", "ts", "attrs", "properties", "forget_customer", "declare",
               "amount", "currency", "product_ids", "category", "price", "email", "tags", "country", "city",
               "total_order_value", "marketing_consent", "birth_date", "property", "event", "attributes", "values",
               "scale", "string", "enum", "number", "list", "x"]


def record_shaped(data: bytes) -> None:
    """A valid record with up to four edits (field names, edge values): most inputs reach past the
    first check, many are still valid."""
    choices = Choices(data)
    raw: Any = choices.pick(seed_records())
    for _ in range(choices.byte() % 5):
        raw = edit_tree(raw, choices, RECORD_KEYS)
    record_value(raw)


def record_json(data: bytes) -> None:
    """A JSON Lines line, read as indexes/jsonl.py reads it."""
    try:
        raw = json.loads(_text(data))
    except ValueError:  # JSONDecodeError, and Python's limit on integer digits
        return
    except RecursionError:
        return  # json's own bound on nesting: the line is reported as unreadable by the reader
    record_value(raw)


def record_msgpack(data: bytes) -> None:
    try:
        raw = msgpack.unpackb(data[:MAX_INPUT_BYTES], strict_map_key=False)
    except Exception:  # noqa: BLE001 - msgpack raises several unrelated types; not the code under test
        return
    record_value(raw)


def wire_records(data: bytes) -> None:
    """IngestRequest bytes, as the gRPC ingest path decodes and validates them."""
    try:
        request = ingest_pb2.IngestRequest.FromString(data[:MAX_INPUT_BYTES])
    except DecodeError:
        return
    result = validate_wire(list(request.records), schema(), partial=True)
    assert len(result.records) + len(result.errors) == len(request.records)


# --- page and position tokens (opaque to clients, checksummed, not secret) -----------------------------
_TOKEN_DIGEST = bytes(16)


def _forged_token(body: bytes) -> str:
    """What a client could send: any msgpack body under a valid checksum (the checksum is no secret)."""
    checksum = hashlib.blake2b(body, digest_size=page_token.CHECKSUM_BYTES).digest()
    return base64.urlsafe_b64encode(body + checksum).rstrip(b"=").decode("ascii")


def page_tokens(data: bytes) -> None:
    """Members page tokens, cursor tokens and change-log positions: PageTokenError or a value."""
    choices = Choices(data)
    if choices.byte() % 2:
        text = data[1:MAX_INPUT_BYTES].decode("latin-1")
    else:
        fields = [choices.pick([1, 2, 0, "x"]), *(_json_value(choices, RULE_KEYS, 3) for _ in range(choices.byte() % 5))]
        if choices.byte() % 2:
            fields[1:2] = [choices.pick(["position", "changes", "profiles"]), choices.pick([b"", _TOKEN_DIGEST])]
        try:
            text = _forged_token(msgpack.packb(fields, use_bin_type=True))
        except (TypeError, ValueError, OverflowError):
            return  # not encodable (a surrogate, an int beyond 64 bits): no client can send it either
    for decode in (lambda: page_token.decode(text, _TOKEN_DIGEST),
                   lambda: cursor_token.decode(text, "changes", b""),
                   lambda: cursor_token.decode_position(text)):
        with suppress(PageTokenError):
            decode()


# --- the log ------------------------------------------------------------------------------------------
def log_frames(data: bytes) -> None:
    """Frame walking and body decoding over arbitrary bytes (no file system)."""
    for item in walk_frames(io.BytesIO(data[:MAX_INPUT_BYTES]), 0, chunk_bytes=64):
        if isinstance(item, BadFrame):
            assert item.offset >= 0
            return
        assert isinstance(item, FrameRun)
        try:
            values = BodyRun(0, len(item.bodies), b"".join(item.bodies)).decode()
        except ValueError:
            continue
        for value in values:
            try:
                record_codec.decode(value)
            except record_codec.CodecError:
                pass
            except (KeyError, ValueError):
                pass  # an unknown kind or layout: replay refuses the item with its LSN


@dataclass
class _Scratch:
    root: Path
    segment: bytes  # a clean one-segment log
    segments: dict[str, bytes]  # file name -> bytes, of a clean log of several sealed segments and their seals
    snapshot_files: dict[str, bytes]  # file name -> bytes, of the newer of two snapshots


def _events(count: int, first: int = 0) -> list[dict]:
    return [{"event_id": f"e{i}", "customer_id": f"c{i % 40}", "type": "product_viewed", "ts": BASE_MS + i * HOUR_MS,
             "attrs": {"category": f"cat{i % 3}", "price": i}} for i in range(first, first + count)]


def _no_fsync(fd: int) -> None:
    """Scratch files: durability is not what is fuzzed."""


@lru_cache(maxsize=1)
def scratch() -> _Scratch:
    root = Path(tempfile.mkdtemp(prefix="fuzz-targets-", dir=os.environ.get(SCRATCH_PARENT_ENV)))
    try:
        return _fill_scratch(root)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)  # interrupted (a time bound, ^C): leave nothing behind
        raise


def _fill_scratch(root: Path) -> _Scratch:
    log_dir = root / "log-base"
    with FileLog(log_dir) as log:
        for start in range(0, 24, 4):
            log.append([record_codec.encode(r) for r in validate_batch(_events(4, start), schema()).records])
    segment = (log_dir / segment_name(0)).read_bytes()
    rolled_dir = root / "log-rolled"
    with FileLog(rolled_dir, segment_size_bytes=ROLLED_SEGMENT_BYTES) as log:
        for start in range(0, 24, 4):
            log.append([record_codec.encode(r) for r in validate_batch(_events(4, start), schema()).records])
    # Segments and their seals (the LOCK file is the open log's, not data).
    segments = {p.name: p.read_bytes() for p in sorted(rolled_dir.iterdir()) if p.is_file() and p.name != "LOCK"}
    assert sum(name.endswith(".seal") for name in segments) >= 3, sorted(segments)
    engine = Engine(tz="Europe/Istanbul")
    engine.ingest([{"customer_id": f"c{i}", "ts": BASE_MS, "properties": {"email": f"u{i}@x.com"}} for i in range(40)])
    engine.ingest(_events(120))
    snapshots = root / "snapshots"
    write_snapshot(engine.shard, snapshots, 100, fsync=_no_fsync)
    engine.ingest(_events(10, 500))
    write_snapshot(engine.shard, snapshots, 200, fsync=_no_fsync)
    newest = snapshots / snapshot_name(200)
    files = {p.name: p.read_bytes() for p in sorted(newest.iterdir()) if p.is_file()}
    return _Scratch(root, segment, segments, files)


def remove_scratch() -> None:
    if scratch.cache_info().currsize:
        shutil.rmtree(scratch().root, ignore_errors=True)
        scratch.cache_clear()


def damage(original: bytes, data: bytes) -> bytes:
    """`original` with the edits `data` spells, 3 bytes each: op (low nibble mod 5: flip bit (high 3 bits),
    truncate, set byte, append 2 bytes, delete byte), position high byte, position low byte."""
    buffer = bytearray(original)
    for at in range(0, min(len(data), 3 * 32) - 2, 3):
        op, position = (data[at] & 0x0F) % 5, (data[at + 1] << 8 | data[at + 2])
        if op == 0 and buffer:
            buffer[position % len(buffer)] ^= 1 << (data[at] >> 5)
        elif op == 1:
            del buffer[position % (len(buffer) + 1):]
        elif op == 2 and buffer:
            buffer[position % len(buffer)] = data[at + 2]
        elif op == 3:
            buffer.extend(data[at + 1:at + 3])
        elif op == 4 and buffer:
            del buffer[position % len(buffer)]
    return bytes(buffer)


def log_open(data: bytes) -> None:
    """A damaged segment file - of a one-segment log, or any segment of a log of several (first byte
    of `data`) - : FileLog opens it (a torn tail cut and reported) and reads to its end, or refuses
    with LogCorruptError naming the file and the offset."""
    if not data:
        return
    files = {segment_name(0): scratch().segment} if data[0] % 4 == 0 else dict(scratch().segments)
    target = sorted(files)[data[0] % len(files)]
    files[target] = damage(files[target], data[1:])
    _open_log(files)


def log_random_file(data: bytes) -> None:
    """A log whose last segment file holds any bytes at all (a header torn or garbage)."""
    files = dict(scratch().segments)
    last = sorted(name for name in files if name.endswith(".seg"))[-1]
    files[last] = data[:MAX_INPUT_BYTES]
    _open_log(files)


def _open_log(files: dict[str, bytes]) -> None:
    work = scratch().root / "log-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    for name, content in files.items():
        (work / name).write_bytes(content)
    try:
        log = FileLog(work, fsync=_no_fsync)
    except LogCorruptError as exc:
        assert exc.file and exc.offset is not None and exc.offset >= 0, f"LogCorruptError without a place: {exc}"
        return
    with log:
        try:
            count = sum(1 for _ in log.read())
        except LogCorruptError as exc:
            # A sealed segment is trusted at open and its frames checked when read (docs/LOG.md).
            assert exc.file and exc.file.endswith(".seg") and exc.offset is not None, f"no place: {exc}"
            return
        assert count == log.end_lsn, f"read {count} records of {log.end_lsn}"


def snapshot_files(data: bytes) -> None:
    """One file of the newest snapshot damaged: loading falls back to the older one, never raises."""
    state = scratch()
    names = sorted(state.snapshot_files)
    if not data:
        return
    name = names[data[0] % len(names)]
    path = state.root / "snapshots" / snapshot_name(200) / name
    damaged = damage(state.snapshot_files[name], data[1:])
    try:
        path.write_bytes(damaged)
        loaded = load_newest_snapshot(state.root / "snapshots")
        assert loaded is not None, "the older snapshot is intact"
        assert loaded.info.covered_lsn in (100, 200)
        if loaded.info.covered_lsn == 100:
            assert loaded.skipped and loaded.skipped[0].reason
    finally:
        path.write_bytes(state.snapshot_files[name])


_PALETTE: tuple[Any, ...] = (None, 0, -1, 1, 2**31, 2**63, -(2**63), 1.5, float("nan"), "", "x" * 300, "|O", [], {},
                             [0], {"": 0}, True, b"\x00\xff")


def _edit(value: Any, data: bytes, at: int) -> Any:
    """`value` (a decoded manifest) with one leaf or branch replaced, chosen by data[at:]."""
    if at >= len(data) or not isinstance(value, (dict, list)) or not value or data[at] % 4 == 0:
        return _PALETTE[data[at] % len(_PALETTE)] if at < len(data) else None
    if isinstance(value, dict):
        keys = sorted(value, key=repr)
        key = keys[data[at] % len(keys)]
        edited = dict(value)
        if at + 1 < len(data) and data[at + 1] % 7 == 0:
            del edited[key]
        else:
            edited[key] = _edit(value[key], data, at + 2)
        return edited
    index = data[at] % len(value)
    edited_list = list(value)
    edited_list[index] = _edit(value[index], data, at + 1)
    return edited_list


def snapshot_manifest(data: bytes) -> None:
    """A manifest with a valid CRC whose content is wrong (up to four edits): the snapshot loads, or is
    skipped with its reason for the older one; no other exception."""
    state = scratch()
    path = state.root / "snapshots" / snapshot_name(200) / MANIFEST_FILE
    body = read_manifest(path.parent)
    for start in range(0, min(len(data), 4 * 16), 16):
        body = _edit(body, data[start:start + 16], 0)
    if not isinstance(body, dict):
        return
    body["format_version"] = FORMAT_VERSION  # the version check is the byte-level target's; go deeper
    try:
        path.write_bytes(encode_manifest(body))
    except (TypeError, ValueError, OverflowError):
        return  # msgpack cannot encode the edit (a float NaN is fine, 2**64 is not): not a manifest
    try:
        loaded = load_newest_snapshot(state.root / "snapshots")
        assert loaded is not None and loaded.info.covered_lsn in (100, 200), "the older snapshot is intact"
    finally:
        path.write_bytes(state.snapshot_files[MANIFEST_FILE])


Target = Callable[[bytes], None]
TARGETS: dict[str, Target] = {
    "rule_text": rule_text,
    "rule_json": rule_json,
    "rule_tokens": rule_tokens,
    "rule_json_shaped": rule_json_shaped,
    "record_shaped": record_shaped,
    "record_json": record_json,
    "record_msgpack": record_msgpack,
    "wire_records": wire_records,
    "page_tokens": page_tokens,
    "log_frames": log_frames,
    "log_open": log_open,
    "log_random_file": log_random_file,
    "snapshot_files": snapshot_files,
    "snapshot_manifest": snapshot_manifest,
}
