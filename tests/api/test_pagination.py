import json
from datetime import timedelta

from core.clock import utcnow
from tests.api.test_errors import assert_problem


def test_pages_and_header(client, factory):
    supervisor = factory.user("supervisor")
    for _ in range(5):
        factory.case(supervisor=supervisor)
    first = client.get("/api/v1/cases?page=1&page_size=2", headers=supervisor.headers)
    meta = json.loads(first.headers["X-Pagination"])
    assert meta == {"total": 5, "total_pages": 3, "first_page": 1, "last_page": 3, "page": 1, "next_page": 2}
    seen = [c["id"] for p in (1, 2, 3)
            for c in client.get(f"/api/v1/cases?page={p}&page_size=2", headers=supervisor.headers).get_json()]
    assert len(seen) == len(set(seen)) == 5


def test_page_size_is_capped(client, factory):
    supervisor = factory.user("supervisor")
    assert_problem(client.get("/api/v1/cases?page_size=101", headers=supervisor.headers), 422)
    assert_problem(client.get("/api/v1/cases?page_size=1000000000", headers=supervisor.headers), 422)
    assert_problem(client.get("/api/v1/cases?page=0", headers=supervisor.headers), 422)


def test_updated_since_returns_only_changes(client, factory):
    supervisor = factory.user("supervisor")
    old = factory.case(supervisor=supervisor)
    marker = utcnow()
    new = factory.case(supervisor=supervisor)
    client.patch(f"/api/v1/cases/{old['id']}", json={"days_past_due": 200}, headers=supervisor.headers)
    since = marker.isoformat()
    changed = client.get("/api/v1/cases", query_string={"updated_since": since}, headers=supervisor.headers).get_json()
    assert {c["id"] for c in changed} == {old["id"], new["id"]}
    later = (utcnow() + timedelta(seconds=1)).isoformat()
    assert client.get("/api/v1/cases", query_string={"updated_since": later}, headers=supervisor.headers).get_json() == []


def test_updated_since_needs_an_offset_within_range(client, factory):
    supervisor = factory.user("supervisor")
    assert_problem(client.get("/api/v1/cases?updated_since=2026-01-01T00:00:00", headers=supervisor.headers), 422)
    assert_problem(client.get("/api/v1/cases", query_string={"updated_since": "2026-01-01T00:00:00+15:00"},
                              headers=supervisor.headers), 422)
    assert client.get("/api/v1/cases", query_string={"updated_since": "2026-01-01T00:00:00+14:00"},
                      headers=supervisor.headers).status_code == 200
