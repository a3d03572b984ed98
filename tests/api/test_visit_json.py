"""The list endpoint's plain path (api/resources/base.py `plain_page`, `visit_json`) answers exactly
what the marshmallow schemas and flask-smorest would, and keeps every rule they enforce."""
from __future__ import annotations

import json

import marshmallow as ma
import pytest

from api.schemas.visits import VisitSchema, visit_json
from tests.api.visit_helpers import HOME, check_in, check_out, clock, local, make_world, scheduled  # noqa: F401


@pytest.fixture
def world(factory):
    return make_world(factory)


@pytest.fixture
def visits(client, world, clock):  # noqa: F811
    """A scheduled visit, a checked-in one and a completed one: every optional part present or not."""
    made = [scheduled(client, world, local(1, 10), local(1, 12)),
            scheduled(client, world, local(2, 10), local(2, 12)),
            scheduled(client, world, local(3, 10), local(3, 12))]
    for visit, day in ((made[1], 2), (made[2], 3)):
        clock.now = local(day, 10, 5)
        assert check_in(client, world.collector, visit["id"], local(day, 10, 5), HOME).status_code == 200
    clock.now = local(3, 10, 40)
    assert check_out(client, world.collector, made[2]["id"], local(3, 10, 40), "not_home").status_code == 200
    return made


def _orm_visits(app, ids):
    from visits.models import Visit

    session = app.extensions["fieldproof"].db.sessions()
    try:
        return [session.get(Visit, i) for i in ids]
    finally:
        session.close()


def test_visit_json_is_the_marshmallow_schemas_output(app, visits):
    schema = VisitSchema()
    for visit in _orm_visits(app, [v["id"] for v in visits]):
        assert visit_json(visit) == ma.Schema.dump(schema, visit)
        assert json.dumps(visit_json(visit), sort_keys=True) == json.dumps(ma.Schema.dump(schema, visit), sort_keys=True)
    assert {f for f in schema.fields} == set(visit_json(_orm_visits(app, [visits[2]["id"]])[0]))


def test_the_plain_page_answers_as_the_full_path_does(client, world, visits):
    """`?page=1` takes the plain path; `?page=01` (valid, but not the plain shape) the full one."""
    for user in (world.collector, world.supervisor):
        plain = client.get("/api/v1/visits?page_size=2&page=1", headers=user.headers)
        full = client.get("/api/v1/visits?page_size=2&page=01", headers=user.headers)
        assert plain.status_code == full.status_code == 200
        assert plain.get_json() == full.get_json() and len(plain.get_json()) == 2
        assert json.loads(plain.headers["X-Pagination"]) == json.loads(full.headers["X-Pagination"]) == {
            "total": 3, "total_pages": 2, "first_page": 1, "last_page": 2, "page": 1, "next_page": 2}
        for name in ("Content-Security-Policy", "Cache-Control", "X-Content-Type-Options", "X-Request-ID"):
            assert plain.headers[name] == full.headers[name] or name == "X-Request-ID"


def test_the_plain_page_keeps_ownership_and_auth(client, factory, world, visits):
    stranger = factory.user("collector")
    assert client.get("/api/v1/visits?page_size=50", headers=stranger.headers).get_json() == []
    denied = client.get("/api/v1/visits?page_size=50")
    assert denied.status_code == 401 and denied.mimetype == "application/problem+json"
    legal = factory.user("legal")
    forbidden = client.get("/api/v1/visits?page_size=50", headers=legal.headers)
    assert forbidden.status_code in (200, 403)  # whatever READERS says, the same as the full path
    assert forbidden.status_code == client.get("/api/v1/visits?page_size=50&page=01", headers=legal.headers).status_code


@pytest.mark.parametrize("query", ["page_size=0", "page_size=101", "page=0", "page_size=abc", "status=nonsense",
                                   "colour=red&page_size=2"])
def test_anything_but_the_plain_shape_is_refused_by_the_schemas(client, world, visits, query):
    response = client.get(f"/api/v1/visits?{query}", headers=world.collector.headers)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"


@pytest.mark.parametrize("query", ["page_size=2&page_size=3", "page_size=2&status=completed"])
def test_other_shapes_go_through_the_schemas_as_before(client, world, visits, query):
    """Not the plain shape: the full path answers (a repeated key or an unknown one as the schemas
    decide, a filter applied); the plain path never guesses."""
    response = client.get(f"/api/v1/visits?{query}", headers=world.collector.headers)
    assert response.status_code == 200
    if "status" in query:
        assert [v["status"] for v in response.get_json()] == ["completed"]


