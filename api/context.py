"""What a request needs: the app's wiring (made once by `create_app`) and a per-request session."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app, g
from sqlalchemy.orm import Session

from core.crypto import FieldCipher
from core.db import Database
from core.settings import Settings


@dataclass
class Wiring:
    settings: Settings
    db: Database
    cipher: FieldCipher
    extras: dict[str, Any] = field(default_factory=dict)


def wiring() -> Wiring:
    return current_app.extensions["fieldproof"]


def settings() -> Settings:
    return wiring().settings


def db_session() -> Session:
    """The request's unit of work: committed after a successful response, else rolled back."""
    if "db_session" not in g:
        g.db_session = wiring().db.sessions()
    return g.db_session
