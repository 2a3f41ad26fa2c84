"""API tokens: the token file (hash only, 0600, atomic), the CLI, and an in-process server that requires
them (tests-only one-shard backends per workspace, no Ray): UNAUTHENTICATED / PERMISSION_DENIED, the
workspace from the token, revocation seen within a second, and when `segments serve` demands auth.
The real server with Ray is tests/test_workspaces_auth.py."""

from __future__ import annotations

import argparse
import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from actors.api import SegmentsBackend
from service.auth_serve import SecurityConfigError, is_loopback, serve_security
from service.auth_table import TokenTable
from service.auth_tokens import (
    TokenError,
    create_token,
    parse_scopes,
    read_tokens,
    revoke_token,
    token_digest,
    tokens_path,
)
from service.cli import main as cli_main
from service.client import SegmentsClient
from service.client_types import SegmentsError
from service.server import ServerOptions
from service.workspaces import create_workspace
from tests.service_backend import DurableBackend
from tests.service_inprocess import InProcessServer

pytestmark = pytest.mark.timeout(120)
AS_OF = 1_800_000_000_000
REVOCATION_DEADLINE_S = 1.0
OPEN_ATTEMPTS: dict[str, int] = {}


def order(event_id: str, customer: str) -> dict[str, Any]:
    return {"event_id": event_id, "customer_id": customer, "type": "order_created", "ts": AS_OF - 86_400_000,
            "attrs": {"amount": "10.00"}}


