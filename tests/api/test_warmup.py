"""A gunicorn worker's warm-up (api/warmup.py, deploy/gunicorn.conf.py `post_worker_init`)."""
from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError

from api.warmup import warm_up


def test_a_warmed_worker_holds_a_connection_per_thread(app):
    database = app.extensions["fieldproof"].db
    warm_up(app, 3)
    for engine in (database.engine, database.reader_engine):
        assert engine.pool.checkedin() >= 3 and engine.pool.checkedout() == 0


def test_a_worker_that_cannot_reach_the_database_still_starts(app, monkeypatch, caplog):
    database = app.extensions["fieldproof"].db

    def unreachable():
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(database.engine, "connect", unreachable)
    with caplog.at_level(logging.WARNING, logger="fieldproof.warmup"):
        warm_up(app, 2)
    assert [r.message for r in caplog.records if r.name == "fieldproof.warmup"] == ["warm-up incomplete"]
