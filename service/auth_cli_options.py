"""--token / --tls / --tls-ca / --tls-cert / --tls-key on every command that has --server.

Added after the whole parser is built (walking the subcommands), so a remote command added later
gets them without remembering to. grpc-free: building the parser must stay cheap (`segments check`).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

TOKEN_ENV = "SEGMENTS_TOKEN"
MAX_PARSER_DEPTH = 4  # segments -> segment -> create: two levels today


def _has_server_option(parser: argparse.ArgumentParser) -> bool:
    return any("--server" in action.option_strings for action in parser._actions)


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            found.extend(dict.fromkeys(action.choices.values()))  # aliases share one parser
    return found


def add_connection_options(parser: argparse.ArgumentParser, depth: int = 0) -> None:
    assert depth <= MAX_PARSER_DEPTH, "subcommands nest deeper than expected"
    if _has_server_option(parser) and not any("--token" in a.option_strings for a in parser._actions):
        group = parser.add_argument_group("connection (with --server; docs/SECURITY.md)")
        group.add_argument("--token", help=f"API token (default: ${TOKEN_ENV})")
        group.add_argument("--tls", action="store_true", help="TLS with the system's CA roots")
        group.add_argument("--tls-ca", metavar="FILE", help="TLS, checking the server against this PEM CA")
        group.add_argument("--tls-cert", metavar="FILE", help="client certificate (PEM) for mutual TLS")
        group.add_argument("--tls-key", metavar="FILE", help="private key (PEM) of --tls-cert")
    for child in _subparsers(parser):
        add_connection_options(child, depth + 1)


def client_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of SegmentsClient from the parsed flags (and $SEGMENTS_TOKEN)."""
    return {"token": getattr(args, "token", None) or os.environ.get(TOKEN_ENV) or None,
            "tls": bool(getattr(args, "tls", False)), "tls_ca": getattr(args, "tls_ca", None),
            "tls_cert": getattr(args, "tls_cert", None), "tls_key": getattr(args, "tls_key", None)}