# --- the token file ---------------------------------------------------------------------------------
def test_token_file_keeps_only_the_digest_private_and_whole(tmp_path: Path) -> None:
    record, secret = create_token(tmp_path, "default", ("read", "write"))
    raw = tokens_path(tmp_path).read_text()
    assert secret not in raw and token_digest(secret) in raw and secret.startswith("sgt_") and len(secret) >= 43
    assert stat.S_IMODE(os.stat(tokens_path(tmp_path)).st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert read_tokens(tmp_path) == [record]
    revoked = revoke_token(tmp_path, record.id)
    assert revoked.revoked and revoked.revoked_ms is not None
    assert read_tokens(tmp_path) == [revoked]


def test_scopes_and_ids_are_checked_before_anything_changes(tmp_path: Path) -> None:
    assert parse_scopes("write, read") == ("read", "write")
    with pytest.raises(TokenError, match="--scopes: unknown scope root"):
        parse_scopes("read,root")
    with pytest.raises(TokenError, match="--scopes"):
        parse_scopes(" , ")
    with pytest.raises(TokenError, match="no token 'tok_nope'"):
        revoke_token(tmp_path, "tok_nope")
    assert not tokens_path(tmp_path).exists()


def test_a_corrupt_token_file_fails_closed(tmp_path: Path) -> None:
    _, secret = create_token(tmp_path, "default", ("read",))
    table = TokenTable(tmp_path, recheck_interval_s=0)
    assert table.lookup(secret) is not None
    tokens_path(tmp_path).write_text("{not json")
    with pytest.raises(TokenError, match="unreadable"):
        read_tokens(tmp_path)
    assert table.lookup(secret) is None


def test_cli_creates_lists_and_revokes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["workspace", "create", "shop-a", "--shards", "1", "--data-dir", str(tmp_path)]) == 0
    assert "workspace shop-a created" in capsys.readouterr().out
    assert cli_main(["token", "create", "--workspace", "shop-a", "--scopes", "read", "--data-dir", str(tmp_path)]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("sgt_")
    assert cli_main(["token", "list", "--json", "--data-dir", str(tmp_path)]) == 0
    (listed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert listed["workspace"] == "shop-a" and listed["scopes"] == ["read"] and "sha256" not in listed
    assert cli_main(["token", "revoke", listed["id"], "--data-dir", str(tmp_path)]) == 0
    assert read_tokens(tmp_path)[0].revoked
    # Bad input: a clear error naming the field, and no change.
    before = tokens_path(tmp_path).read_bytes()
    assert cli_main(["token", "create", "--workspace", "nope", "--scopes", "read", "--data-dir", str(tmp_path)]) == 2
    assert cli_main(["token", "create", "--workspace", "shop-a", "--scopes", "sudo", "--data-dir", str(tmp_path)]) == 2
    assert cli_main(["workspace", "create", "Shop", "--data-dir", str(tmp_path)]) == 2
    assert cli_main(["workspace", "create", "shop-a", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--workspace: no workspace 'nope'" in err and "--scopes: unknown scope sudo" in err
    assert "NAME: workspace name 'Shop'" in err and "exists already" in err
    assert tokens_path(tmp_path).read_bytes() == before


# --- when `segments serve` requires tokens ----------------------------------------------------------
def _serve_args(host: str, **flags: Any) -> argparse.Namespace:
    values = {"auth": False, "insecure": False, "tls_cert": None, "tls_key": None, "tls_client_ca": None, **flags}
    return argparse.Namespace(host=host, **values)


def test_serve_is_secure_by_default_off_loopback(tmp_path: Path) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("db.example")
    assert serve_security(_serve_args("127.0.0.1"), tmp_path).auth is False
    with pytest.raises(SecurityConfigError, match="--host 0.0.0.0 accepts remote clients"):
        serve_security(_serve_args("0.0.0.0"), tmp_path)
    assert serve_security(_serve_args("0.0.0.0", insecure=True), tmp_path).auth is False
    assert serve_security(_serve_args("0.0.0.0", auth=True), tmp_path).auth is True
    create_token(tmp_path, "default", ("read",))
    assert serve_security(_serve_args("0.0.0.0"), tmp_path).auth is True  # tokens.json turns auth on
    assert serve_security(_serve_args("127.0.0.1"), tmp_path).auth is True
    with pytest.raises(SecurityConfigError, match="--tls-cert and --tls-key go together"):
        serve_security(_serve_args("127.0.0.1", tls_cert="c.pem"), tmp_path)


def test_serve_refuses_an_open_remote_server_before_starting_anything(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "data"
    assert cli_main(["serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(data_dir)]) == 2
    assert "--insecure serves it unprotected anyway" in capsys.readouterr().err
    assert not data_dir.exists()  # refused before the data directory was touched


# --- an in-process server with tokens and two workspaces ----------------------------------------------
@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcessServer, Path]]:
    root = tmp_path_factory.mktemp("secured")
    create_workspace(root, "shop-b", shards=1, tz=None)
    create_workspace(root, "broken", shards=1, tz=None)

    async def open_workspace(directory: Path) -> SegmentsBackend:
        if directory.name == "broken":
            OPEN_ATTEMPTS["broken"] = OPEN_ATTEMPTS.get("broken", 0) + 1
            raise OSError("disk on fire")
        return DurableBackend(directory)  # type: ignore[return-value]

    options = ServerOptions(data_dir=root, auth=True, open_workspace=open_workspace)
    running = InProcessServer(DurableBackend(root), options)  # type: ignore[arg-type]
    yield running, root
    running.stop()


def _client(server: InProcessServer, token: str | None) -> SegmentsClient:
    return SegmentsClient(server.target, token=token, timeout_s=10)


def _code(call: Any) -> grpc.StatusCode:
    with pytest.raises(SegmentsError) as raised:
        call()
    return raised.value.code


def test_every_call_needs_a_valid_token(secured: tuple[InProcessServer, Path]) -> None:
    server, root = secured
    with _client(server, None) as anonymous:
        assert anonymous.health() == "SERVING"  # health stays open (load balancers)
        assert _code(lambda: anonymous.count("count(order_created) >= 1")) == grpc.StatusCode.UNAUTHENTICATED
    with _client(server, "sgt_" + "x" * 43) as forged:
        assert _code(lambda: forged.count("count(order_created) >= 1")) == grpc.StatusCode.UNAUTHENTICATED
    channel = grpc.insecure_channel(server.target)
    from proto.segments.v1 import admin_pb2, admin_pb2_grpc

    stub = admin_pb2_grpc.AdminServiceStub(channel)
    with pytest.raises(grpc.RpcError) as raised:
        stub.Stats(admin_pb2.StatsRequest(), metadata=(("authorization", "Basic abc"),), timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED and "Bearer" in raised.value.details()
    channel.close()


def test_scopes_decide_what_a_token_may_do(secured: tuple[InProcessServer, Path]) -> None:
    server, root = secured
    _, reader = create_token(root, "default", ("read",))
    _, writer = create_token(root, "default", ("write",))
    with _client(server, writer) as client:
        assert client.ingest([order("s1", "c1")]).accepted == 1
        assert _code(lambda: client.count("count(order_created) >= 1")) == grpc.StatusCode.PERMISSION_DENIED
        assert _code(client.snapshot) == grpc.StatusCode.PERMISSION_DENIED
    with _client(server, reader) as client:
        assert client.count("count(order_created) >= 1", AS_OF).count >= 1
        with pytest.raises(SegmentsError) as raised:
            client.ingest([order("s2", "c2")])
        assert raised.value.code == grpc.StatusCode.PERMISSION_DENIED and "needs write" in raised.value.message


def test_the_workspace_comes_from_the_token(secured: tuple[InProcessServer, Path]) -> None:
    server, root = secured
    _, writer_b = create_token(root, "shop-b", ("read", "write"))
    _, reader_default = create_token(root, "default", ("read",))
    with _client(server, writer_b) as client:
        assert client.ingest([order(f"b{i}", f"b-cust-{i}") for i in range(5)]).accepted == 5
        members_b = list(client.members("count(order_created) >= 1", AS_OF))
        assert members_b == sorted(f"b-cust-{i}" for i in range(5))
        assert client.stats().data_dir.endswith("workspaces/shop-b")
    with _client(server, reader_default) as client:
        assert not any(m.startswith("b-cust") for m in client.members("count(order_created) >= 1", AS_OF))


def test_a_revoked_token_is_refused_within_a_second(secured: tuple[InProcessServer, Path]) -> None:
    server, root = secured
    record, secret = create_token(root, "default", ("read",))
    with _client(server, secret) as client:
        client.count("count(order_created) >= 1", AS_OF)
        revoke_token(root, record.id)
        revoked_at = time.monotonic()
        deadline = revoked_at + 5
        while time.monotonic() < deadline:  # bounded: at most 5 s of retries
            try:
                client.count("count(order_created) >= 1", AS_OF)
            except SegmentsError as exc:
                assert exc.code == grpc.StatusCode.UNAUTHENTICATED and "revoked" in exc.message
                break
            time.sleep(0.05)
        refused_after_s = time.monotonic() - revoked_at
    assert refused_after_s < REVOCATION_DEADLINE_S, f"revocation took {refused_after_s:.2f} s"


def test_a_token_of_a_removed_workspace_is_refused(secured: tuple[InProcessServer, Path]) -> None:
    server, root = secured
    _, secret = create_token(root, "ghost", ("read",))  # the CLI checks the workspace; this file edit does not
    with _client(server, secret) as client:
        assert _code(client.stats) == grpc.StatusCode.PERMISSION_DENIED


def test_every_call_shape_is_refused_before_its_request_is_read(secured: tuple[InProcessServer, Path]) -> None:
    server, _ = secured
    from proto.segments.v1 import (
        ingest_pb2,
        ingest_pb2_grpc,
        insights_pb2,
        insights_pb2_grpc,
        segments_pb2,
        segments_pb2_grpc,
    )

    with grpc.insecure_channel(server.target) as channel:
        ingest = ingest_pb2_grpc.IngestServiceStub(channel)
        calls = {
            "Ingest": lambda: ingest.Ingest(ingest_pb2.IngestRequest(), timeout=10),
            "IngestStream": lambda: ingest.IngestStream(iter([ingest_pb2.IngestRequest()]), timeout=10),
            "Export": lambda: list(insights_pb2_grpc.InsightsServiceStub(channel).Export(
                insights_pb2.ExportRequest(), timeout=10)),
            "Watch": lambda: list(segments_pb2_grpc.SegmentServiceStub(channel).Watch(
                segments_pb2.WatchRequest(), timeout=10)),
        }
        for name, call in calls.items():
            with pytest.raises(grpc.RpcError) as raised:
                call()
            assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED, name


def test_a_workspace_that_cannot_open_is_unavailable_and_not_retried_at_once(
        secured: tuple[InProcessServer, Path]) -> None:
    server, root = secured
    attempts_at_start = OPEN_ATTEMPTS["broken"]  # the server tried once at start
    _, secret = create_token(root, "broken", ("read",))
    with _client(server, secret) as client:
        for _ in range(3):
            with pytest.raises(SegmentsError) as raised:
                client.stats()
            assert raised.value.code == grpc.StatusCode.UNAVAILABLE and "disk on fire" in raised.value.message
    assert OPEN_ATTEMPTS["broken"] == attempts_at_start


# --- the handler wrapper, as a unit (a stand-in context) ----------------------------------------------
class _Aborted(Exception):
    pass


class _Context:
    def __init__(self) -> None:
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.aborted = (code, details)
        raise _Aborted


def test_handlers_run_as_their_token_and_streams_end_on_revocation() -> None:
    import asyncio

    from service.auth_interceptor import TOKEN_RECHECK_S, _bound_to_token
    from service.stream_limits import AUTHENTICATED_CLIENT

    valid = {"tok_a": True}

    async def unary(_request: Any, _context: Any) -> Any:
        return AUTHENTICATED_CLIENT.get()

    async def chunks(_request: Any, _context: Any) -> Any:
        for i in range(3):
            if i == 1:
                valid["tok_a"] = False  # revoked after the first chunk
            yield i

    async def endless(_request: Any, _context: Any) -> None:
        await asyncio.sleep(60)

    async def run() -> None:
        wrapped = _bound_to_token(grpc.unary_unary_rpc_method_handler(unary), "tok_a", lambda: valid["tok_a"])
        assert await wrapped.unary_unary(None, _Context()) == "tok_a"
        assert AUTHENTICATED_CLIENT.get() is None  # reset after the call

        streamed = _bound_to_token(grpc.unary_stream_rpc_method_handler(chunks), "tok_a", lambda: valid["tok_a"])
        context, received = _Context(), []
        with pytest.raises(_Aborted):
            async for item in streamed.unary_stream(None, context):
                received.append(item)
        assert received == [0] and context.aborted is not None
        assert context.aborted[0] == grpc.StatusCode.UNAUTHENTICATED

        valid["tok_a"] = True
        watched = _bound_to_token(grpc.unary_stream_rpc_method_handler(endless), "tok_a", lambda: valid["tok_a"])
        context = _Context()
        call = asyncio.ensure_future(watched.unary_stream(None, context))
        await asyncio.sleep(TOKEN_RECHECK_S * 2)
        assert not call.done()
        valid["tok_a"] = False
        with pytest.raises(_Aborted):
            await asyncio.wait_for(call, TOKEN_RECHECK_S * 8)
        assert context.aborted is not None and "revoked during the call" in context.aborted[1]

    asyncio.run(run())
