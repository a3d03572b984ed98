"""What a request needs: the app's wiring (made once by `create_app`) and a per-request session."""
from __future__ import annotations

from flask import current_app, g
from sqlalchemy.orm import Session

from core.runtime import Runtime
from core.settings import Settings



def runtime() -> Runtime:
    return current_app.extensions["fieldproof"]


def settings() -> Settings:
    return runtime().settings


def db_session() -> Session:
    """The request's unit of work: committed after a successful response, else rolled back."""
    if "db_session" not in g:
        g.db_session = runtime().db.sessions()
    return g.db_session
