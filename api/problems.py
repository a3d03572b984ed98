"""Every error as `application/problem+json` (RFC 9457), built in this one place."""
from __future__ import annotations

import errno
import http
import logging

from flask import Response, current_app, g, json
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from core import errors as domain
from evidence import errors as evidence

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("fieldproof.errors")

STATUS_OF = [
    (domain.NotFound, 404),
    (domain.Unauthenticated, 401),
    (domain.Forbidden, 403),
    (domain.Conflict, 409),
    (domain.RuleViolation, 422),
    (domain.ValidationFailed, 422),
    (domain.IntegrityFailure, 422),
    (domain.PayloadTooLarge, 413),
    (domain.UnsupportedMedia, 415),
    (domain.RateLimited, 429),
    (domain.DependencyUnavailable, 503),
    (domain.FieldProofError, 400),
]

SLUGS = {
    400: "malformed-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
    405: "method-not-allowed", 409: "conflict", 412: "precondition-failed", 413: "payload-too-large",
    415: "unsupported-media-type", 422: "unprocessable", 428: "precondition-required",
    429: "rate-limited", 500: "internal-error", 503: "service-unavailable",
}


def problem_type(status: int, slug: str | None = None) -> str:
    return f"urn:fieldproof:problem:{slug or SLUGS.get(status, str(status))}"


def problem_response(status: int, detail: str, *, title: str | None = None, slug: str | None = None,
                     headers: dict | None = None, **members) -> Response:
    body = {
        "type": problem_type(status, slug),
        "title": title or http.HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    request_id = g.get("request_id")
    if request_id:
        body["instance"] = f"urn:fieldproof:request:{request_id}"
    body.update({k: v for k, v in members.items() if v is not None})
    response = current_app.response_class(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if status == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="fieldproof"')
    return response


def _flatten(messages, prefix: str = "") -> dict[str, list[str]]:
    """webargs nests errors by location and field; clients want `field.path → messages`."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            flat.update(_flatten(value, name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        flat[prefix or "_schema"] = list(messages)
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            flat.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "_schema"] = [str(messages)]
    return flat


def from_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    headers = dict(data.get("headers") or {})
    members = {}
    detail = data.get("message") or error.description or http.HTTPStatus(status).phrase
    messages = data.get("errors") or data.get("messages")
    if messages:
        # webargs groups by location (json, query, ...); the location is not part of the field name.
        if isinstance(messages, dict) and set(messages) <= {"json", "query", "form", "files", "headers",
                                                            "view_args", "path", "cookies", "json_or_form"}:
            merged: dict[str, list[str]] = {}
            for location_messages in messages.values():
                merged.update(_flatten(location_messages))
            members["errors"] = merged
        else:
            members["errors"] = _flatten(messages)
        if status == 422:
            detail = "the request did not pass validation"
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    if status == 413:
        detail = "the request body is larger than this endpoint accepts"
    return problem_response(status, str(detail), headers=headers, **members)


def from_domain_error(error: domain.FieldProofError) -> Response:
    status = next(code for cls, code in STATUS_OF if isinstance(error, cls))
    headers = {}
    members: dict = {}
    if isinstance(error, domain.ValidationFailed) and error.errors:
        members["errors"] = error.errors
    if isinstance(error, domain.RuleViolation):
        members["violations"] = error.violations
    if isinstance(error, (domain.RateLimited, domain.DependencyUnavailable)):
        headers["Retry-After"] = str(error.retry_after)
    members.update(error.extra)
    return problem_response(status, error.detail, title=error.title, slug=getattr(error, "slug", None),
                            headers=headers, **members)


# Refusals of uploaded bytes: 413 too big, 415 not an allowed format at all, 422 for the
# rest (well-formed HTTP, refused content: wrong hash, bomb, truncated, wrong kind...).
EVIDENCE_STATUS_OF = [
    (evidence.TooLarge, 413),
    (evidence.UnsupportedMediaType, 415),
    (evidence.EvidenceRejected, 422),
]
EVIDENCE_TITLES = {
    "too_large": "Payload too large",
    "unsupported_media_type": "Unsupported media type",
    "media_mismatch": "Media does not match the declared kind",
    "corrupt_media": "Corrupt media",
    "decompression_bomb": "Decompression bomb refused",
    "hash_mismatch": "Hash mismatch",
    "invalid_signature": "Invalid device signature",
    "invalid_device_key": "Invalid device key",
    "malicious_content": "Hidden content refused",
    "invalid_region": "Invalid redaction region",
}


def _plain(value):
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def from_evidence_rejected(error: evidence.EvidenceRejected) -> Response:
    """An ingest refusal: its stable `code` and the measured values a reviewer needs."""
    status = next(code for cls, code in EVIDENCE_STATUS_OF if isinstance(error, cls))
    context = {key: _plain(value) for key, value in error.context.items()}
    return problem_response(status, error.detail, title=EVIDENCE_TITLES.get(error.code),
                            slug=error.code.replace("_", "-"), code=error.code, context=context or None)


# Local resources that run out or fail: the request may succeed later, so 503 with Retry-After.
RETRYABLE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EMFILE, errno.ENFILE, errno.ENOMEM}


def from_os_error(error: OSError) -> Response:
    """A full disk (spool, console bundle upload) or a failing device: 503, never a 500 page."""
    if error.errno in RETRYABLE_ERRNOS:
        log.error("local resource unavailable", extra={"error_type": type(error).__name__, "errno": error.errno})
        return from_domain_error(domain.DependencyUnavailable("the server is short of local storage; retry later",
                                                              retry_after=30))
    return from_unexpected(error)


def from_unexpected(error: Exception) -> Response:
    log.exception("unhandled error", extra={"error_type": type(error).__name__})
    return problem_response(500, "an unexpected error occurred; it has been logged",
                            title="Internal Server Error")
