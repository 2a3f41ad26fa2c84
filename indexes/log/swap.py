"""Replacing every segment at once, crash-safely: the commit protocol of a rewrite.

1. The new segments are written and fsynced in `<data_dir>/rewrite.tmp/`.
2. Commit point: `rewrite.tmp/COMMITTED` appears (written under a temporary name, fsynced, renamed,
   directory fsynced). It lists the new segment names.
3. Install: remove every segment of data_dir not in the list, rename the listed ones from the temp dir
   into data_dir (replacing same-named old files), fsync data_dir, remove the temp dir. Seals
   (indexes/log/seal.py) travel with their segments: an old segment's seal is removed or replaced
   *before* the new same-named segment is moved in, so a crash never leaves an old seal on a new file.

A crash before step 2 leaves the old log intact and a temp dir without COMMITTED, which is deleted.
A crash during step 3 is rolled forward by running step 3 again: it is idempotent, since a listed name
that is no longer in the temp dir has already been moved.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from indexes.log.fsio import Fsync, fsync_dir, write_all
from indexes.log.seal import SEAL_SUFFIX, remove_seal, seal_path
from indexes.log.segment_file import list_segments

REWRITE_DIR = "rewrite.tmp"
COMMITTED = "COMMITTED"


def rewrite_pending(data_dir: Path) -> bool:
    return (data_dir / REWRITE_DIR).exists()


def commit(data_dir: Path, names: list[str], fsync: Fsync) -> None:
    """Step 2: make the rewrite in the temp dir the log's future, durably."""
    temp_dir = data_dir / REWRITE_DIR
    partial = temp_dir / (COMMITTED + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, json.dumps({"segments": names}).encode())
        fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, temp_dir / COMMITTED)
    fsync_dir(temp_dir, fsync)


def finish_interrupted(data_dir: Path, fsync: Fsync) -> bool:
    """Resolve a rewrite a crash left behind: roll a committed one forward (True), drop any other."""
    temp_dir = data_dir / REWRITE_DIR
    if not temp_dir.exists():
        return False
    if not (temp_dir / COMMITTED).exists():
        shutil.rmtree(temp_dir)
        fsync_dir(data_dir, fsync)
        return False
    install(data_dir, fsync)
    return True


def install(data_dir: Path, fsync: Fsync) -> None:
    """Step 3 (idempotent)."""
    temp_dir = data_dir / REWRITE_DIR
    names: list[str] = json.loads((temp_dir / COMMITTED).read_text())["segments"]
    keep = set(names)
    for _, path in list_segments(data_dir):
        if path.name not in keep:
            path.unlink()
    for seal in data_dir.glob("*" + SEAL_SUFFIX):
        if seal.name.removesuffix(SEAL_SUFFIX) not in keep:
            seal.unlink()  # the seal of a removed segment
    for name in names:
        source = temp_dir / name
        if source.exists():
            new_seal = seal_path(source)
            if new_seal.exists():
                os.replace(new_seal, seal_path(data_dir / name))
            else:
                remove_seal(data_dir / name)
            os.replace(source, data_dir / name)
    fsync_dir(data_dir, fsync)
    shutil.rmtree(temp_dir)
    fsync_dir(data_dir, fsync)
