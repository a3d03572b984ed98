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
