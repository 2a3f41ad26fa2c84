"""Erasure end to end through the real server (2 Ray shards): forget_customer takes a customer out of
every answer at once, and after Compact no byte of their id, event ids or distinctive values is left
anywhere in the data directory - logs, snapshots, change logs, export files (ExportToFile) - proved by
scanning every file (gzip ones decompressed). RELIABILITY.md, "Erasure"."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from indexes.durable.export_erasure import erase_from_exports
from service.client import SegmentsClient
from service.client_types import SegmentsError
from tests.service_process import ServerProcess

pytestmark = pytest.mark.timeout(240)

SECRET = "erase-e2e-cust-Q7XK2"
SECRET_EMAIL = "zz-erase-e2e-q7xk2@mail.invalid"  # emails are stored lowercased
SECRET_SKU = "SKU-ERASE-E2E-Q7XK2"
SECRET_EVENTS = [f"evt-erase-e2e-Q7XK2-{i}" for i in range(4)]
NEEDLES = [SECRET, SECRET_EMAIL, SECRET_SKU, *SECRET_EVENTS]
OTHERS = [f"keep-{i}" for i in range(12)]
BASE_MS = 1_763_000_000_000
FAR_MS = 10**13
RULE = "count(order_created) >= 1"


def records() -> list[dict]:
    batch: list[dict] = []
    for i, customer in enumerate([SECRET, *OTHERS]):
        batch.append({"customer_id": customer, "ts": BASE_MS, "properties": {
            "email": SECRET_EMAIL if customer == SECRET else f"{customer}@mail.invalid", "country": "DE"}})
        for n in range(4):
            event_id = SECRET_EVENTS[n] if customer == SECRET else f"evt-{customer}-{n}"
            batch.append({"event_id": event_id, "customer_id": customer, "type": "order_created",
                          "ts": BASE_MS + i * 1000 + n,
                          "attrs": {"amount": "10.50",
                                    "product_ids": [SECRET_SKU if customer == SECRET else f"sku-{n}"]}})
    return batch


def file_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":  # gzip, whatever the name says
        data = gzip.decompress(data)
    return data


def holding(data_dir: Path, needle: str) -> list[str]:
    """Every file under `data_dir` whose bytes (decompressed) contain `needle`."""
    pattern = needle.encode()
    return [str(p.relative_to(data_dir)) for p in sorted(data_dir.rglob("*")) if p.is_file()
            and pattern in file_bytes(p)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess(tmp_path_factory.mktemp("erasure") / "data", "--shards", "2")
    yield running
    if running.process is not None:
        assert running.stop() == 0, running.log_tail()


def test_forget_customer_leaves_answers_at_once_and_disk_after_compaction(server: ServerProcess) -> None:
    data_dir = server.data_dir
    with SegmentsClient(server.target) as client:
        result = client.ingest(records())
        assert result.rejected == 0 and result.accepted == len(records())
        segment = client.create_segment("buyers", RULE)  # its change log names the customer's entry
        assert client.count(RULE, FAR_MS).count == 1 + len(OTHERS)
        assert SECRET in set(client.members(RULE, FAR_MS))
        assert client.customer_profile(SECRET).properties["email"] == SECRET_EMAIL
        by_id = client.export_to_file(["customer_id", "email", "country"], RULE, file_name="with-ids.csv")
        emails_only = client.export_to_file(["email"], RULE, file_name="emails-only.csv")
        assert by_id.rows == emails_only.rows == 1 + len(OTHERS)
        client.snapshot()
        for needle in (SECRET, SECRET_EMAIL, SECRET_EVENTS[0]):
            assert holding(data_dir, needle), f"{needle} is on disk before the erasure"
        assert holding(data_dir, SECRET_EMAIL) and "exports/with-ids.csv" in holding(data_dir, SECRET)

        client.ingest([{"forget_customer": SECRET, "ts": BASE_MS + 10**6}])

        # At once: gone from every answer.
        assert client.count(RULE, FAR_MS).count == len(OTHERS)
        assert SECRET not in set(client.members(RULE, FAR_MS))
        assert SECRET not in set(client.segment_members(segment.id))
        assert client.insights(RULE).members == len(OTHERS)
        with pytest.raises(SegmentsError) as missing:
            client.customer_profile(SECRET)
        assert missing.value.code == grpc.StatusCode.NOT_FOUND
        # ... but still on disk until compaction (the log keeps records until it is rewritten).
        assert holding(data_dir, SECRET)

        reports = client.compact()
        assert sum(r.records_before - r.records_after for r in reports) > 0

        for needle in NEEDLES:
            assert holding(data_dir, needle) == [], f"{needle} still on disk after compaction"
        exports = sorted(p.name for p in (data_dir / "exports").iterdir())
        assert exports == ["with-ids.csv"], "the export without customer ids cannot be attributed: deleted"
        kept = (data_dir / "exports" / "with-ids.csv").read_text().splitlines()
        assert len(kept) == 1 + len(OTHERS) and kept[0] == "customer_id,email,country"
        # The others are untouched, in answers and in the rewritten export.
        assert client.count(RULE, FAR_MS).count == len(OTHERS)
        assert sorted(line.split(",")[0] for line in kept[1:]) == sorted(OTHERS)
        # Idempotency survives the erasure: re-sending the erased events stores nothing of them again...
        again = client.ingest([{"event_id": e, "customer_id": SECRET, "type": "order_created", "ts": BASE_MS,
                                "attrs": {"amount": "1"}} for e in SECRET_EVENTS])
        assert again.accepted == 0 and again.duplicates == len(SECRET_EVENTS)


# --- the export rewrite on its own (indexes/durable/export_erasure.py), no server ------------------------
def test_export_rewrite_drops_erased_rows_deletes_unattributable_files_and_stale_temporaries(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    (exports / "schedule-1").mkdir(parents=True)
    tricky = 'gone, "quoted"'  # ids are free text: commas and quotes survive the CSV round trip
    (exports / "adhoc.csv").write_text(f'customer_id,email\nkeep-1,a@x\n"{tricky.replace(chr(34), 2 * chr(34))}",b@x\n'
                                       "gone-2,c@x\n", encoding="utf-8")
    (exports / "schedule-1" / "20261101T000000Z.csv").write_text("email,customer_id\nd@x,keep-2\n", encoding="utf-8")
    (exports / "emails.csv").write_text("email\ne@x\n", encoding="utf-8")
    (exports / "old.csv.erasing").write_text("customer_id\ngone-2\n", encoding="utf-8")  # a crash's leftover
    (exports / "running.csv.partial").write_text("customer_id\nkeep-3\n", encoding="utf-8")  # being written

    outcome = erase_from_exports(tmp_path, [tricky, "gone-2", "never-exported"])

    assert (exports / "adhoc.csv").read_text(encoding="utf-8") == "customer_id,email\nkeep-1,a@x\n"
    assert outcome.rows_removed == 2 and outcome.files_rewritten == [str(exports / "adhoc.csv")]
    assert (exports / "schedule-1" / "20261101T000000Z.csv").read_text(encoding="utf-8") == "email,customer_id\nd@x,keep-2\n"
    assert outcome.files_deleted == [str(exports / "emails.csv")] and not (exports / "emails.csv").exists()
    assert not (exports / "old.csv.erasing").exists()
    assert (exports / "running.csv.partial").exists()
    again = erase_from_exports(tmp_path, [tricky, "gone-2"])  # a repeated compaction changes nothing more
    assert again.rows_removed == 0 and not again.files_rewritten and not again.files_deleted
