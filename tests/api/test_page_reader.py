"""The sync's page as `core.paging._PageReader` reads it (plain rows on the session's DBAPI cursor,
values through the column types) against the same visits read through the ORM, on the back end
the suite runs on (SQLite, or PostgreSQL with FIELDPROOF_TEST_DATABASE_URL); and driver errors,
a lost connection included, surface as SQLAlchemy's."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, literal_column, select, text
from sqlalchemy.exc import DBAPIError

from api.schemas.visits import VisitSchema
from core.actor import Actor
from core.paging import Listing, page_of
from tests.api.visit_helpers import HOME, check_in, check_out, local, make_world, scheduled
from visits.models import Visit, VisitRow
from visits.services import list_visits


@pytest.fixture
def world(factory):
    return make_world(factory)


@pytest.fixture
def visit_ids(app, client, factory, world, clock):
    """Scheduled, checked in, completed, cancelled: every part present or absent; awkward values."""
    made = [scheduled(client, world, local(d, 10), local(d, 12))["id"] for d in (1, 2, 3)]
    other = factory.case(collector=world.collector, supervisor=world.supervisor)
    made.append(scheduled(client, world, local(1, 14), local(1, 16), case=other)["id"])
    for visit_id, day in ((made[1], 2), (made[2], 3)):
        clock.now = local(day, 10, 5)
        assert check_in(client, world.collector, visit_id, local(day, 10, 5), HOME).status_code == 200
    clock.now = local(3, 10, 40)
    assert check_out(client, world.collector, made[2], local(3, 10, 40), "not_home").status_code == 200
    assert client.post(f"/api/v1/visits/{made[3]}/cancel", json={"reason": "road closed 雨"},
                       headers=world.supervisor.headers).status_code == 200
    with app.extensions["fieldproof"].db.transaction() as session:
        awkward = session.get(Visit, made[2])
        awkward.checked_in_at = datetime(2026, 3, 1, 2, 3, 4, 120000, tzinfo=UTC)
        awkward.checked_out_at = datetime(2026, 3, 1, 2, 40, 0, 1, tzinfo=UTC)
        awkward.check_in_device_at = '2026-03-01T10:03:04.12+08:00 "Ω\\\n🎉'
        awkward.check_in_accuracy_m, awkward.check_in_lon, awkward.impossible_travel = 1e-7, -121.47370000000001, None
        awkward.summary = "tab\there, \x01 bell\x07, 雨 </script>"
        awkward.flags = {"note": "雨 \"x\"", "n": [1, 2.5, None, True], "nested": {"": {}}}
        session.get(Visit, made[0]).flags = None
    return made


def test_a_sync_page_serialises_as_the_orm_visits_do(app, world, visit_ids):
    db = app.extensions["fieldproof"].db
    schema = VisitSchema(many=True)
    reader = db.readers()
    try:
        listing = list_visits(reader, Actor(id=world.collector.id, role="collector"))
        assert isinstance(listing, Listing) and listing.row is not None  # the page goes through _PageReader
        rows, total = page_of(reader, listing, 1, 50)
    finally:
        reader.close()
    assert total == 4 and all(type(row) is VisitRow for row in rows)
    with db.transaction() as session:
        mapped = session.scalars(select(Visit).where(Visit.id.in_(visit_ids))
                                 .order_by(Visit.window_start, Visit.id)).all()
        from_orm = schema.dump(mapped)
    from_rows = schema.dump(rows)
    assert [v["id"] for v in from_rows] == [v.id for v in mapped]
    assert from_rows == from_orm
    with app.app_context():  # the response's bytes, too
        assert app.json.dumps(from_rows, separators=(",", ":")) == app.json.dumps(from_orm, separators=(",", ":"))
    assert {v["status"] for v in from_rows} == {"scheduled", "checked_in", "completed", "cancelled"}


def test_a_driver_error_surfaces_as_sqlalchemys(app, visit_ids):
    visits = Visit.__table__
    broken = Listing(select(visits.c.id, literal_column("no_such_column")).order_by(visits.c.id), {}, tuple)
    reader = app.extensions["fieldproof"].db.readers()
    try:
        with pytest.raises(DBAPIError) as raised:
            page_of(reader, broken, 1, 10)
        assert not raised.value.connection_invalidated
    finally:
        reader.close()


def test_a_lost_connection_surfaces_as_sqlalchemys_and_is_invalidated(app, world, visit_ids, database_url):
    db = app.extensions["fieldproof"].db
    listing = lambda session: list_visits(session, Actor(id=world.collector.id, role="collector"))  # noqa: E731
    reader = db.readers()
    try:
        connection = reader.connection()
        if db.dialect == "postgresql":  # the server ends the session, as a restart or a failover would
            pid = connection.connection.dbapi_connection.info.backend_pid
            admin = create_engine(database_url)
            with admin.begin() as other:
                assert other.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.dispose()
        else:  # SQLite: the database closed under the connection
            connection.connection.dbapi_connection.close()
        with pytest.raises(DBAPIError) as raised:
            page_of(reader, listing(reader), 1, 50)
        assert raised.value.connection_invalidated and connection.invalidated
    finally:
        reader.close()
    again = db.readers()
    try:
        assert len(page_of(again, listing(again), 1, 50)[0]) == 4
    finally:
        again.close()
