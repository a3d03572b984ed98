"""A gunicorn worker gets ready before it takes its first request (deploy/gunicorn.conf.py,
`post_worker_init`): both database pools hold a connection per thread, the token revocation
listener is up, and the list pages' statements are built and compiled for every role.

Without it the first burst after a start paid for all of that inside its requests: fifty phones
opening their day at once made sixteen PostgreSQL connections, started the listener and compiled
the page statements while the requests that needed them waited (the slowest lists of the load
bench all came in its first second).
"""
from __future__ import annotations

import logging

from flask import Flask

from accounts.models import ROLES

log = logging.getLogger("fieldproof.warmup")


def warm_up(app: Flask, threads: int) -> None:
    """Never fatal: a worker that cannot reach the database still starts (and /readyz says so)."""
    from api.resources.base import PageStatements

    runtime = app.extensions["fieldproof"]
    database = runtime.db
    try:
        for engine in dict.fromkeys((database.engine, database.reader_engine)):
            held = [engine.raw_connection() for _ in range(threads)]  # held at once: the pool opens that many
            for connection in held:
                cursor = connection.cursor()
                cursor.execute("SELECT 1")
                cursor.close()
                connection.close()
        tokens = runtime.extras.get("tokens")
        if tokens is not None:
            tokens.start()
        with app.test_request_context("/api/v1/visits"):  # the domain's queries read the request's session
            for statements in PageStatements.made:
                for role in ROLES:
                    statements.for_role(role, database.dialect)
    except Exception as error:  # noqa: BLE001 - the first requests do the same work, and report failures
        log.warning("warm-up incomplete", extra={"error_type": type(error).__name__})
