"""A visit on the wire: `VisitSchema` is its one serialiser (list, read, check-in, check-out), and the
list page keeps every rule the schemas and the domain's query enforce."""
from __future__ import annotations

import json

import pytest

from api.schemas.visits import VisitSchema
from tests.api.visit_helpers import HOME, check_in, check_out, local, make_world, scheduled  # noqa: F401


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


def test_every_visit_response_is_the_schemas_dump(app, client, world, visits):
    """The list and the read answer `VisitSchema`'s output for the stored visit."""
    schema = VisitSchema()
    listed = {v["id"]: v for v in client.get("/api/v1/visits?page_size=50", headers=world.collector.headers).get_json()}
    for visit in _orm_visits(app, [v["id"] for v in visits]):
        dumped = json.loads(json.dumps(schema.dump(visit)))
        assert listed[visit.id] == dumped
        assert client.get(f"/api/v1/visits/{visit.id}", headers=world.collector.headers).get_json() == dumped
    assert set(schema.fields) == set(listed[visits[2]["id"]])


def test_a_page_reads_the_same_however_its_number_is_written(client, world, visits):
    """`?page=1` and `?page=01` are the same page, with the same headers."""
    for user in (world.collector, world.supervisor):
        plain = client.get("/api/v1/visits?page_size=2&page=1", headers=user.headers)
        full = client.get("/api/v1/visits?page_size=2&page=01", headers=user.headers)
        assert plain.status_code == full.status_code == 200
        assert plain.get_json() == full.get_json() and len(plain.get_json()) == 2
        assert json.loads(plain.headers["X-Pagination"]) == json.loads(full.headers["X-Pagination"]) == {
            "total": 3, "total_pages": 2, "first_page": 1, "last_page": 2, "page": 1, "next_page": 2}
        for name in ("Content-Security-Policy", "Cache-Control", "X-Content-Type-Options", "X-Request-ID"):
            assert plain.headers[name] == full.headers[name] or name == "X-Request-ID"


def test_the_list_keeps_ownership_and_auth(client, factory, world, visits):
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
def test_malformed_or_unknown_queries_are_refused_by_the_schemas(client, world, visits, query):
    response = client.get(f"/api/v1/visits?{query}", headers=world.collector.headers)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"


@pytest.mark.parametrize("query", ["page_size=2&page_size=3", "page_size=2&status=completed"])
def test_repeated_and_filter_keys_as_the_schemas_decide(client, world, visits, query):
    """A repeated key as the schemas decide, a filter applied."""
    response = client.get(f"/api/v1/visits?{query}", headers=world.collector.headers)
    assert response.status_code == 200
    if "status" in query:
        assert [v["status"] for v in response.get_json()] == ["completed"]


def test_each_actor_of_a_role_sees_their_own_pages(client, factory, world, visits):
    """Actors of the same role, one after the other, each see only their own; a page past the end
    still carries the total."""
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


def test_the_syncs_statement_is_built_once_per_role_with_the_actor_bound(app, factory, world, visits):
    """The plain sync (no filters) reuses one statement per role; the actor is a parameter of it,
    so each collector's page is still their own (above), and a filter builds a query as before."""
    from core.actor import Actor
    from core.paging import Listing, page_of
    from visits.services import list_visits

    stranger = factory.user("collector")
    with app.extensions["fieldproof"].db.transaction() as session:
        mine, theirs = (list_visits(session, Actor(id=u.id, role="collector")) for u in (world.collector, stranger))
        assert isinstance(mine, Listing) and mine.query is theirs.query and mine.params != theirs.params
        assert len(page_of(session, mine, 1, 50)[0]) == 3 and page_of(session, theirs, 1, 50) == ([], 0)
        filtered = list_visits(session, Actor(id=world.collector.id, role="collector"), status="completed")
        assert not isinstance(filtered, Listing)


def _set_columns(app, visit_id, **values):
    from visits.models import Visit

    with app.extensions["fieldproof"].db.transaction() as session:
        visit = session.get(Visit, visit_id)
        for name, value in values.items():
            setattr(visit, name, value)


def test_awkward_values_read_the_same_on_every_path(app, client, world, visits):
    """Microseconds with trailing zeros and none at all, whole and tiny and negative floats, quotes,
    backslashes, control characters, non-BMP text and nested JSON: the list, the read and the
    schema's own dump agree, on both back ends."""
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
    for visit in _orm_visits(app, [visits[0]["id"], visits[2]["id"]]):
        read = client.get(f"/api/v1/visits/{visit.id}", headers=world.collector.headers).get_json()
        assert read == next(v for v in plain.get_json() if v["id"] == visit.id)
        assert read == json.loads(json.dumps(VisitSchema().dump(visit)))


def test_the_list_is_in_window_order(client, world, visits):
    response = client.get("/api/v1/visits?page_size=50", headers=world.collector.headers)
    assert response.status_code == 200 and len(response.get_json()) == 3
    assert [v["window_start"] for v in response.get_json()] == sorted(v["window_start"] for v in visits)


def test_a_read_connection_lost_is_503_and_the_next_page_reads_again(app, client, world, visits, database_url):
    """Connections of the read-only pool that died while idle: the request on one answers 503 like
    everywhere else, and the pool is renewed, so the next request reads."""
    if app.extensions["fieldproof"].db.dialect != "postgresql":
        pytest.skip("terminating server connections needs PostgreSQL")
    from sqlalchemy import create_engine, text

    page = "/api/v1/visits?page_size=50"
    assert client.get(page, headers=world.collector.headers).status_code == 200
    admin = create_engine(database_url)
    with admin.begin() as connection:
        killed = connection.scalar(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"))
    admin.dispose()
    assert killed >= 1
    lost = client.get(page, headers=world.collector.headers)
    assert lost.status_code == 503 and lost.mimetype == "application/problem+json"
    again = client.get(page, headers=world.collector.headers)
    assert again.status_code == 200 and len(again.get_json()) == 3
