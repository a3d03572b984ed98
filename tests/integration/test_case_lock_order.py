"""A case's lock and the ledger head's, on the migrated database.

Requests that act on a case (a notice, a call, a visit being scheduled) lock its row, then record
custody events, which take the ledger head. Jobs (a packet build, a verification run) take the
head, then write rows that refer to the case (its timeline), which makes PostgreSQL take a key
share lock on the case row. With the case locked FOR UPDATE the two waited on each other until
the deadlock detector failed one of them (a 503 to the user); FOR NO KEY UPDATE serialises the
requests just the same and lets the reference through.
"""
from __future__ import annotations

import threading

import pytest
from sqlalchemy.exc import OperationalError

from cases.services import lock_case
from cases.timeline import record_event
from custody.append import lock_head, record_custody_event
from tests.integration.test_ledger_db import SHA


def test_a_request_holding_its_case_and_a_job_holding_the_head_both_commit(app, factory):
    db = app.extensions["fieldproof"].db
    if db.dialect != "postgresql":
        pytest.skip("SQLite has one write lock: there are no row locks to order")
    case_id = factory.case()["id"]
    head_held, failures = threading.Event(), []

    def job() -> None:
        try:
            with db.transaction() as session:
                lock_head(session)
                head_held.set()
                record_event(session, case_id, "packet_built", None)  # refers to the locked case
                session.flush()
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)
        finally:
            head_held.set()

    worker = threading.Thread(target=job)
    with db.transaction() as session:  # the request
        lock_case(session, case_id)
        worker.start()
        assert head_held.wait(30)
        record_custody_event(session, type="viewed", evidence_id="item", actor_id="legal", sha256=SHA)
    worker.join(30)
    assert not worker.is_alive() and failures == []


def test_requests_on_one_case_still_take_turns(app, factory):
    db = app.extensions["fieldproof"].db
    if db.dialect != "postgresql":
        pytest.skip("SQLite has one write lock: writers take turns anyway")
    case_id = factory.case()["id"]
    with db.transaction() as first:
        lock_case(first, case_id)
        with db.engine.connect() as second:
            second.exec_driver_sql("SET lock_timeout = '200ms'")
            with pytest.raises(OperationalError, match="lock timeout"):
                second.exec_driver_sql("SELECT id FROM cases WHERE id = %s FOR NO KEY UPDATE", (case_id,))
