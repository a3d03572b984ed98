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


@pytest.mark.parametrize("query", ["page_size=0", "page_size=101", "page=0", "page_size=abc", "status=nonsense"])
def test_anything_but_the_plain_shape_is_refused_by_the_schemas(client, world, visits, query):
    response = client.get(f"/api/v1/visits?{query}", headers=world.collector.headers)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"


@pytest.mark.parametrize("query", ["page_size=2&page_size=3", "colour=red&page_size=2", "page_size=2&status=completed"])
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
