"""Sizes and times of the gRPC layer, shared by the server and the client (docs/SERVICE.md, "Limits").

Every reply the server builds is bounded so that it fits MAX_REPLY_MESSAGE_BYTES, whatever the data:
member pages and samples by their id count (ids are at most 256 bytes, RECORDS.md), error lists by
their length and the length of each text. The asserts at the bottom check that arithmetic.
"""

from __future__ import annotations

from indexes.records import MAX_CUSTOMER_ID_BYTES, MAX_EVENT_ID_BYTES

MIB = 1 << 20

# Requests carry ingest batches of up to MAX_BATCH_RECORDS records: 64 MiB leaves ~670 bytes a record.
MAX_REQUEST_MESSAGE_BYTES = 64 * MIB
# gRPC's own default; other languages' clients receive at least this much without configuration.
MAX_REPLY_MESSAGE_BYTES = 4 * MIB
# google.rpc.Status details ride in trailing metadata, which clients cap at 8 KiB by default (some at
# 16 KiB); the server keeps its details under ~4 KiB (below) and our client accepts up to this.
MAX_METADATA_BYTES = 64 * 1024

MAX_BATCH_RECORDS = 100_000  # records per IngestRequest (ingest.proto); the engine's batch bound too
# Backend batches of one IngestStream being stored at once: the next is validated on the shards while
# the one before it is made durable (service/ingest_stream.py). Each holds a prepared sub-batch on its
# shards (at most 32 per shard, actors/prepared.py): 8 streams x 2 leave room for other clients.
STREAM_BATCHES_IN_FLIGHT = 2
# Requests read while those are in flight are merged into one backend batch of at most this many records
# (a shard's fixed cost per batch stops mattering from ~2 000 records per shard); it also bounds what a
# stream reads ahead: about this many records plus the batches in flight.
STREAM_MERGE_MAX_RECORDS = 8_000

DEFAULT_PAGE_SIZE = 1_000
MAX_PAGE_SIZE = 10_000  # larger requests are lowered to it (query.proto)
DEFAULT_SAMPLE_SIZE = 20
MAX_SAMPLE_SIZE = 1_000
MAX_RULE_BYTES = 1 * MIB  # a rule's text or JSON; Preview echoes it back in canonical form

MAX_LISTED_RECORD_ERRORS = 1_000  # RecordError entries in one reply; the rest is counted only
# Texts are clipped by UTF-8 bytes: a field path names user-chosen keys (attrs.NAME), a reason may
# quote a value.
MAX_FIELD_BYTES = 160
MAX_REASON_BYTES = 500

MAX_FIELD_VIOLATIONS = 10  # in a google.rpc.BadRequest; the status message counts the rest
MAX_VIOLATION_DESCRIPTION_BYTES = 160
MAX_STATUS_MESSAGE_BYTES = 300

# Saved segments (segments.proto). Segment lists and version histories are paged by count and cut
# short at MAX_SEGMENT_REPLY_BYTES (a segment carries its rule twice, and a rule may be up to 1 MiB).
DEFAULT_SEGMENTS_PAGE_SIZE = 100
MAX_SEGMENTS_PAGE_SIZE = 1_000
MAX_SEGMENT_REPLY_BYTES = 3 * MIB
DEFAULT_CHANGES_PAGE_SIZE = 1_000
MAX_CHANGES_PAGE_SIZE = 5_000  # change-log entries per SegmentChanges reply (bounded below)
# Entries per Watch message at most, and per long poll of the shards: a consumer following every segment
# gets tens of thousands a second, and each poll is a round trip to every shard (fits a reply: asserted below).
WATCH_BATCH_CHANGES = MAX_CHANGES_PAGE_SIZE
MAX_SEGMENT_IDS_PER_REQUEST = 1_000  # segment_ids a SegmentChanges / Watch request may filter on
DEFAULT_DRY_RUN_SAMPLES = 10
DEFAULT_HEARTBEAT_MS = 5_000
MIN_HEARTBEAT_MS, MAX_HEARTBEAT_MS = 100, 60_000
MAX_WATCH_STREAMS = 64  # open Watch streams per server; more are RESOURCE_EXHAUSTED
# Open Watch, IngestStream and Export streams of one client (token id, else peer host) at once; more are
# RESOURCE_EXHAUSTED (service/stream_limits.py). A quarter of the server's Watch streams: four clients
# cannot take them all.
MAX_STREAMS_PER_CLIENT = 16
WATCH_QUEUE_MESSAGES = 64  # messages read from the shards and not yet sent, per stream
# A stream whose queue stayed full this long is ended with RESOURCE_EXHAUSTED (its client resumes from
# the last position it received) rather than buffered without bound.
WATCH_SLOW_CONSUMER_S = 10.0

GRACE_PERIOD_S = 10.0  # in-flight RPCs may finish this long after SIGTERM before they are cancelled
HEALTH_POLL_INTERVAL_S = 0.5  # how often backend.serving() is read into the health service
DEFAULT_QUERY_TIMEOUT_S = 60.0  # the client's deadline for queries and admin calls
DEFAULT_INGEST_TIMEOUT_S = 300.0  # the client's deadline for one ingest batch (fsync + apply)