def test_one_page_statement_per_role_serves_each_actor_their_own(client, factory, world, visits):
    """The plain path builds its statement once per role with the actor's id bound per request
    (`PageStatements`): actors of the same role, one after the other, each see only their own."""
    stranger = factory.user("collector")
    for _ in range(2):
        mine = client.get("/api/v1/visits?page_size=50", headers=world.collector.headers)
        assert sorted(v["id"] for v in mine.get_json()) == sorted(v["id"] for v in visits)
        assert client.get("/api/v1/visits?page_size=50", headers=stranger.headers).get_json() == []
        everyone = client.get("/api/v1/visits?page_size=50", headers=world.supervisor.headers).get_json()
        assert {v["id"] for v in visits} <= {v["id"] for v in everyone}
    second = client.get("/api/v1/visits?page_size=2&page=2", headers=world.collector.headers)
    assert len(second.get_json()) == 1 and json.loads(second.headers["X-Pagination"])["page"] == 2
    past = client.get("/api/v1/visits?page_size=2&page=3", headers=world.collector.headers)
    assert past.status_code == 200 and past.get_json() == []
    assert json.loads(past.headers["X-Pagination"]) == json.loads(
        client.get("/api/v1/visits?page_size=2&page=03", headers=world.collector.headers).headers["X-Pagination"])
    assert json.loads(past.headers["X-Pagination"])["total"] == 3


def _set_columns(app, visit_id, **values):
    from visits.models import Visit

    with app.extensions["fieldproof"].db.transaction() as session:
        visit = session.get(Visit, visit_id)
        for name, value in values.items():
            setattr(visit, name, value)


def test_awkward_values_read_the_same_on_the_plain_page_as_through_the_schemas(app, client, world, visits):
    """On PostgreSQL the plain page is written by the database (api/shapes.py): microseconds with
    trailing zeros and none at all, whole and tiny and negative floats, quotes, backslashes, control
    characters, non-BMP text and nested JSON must come out as marshmallow writes them."""
    from datetime import UTC, datetime

    _set_columns(app, visits[2]["id"],
                 checked_in_at=datetime(2026, 3, 1, 2, 3, 4, 120000, tzinfo=UTC),
                 check_in_received_at=datetime(2026, 3, 1, 2, 3, 5, tzinfo=UTC),
                 check_in_device_at='2026-03-01T10:03:04.12+08:00 "Ω\\\n🎉', check_in_lat=31.0,
                 check_in_lon=-121.47370000000001, check_in_accuracy_m=1e-7, check_in_distance_m=123456789.125,
                 clock_skew_s=-0.5, within_geofence=False, outside_window=True, impossible_travel=None,
                 checked_out_at=datetime(2026, 3, 1, 2, 40, 0, 1, tzinfo=UTC),
                 summary="tab\there, \x01 bell\x07, 雨 'single' \"double\" </script>",
                 flags={"note": "雨 \"x\"", "n": [1, 2.5, None, True], "nested": {"": {}}})
    _set_columns(app, visits[0]["id"], flags=None)
    plain = client.get("/api/v1/visits?page_size=50", headers=world.collector.headers)
    full = client.get("/api/v1/visits?page_size=50&page=01", headers=world.collector.headers)
    assert plain.status_code == full.status_code == 200 and plain.mimetype == "application/json"
    assert plain.get_json() == full.get_json()
    awkward = next(v for v in plain.get_json() if v["id"] == visits[2]["id"])
    assert awkward["check_in"]["at"] == "2026-03-01T02:03:04.120000Z"
    assert awkward["check_in"]["received_at"] == "2026-03-01T02:03:05Z"
    assert awkward["check_out"]["at"] == "2026-03-01T02:40:00.000001Z"
    assert awkward["check_in"]["device_at"].endswith('"Ω\\\n🎉') and awkward["flags"]["nested"] == {"": {}}
    assert next(v for v in plain.get_json() if v["id"] == visits[0]["id"])["flags"] is None


def test_on_postgresql_the_database_writes_the_page(app, client, world, visits, monkeypatch):
    """Python renders no row of the plain page on PostgreSQL, and every row elsewhere."""
    from api.schemas.visits import VISIT_JSON
    from api.shapes import Shape

    rendered = []
    monkeypatch.setattr(VISIT_JSON, "render", lambda row: rendered.append(row) or Shape.render(VISIT_JSON, row))
    response = client.get("/api/v1/visits?page_size=50", headers=world.collector.headers)
    assert response.status_code == 200 and len(response.get_json()) == 3
    on_postgres = app.extensions["fieldproof"].db.dialect == "postgresql"
    assert len(rendered) == (0 if on_postgres else 3)
    assert [v["window_start"] for v in response.get_json()] == sorted(v["window_start"] for v in visits)


