"""Fuzz targets: one function per decoder an outsider (or a damaged disk) can feed, bytes in.

Each target takes arbitrary bytes, drives one reader the way the service or the engine does, and lets
through only the error that reader documents (RuleError, RecordError lists, LogCorruptError naming a
file and offset, a snapshot skipped with its reason). Anything else propagates: a finding. Targets
also check what a reader promises on success (a parsed rule formats and parses back to itself, an
accepted record encodes for the log and decodes back, an opened log reads to its end).

Used by tests/test_fuzz_*.py (hypothesis drives them) and benchmarks/fuzz_soak.py (a mutation loop,
or atheris). Targets that need files keep them in one scratch directory made on first use.

The targets live by family, each name still importable from here:
  benchmarks/fuzz_rule_targets.py      rule text (raw, grammar tokens), JSON rules (raw, edited)
  benchmarks/fuzz_record_targets.py    records (edited, JSON Lines, msgpack), IngestRequest bytes
  benchmarks/fuzz_token_targets.py     page, cursor and position tokens
  benchmarks/fuzz_log_targets.py       log frames, damaged log segments
  benchmarks/fuzz_snapshot_targets.py  damaged snapshot files and manifests
and what they share: fuzz_inputs.py (input bounds, Choices, JSON-shaped edits), fuzz_bounds.py (the
time bound of one input), fuzz_scratch.py (the files the file-based targets damage copies of).
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.fuzz_bounds import HangError, time_bound
from benchmarks.fuzz_inputs import EDGE_SCALARS, MAX_INPUT_BYTES, Choices, edit_tree, schema
from benchmarks.fuzz_log_targets import log_frames, log_open, log_random_file
from benchmarks.fuzz_record_targets import (
    RECORD_KEYS,
    record_json,
    record_msgpack,
    record_shaped,
    record_value,
    seed_records,
    wire_records,
)
from benchmarks.fuzz_rule_targets import (
    KNOWN_SEGMENTS,
    RULE_KEYS,
    RULE_TEXTS,
    RULE_TOKENS,
    rule_json,
    rule_json_shaped,
    rule_json_value,
    rule_text,
    rule_text_value,
    rule_tokens,
)
from benchmarks.fuzz_scratch import (
    BASE_MS,
    HOUR_MS,
    ROLLED_SEGMENT_BYTES,
    SCRATCH_PARENT_ENV,
    damage,
    remove_scratch,
    scratch,
)
from benchmarks.fuzz_snapshot_targets import snapshot_files, snapshot_manifest
from benchmarks.fuzz_token_targets import page_tokens

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


__all__ = [
    "BASE_MS",
    "EDGE_SCALARS",
    "HOUR_MS",
    "KNOWN_SEGMENTS",
    "MAX_INPUT_BYTES",
    "RECORD_KEYS",
    "ROLLED_SEGMENT_BYTES",
    "RULE_KEYS",
    "RULE_TEXTS",
    "RULE_TOKENS",
    "SCRATCH_PARENT_ENV",
    "TARGETS",
    "Choices",
    "HangError",
    "Target",
    "damage",
    "edit_tree",
    "log_frames",
    "log_open",
    "log_random_file",
    "page_tokens",
    "record_json",
    "record_msgpack",
    "record_shaped",
    "record_value",
    "remove_scratch",
    "rule_json",
    "rule_json_shaped",
    "rule_json_value",
    "rule_text",
    "rule_text_value",
    "rule_tokens",
    "schema",
    "scratch",
    "seed_records",
    "snapshot_files",
    "snapshot_manifest",
    "time_bound",
    "wire_records",
]
