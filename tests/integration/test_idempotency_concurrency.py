"""A retry that arrives while its first attempt is still running waits for it and replays it.

First at the level of `core.idempotency`, then end to end: two check-ins with one
`Idempotency-Key` sent to a real threaded HTTP server, overlapping for certain, on whichever
database this run targets (SQLite, or PostgreSQL with FIELDPROOF_TEST_DATABASE_URL).
"""
import json
import sqlite3
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, func, select, text
from werkzeug.serving import make_server

from core import idempotency
from tests.api.visit_helpers import HOME, local, make_world, scheduled
from tests.e2e.processes import wait_for


def test_concurrent_retry_waits_for_the_first_attempt(app):
    db = app.extensions["fieldproof"].db
    first = db.sessions()
    assert idempotency.find(first, "user-1", "key-1") is None  # holds the key until it commits
    seen = {}
    about_to_look = threading.Event()

    def retry():
        session = db.sessions()
        try:
            about_to_look.set()
            seen["stored"] = idempotency.find(session, "user-1", "key-1")
            session.commit()
        finally:
            session.close()

    thread = threading.Thread(target=retry)
    thread.start()
    about_to_look.wait(5)
    thread.join(0.5)  # the retry must still be waiting on the first attempt here
    assert thread.is_alive(), "the retry did not wait for the first attempt"
    idempotency.remember(first, "user-1", "key-1", idempotency.StoredResponse(
        "fp", 201, "application/json", None, b'{"id": "x"}'))
    first.commit()
    first.close()
    thread.join(30)
    assert seen["stored"] is not None and seen["stored"].body == b'{"id": "x"}'


def test_remember_takes_an_expired_key_and_leaves_a_live_one(app):
    """One upsert: an expired record of the key is replaced; a live one is kept and reported."""
    from datetime import timedelta

    from sqlalchemy import select, update

    from core.clock import utcnow

    db = app.extensions["fieldproof"].db
    first = idempotency.StoredResponse("fp-1", 201, "application/json", None, b'{"n": 1}')
    second = idempotency.StoredResponse("fp-2", 201, "application/json", None, b'{"n": 2}')
    with db.transaction() as session:
        assert idempotency.remember(session, "user-1", "key-1", first)
    with db.transaction() as session:
        assert not idempotency.remember(session, "user-1", "key-1", second)
    with db.transaction() as session:
        assert idempotency.find(session, "user-1", "key-1").body == b'{"n": 1}'
        session.execute(update(idempotency.IdempotencyRecord).values(expires_at=utcnow() - timedelta(seconds=1)))
    with db.transaction() as session:
        assert idempotency.remember(session, "user-1", "key-1", second)
    with db.transaction() as session:
        rows = session.scalars(select(idempotency.IdempotencyRecord)).all()
        assert [(r.fingerprint, r.body) for r in rows] == [("fp-2", b'{"n": 2}')]
        assert rows[0].expires_at > utcnow() + timedelta(hours=23)


# --- end to end: two overlapping requests on a real server --------------------------------------


