"""API tokens: DATA_DIR/tokens.json holds each token's id, workspace, scopes and SHA-256, never the token.

A token is `sgt_` + secrets.token_urlsafe(32) (256 random bits), shown once by `segments token create`.
SHA-256 is enough because the token is random, not chosen by a person: with 2^256 candidates no
dictionary or brute-force search applies, so a slow password hash (bcrypt, argon2) would buy nothing
and cost milliseconds on every RPC. Lookups go by the digest, so the server never holds a token either.

File (mode 0600, replaced atomically, see auth_files.py):
    {"version": 1, "tokens": [{"id": "tok_…", "workspace": "shop-a", "scopes": ["read"],
      "sha256": "<hex>", "created_ms": 1764…, "revoked": false, "revoked_ms": null}, …]}
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from service.auth_files import exclusive_lock, replace_file
from service.auth_scopes import SCOPE_NAMES

TOKENS_FILE = "tokens.json"
TOKENS_FILE_VERSION = 1
TOKEN_PREFIX = "sgt_"
TOKEN_RANDOM_BYTES = 32
MAX_TOKENS = 10_000  # bounds the file and the server's table; revoke and prune before more
MAX_TOKEN_CHARS = 256  # a longer `authorization` value is refused before hashing


class TokenError(Exception):
    """A token command or the token file is unusable; the message names the field or the file."""


@dataclass(frozen=True)
class TokenRecord:
    id: str
    workspace: str
    scopes: tuple[str, ...]
    sha256: str
    created_ms: int
    revoked: bool = False
    revoked_ms: int | None = None

    def to_json(self) -> dict:
        return {**asdict(self), "scopes": list(self.scopes)}


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_path(data_dir: Path) -> Path:
    return Path(data_dir) / TOKENS_FILE


def parse_scopes(text: str | Iterable[str]) -> tuple[str, ...]:
    """"read,write" -> ("read", "write"); unknown or empty is a TokenError naming --scopes."""
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text)]
    names = [s for s in names if s]
    unknown = sorted(set(names) - set(SCOPE_NAMES))
    if unknown:
        raise TokenError(f"--scopes: unknown scope {', '.join(unknown)} (use {', '.join(SCOPE_NAMES)})")
    if not names:
        raise TokenError(f"--scopes: give at least one of {', '.join(SCOPE_NAMES)}")
    return tuple(s for s in SCOPE_NAMES if s in names)


def _record(value: object, where: str) -> TokenRecord:
    if not isinstance(value, dict):
        raise TokenError(f"{where}: not an object")
    try:
        record = TokenRecord(
            id=str(value["id"]), workspace=str(value["workspace"]), scopes=tuple(value["scopes"]),
            sha256=str(value["sha256"]), created_ms=int(value["created_ms"]), revoked=bool(value["revoked"]),
            revoked_ms=None if value.get("revoked_ms") is None else int(value["revoked_ms"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise TokenError(f"{where}: missing or malformed field {exc}") from exc
    if len(record.sha256) != 64 or any(s not in SCOPE_NAMES for s in record.scopes):
        raise TokenError(f"{where}: bad sha256 or scopes")
    return record


def read_tokens(data_dir: Path) -> list[TokenRecord]:
    """Every token record ([] when there is no token file); TokenError when the file is corrupt."""
    path = tokens_path(data_dir)
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise TokenError(f"{path}: unreadable: {exc}") from exc
    if not isinstance(document, dict) or document.get("version") != TOKENS_FILE_VERSION:
        raise TokenError(f"{path}: not a version {TOKENS_FILE_VERSION} token file")
    entries = document.get("tokens")
    if not isinstance(entries, list) or len(entries) > MAX_TOKENS:
        raise TokenError(f"{path}: tokens must be a list of at most {MAX_TOKENS}")
    records = [_record(entry, f"{path}: tokens[{i}]") for i, entry in enumerate(entries)]
    if len({r.id for r in records}) != len(records) or len({r.sha256 for r in records}) != len(records):
        raise TokenError(f"{path}: duplicate token id or digest")
    return records


def _write(data_dir: Path, records: list[TokenRecord]) -> None:
    document = {"version": TOKENS_FILE_VERSION, "tokens": [r.to_json() for r in records]}
    replace_file(tokens_path(data_dir), (json.dumps(document, indent=1) + "\n").encode("utf-8"))


def create_token(data_dir: Path, workspace: str, scopes: tuple[str, ...]) -> tuple[TokenRecord, str]:
    """A new token for `workspace` (which the caller has checked exists): its record and the secret,
    which is not kept anywhere."""
    assert scopes and all(s in SCOPE_NAMES for s in scopes)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_RANDOM_BYTES)
    with exclusive_lock(tokens_path(data_dir)):
        records = read_tokens(data_dir)
        if len(records) >= MAX_TOKENS:
            raise TokenError(f"{tokens_path(data_dir)}: {MAX_TOKENS} tokens already; revoke and remove some")
        record = TokenRecord(id=f"tok_{secrets.token_hex(8)}", workspace=workspace, scopes=scopes,
                             sha256=token_digest(secret), created_ms=time.time_ns() // 1_000_000)
        _write(data_dir, [*records, record])
    return record, secret


def revoke_token(data_dir: Path, token_id: str) -> TokenRecord:
    """Marks the token revoked (kept in the file, so `token list` still shows who it was)."""
    with exclusive_lock(tokens_path(data_dir)):
        records = read_tokens(data_dir)
        index = next((i for i, r in enumerate(records) if r.id == token_id), None)
        if index is None:
            raise TokenError(f"ID: no token {token_id!r} in {tokens_path(data_dir)}")
        if records[index].revoked:
            return records[index]
        records[index] = replace(records[index], revoked=True, revoked_ms=time.time_ns() // 1_000_000)
        _write(data_dir, records)
    return records[index]
