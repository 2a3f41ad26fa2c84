"""The server's view of tokens.json: digest -> record, reloaded when the file changes.

Every lookup may stat the file (at most once per RECHECK_INTERVAL_S, and on every unknown token); a new inode, size or mtime
means `segments token create/revoke` replaced it, and it is read again. So a revocation reaches a
running server within RECHECK_INTERVAL_S of the next call, with no signal and no background task.
A token file that cannot be read fails closed: no token is accepted until it is fixed (logged).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from service.auth_tokens import TokenError, TokenRecord, read_tokens, token_digest, tokens_path

log = logging.getLogger("segments.auth")
RECHECK_INTERVAL_S = 0.25


class TokenTable:
    def __init__(self, data_dir: Path, recheck_interval_s: float = RECHECK_INTERVAL_S) -> None:
        self._data_dir = Path(data_dir)
        self._path = tokens_path(self._data_dir)
        self._recheck_interval_s = recheck_interval_s
        self._checked_at = float("-inf")
        self._signature: tuple[int, int, int] | None = None
        self._by_digest: dict[str, TokenRecord] = {}
        self._by_id: dict[str, TokenRecord] = {}
        self._refresh(time.monotonic())

    def exists(self) -> bool:
        return self._path.exists()

    def lookup(self, token: str) -> TokenRecord | None:
        """The record of `token` (revoked ones too: the caller says why it refuses), None if unknown.
        A miss stats the file at once (a token created a moment ago works on its first call); a
        stat is microseconds, so a flood of bad tokens costs no file reads unless the file changed."""
        digest = token_digest(token)
        self._refresh(time.monotonic())
        if digest not in self._by_digest:
            self._refresh(time.monotonic(), force=True)
        return self._by_digest.get(digest)

    def active(self, token_id: str) -> bool:
        """The token still exists and is not revoked (asked again and again by long streams)."""
        self._refresh(time.monotonic())
        record = self._by_id.get(token_id)
        return record is not None and not record.revoked

    def _refresh(self, now_s: float, force: bool = False) -> None:
        if not force and now_s - self._checked_at < self._recheck_interval_s:
            return
        self._checked_at = now_s
        try:
            stat = os.stat(self._path)
            signature: tuple[int, int, int] | None = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        except FileNotFoundError:
            signature = None
        if signature == self._signature:
            return
        self._signature = signature
        try:
            records = read_tokens(self._data_dir)
        except TokenError as exc:
            log.error("token file unusable, refusing every token until it is fixed: %s", exc)
            records = []
        self._by_digest = {r.sha256: r for r in records}
        self._by_id = {r.id: r for r in records}
        log.info("tokens loaded: %d (%d revoked)", len(records), sum(r.revoked for r in records))
