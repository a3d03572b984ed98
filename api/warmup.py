"""A gunicorn worker gets ready before it takes its first request (deploy/gunicorn.conf.py,
`post_worker_init`): both database pools hold a connection per thread and the token revocation
listener is up.

Without it the first burst after a start paid for that inside its requests: fifty phones opening
their day at once made sixteen PostgreSQL connections and started the listener while the requests
that needed them waited (the slowest lists of the load bench all came in its first second).
"""
from __future__ import annotations

import logging

from flask import Flask

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
    except Exception as error:  # noqa: BLE001 - the first requests do the same work, and report failures
        log.warning("warm-up incomplete", extra={"error_type": type(error).__name__})
