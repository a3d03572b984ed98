"""Console sessions: a login stores an access token in the signed, HttpOnly session cookie."""
from __future__ import annotations

from functools import wraps

from flask import g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

from accounts.services import actor_for_token, actor_of, issue_token, revoke_token
from api.context import db_session, settings
from core.actor import Actor
from core.errors import Forbidden, Unauthenticated

CONSOLE_ROLES = ("admin", "supervisor", "collector", "legal", "auditor")


class ConsoleSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, opened only when the request carries the cookie: API calls
    (bearer tokens) get an empty session without the signer Flask would build for every request
    (a twentieth of the list endpoint's time)."""

    def open_session(self, app, request):
        # The raw header first: parsing every request's cookies only to find none costs as much.
        name = self.get_cookie_name(app)
        if name not in request.environ.get("HTTP_COOKIE", "") or name not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


def console_actor() -> Actor | None:
    if "actor" not in g:
        token = session.get("token")
        if not token:
            return None
        try:
            g.actor = actor_for_token(db_session(), token)
        except Unauthenticated:
            session.clear()
            return None
    return g.actor


def login(username: str, password: str) -> Actor:
    config = settings()
    issued = issue_token(db_session(), username=username, password=password,
                         remote_addr=request.remote_addr or "unknown", ttl_seconds=config.token_ttl_seconds,
                         max_failures=config.login_max_failures, window_seconds=config.login_window_seconds)
    session.clear()
    session["token"] = issued.token
    if issued.user.locale:
        session["locale"] = issued.user.locale.replace("-", "_")
    session.permanent = True
    return actor_of(db_session(), issued.user)


def logout() -> None:
    token = session.get("token")
    if token:
        revoke_token(db_session(), token)
    session.clear()


def signed_in(*roles: str):
    """Redirect to the login page when signed out; 403 when the role may not see the page."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            actor = console_actor()
            if actor is None:
                return redirect(url_for("console.login_page", next=request.full_path.rstrip("?")))
            if roles and actor.role not in roles:
                raise Forbidden("your role may not open this page")
            return view(*args, **kwargs)

        return wrapper

    return decorator
