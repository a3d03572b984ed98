"""A retry that arrives while its first attempt is still running waits for it and replays it."""
import threading

from core import idempotency


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
