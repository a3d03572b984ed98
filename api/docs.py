"""OpenAPI: the problem+json error schema, the error responses every operation documents, and
(through api/links.py) the operationIds and links that chain the workflows."""
from __future__ import annotations

import http

import marshmallow as ma
from apispec import BasePlugin

from api.links import LinksPlugin
from api.problems import PROBLEM_MEDIA_TYPE


def download(description: str, *media_types: str) -> dict:
    """A 200 of bytes: the real media types (a browser opens the PDF), plus
    `application/octet-stream`, the one a client generator turns into a method returning the bytes.
    `Repr-Digest` carries their SHA-256."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {"description": f"{description}; `Repr-Digest` carries their SHA-256",
            "content": {media: binary for media in (*media_types, "application/octet-stream")},
            "headers": {"Repr-Digest": {"schema": {"type": "string"}}, "ETag": {"schema": {"type": "string"}}}}


class ViolationSchema(ma.Schema):
    rule = ma.fields.String(required=True, metadata={"description": "Rule id, e.g. hours.local"})
    detail = ma.fields.String(required=True)


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details."""

    type = ma.fields.String(required=True, metadata={"description": "URI naming the kind of problem"})
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    instance = ma.fields.String(metadata={"description": "Names this occurrence (the request id)"})
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()),
                            metadata={"description": "field path → messages, for validation errors"})
    violations = ma.fields.List(ma.fields.Nested(ViolationSchema),
                                metadata={"description": "every compliance rule that refused the request"})
    code = ma.fields.String(metadata={"description": "Evidence refusals: a stable machine-readable reason, "
                                                    "e.g. too_large, hash_mismatch (evidence/errors.py)"})
    context = ma.fields.Dict(keys=ma.fields.String(), metadata={
        "description": "Evidence refusals: the measured values behind the refusal (limits, hashes, sizes)"})


COMMON = (400, 404, 429, 500, 503)
SECURED = (401, 403)
WITH_BODY = (409, 413, 415, 422)


class ProblemResponsesPlugin(BasePlugin):
    """Adds the error responses every operation can give, so clients and fuzzers see them all;
    then the operationIds and links of api/links.py (the one plugin the app factory registers)."""

    def __init__(self):
        self.links = LinksPlugin()

    def init_spec(self, spec):
        super().init_spec(spec)
        self.links.init_spec(spec)

    def schema_helper(self, name, definition, **kwargs):
        """Rules across fields that a schema states in JSON Schema (`OPENAPI_RULES` on its class)."""
        return getattr(kwargs.get("schema"), "OPENAPI_RULES", None)

    def operation_helper(self, path=None, operations=None, **kwargs):
        self._error_responses(path, operations)
        self.links.operation_helper(path=path, operations=operations, **kwargs)

    def _error_responses(self, path, operations):
        for method, operation in (operations or {}).items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            codes = list(COMMON) + [405]
            if "security" in operation:
                codes += SECURED
                roles = operation.get("x-roles") or []
                note = f"Roles: {', '.join(roles)}." if roles and roles != ["any"] else "Roles: any authenticated user."
                operation["description"] = (operation.get("description", "") + "\n\n" + note).strip()
            if method in {"post", "put", "patch"}:
                codes += WITH_BODY
            if method == "get" or "{" in (path or ""):
                codes.append(422)
            for code in sorted(set(codes)):
                responses.setdefault(str(code), http.HTTPStatus(code).name)


def nullable_nested(converter, field, ret, **kwargs) -> dict:
    """A nested object that may be null, as `allOf: [ref]` + `nullable` (OpenAPI 3.0's way):
    apispec's `anyOf: [{type: object}, ref]` lets a client generator take any object first and
    lose the nested model."""
    alternatives = ret.get("anyOf") or []
    references = [choice for choice in alternatives if "$ref" in choice]
    if len(alternatives) == 2 and len(references) == 1 and {"type": "object", "nullable": True} in alternatives:
        del ret["anyOf"]
        return {"allOf": references, "nullable": True}
    return {}


def register_problem_responses(api) -> None:
    """Point the named status responses at problem+json (flask-smorest's default is JSON)."""
    for status in http.HTTPStatus:
        if status < 400:
            continue
        response = {
            "description": status.phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": "Problem"}},
        }
        if status in (429, 503):
            response["headers"] = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
        if status == 405:
            response["headers"] = {"Allow": {"description": "Methods the path allows", "schema": {"type": "string"}}}
        api.spec.components.response(status.name, response, lazy=True)


def register_etag_components(api) -> None:
    """flask-smorest's ETag parameters and headers, saying what they do here: `If-Match` is
    optional unless the deployment sets FIELDPROOF_REQUIRE_IF_MATCH (then its absence is 428)."""
    api.spec.components.parameter("IF_NONE_MATCH", "header", {
        "description": "The `ETag` of a copy you hold: 304 with no body while it is current",
        "schema": {"type": "string"}}, lazy=True)
    api.spec.components.parameter("IF_MATCH", "header", {
        "description": "The `ETag` of your last read: 412 when the resource changed since (nothing is written). "
                       "Optional unless the server sets FIELDPROOF_REQUIRE_IF_MATCH; then a write without it is 428.",
        "required": False, "schema": {"type": "string"}}, lazy=True)
    api.spec.components.header("ETAG", {
        "description": "Names this state of the resource; send it back as `If-Match` when you write",
        "schema": {"type": "string"}}, lazy=True)
    api.spec.components.response("NOT_MODIFIED", {"description": "Your copy is current (no body)"}, lazy=True)
