"""TLS material for the server (`--tls-cert/--tls-key [--tls-client-ca]`) and its clients.

Files are read and checked once at start (the pair with the stdlib ssl module, which says what is
wrong) so that a bad path or a key of another certificate fails `segments serve` before the port
opens, naming the flag, instead of as an opaque handshake failure later.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # grpc is imported where credentials are made: `segments check` and friends load no gRPC
    import grpc

MAX_PEM_BYTES = 1024 * 1024  # a certificate chain or CA bundle; more is not a PEM file we expect


class TlsConfigError(ValueError):
    """A TLS option that cannot be used; the message names the option and the file."""


def read_pem(path: str | Path, option: str) -> bytes:
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_PEM_BYTES + 1)
    except OSError as exc:
        raise TlsConfigError(f"{option} {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_PEM_BYTES:
        raise TlsConfigError(f"{option} {path}: larger than {MAX_PEM_BYTES} bytes")
    if b"-----BEGIN " not in data:
        raise TlsConfigError(f"{option} {path}: not a PEM file (no -----BEGIN line)")
    return data


def _check_pair(cert_file: str, key_file: str, cert_option: str, key_option: str) -> None:
    try:
        ssl.create_default_context().load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, ValueError) as exc:
        raise TlsConfigError(f"{cert_option} {cert_file} / {key_option} {key_file}: not a certificate and its "
                             f"private key ({exc})") from exc


@dataclass(frozen=True)
class ServerTls:
    cert_file: str
    key_file: str
    client_ca_file: str | None = None  # given: mutual TLS, a client without a certificate it signed is refused

    def credentials(self) -> grpc.ServerCredentials:
        import grpc

        cert = read_pem(self.cert_file, "--tls-cert")
        key = read_pem(self.key_file, "--tls-key")
        _check_pair(self.cert_file, self.key_file, "--tls-cert", "--tls-key")
        client_ca = None if self.client_ca_file is None else read_pem(self.client_ca_file, "--tls-client-ca")
        return grpc.ssl_server_credentials([(key, cert)], root_certificates=client_ca,
                                           require_client_auth=client_ca is not None)


def server_tls_from_options(cert_file: str | None, key_file: str | None, client_ca_file: str | None) -> ServerTls | None:
    if cert_file is None and key_file is None:
        if client_ca_file is not None:
            raise TlsConfigError("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)")
        return None
    if cert_file is None or key_file is None:
        raise TlsConfigError("--tls-cert and --tls-key go together")
    return ServerTls(cert_file, key_file, client_ca_file)


def client_credentials(ca_file: str | None, cert_file: str | None, key_file: str | None) -> grpc.ChannelCredentials:
    """TLS for a client: `ca_file` (default: the system's roots) checks the server; `cert_file` and
    `key_file` are the client's own certificate for a server that asks for one (mutual TLS)."""
    if (cert_file is None) != (key_file is None):
        raise TlsConfigError("--tls-cert and --tls-key go together")
    if cert_file is not None and key_file is not None:
        _check_pair(cert_file, key_file, "--tls-cert", "--tls-key")
    import grpc

    return grpc.ssl_channel_credentials(
        root_certificates=None if ca_file is None else read_pem(ca_file, "--tls-ca"),
        private_key=None if key_file is None else read_pem(key_file, "--tls-key"),
        certificate_chain=None if cert_file is None else read_pem(cert_file, "--tls-cert"))
