"""A gunicorn worker gets ready before it takes its first request (deploy/gunicorn.conf.py,
`post_worker_init`): both database pools hold a connection per thread, the token revocation
listener is up, and SQLAlchemy has compiled the visits list of every role.

Without it the first burst after a start paid for that inside its requests: fifty phones opening
their day at once made sixteen PostgreSQL connections, started the listener and compiled the
list's statements while the requests that needed them waited (the slowest lists of the load bench
all came in its first seconds).
"""
from __future__ import annotations

import logging

from flask import Flask

from accounts.models import ROLES
from core.actor import Actor
from core.paging import page_of
from visits.services import list_visits

log = logging.getLogger("fieldproof.warmup")


def warm_up(app: Flask, threads: int) -> None:
    """Never fatal: a worker that cannot reach the database still starts (and /readyz says so)."""
    runtime = app.extensions["fieldproof"]
    try:
        for engine in dict.fromkeys((runtime.db.engine, runtime.db.reader_engine)):
            held = [engine.connect() for _ in range(threads)]  # held at once: the pool opens that many
            for connection in held:
                connection.close()
        tokens = runtime.extras.get("tokens")
        if tokens is not None:
            tokens.start()
        session = runtime.db.readers()
        try:
            for role in ROLES:  # the statement of each visibility, as a sync's first page runs it
                for creditors in (None, frozenset({"warm-up"})):  # admins see every creditor; the rest one grant
                    page_of(session, list_visits(session, Actor(id="warm-up", role=role, creditor_ids=creditors)), 1, 1)
        finally:
            session.close()
    except Exception as error:  # noqa: BLE001 - the first requests do the same work, and report failures
        log.warning("warm-up incomplete", extra={"error_type": type(error).__name__})
