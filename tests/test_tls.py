"""TLS and mutual TLS on an in-process server (tests-only one-shard backend, certificates from trustme):
a plain-text client is refused, a TLS client that trusts the CA gets through, and with a client CA a
client without a certificate is refused. Bad TLS files fail at start, naming the flag."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import trustme

from service.client import SegmentsClient
from service.client_types import SegmentsError
from service.server import ServerOptions
from service.tls import ServerTls, TlsConfigError, server_tls_from_options
from tests.service_backend import DurableBackend
from tests.service_inprocess import InProcessServer

pytestmark = pytest.mark.timeout(120)
HOST = "localhost"  # the name in the server certificate
CALL_TIMEOUT_S = 5


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server_cert = ca.issue_cert(HOST, "127.0.0.1")
    client_cert = ca.issue_cert("client@example.test")
    other_ca = trustme.CA()
    files = {
        "ca": ca.cert_pem, "server_chain": server_cert.private_key_and_cert_chain_pem,
        "server_key": server_cert.private_key_pem, "client_key": client_cert.private_key_pem,
        "other_ca": other_ca.cert_pem,
    }
    paths = {}
    for name, blob in files.items():
        path = directory / f"{name}.pem"
        blob.write_to_path(str(path))
        paths[name] = str(path)
    # Certificate chains alone (the key is a separate file, as an operator has them).
    for name, cert in (("server_cert", server_cert), ("client_cert", client_cert)):
        path = directory / f"{name}.pem"
        path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
        paths[name] = str(path)
    return paths


def _server(tmp_path: Path, tls: ServerTls) -> InProcessServer:
    return InProcessServer(DurableBackend(tmp_path), ServerOptions(tls=tls), host=HOST)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, pki: dict[str, str]) -> Iterator[InProcessServer]:
    running = _server(tmp_path_factory.mktemp("tls"), ServerTls(pki["server_cert"], pki["server_key"]))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def mtls_server(tmp_path_factory: pytest.TempPathFactory, pki: dict[str, str]) -> Iterator[InProcessServer]:
    running = _server(tmp_path_factory.mktemp("mtls"), ServerTls(pki["server_cert"], pki["server_key"], pki["ca"]))
    yield running
    running.stop()


def _stats_code(client: SegmentsClient) -> grpc.StatusCode:
    with pytest.raises(SegmentsError) as raised:
        client.stats()
    return raised.value.code


def test_plain_text_client_is_refused_and_tls_client_served(tls_server: InProcessServer, pki: dict[str, str]) -> None:
    with SegmentsClient(tls_server.target, timeout_s=CALL_TIMEOUT_S) as plain:
        assert _stats_code(plain) == grpc.StatusCode.UNAVAILABLE
    with SegmentsClient(tls_server.target, timeout_s=CALL_TIMEOUT_S, tls_ca=pki["ca"]) as secure:
        assert secure.stats().shards[0].state == "SERVING"
        assert secure.health() == "SERVING"


def test_a_client_that_does_not_trust_the_server_is_refused(tls_server: InProcessServer, pki: dict[str, str]) -> None:
    with SegmentsClient(tls_server.target, timeout_s=CALL_TIMEOUT_S, tls_ca=pki["other_ca"]) as wrong_ca:
        assert _stats_code(wrong_ca) == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_wants_a_client_certificate(mtls_server: InProcessServer, pki: dict[str, str]) -> None:
    with SegmentsClient(mtls_server.target, timeout_s=CALL_TIMEOUT_S, tls_ca=pki["ca"]) as no_cert:
        assert _stats_code(no_cert) == grpc.StatusCode.UNAVAILABLE
    with SegmentsClient(mtls_server.target, timeout_s=CALL_TIMEOUT_S, tls_ca=pki["ca"],
                        tls_cert=pki["client_cert"], tls_key=pki["client_key"]) as with_cert:
        assert with_cert.stats().shards[0].state == "SERVING"


def test_bad_tls_files_name_the_flag(tmp_path: Path, pki: dict[str, str]) -> None:
    not_pem = tmp_path / "cert.txt"
    not_pem.write_text("hello")
    with pytest.raises(TlsConfigError, match="--tls-cert .*cert.txt: not a PEM file"):
        ServerTls(str(not_pem), pki["server_key"]).credentials()
    with pytest.raises(TlsConfigError, match="--tls-key .*missing.pem"):
        ServerTls(pki["server_cert"], str(tmp_path / "missing.pem")).credentials()
    with pytest.raises(TlsConfigError, match="not a certificate and its private key"):
        ServerTls(pki["server_cert"], pki["client_key"]).credentials()  # another certificate's key
    with pytest.raises(TlsConfigError, match="--tls-client-ca needs --tls-cert"):
        server_tls_from_options(None, None, pki["ca"])
