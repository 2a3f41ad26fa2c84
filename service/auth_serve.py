"""`segments serve` security flags and the rule for when tokens are required (docs/SECURITY.md).

Secure by default for remote use:
  * tokens are required when DATA_DIR/tokens.json exists or `--auth` is given;
  * a server on a non-loopback address with neither tokens nor TLS is refused unless `--insecure`;
  * a loopback server without tokens.json keeps working without tokens (tests, `make serve`).
"""

from __future__ import annotations

import argparse
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from service.auth_tokens import tokens_path
from service.tls import ServerTls, TlsConfigError, server_tls_from_options


class SecurityConfigError(ValueError):
    """Flags that would serve insecurely or cannot be used; the message names the flag."""


def add_security_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--auth", action="store_true",
                       help="require an API token on every call even before DATA_DIR/tokens.json exists "
                            "(its presence turns this on by itself; `segments token create`)")
    serve.add_argument("--insecure", action="store_true",
                       help="allow a non-loopback --host without tokens and without TLS (a private network "
                            "behind a TLS-terminating proxy); refused otherwise")
    serve.add_argument("--tls-cert", metavar="FILE", help="PEM certificate chain: serve TLS only")
    serve.add_argument("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")
    serve.add_argument("--tls-client-ca", metavar="FILE",
                       help="PEM CA bundle: mutual TLS, clients must present a certificate it signed")


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything, so it is treated as remote


@dataclass(frozen=True)
class ServeSecurity:
    auth: bool
    tls: ServerTls | None


def serve_security(args: argparse.Namespace, data_dir: Path) -> ServeSecurity:
    try:
        tls = server_tls_from_options(args.tls_cert, args.tls_key, args.tls_client_ca)
        if tls is not None:
            tls.credentials()  # reads and checks the files now, before Ray starts
    except TlsConfigError as exc:
        raise SecurityConfigError(str(exc)) from exc
    auth = bool(args.auth) or tokens_path(data_dir).exists()
    if not auth and tls is None and not is_loopback(args.host) and not args.insecure:
        raise SecurityConfigError(
            f"--host {args.host} accepts remote clients, but there are no tokens ({tokens_path(data_dir)}) and "
            "no TLS: create a token (`segments token create`) or give --auth, and/or --tls-cert/--tls-key; "
            "--insecure serves it unprotected anyway")
    return ServeSecurity(auth, tls)
