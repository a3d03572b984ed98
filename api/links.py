"""OpenAPI links: which response feeds which next call, so clients and stateful fuzzers can follow
the natural workflows (create a case, schedule a visit on it, check in, upload, build a packet...).

Every operation gets a stable `operationId` derived from its method and path (`get_cases_case_id`,
`post_visits_visit_id_check_in`) unless it declares its own; links name their target by that id.
The table below is the one place the links are declared; `LinksPlugin` (applied from api/docs.py)
writes them into the document as the paths are registered.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from apispec import BasePlugin

PREFIX = "/api/v1"
METHODS = ("get", "post", "put", "patch", "delete")


def operation_id(method: str, path: str) -> str:
    """`GET /api/v1/cases/{case_id}/evidence` → `get_cases_case_id_evidence`."""
    words = re.findall(r"[A-Za-z0-9]+", path.removeprefix(PREFIX))
    return "_".join([method.lower(), *words]) if words else method.lower()


@dataclass(frozen=True)
class Link:
    """From `source`'s `status` response to `target`, with what to carry over."""

    name: str
    source: tuple[str, str, str]  # method, path (without the /api/v1 prefix), status
    target: tuple[str, str]  # method, path
    parameters: dict = field(default_factory=dict)
    request_body: dict | None = None
    description: str = ""


@dataclass(frozen=True)
class Constant:
    """A literal in a link's request body template (other values name fields of the resource)."""

    value: object


def _fan_out(producers, consumers) -> list[Link]:
    """Every producer of a resource links to every consumer of it.

    producers: (method, path, status, JSON pointer of the resource in the response body)
    consumers: (name, method, path, {parameter: field}, request body template or None); a field
    is a name in the resource; a body template maps body fields to resource fields or Constants.
    """
    links = []
    for method, path, status, pointer in producers:
        for name, target_method, target_path, params, body in consumers:
            if (target_method, target_path) == (method, path):
                continue
            links.append(Link(
                name=name,
                source=(method, path, status),
                target=(target_method, target_path),
                parameters={p: f"$response.body#{pointer}/{f}" for p, f in params.items()},
                request_body=({k: v.value if isinstance(v, Constant) else f"$response.body#{pointer}/{v}"
                               for k, v in body.items()} if body is not None else None),
            ))
    return links


CASE = _fan_out(
    producers=[("post", "/cases", "201", ""), ("get", "/cases", "200", "/0")],
    consumers=[
        ("GetCase", "get", "/cases/{case_id}", {"case_id": "id"}, None),
        ("UpdateCase", "patch", "/cases/{case_id}", {"case_id": "id"}, None),
        ("CaseTimeline", "get", "/cases/{case_id}/timeline", {"case_id": "id"}, None),
        ("CaseEvidence", "get", "/cases/{case_id}/evidence", {"case_id": "id"}, None),
        ("CasePackets", "get", "/cases/{case_id}/packets", {"case_id": "id"}, None),
        ("BuildPacket", "post", "/cases/{case_id}/packets", {"case_id": "id"}, None),
        ("ScheduleVisit", "post", "/visits", {},
         {"case_id": "id", "address_id": "addresses/0/id", "collector_id": "assigned_collector_id"}),
        ("CollectorRoute", "get", "/collectors/{collector_id}/route", {"collector_id": "assigned_collector_id"}, None),
        ("VerifyCase", "post", "/verifications", {}, {"scope": Constant("case"), "id": "id"}),
    ],
)

VISIT = _fan_out(
    producers=[("post", "/visits", "201", ""), ("get", "/visits", "200", "/0"),
               ("post", "/visits/{visit_id}/check-in", "200", "")],
    consumers=[
        ("GetVisit", "get", "/visits/{visit_id}", {"visit_id": "id"}, None),
        ("CheckIn", "post", "/visits/{visit_id}/check-in", {"visit_id": "id"}, None),
        ("AddNote", "post", "/visits/{visit_id}/notes", {"visit_id": "id"}, None),
        ("CheckOut", "post", "/visits/{visit_id}/check-out", {"visit_id": "id"}, None),
        ("StartUpload", "post", "/evidence/uploads", {}, {"visit_id": "id"}),
        ("VisitCase", "get", "/cases/{case_id}", {"case_id": "case_id"}, None),
    ],
)

