"""Erasure of export files: compaction takes erased customers out of DATA_DIR/exports too.

Export files (ExportToFile, scheduled exports: DATA_DIR/exports/**.csv) are copies of customer data
the server wrote itself, so "after compaction no byte of an erased customer is on disk" must cover
them. Before a shard rewrites its log, `erase_from_exports` is handed the customers its compaction
erases (while their ids are still known: the log still holds their erasure records) and:

* rewrites every export CSV whose `customer_id` column names one of them without those rows (a new
  file fsynced and renamed over the old one: a crash leaves the old file or the new one, and the next
  compaction, which plans the same erasures again, finishes the job);
* deletes every export CSV that has no `customer_id` column: its rows cannot be attributed to
  customers, so it may hold an erased customer's values (an export of, say, emails only). Compaction
  reports the files it deleted; an operator who needs such exports re-runs them.

Rows of a customer who came back after the erasure go too: an export row does not say whether it was
read before or after the erasure (over-erasure of an export row is safe; the customer's live data is
untouched). `.partial` files are exports being written: skipped (written after the erasure was
applied, they cannot hold the customer; one that started before it is removed when its run fails or
rewritten by the next compaction).
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from indexes.log.fsio import Fsync, fsync_dir

EXPORTS_DIR = "exports"  # under the cluster's data directory (service/handlers_insights.py, export_scheduler)
CUSTOMER_ID_COLUMN = "customer_id"
log = logging.getLogger("segments.compaction")
MAX_EXPORT_FILES = 100_000  # a bound on the walk; more files than this is an operator's mistake to report


@dataclass
class ExportErasure:
    files_rewritten: list[str] = field(default_factory=list)
    rows_removed: int = 0
    files_deleted: list[str] = field(default_factory=list)  # no customer_id column: rows not attributable


def erase_from_exports(data_dir: Path, customers: Iterable[str], fsync: Fsync = os.fsync) -> ExportErasure:
    """Remove `customers`' rows from the export CSVs under `data_dir`/exports (module docstring)."""
    erased = set(customers)
    outcome = ExportErasure()
    root = data_dir / EXPORTS_DIR
    if not root.is_dir():
        return outcome
    for stale in sorted(root.rglob("*.erasing")):  # left by a crash mid-rewrite: may predate a later erasure
        stale.unlink()
    if not erased:
        return outcome
    paths = sorted(root.rglob("*.csv"))
    if len(paths) > MAX_EXPORT_FILES:
        raise RuntimeError(f"{len(paths)} export files under {root} (more than {MAX_EXPORT_FILES}): clean up "
                           "old exports before compacting")
    for path in paths:
        _erase_from_file(path, erased, outcome, fsync)
    if outcome.files_rewritten or outcome.files_deleted:
        log.warning("erasure in exports: %d rows removed from %d files; %d files without a customer_id column "
                    "deleted: %s", outcome.rows_removed, len(outcome.files_rewritten), len(outcome.files_deleted),
                    ", ".join(outcome.files_deleted[:20]))
    return outcome


def _erase_from_file(path: Path, erased: set[str], outcome: ExportErasure, fsync: Fsync) -> None:
    fresh = path.with_name(path.name + ".erasing")
    removed = 0
    # Streamed row by row into the new file: an export may be far larger than memory.
    with open(path, encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        header = next(reader, None)
        if header is None:
            return  # empty file: nothing to erase
        if CUSTOMER_ID_COLUMN not in header:
            path.unlink()
            fsync_dir(path.parent, fsync)
            outcome.files_deleted.append(str(path))
            return
        at = header.index(CUSTOMER_ID_COLUMN)
        with open(fresh, "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")  # the exports' own dialect (export_scheduler.py)
            writer.writerow(header)
            for row in reader:  # bounded by the file
                if len(row) > at and row[at] in erased:
                    removed += 1
                else:
                    writer.writerow(row)
            out.flush()
            if removed:
                fsync(out.fileno())
    if removed == 0:
        fresh.unlink()
        return
    fresh.replace(path)
    fsync_dir(path.parent, fsync)
    outcome.files_rewritten.append(str(path))
    outcome.rows_removed += removed
