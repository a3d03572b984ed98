"""The hot read path: one-query pages, read-only sessions, the verified-token cache and its revocation."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from accounts.token_cache import TokenCache


def _statements(engine):
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    return seen, lambda: event.remove(engine, "before_cursor_execute", record)


def test_a_page_and_its_total_come_from_one_query(app, client, factory):
    collector = factory.user("collector")
    supervisor = factory.user("supervisor")
    for _ in range(3):
        factory.case(collector=collector, supervisor=supervisor)
    db = app.extensions["fieldproof"].db
    seen, stop = _statements(db.reader_engine)
    try:
        response = client.get("/api/v1/cases?page_size=2", headers=supervisor.headers)
    finally:
        stop()
    assert response.status_code == 200 and len(response.get_json()) == 2
    assert '"total": 3' in response.headers["X-Pagination"]
    assert not any("count(*) AS" in s and "OVER" not in s for s in seen), seen
    past_the_end = client.get("/api/v1/cases?page_size=2&page=5", headers=supervisor.headers)
    assert past_the_end.status_code == 200 and past_the_end.get_json() == []
    assert '"total": 3' in past_the_end.headers["X-Pagination"]


def test_a_read_only_session_refuses_to_write(app):
    from accounts.models import User

    db = app.extensions["fieldproof"].db
    session = db.readers()
    try:
        session.add(User(username="nobody", role="admin", display_name="x", password_hash="x"))
        with pytest.raises(RuntimeError, match="read-only"):
            session.flush()
    finally:
        session.rollback()
        session.close()


def test_the_database_itself_refuses_a_write_through_a_reader(app, factory):
    """Raw SQL passes the session's flush guard; the connection refuses it (PostgreSQL:
    `default_transaction_read_only`; SQLite: `query_only`), so nothing changes."""
    admin = factory.user("admin")
    db = app.extensions["fieldproof"].db
    reader = db.readers()
    try:
        with pytest.raises(DBAPIError, match="read-only|readonly"):
            reader.execute(text("UPDATE users SET display_name = 'changed by a reader'"))
    finally:
        reader.close()
    with db.transaction() as session:
        assert session.scalar(text("SELECT display_name FROM users WHERE id = :id"), {"id": admin.id}) == "Admin"


def test_a_read_holds_no_lock_a_writer_waits_for(app, factory):
    """A reader's connection is outside any transaction once its statement is done, on both back
    ends. SQLite's writers begin IMMEDIATE (the write lock): readers on their pool did too, so a
    read in progress made every write wait, and a write every read."""
    db = app.extensions["fieldproof"].db
    factory.user("admin")
    reader = db.readers()
    try:
        assert reader.scalar(text("SELECT count(*) FROM users")) >= 1  # the reader's session stays open
        driver = reader.connection().connection.driver_connection
        if db.dialect == "postgresql":
            from psycopg.pq import TransactionStatus

            assert driver.info.transaction_status == TransactionStatus.IDLE
            return
        assert not driver.in_transaction
        writer = db.engine.raw_connection()
        try:
            writer.driver_connection.execute("PRAGMA busy_timeout=0")  # fail at once instead of waiting 30 s
            writer.driver_connection.execute("BEGIN IMMEDIATE")  # what every write transaction begins with
            writer.driver_connection.execute("ROLLBACK")
        finally:
            writer.invalidate()  # its busy_timeout is not the pool's
    finally:
        reader.close()


BYTE_READS = ("evidence.EvidenceContent", "evidence.EvidenceThumbnail", "notices.NoticePdf",
              "packets.PacketPdf", "packets.PacketBundle", "console.evidence_content",
              "console.evidence_thumbnail", "console.packet_pdf", "console.packet_bundle")


def test_reads_of_bytes_are_marked_as_reading_and_recording(app):
    """The views that send an item's or a packet's bytes read on a reader's session and record
    their event apart; a view that only reads (a listing) is `@reads_only`, without that mark."""
    for endpoint in BYTE_READS:
        view = app.view_functions[endpoint]
        handler = view.view_class.get if hasattr(view, "view_class") else view
        assert getattr(handler, "_reads_only", False) and getattr(handler, "_records_its_reads", False), endpoint
    listing = app.view_functions["visits.Visits"].view_class.get
    assert getattr(listing, "_reads_only", False) and not getattr(listing, "_records_its_reads", False)


def test_a_read_of_bytes_checks_access_on_a_reader_and_commits_only_its_event(app, client, world):
    """The access check runs on the readers' pool; the writers' pool runs one short transaction,
    the custody event's, committed before the response: no unit of work around the read."""
    from tests.evidence_corpus import photo

    item = world.upload(client, photo((64, 48))).get_json()
    db = app.extensions["fieldproof"].db
    read, stop_reading = _statements(db.reader_engine)
    written, stop_writing = _statements(db.engine)
    commits: list[str] = []

    def commit(_conn):
        commits.append("commit")

    event.listen(db.engine, "commit", commit)
    try:
        response = client.get(f"/api/v1/evidence/{item['id']}/content", headers=world.supervisor.headers,
                              buffered=False)
        assert response.status_code == 200
        assert commits == ["commit"]  # before a byte of the body was read
    finally:
        stop_reading()
        stop_writing()
        event.remove(db.engine, "commit", commit)
    with db.engine.connect() as connection:  # the one transaction held the event
        downloads = sum(connection.scalar(text(f"SELECT count(*) FROM {table} WHERE evidence_id = :id "
                                               "AND type = 'downloaded'"), {"id": item["id"]})
                        for table in ("custody_events", "custody_queue"))
    assert downloads == 1
    response.get_data()
    assert any("FROM evidence_items" in statement for statement in read), read
    assert not any("evidence_items" in statement for statement in written), written  # the ledger's own
    # statements run on the driver's cursor, past these events: the writers' pool ran nothing else
    types = [e["type"] for e in client.get(f"/api/v1/evidence/{item['id']}/custody",
                                           headers=world.supervisor.headers).get_json()]
    assert types[-1] == "downloaded"


