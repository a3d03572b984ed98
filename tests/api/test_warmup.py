"""A gunicorn worker's warm-up (api/warmup.py, deploy/gunicorn.conf.py `post_worker_init`)."""
from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError

from accounts.models import ROLES
from api.resources.base import PageStatements
from api.warmup import warm_up


def test_a_warmed_worker_holds_a_connection_per_thread_and_its_page_statements(app):
    database = app.extensions["fieldproof"].db
    assert PageStatements.made
    for statements in PageStatements.made:
        statements._built.clear()  # built once per process: as a new worker has them
    warm_up(app, 3)
    for engine in (database.engine, database.reader_engine):
        assert engine.pool.checkedin() >= 3 and engine.pool.checkedout() == 0
    for statements in PageStatements.made:
        assert set(statements._built) == {(role, database.dialect) for role in ROLES}
        collector = statements._built["collector", database.dialect]
        assert collector is not None and (collector.sql is not None) == (database.dialect == "postgresql")


def test_a_worker_that_cannot_reach_the_database_still_starts(app, monkeypatch, caplog):
    database = app.extensions["fieldproof"].db

    def unreachable():
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(database.engine, "raw_connection", unreachable)
    with caplog.at_level(logging.WARNING, logger="fieldproof.warmup"):
        warm_up(app, 2)
    assert [r.message for r in caplog.records if r.name == "fieldproof.warmup"] == ["warm-up incomplete"]
