"""audit.log: every admin action through the server (with its token id, workspace and outcome, refused
ones included) and through the CLI (token create/revoke, workspace create), printed by `segments audit`;
concurrent appenders never interleave lines."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from service.audit import append_audit, audit_path, read_audit
from service.auth_tokens import create_token
from service.cli import main as cli_main
from service.client import SegmentsClient
from service.client_types import SegmentsError
from service.server import ServerOptions
from tests.service_backend import DurableBackend
from tests.service_inprocess import InProcessServer

pytestmark = pytest.mark.timeout(120)
APPENDING_THREADS = 8
LINES_PER_THREAD = 50


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[InProcessServer]:
    running = InProcessServer(DurableBackend(tmp_path), ServerOptions(data_dir=tmp_path, auth=True))  # type: ignore[arg-type]
    yield running
    running.stop()


def _actions(data_dir: Path) -> list[tuple[str, str, str, str]]:
    return [(e["actor"], e["workspace"], e["action"], e["outcome"]) for e in read_audit(data_dir)]


def test_admin_rpcs_are_audited_with_actor_and_outcome(secured: InProcessServer, tmp_path: Path) -> None:
    admin, admin_secret = create_token(tmp_path, "default", ("admin", "write"))
    reader, reader_secret = create_token(tmp_path, "default", ("read",))
    with SegmentsClient(secured.target, token=admin_secret, timeout_s=30) as client:
        client.snapshot()
        client.declare([{"property": "score", "type": "number"}])
    with SegmentsClient(secured.target, token=reader_secret, timeout_s=30) as client:
        with pytest.raises(SegmentsError) as raised:
            client.compact()
        assert raised.value.code == grpc.StatusCode.PERMISSION_DENIED
        client.stats()  # a read: not audited
    assert _actions(tmp_path) == [
        (admin.id, "default", "segments.v1.AdminService/Snapshot", "OK"),
        (admin.id, "default", "segments.v1.SchemaService/Declare", "OK"),
        (reader.id, "default", "segments.v1.AdminService/Compact", "PERMISSION_DENIED"),
    ]
    assert stat.S_IMODE(os.stat(audit_path(tmp_path)).st_mode) == 0o600


def test_a_failed_admin_action_is_audited_with_its_status(secured: InProcessServer, tmp_path: Path) -> None:
    _, secret = create_token(tmp_path, "default", ("write",))
    with SegmentsClient(secured.target, token=secret, timeout_s=30) as client:
        client.declare([{"property": "score", "type": "number"}])
        with pytest.raises(SegmentsError) as raised:
            client.declare([{"property": "score", "type": "string"}])  # a property keeps its type
    assert raised.value.code != grpc.StatusCode.OK
    assert [(a, o) for _, _, a, o in _actions(tmp_path)] == [
        ("segments.v1.SchemaService/Declare", "OK"), ("segments.v1.SchemaService/Declare", raised.value.code.name)]


def test_without_authentication_the_actor_is_anonymous(tmp_path: Path) -> None:
    running = InProcessServer(DurableBackend(tmp_path))  # type: ignore[arg-type]
    try:
        with SegmentsClient(running.target, timeout_s=30) as client:
            client.snapshot()
    finally:
        running.stop()
    assert _actions(tmp_path) == [("-", "default", "segments.v1.AdminService/Snapshot", "OK")]


def test_cli_admin_commands_are_audited_and_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["workspace", "create", "shop-a", "--shards", "1", "--data-dir", str(tmp_path)]) == 0
    assert cli_main(["token", "create", "--workspace", "shop-a", "--scopes", "admin", "--json",
                     "--data-dir", str(tmp_path)]) == 0
    token_id = json.loads(capsys.readouterr().out.splitlines()[-1])["id"]
    assert cli_main(["token", "revoke", token_id, "--data-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    actions = [(e["workspace"], e["action"], e["outcome"]) for e in read_audit(tmp_path)]
    assert actions == [("shop-a", "workspace.create", "OK"), ("shop-a", "token.create", "OK"),
                       ("shop-a", "token.revoke", "OK")]
    assert all(e["actor"].startswith("local:") for e in read_audit(tmp_path))
    assert cli_main(["audit", "--data-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 3 and "token.revoke" in printed[2] and token_id in printed[2]
    assert cli_main(["audit", "--json", "--tail", "1", "--data-dir", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["action"] == "token.revoke"


def test_concurrent_appends_stay_whole_lines(tmp_path: Path) -> None:
    def append_many(thread: int) -> None:
        for i in range(LINES_PER_THREAD):
            append_audit(tmp_path, actor=f"t{thread}", workspace="default", action="test", target="x" * 200 + str(i))

    threads = [threading.Thread(target=append_many, args=(t,)) for t in range(APPENDING_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    entries = list(read_audit(tmp_path))
    assert len(entries) == APPENDING_THREADS * LINES_PER_THREAD and not any("damaged" in e for e in entries)
    with open(audit_path(tmp_path), "ab") as log:
        log.write(b'{"cut short')  # a crash mid-line: reported, the rest still listed
    assert list(read_audit(tmp_path))[-1] == {"damaged": APPENDING_THREADS * LINES_PER_THREAD + 1}
