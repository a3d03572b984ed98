"""`Idempotency-Key` on every POST: a replay returns the first response and creates nothing.

The first response is stored in the same transaction as the work it describes, so a
crash can never leave work done without its record (or a record without its work).
The lookup holds the key until that transaction ends (`core.idempotency.find`), so a twin
sent while the first attempt runs waits and then replays it; the unique constraint on
(owner, key) remains the last guard, and its loser returns the winner's response.
"""
from __future__ import annotations

import hashlib
import json
import re

import rfc8785
from flask import Flask, Response, current_app, g, request

from api.auth import current_actor, optional_actor
from api.context import db_session
from api.problems import problem_response
from api.requests import MalformedBody, method_view, strict_json_loads
from core import idempotency
from core.errors import Conflict, ValidationFailed

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# Logging in is not replayable: storing its response would keep a live token in clear.
EXEMPT_ENDPOINTS = {"auth.Tokens"}


def _canonical(data: bytes) -> bytes:
    try:
        return rfc8785.dumps(strict_json_loads(data))
    except (MalformedBody, rfc8785.CanonicalizationError, ValueError, TypeError):
        return data


def request_fingerprint() -> str:
    """Same request content → same fingerprint, whatever the client library's framing."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}\n".encode())
    if request.mimetype == "multipart/form-data":
        fields = {name: request.form.getlist(name) for name in sorted(request.form)}
        _digest_multipart(digest, fields, list(request.files))
    elif request.is_json:
        digest.update(_canonical(request.get_data(cache=True)))
    else:
        digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _digest_multipart(digest, fields: dict[str, list[str]], file_names: list[str]) -> None:
    """The metadata names the file's SHA-256, which ingest then checks against the bytes."""
    fields = {name: list(values) for name, values in fields.items()}
    if "metadata" in fields and len(fields["metadata"]) == 1:
        fields["metadata"] = [_canonical(fields["metadata"][0].encode()).decode("utf-8", "replace")]
    digest.update(json.dumps(fields, sort_keys=True).encode())
    digest.update(json.dumps(sorted(file_names)).encode())


def multipart_fingerprint(fields: dict[str, list[str]], file_names: list[str]) -> str:
    """`request_fingerprint` for a body a view parsed from the stream itself."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}\n".encode())
    _digest_multipart(digest, fields, file_names)
    return digest.hexdigest()


def check_streamed(fingerprint: str) -> Response | None:
    """The deferred check of a `streams_body` view, once it has parsed the body's fields:
    the first response for a replay (409 for another body), or None to go ahead."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    stored = idempotency.find(db_session(), current_actor().id, key)
    if stored is not None:
        return _replay(stored) if stored.fingerprint == fingerprint else _mismatch()
    g.idempotency = (current_actor().id, key, fingerprint)
    return None


def _replay(stored: idempotency.StoredResponse) -> Response:
    response = current_app.response_class(stored.body, status=stored.status, mimetype=stored.content_type)
    response.headers["Content-Type"] = stored.content_type
    if stored.location:
        response.headers["Location"] = stored.location
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _mismatch() -> Response:
    return problem_response(409, f"this {HEADER} was already used with a different request",
                            slug="idempotency-key-reused")


def install(app: Flask) -> None:
    @app.before_request
    def _check_replay():
        if request.method != "POST":
            return None
        key = request.headers.get(HEADER)
        if key is None or request.url_rule is None:
            return None
        if request.endpoint in EXEMPT_ENDPOINTS:
            return None
        if not _KEY.match(key):
            raise ValidationFailed(f"{HEADER} must be 1–255 visible ASCII characters",
                                   {HEADER: ["1–255 visible ASCII characters"]})
        actor = optional_actor()
        if actor is None:
            return None  # the view refuses it with 401
        if getattr(method_view(app), "_streams_body", False):
            return None  # the view reads the body and calls `check_streamed`
        fingerprint = request_fingerprint()
        stored = idempotency.find(db_session(), actor.id, key)
        if stored is not None:
            return _replay(stored) if stored.fingerprint == fingerprint else _mismatch()
        g.idempotency = (actor.id, key, fingerprint)
        return None


def remember_response(response: Response) -> Response | None:
    """Called just before the request's commit; returns a replacement response on a lost race."""
    pending = g.pop("idempotency", None)
    if pending is None or not (200 <= response.status_code < 300) or response.is_streamed:
        return None
    owner, key, fingerprint = pending
    session = db_session()
    if idempotency.remember(session, owner, key, idempotency.StoredResponse(
            fingerprint, response.status_code, response.headers.get("Content-Type", "application/json"),
            response.headers.get("Location"), response.get_data())):
        return None
    # Another request with this key committed first: undo ours and answer with theirs.
    session.rollback()
    stored = idempotency.find(session, owner, key)
    if stored is None:
        raise Conflict("a request with this Idempotency-Key is in progress")
    return _replay(stored) if stored.fingerprint == fingerprint else _mismatch()
