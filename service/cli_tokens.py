"""`segments token | workspace | audit`: admin commands run on the server's machine, on its data directory.

    segments token create --workspace W --scopes read,write [--data-dir DIR] [--json]
    segments token list [--data-dir DIR] [--json]
    segments token revoke ID [--data-dir DIR]
    segments workspace create NAME [--data-dir DIR] [--shards N] [--tz ZONE]
    segments workspace list [--data-dir DIR]
    segments audit [--data-dir DIR] [--json] [--tail N]

They edit files only (tokens.json, workspaces/NAME/), never through the server: a running server
sees a new or revoked token within a second and opens a new workspace on its first call. Whoever
can run them can read the data directory anyway; each one is written to audit.log as "local:USER".
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from indexes.durable.commands import CommandError
from service.audit import append_audit, local_actor, read_audit
from service.auth_scopes import SCOPE_NAMES
from service.auth_tokens import TokenError, create_token, parse_scopes, read_tokens, revoke_token
from service.workspaces import (
    WorkspaceNameError,
    check_name,
    create_workspace,
    list_workspaces,
    workspace_exists,
)

MAX_AUDIT_TAIL = 1_000_000


def _data_dir(args: argparse.Namespace) -> Path:
    data_dir = Path(args.data_dir or args.default_data_dir)
    if not data_dir.is_dir():
        raise CommandError(f"--data-dir {data_dir}: no such directory (the server's data directory)")
    return data_dir


def _audit(data_dir: Path, workspace: str, action: str, target: str) -> None:
    try:
        append_audit(data_dir, actor=local_actor(), workspace=workspace, action=action, target=target)
    except OSError as exc:
        raise CommandError(f"{action} done, but the audit log could not be written: {exc}") from exc


def _time(ms: int | None) -> str:
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _token_create(args: argparse.Namespace) -> int:
    data_dir = _data_dir(args)
    try:
        scopes = parse_scopes(args.scopes)
        check_name(args.workspace)
    except (TokenError, WorkspaceNameError) as exc:
        raise CommandError(f"--workspace: {exc}" if isinstance(exc, WorkspaceNameError) else str(exc)) from exc
    if not workspace_exists(data_dir, args.workspace):
        raise CommandError(f"--workspace: no workspace {args.workspace!r} in {data_dir} "
                           f"(segments workspace create {args.workspace} --data-dir {data_dir})")
    try:
        record, secret = create_token(data_dir, args.workspace, scopes)
    except TokenError as exc:
        raise CommandError(str(exc)) from exc
    _audit(data_dir, record.workspace, "token.create", f"{record.id} scopes={','.join(record.scopes)}")
    if args.json:
        print(json.dumps({**{k: v for k, v in record.to_json().items() if k != "sha256"}, "token": secret}))
    else:
        print(f"token {record.id} for workspace {record.workspace}, scopes {','.join(record.scopes)}; "
              "shown once, store it now (clients: --token or SEGMENTS_TOKEN):", file=sys.stderr)
        print(secret)
    return 0


def _token_list(args: argparse.Namespace) -> int:
    try:
        records = read_tokens(_data_dir(args))
    except TokenError as exc:
        raise CommandError(str(exc)) from exc
    if args.json:
        for record in records:
            print(json.dumps({k: v for k, v in record.to_json().items() if k != "sha256"}))
        return 0
    print(f"{'ID':<22} {'WORKSPACE':<20} {'SCOPES':<17} {'CREATED':<20} REVOKED")
    for r in records:
        print(f"{r.id:<22} {r.workspace:<20} {','.join(r.scopes):<17} {_time(r.created_ms):<20} "
              f"{_time(r.revoked_ms) if r.revoked else 'no'}")
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    data_dir = _data_dir(args)
    try:
        record = revoke_token(data_dir, args.id)
    except TokenError as exc:
        raise CommandError(str(exc)) from exc
    _audit(data_dir, record.workspace, "token.revoke", record.id)
    print(f"token {record.id} (workspace {record.workspace}) revoked at {_time(record.revoked_ms)}; "
          "running servers refuse it within a second")
    return 0


def _workspace_create(args: argparse.Namespace) -> int:
    from actors.layout import ClusterLayoutError

    data_dir = Path(args.data_dir or args.default_data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        directory = create_workspace(data_dir, args.name, shards=args.shards, tz=args.tz)
    except WorkspaceNameError as exc:
        raise CommandError(f"NAME: {exc}") from exc
    except ClusterLayoutError as exc:
        raise CommandError(str(exc)) from exc
    _audit(data_dir, args.name, "workspace.create", str(directory))
    print(f"workspace {args.name} created in {directory}; give it tokens with "
          f"`segments token create --workspace {args.name} --scopes read --data-dir {data_dir}`")
    return 0


def _workspace_list(args: argparse.Namespace) -> int:
    for name in list_workspaces(_data_dir(args)):
        print(name)
    return 0


def _audit_show(args: argparse.Namespace) -> int:
    if not 1 <= args.tail <= MAX_AUDIT_TAIL:
        raise CommandError(f"--tail must be 1..{MAX_AUDIT_TAIL} (got {args.tail})")
    entries: collections.deque[dict[str, Any]] = collections.deque(read_audit(_data_dir(args)), maxlen=args.tail)
    for entry in entries:
        if args.json or "damaged" in entry:
            print(json.dumps(entry))
        else:
            print(f"{entry.get('time')} {entry.get('actor')} {entry.get('workspace')} {entry.get('action')} "
                  f"{entry.get('target') or '-'} {entry.get('outcome')}")
    return 0


def register(commands: Any, default_data_dir: str) -> None:
    def data_dir_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data-dir", help=f"the server's data directory (default {default_data_dir})")
        parser.set_defaults(default_data_dir=default_data_dir)

    token = commands.add_parser("token", help="create, list and revoke API tokens (docs/SECURITY.md)")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="a new token, printed once")
    create.add_argument("--workspace", required=True, help="the workspace it reads and writes")
    create.add_argument("--scopes", required=True, help=f"comma-separated: {', '.join(SCOPE_NAMES)}")
    create.add_argument("--json", action="store_true", help="print a JSON object with the token")
    data_dir_option(create)
    create.set_defaults(handler=_token_create)
    listing = token_commands.add_parser("list", help="every token (never the secret)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    data_dir_option(listing)
    listing.set_defaults(handler=_token_list)
    revoke = token_commands.add_parser("revoke", help="refuse a token from now on")
    revoke.add_argument("id", help="token id (tok_..., from `segments token list`)")
    data_dir_option(revoke)
    revoke.set_defaults(handler=_token_revoke)

    workspace = commands.add_parser("workspace", help="create and list workspaces (tenants)")
    workspace_commands = workspace.add_subparsers(dest="workspace_command", required=True)
    ws_create = workspace_commands.add_parser("create", help="lay out DATA_DIR/workspaces/NAME")
    ws_create.add_argument("name", help="1..63 of a-z 0-9 _ -")
    ws_create.add_argument("--shards", type=int, help="shards (default: one per core)")
    ws_create.add_argument("--tz", help="IANA time zone (default UTC)")
    data_dir_option(ws_create)
    ws_create.set_defaults(handler=_workspace_create)
    ws_list = workspace_commands.add_parser("list", help="default and every created workspace")
    data_dir_option(ws_list)
    ws_list.set_defaults(handler=_workspace_list)

    audit = commands.add_parser("audit", help="print the audit log of admin actions")
    audit.add_argument("--json", action="store_true", help="the JSON lines as stored")
    audit.add_argument("--tail", type=int, default=MAX_AUDIT_TAIL, help="only the last N entries")
    data_dir_option(audit)
    audit.set_defaults(handler=_audit_show)