EVIDENCE_READS = [
    ("GetEvidence", "get", "/evidence/{evidence_id}", {"evidence_id": "id"}, None),
    ("EvidenceCustody", "get", "/evidence/{evidence_id}/custody", {"evidence_id": "id"}, None),
    ("EvidenceContent", "get", "/evidence/{evidence_id}/content", {"evidence_id": "id"}, None),
    ("EvidenceThumbnail", "get", "/evidence/{evidence_id}/thumbnail", {"evidence_id": "id"}, None),
]
EVIDENCE = _fan_out(
    producers=[("post", "/evidence", "201", ""), ("post", "/visits/{visit_id}/notes", "201", ""),
               ("post", "/evidence/{evidence_id}/complete", "200", ""),
               ("post", "/evidence/{evidence_id}/redactions", "201", ""),
               ("get", "/cases/{case_id}/evidence", "200", "/0")],
    consumers=EVIDENCE_READS + [
        ("Redact", "post", "/evidence/{evidence_id}/redactions", {"evidence_id": "id"}, None),
        ("PlaceLegalHold", "post", "/evidence/{evidence_id}/legal-hold", {"evidence_id": "id"}, None),
        ("ReleaseLegalHold", "delete", "/evidence/{evidence_id}/legal-hold", {"evidence_id": "id"}, None),
        ("VerifyEvidence", "post", "/verifications", {}, {"scope": Constant("evidence"), "id": "id"}),
    ],
) + _fan_out(
    producers=[("post", "/evidence/uploads", "201", "")],
    consumers=[
        ("UploadContent", "put", "/evidence/{evidence_id}/content", {"evidence_id": "id"}, None),
        ("CompleteUpload", "post", "/evidence/{evidence_id}/complete", {"evidence_id": "id"}, None),
        *EVIDENCE_READS,
    ],
) + [
    # The bytes are in: finish the upload. A 204 has no body, so the id comes from the request path.
    Link("CompleteUpload", ("put", "/evidence/{evidence_id}/content", "204"),
         ("post", "/evidence/{evidence_id}/complete"), {"evidence_id": "$request.path.evidence_id"}),
]

PACKET = _fan_out(
    producers=[("post", "/cases/{case_id}/packets", "202", ""), ("get", "/cases/{case_id}/packets", "200", "/0")],
    consumers=[
        ("GetPacket", "get", "/packets/{packet_id}", {"packet_id": "id"}, None),
        ("PacketPdf", "get", "/packets/{packet_id}/pdf", {"packet_id": "id"}, None),
        ("PacketBundle", "get", "/packets/{packet_id}/bundle", {"packet_id": "id"}, None),
    ],
)

VERIFICATION = _fan_out(
    producers=[("post", "/verifications", "202", ""), ("get", "/verifications", "200", "/0")],
    consumers=[("GetVerification", "get", "/verifications/{verification_id}", {"verification_id": "id"}, None)],
)

USER = _fan_out(
    producers=[("post", "/users", "201", ""), ("get", "/users", "200", "/0")],
    consumers=[
        ("GetUser", "get", "/users/{user_id}", {"user_id": "id"}, None),
        ("UpdateUser", "patch", "/users/{user_id}", {"user_id": "id"}, None),
        ("UserRoute", "get", "/collectors/{collector_id}/route", {"collector_id": "id"}, None),
    ],
) + _fan_out(
    producers=[("get", "/me", "200", "")],
    consumers=[("MyRoute", "get", "/collectors/{collector_id}/route", {"collector_id": "id"}, None)],
)

LEDGER = _fan_out(
    producers=[("get", "/ledger/head", "200", ""), ("post", "/ledger/checkpoints", "201", "")],
    consumers=[
        ("InclusionProof", "get", "/ledger/proofs/inclusion", {"tree_size": "tree_size"}, None),
        ("ConsistencyProof", "get", "/ledger/proofs/consistency", {"first": "tree_size"}, None),
    ],
) + _fan_out(
    producers=[("post", "/ledger/checkpoints", "201", "")],
    consumers=[("VerifyKeptCheckpoint", "post", "/ledger/checkpoints/verify", {}, {"note": "note"})],
)

LINKS: list[Link] = CASE + VISIT + EVIDENCE + PACKET + VERIFICATION + USER + LEDGER


class LinksPlugin(BasePlugin):
    """Gives every operation an `operationId` and writes `LINKS` into the success responses.

    A link names its target by the target's operationId; if the target declares its own id, the
    link is corrected when the target is registered (paths are registered one at a time).
    """

    def __init__(self, links: list[Link] | None = None):
        self.links = LINKS if links is None else links
        self._ids: dict[tuple[str, str], str] = {}
        self._waiting: dict[tuple[str, str], list[dict]] = {}

    def operation_helper(self, path=None, operations=None, **kwargs):
        if not path or not operations:
            return
        short = path.removeprefix(PREFIX)
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            operation.setdefault("operationId", operation_id(method, path))
            self._ids[(method, short)] = operation["operationId"]
            for link in self._waiting.pop((method, short), []):
                link["operationId"] = operation["operationId"]
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            for link in self.links:
                if link.source[:2] != (method, short):
                    continue
                responses = operation.get("responses", {})
                # flask-smorest keys its own responses by int; apispec turns them into strings later.
                response = responses.get(link.source[2], responses.get(int(link.source[2])))
                if isinstance(response, dict):  # a missing source is caught by tests/api/test_openapi.py
                    response.setdefault("links", {})[link.name] = self._definition(link)

    def _definition(self, link: Link) -> dict:
        target = link.target
        definition = {"operationId": self._ids.get(target) or operation_id(target[0], PREFIX + target[1])}
        if target not in self._ids:
            self._waiting.setdefault(target, []).append(definition)
        if link.parameters:
            definition["parameters"] = dict(link.parameters)
        if link.request_body is not None:
            definition["requestBody"] = dict(link.request_body)
        if link.description:
            definition["description"] = link.description
        return definition
