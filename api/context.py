"""What a request needs: the app's wiring (made once by `create_app`) and a per-request session."""
from __future__ import annotations

from flask import current_app, g, request
from sqlalchemy.orm import Session

from core.runtime import Runtime
from core.settings import Settings


def runtime() -> Runtime:
    return current_app.extensions["fieldproof"]


def settings() -> Settings:
    return runtime().settings


def db_session() -> Session:
    """The request's unit of work: committed after a successful response, else rolled back.
    A view marked `@reads_only` gets a read-only session without a transaction (`Database.readers`)."""
    session = g.get("db_session")
    if session is None:
        db = runtime().db
        session = g.db_session = db.readers() if _reads_only() else db.sessions()
    return session


def reads_only(view):
    """Mark a view that never writes: its queries run without BEGIN/COMMIT on a read-only connection.
    Views that record custody events or issue anything must not carry it."""
    view._reads_only = True
    return view


def reads_and_records(view):
    """Mark a view whose only write is the custody event of what it reads (an item's bytes, a
    packet's files): its session is a reader's, as with `@reads_only`, and the service commits the
    event in a transaction of its own before the first byte is sent
    (`evidence.services.record_view`, `legal_docs.assembly.open_packet_file`)."""
    view._reads_only = True
    view._records_its_reads = True
    return view


def _reads_only() -> bool:
    if request.method not in ("GET", "HEAD") or request.url_rule is None:
        return False
    view = current_app.view_functions.get(request.endpoint)
    view_class = getattr(view, "view_class", None)
    handler = getattr(view_class, request.method.lower(), None) if view_class else view
    return getattr(handler, "_reads_only", False)