_REPEATED_ENTRY_OVERHEAD_BYTES = 1 + 2  # tag + length varint of an entry of up to 16383 bytes
_PAGE_TOKEN_MAX_BYTES = 1024  # base64 of version, 16-byte digest, as_of, an id of <= 256 bytes, checksum

# A page of the longest ids, plus the token and the few scalar fields, fits a reply.
assert MAX_PAGE_SIZE * (MAX_CUSTOMER_ID_BYTES + _REPEATED_ENTRY_OVERHEAD_BYTES) + _PAGE_TOKEN_MAX_BYTES < (
    MAX_REPLY_MESSAGE_BYTES - 64 * 1024
)
# A preview: its sample, plus the canonical rule text (at most ~2x the rule as sent).
assert MAX_SAMPLE_SIZE * (MAX_CUSTOMER_ID_BYTES + 3) + 2 * MAX_RULE_BYTES < MAX_REPLY_MESSAGE_BYTES
# An ingest reply: one packed status byte per record, plus the listed errors at their longest.
_ERROR_ENTRY_MAX_BYTES = 16 + MAX_FIELD_BYTES + MAX_REASON_BYTES
assert MAX_BATCH_RECORDS + MAX_LISTED_RECORD_ERRORS * _ERROR_ENTRY_MAX_BYTES < MAX_REPLY_MESSAGE_BYTES
# A change-log page: segment ids <= 64 bytes (twice: the upstream), a customer id, an event id, scalars.
_CHANGE_MAX_BYTES = 2 * 64 + MAX_CUSTOMER_ID_BYTES + MAX_EVENT_ID_BYTES + 64
assert MAX_CHANGES_PAGE_SIZE * _CHANGE_MAX_BYTES + 2 * _PAGE_TOKEN_MAX_BYTES < MAX_REPLY_MESSAGE_BYTES - 64 * 1024
assert WATCH_BATCH_CHANGES <= MAX_CHANGES_PAGE_SIZE
# Error metadata: the serialized google.rpc.Status (base64 in metadata: 4/3) plus grpc-message
# (percent-encoded: up to 3x) stays under 8 KiB, the common client default.
_STATUS_DETAILS_MAX_BYTES = 64 + MAX_STATUS_MESSAGE_BYTES + MAX_FIELD_VIOLATIONS * (
    8 + MAX_FIELD_BYTES + MAX_VIOLATION_DESCRIPTION_BYTES
)
assert _STATUS_DETAILS_MAX_BYTES * 4 // 3 + 3 * MAX_STATUS_MESSAGE_BYTES < 8 * 1024


def clip(text: str, max_bytes: int) -> str:
    """`text` cut to at most `max_bytes` of UTF-8 (on a character boundary), marked with '...'."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    assert max_bytes > 3
    return encoded[: max_bytes - 3].decode("utf-8", errors="ignore") + "..."

# --- Admission control (service/admission.py; RELIABILITY.md, "Overload") ----------------------------
# Unary calls of a class running at once; a few more wait at most *_MAX_WAIT_MS for a slot; the rest are
# refused at once with RESOURCE_EXHAUSTED. Queries: enough running to fill the count micro-batches of
# 2 shards, a wait short enough that a refusal comes within a few ms. Ingest: each batch holds an fsync
# and a prepared sub-batch per shard (at most 32, actors/prepared.py), so fewer, and a longer wait.
ADMISSION_QUERY_MAX_RUNNING = 32
ADMISSION_QUERY_MAX_WAITING = 32
ADMISSION_QUERY_MAX_WAIT_MS = 10
ADMISSION_INGEST_MAX_RUNNING = 16
ADMISSION_INGEST_MAX_WAITING = 16
ADMISSION_INGEST_MAX_WAIT_MS = 100
# Calls gRPC's core has received but the server's event loop has not taken in yet (`segments serve
# --max-pending-calls`). The Python server takes calls in at ~1-3 k/s whatever the handlers do, so under
# a flood they queue there, before the gates above see them; gRPC's core refuses calls past the bound at
# once (at random from the soft bound, always from the hard one, PENDING_CALLS_HARD_FACTOR x it), so a
# call waits there ~0.2-0.5 s at most instead of until its deadline (gRPC's defaults are 1,000 / 3,000:
# seconds here). The core resets a refused call's stream: the client sees CANCELLED, not
# RESOURCE_EXHAUSTED (RELIABILITY.md, "Overload").
MAX_PENDING_CALLS_SOFT = 128
PENDING_CALLS_HARD_FACTOR = 4
# Calls taken in and not finished, streams included (`segments serve --max-concurrent-calls`): past it
# grpc.aio refuses a new call with RESOURCE_EXHAUSTED ("Concurrent RPC limit exceeded!") before any
# interceptor runs, at a fraction of the cost of the admission gate's refusal. Above what the gates and
# stream limits let run (32 + 32 queries, 16 + 16 ingest, 64 Watch streams, other streams) with room for
# calls being refused by them.
MAX_CONCURRENT_CALLS = 512