@contextmanager
def served(app):
    """The app on a threaded Werkzeug server on loopback: each request on a thread of its own."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(30)


def post(url: str, body: dict, headers: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class InFlight:
    """A request sent on a thread of its own; `answer()` waits for its (status, body)."""

    def __init__(self, url: str, body: dict, headers: dict):
        self.result = None
        self.thread = threading.Thread(target=self._send, args=(url, body, headers))
        self.thread.start()

    def _send(self, url, body, headers):
        self.result = post(url, body, headers)

    def answer(self) -> tuple[int, dict]:
        self.thread.join(60)
        assert not self.thread.is_alive(), "the request never got an answer"
        return self.result


@contextmanager
def postgres_blocker(url: str, visit_id: str):
    """Holds the visit's row lock, so a check-in waits inside the view, after it took its key;
    yields a count of the sessions waiting for a lock (the requests, as PostgreSQL sees them)."""
    engine = create_engine(url)
    try:
        with engine.connect() as holder, engine.connect() as observer:
            locked = holder.execute(text("SELECT id FROM visits WHERE id = :id FOR UPDATE"), {"id": visit_id}).all()
            assert len(locked) == 1

            def waiting() -> int:
                observer.rollback()  # a fresh snapshot of pg_locks on each look
                return observer.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                            "AND datname = current_database()"))

            yield holder, waiting
    finally:
        engine.dispose()


def test_twin_check_ins_overlapping_on_a_real_server_have_one_effect_and_one_answer(app, factory, clock):
    """The first attempt is held inside its transaction by a lock the test takes; the twin is sent
    then, so both are in flight at once. Exactly one check-in happens, and both get its answer."""
    db = app.extensions["fieldproof"].db
    client = app.test_client()
    world = make_world(factory)
    visit = scheduled(client, world, local(1, 10), local(1, 12))
    clock.now = local(1, 10, 5)
    body = {"at": clock.now.isoformat(), "lat": HOME[0], "lon": HOME[1], "accuracy_m": 10.0}
    headers = {**world.collector.headers, "Idempotency-Key": "check-in-twice"}
    arrived = [threading.Event(), threading.Event()]

    def count_arrival():
        waiting = [event for event in arrived if not event.is_set()]
        if waiting:
            waiting[0].set()

    # Test code, not product code: the first thing each request does is to say it arrived.
    app.before_request_funcs.setdefault(None, []).insert(0, count_arrival)

    with served(app) as base:
        url = f"{base}/api/v1/visits/{visit['id']}/check-in"
        if db.dialect == "postgresql":
            with postgres_blocker(db.engine.url.render_as_string(hide_password=False), visit["id"]) as (
                    holder, waiting):
                first = InFlight(url, body, headers)
                wait_for(lambda: waiting() == 1, timeout=30, what="the first attempt to wait on the visit")
                second = InFlight(url, body, headers)
                wait_for(lambda: waiting() == 2, timeout=30, what="the twin to wait as well")
                holder.rollback()  # let the first attempt go on
        else:
            # SQLite: the test holds the write lock, so neither request can write before both arrived.
            path = db.engine.url.database
            holder = sqlite3.connect(path, isolation_level=None)
            try:
                holder.execute("BEGIN IMMEDIATE")
                first = InFlight(url, body, headers)
                assert arrived[0].wait(30), "the first attempt never arrived"
                second = InFlight(url, body, headers)
                assert arrived[1].wait(30), "the twin never arrived"
                holder.execute("ROLLBACK")
            finally:
                holder.close()
        answers = [first.answer(), second.answer()]

    assert [status for status, _ in answers] == [200, 200], answers
    assert answers[0][1] == answers[1][1]
    assert answers[0][1]["status"] == "checked_in"
    with db.transaction() as session:
        from cases.models import CaseEvent
        from visits.models import Visit

        check_ins = session.scalar(select(func.count()).select_from(CaseEvent).where(
            CaseEvent.type == "visit_checked_in", CaseEvent.subject_id == visit["id"]))
        stored = session.get(Visit, visit["id"])
        records = session.scalar(select(func.count()).select_from(idempotency.IdempotencyRecord))
    assert check_ins == 1 and stored.status == "checked_in" and records == 1


@pytest.mark.parametrize("held", [True, False], ids=["key held", "key not held"])
def test_without_the_key_lock_the_twin_would_run_the_request_again(app, factory, clock, monkeypatch, held):
    """The harness above can see the race: on PostgreSQL, with `_serialise_on_key` switched off,
    the twin runs the check-in itself and is refused (409), as before the fix."""
    db = app.extensions["fieldproof"].db
    if db.dialect != "postgresql":
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE whatever the key lock does")
    if not held:
        monkeypatch.setattr(idempotency, "_serialise_on_key", lambda *args: None)
    client = app.test_client()
    world = make_world(factory)
    visit = scheduled(client, world, local(1, 10), local(1, 12))
    clock.now = local(1, 10, 5)
    body = {"at": clock.now.isoformat(), "lat": HOME[0], "lon": HOME[1], "accuracy_m": 10.0}
    headers = {**world.collector.headers, "Idempotency-Key": "check-in-twice"}
    with served(app) as base:
        url = f"{base}/api/v1/visits/{visit['id']}/check-in"
        with postgres_blocker(db.engine.url.render_as_string(hide_password=False), visit["id"]) as (holder, waiting):
            first = InFlight(url, body, headers)
            wait_for(lambda: waiting() == 1, timeout=30, what="the first attempt to wait on the visit")
            second = InFlight(url, body, headers)
            wait_for(lambda: waiting() == 2, timeout=30, what="the twin to wait as well")
            holder.rollback()
        statuses = sorted(answer[0] for answer in (first.answer(), second.answer()))
    assert statuses == ([200, 200] if held else [200, 409])