def test_record_view_refuses_a_writers_session(app, client, world):
    """On a writer's session the check would hold a transaction the event's own then waits behind
    (SQLite's write lock): the service refuses it rather than deadlock, and records nothing."""
    from core.actor import Actor
    from evidence.services import record_view
    from tests.evidence_corpus import photo

    item = world.upload(client, photo((64, 48))).get_json()
    runtime = app.extensions["fieldproof"]
    with pytest.raises(TypeError, match="reads_and_records"), runtime.db.transaction() as session:
        record_view(session, Actor(id=world.supervisor.id, role="supervisor"), runtime, item["id"])
    types = [e["type"] for e in client.get(f"/api/v1/evidence/{item['id']}/custody",
                                           headers=world.supervisor.headers).get_json()]
    assert "downloaded" not in types


def _wait(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def cached_app(app):
    """The app with the verified-token cache on (production on PostgreSQL turns it on)."""
    runtime = app.extensions["fieldproof"]
    if runtime.db.dialect != "postgresql":
        pytest.skip("the token cache needs PostgreSQL's LISTEN/NOTIFY (FIELDPROOF_TEST_DATABASE_URL)")
    cache = runtime.extras["tokens"]
    assert isinstance(cache, TokenCache) and not cache.enabled  # development: off
    cache.enabled = True
    cache.start()  # start the listener
    assert _wait(lambda: cache.tokens.live)
    yield app, cache
    cache.stop()


def test_cached_tokens_skip_the_lookup_and_logout_is_immediate(cached_app, factory):
    app, cache = cached_app
    client = app.test_client()
    user = factory.user("legal")
    assert client.get("/api/v1/me", headers=user.headers).status_code == 200
    seen, stop = _statements(app.extensions["fieldproof"].db.reader_engine)
    try:
        assert client.get("/api/v1/me", headers=user.headers).status_code == 200
    finally:
        stop()
    assert not any("access_tokens" in s for s in seen), "a cached token is not looked up again"
    assert client.delete("/api/v1/auth/tokens/current", headers=user.headers).status_code == 204
    assert client.get("/api/v1/me", headers=user.headers).status_code == 401


def test_a_revocation_in_another_process_reaches_this_cache(cached_app, factory):
    """Another API node revokes (its own connection, its own transaction): NOTIFY empties ours."""
    from sqlalchemy.orm import sessionmaker

    from accounts.models import User
    from accounts.services import hash_token
    from accounts.token_cache import announce_revocations

    app, cache = cached_app
    client = app.test_client()
    victim = factory.user("collector")
    assert client.get("/api/v1/me", headers=victim.headers).status_code == 200
    assert cache.tokens.get(hash_token(victim.token)) is not None

    engine = app.extensions["fieldproof"].db.engine
    other_node = sessionmaker(engine)
    announce_revocations(other_node, TokenCache("unused", enabled=False))
    with other_node.begin() as session:
        session.get(User, victim.id).active = False
    assert _wait(lambda: not cache.tokens._entries)
    assert client.get("/api/v1/me", headers=victim.headers).status_code == 401


def test_no_cache_while_the_channel_is_down(cached_app, factory):
    app, cache = cached_app
    client = app.test_client()
    user = factory.user("auditor")
    cache.tokens.live = False
    assert client.get("/api/v1/me", headers=user.headers).status_code == 200
    assert not cache.tokens._entries


def test_a_creditor_withdrawn_reaches_a_cached_token_at_once(cached_app, factory):
    """Grants are part of the cached actor: withdrawing one is announced like a role change."""
    from accounts.services import hash_token

    app, cache = cached_app
    client = app.test_client()
    admin, supervisor = factory.user("admin"), factory.user("supervisor")
    case = factory.case(supervisor=supervisor)
    assert client.get(f"/api/v1/cases/{case['id']}", headers=supervisor.headers).status_code == 200
    assert cache.tokens.get(hash_token(supervisor.token)) is not None
    assert client.patch(f"/api/v1/users/{supervisor.id}", json={"creditor_ids": []},
                        headers=admin.headers).status_code == 200
    assert client.get(f"/api/v1/cases/{case['id']}", headers=supervisor.headers).status_code == 404
