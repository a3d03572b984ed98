"""Bearer-token authentication and role checks for views.

Authentication is lazy: routing runs first, so an unknown path is 404 with or without a token.
Ownership (a collector's own cases and visits) is decided by the domain services, not here.
"""
from __future__ import annotations

from functools import wraps

from flask import g, request
from flask_smorest import Blueprint

from api.context import db_session, runtime
from core.actor import Actor
from core.errors import Forbidden, Unauthenticated

BEARER_SCHEME = {"type": "http", "scheme": "bearer", "description": "Opaque token from POST /api/v1/auth/tokens"}


def bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 512:
        return None
    return token


def current_actor() -> Actor:
    actor = g.get("actor")
    if actor is None:
        token = bearer_token()
        if token is None:
            raise Unauthenticated("a bearer token is required")
        actor = g.actor = _verified(token)
    return actor


def _verified(token: str) -> Actor:
    """Through the verified-token cache (accounts/token_cache.py: revocation stays immediate)."""
    return runtime().extras["tokens"].verify(db_session(), token)


def optional_actor() -> Actor | None:
    try:
        return current_actor()
    except Unauthenticated:
        return None


def requires(*roles: str):
    """Authenticate, then allow only `roles` (all authenticated users when none are given); the
    OpenAPI document names the scheme and the roles."""
    documented = Blueprint.doc(security=[{"bearerAuth": []}], **{"x-roles": list(roles) if roles else ["any"]})

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            actor = current_actor()
            if roles and actor.role not in roles:
                raise Forbidden(f"role {actor.role!r} may not do this")
            return view(*args, **kwargs)

        return documented(wrapper)

    return decorator
