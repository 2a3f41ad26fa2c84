"""Which scope each RPC needs, and which RPCs are admin actions written to the audit log.

docs/SECURITY.md prints this table. Every method of the six segments.v1 services must be listed
(asserted at import), so a new RPC cannot ship unauthorised by omission. Health and reflection are
not in it: they stay open to anyone who can connect (load balancers probe them without a token).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from proto.segments.v1 import admin_pb2, ingest_pb2, insights_pb2, query_pb2, schema_pb2, segments_pb2


class Scope(enum.Enum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


SCOPE_NAMES = tuple(scope.value for scope in Scope)


@dataclass(frozen=True)
class MethodRule:
    scope: Scope
    audited: bool = False  # an admin action: one audit.log line per call, with its outcome
    target_field: str = ""  # the request field naming what the action touched (audit "target")


_R = MethodRule(Scope.READ)
_W = MethodRule(Scope.WRITE)

_RULES_BY_SERVICE: dict[tuple[object, str], dict[str, MethodRule]] = {
    (ingest_pb2, "IngestService"): {"Ingest": _W, "IngestStream": _W},
    (query_pb2, "QueryService"): {"Count": _R, "Preview": _R, "Members": _R},
    (schema_pb2, "SchemaService"): {
        "Declare": MethodRule(Scope.WRITE, audited=True),  # changes what every later ingest accepts
        "GetSchema": _R,
    },
    (admin_pb2, "AdminService"): {
        "Snapshot": MethodRule(Scope.ADMIN, audited=True),
        "Compact": MethodRule(Scope.ADMIN, audited=True),
        "Stats": _R,
    },
    (segments_pb2, "SegmentService"): {
        "CreateSegment": MethodRule(Scope.WRITE, audited=True, target_field="segment_id"),
        "EditSegment": MethodRule(Scope.WRITE, audited=True, target_field="segment_id"),
        "RollbackSegment": MethodRule(Scope.WRITE, audited=True, target_field="segment_id"),
        "DeleteSegment": MethodRule(Scope.ADMIN, audited=True, target_field="segment_id"),
        "AttachCampaign": _W, "DetachCampaign": _W,
        "GetSegment": _R, "ListSegmentVersions": _R, "ListSegments": _R, "DryRunEdit": _R,
        "ListTemplates": _R, "SegmentCount": _R, "SegmentMembers": _R, "SegmentSizeHistory": _R,
        "SegmentChanges": _R, "Watch": _R,
    },
    (insights_pb2, "InsightsService"): {
        "Insights": _R, "Summarize": _R, "Explain": _R, "MemberProfiles": _R, "CustomerProfile": _R,
        "Export": _R,
        # Writes a file on the server's disk: an operator's action, not a reader's.
        "ExportToFile": MethodRule(Scope.ADMIN, audited=True, target_field="file_name"),
        "CreateExportSchedule": MethodRule(Scope.ADMIN, audited=True, target_field="schedule_id"),
        "DeleteExportSchedule": MethodRule(Scope.ADMIN, audited=True, target_field="schedule_id"),
        "ListExportSchedules": _R, "ListExportRuns": _R,
    },
}


def _full_table() -> dict[str, MethodRule]:
    table: dict[str, MethodRule] = {}
    for (module, service_name), rules in _RULES_BY_SERVICE.items():
        service = module.DESCRIPTOR.services_by_name[service_name]  # type: ignore[attr-defined]
        declared = set(service.methods_by_name)
        assert declared == set(rules), f"{service.full_name}: scope table differs from the proto: " \
                                       f"{sorted(declared ^ set(rules))}"
        for method, rule in rules.items():
            table[f"/{service.full_name}/{method}"] = rule
    return table


# "/segments.v1.QueryService/Count" -> its rule: the form grpc's HandlerCallDetails.method takes.
METHOD_RULES: dict[str, MethodRule] = _full_table()