def test_a_page_connection_lost_is_503_and_the_next_page_reads_again(app, client, world, visits, database_url,
                                                                     monkeypatch):
    """The plain page runs on a DBAPI connection of the read-only pool (PostgreSQL): a connection
    that died is a 503 like everywhere else, and the pool is renewed, so the next request reads."""
    if app.extensions["fieldproof"].db.dialect != "postgresql":
        pytest.skip("the page is read on a DBAPI connection on PostgreSQL only")
    from sqlalchemy import create_engine, text

    from api.context import db_session
    from api.resources.base import PageStatement

    admin = create_engine(database_url)
    real, killed = PageStatement.json_page, []

    def kill_then_read(statement, engine, params):
        """Every other connection of the database dies after the request authenticated (on its
        own connection, which lives), before the page is read."""
        if not killed:
            spared = db_session().connection().connection.dbapi_connection.info.backend_pid
            with admin.begin() as connection:
                killed.append(connection.scalar(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid NOT IN (pg_backend_pid(), :spared) AND backend_type = 'client backend'"),
                    {"spared": spared}))
        return real(statement, engine, params)

    page = "/api/v1/visits?page_size=50"
    assert client.get(page, headers=world.collector.headers).status_code == 200
    readers = app.extensions["fieldproof"].db.reader_engine
    held = [readers.raw_connection() for _ in range(4)]
    for connection in held:
        connection.close()  # four idle in the pool: all but one die below, unused
    monkeypatch.setattr(PageStatement, "json_page", kill_then_read)
    lost = client.get(page, headers=world.collector.headers)
    admin.dispose()
    assert killed[0] >= 1
    assert lost.status_code == 503 and lost.mimetype == "application/problem+json"
    again = client.get(page, headers=world.collector.headers)
    assert again.status_code == 200 and len(again.get_json()) == 3


def test_the_page_statement_is_prepared_once_per_connection_and_again_when_the_server_forgot_it(
        app, client, world, visits, monkeypatch):
    """On PostgreSQL the page runs as a named prepared statement through libpq (`json_page`): made
    once on a connection, reused by every later page, made again when the server dropped it (a
    DISCARD ALL, a pooler in between) rather than answering 500, and taken as made when the server
    already has it (a pooler's server connection that another client prepared it on)."""
    if app.extensions["fieldproof"].db.dialect != "postgresql":
        pytest.skip("the page is read on a DBAPI connection on PostgreSQL only")
    from psycopg import pq

    from api.resources import base

    prepared, executed, real = [], [], base._expect

    def recording(dbapi_connection, result, status):
        (prepared if status == pq.ExecStatus.COMMAND_OK else executed).append(dbapi_connection)
        return real(dbapi_connection, result, status)

    monkeypatch.setattr(base, "_expect", recording)
    page = "/api/v1/visits?page_size=50"
    expected = client.get(page, headers=world.collector.headers).get_json()
    assert len(expected) == 3
    for _ in range(5):
        assert client.get(page, headers=world.collector.headers).get_json() == expected
    used = {id(connection): connection for connection in executed}
    assert len(executed) == 6 and len(prepared) <= len(used)  # at most once per connection
    assert len({id(connection) for connection in prepared}) == len(prepared)
    for connection in used.values():  # idle in the pool now
        connection.execute("DEALLOCATE ALL")
    before = len(prepared)
    again = client.get(page, headers=world.collector.headers)
    assert again.status_code == 200 and again.get_json() == expected
    assert len(prepared) == before + 1 and prepared[-1] is executed[-1]

    readers = app.extensions["fieldproof"].db.reader_engine
    statements = [made.for_role("collector", "postgresql") for made in base.PageStatements.made]
    idle = [readers.raw_connection() for _ in range(readers.pool.checkedin())]
    for connection in idle:  # every statement on the server; the pool has forgotten them
        for statement in filter(None, statements):
            connection.dbapi_connection.pgconn.prepare(statement.name, statement.sql.encode(), None)
        connection.info.pop("page_statements", None)
        connection.close()
    before = len(prepared)
    again = client.get(page, headers=world.collector.headers)
    assert again.status_code == 200 and again.get_json() == expected
    assert len(prepared) == before  # the duplicate is not an error: nothing went through `_expect`
