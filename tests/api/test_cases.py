from sqlalchemy import text

from cases.services import reveal_identity
from cases.models import Case
from tests.api.test_errors import assert_problem


def test_supervisor_opens_a_case_with_addresses(client, factory):
    collector = factory.user("collector")
    case = factory.case(collector=collector)
    assert case["status"] == "open" and case["assigned_collector_id"] == collector.id
    assert [a["kind"] for a in case["addresses"]] == ["home", "workplace"]
    assert all(a["id"] for a in case["addresses"])
    assert case["amount_overdue"] == "12345.67" and case["currency"] == "CNY"


def test_identity_and_phone_are_masked_on_every_output(client, factory):
    supervisor = factory.user("supervisor")
    payload = factory.case_payload(debtor={"name": "Li Wei", "national_id": "110101198501011234",
                                           "phone": "+86 138 0013 8000"})
    created = client.post("/api/v1/cases", json=payload, headers=supervisor.headers).get_json()
    for body in (created, client.get(f"/api/v1/cases/{created['id']}", headers=supervisor.headers).get_json(),
                 client.get("/api/v1/cases", headers=supervisor.headers).get_json()[0]):
        assert body["debtor"]["national_id"] == "**************1234"
        assert body["debtor"]["phone"].endswith("8000") and "138" not in body["debtor"]["phone"]
    timeline = client.get(f"/api/v1/cases/{created['id']}/timeline", headers=supervisor.headers).get_data(as_text=True)
    assert "110101198501011234" not in timeline and "0013 8000" not in timeline


def test_identity_is_encrypted_at_rest(app, client, factory):
    case = factory.case(debtor={"name": "Li Wei", "national_id": "110101198501011234", "phone": "+8613800138000"})
    wiring = app.extensions["fieldproof"]
    with wiring.db.engine.connect() as connection:
        row = connection.execute(text("SELECT * FROM cases WHERE id = :id"), {"id": case["id"]}).mappings().one()
    stored = " ".join(str(v) for v in row.values())
    assert "110101198501011234" not in stored and "13800138000" not in stored
    assert row["debtor_national_id_encrypted"].startswith("v1:")
    with wiring.db.transaction() as session:
        revealed = reveal_identity(session.get(Case, case["id"]), wiring.cipher)
    assert revealed == {"national_id": "110101198501011234", "phone": "+8613800138000"}


def test_patch_updates_flags_and_records_the_change(client, factory):
    supervisor = factory.user("supervisor")
    case = factory.case(supervisor=supervisor)
    patched = client.patch(f"/api/v1/cases/{case['id']}", json={"flags": {"cease_contact": True}},
                           headers=supervisor.headers)
    assert patched.status_code == 200 and patched.get_json()["flags"]["cease_contact"] is True
    timeline = client.get(f"/api/v1/cases/{case['id']}/timeline", headers=supervisor.headers).get_json()
    assert [e["type"] for e in timeline] == ["case_opened", "case_updated"]
    assert timeline[1]["details"] == {"changed": ["flags.cease_contact"]}


def test_assigned_collector_must_be_a_collector(client, factory):
    legal = factory.user("legal")
    body = assert_problem(client.post("/api/v1/cases", json=factory.case_payload(collector_id=legal.id),
                                      headers=factory.user("supervisor").headers), 422)
    assert "assigned_collector_id" in body["errors"]


def test_filters(client, factory):
    supervisor = factory.user("supervisor")
    a, b = factory.user("collector"), factory.user("collector")
    factory.case(collector=a, supervisor=supervisor)
    factory.case(collector=b, supervisor=supervisor, jurisdiction="US-NY", currency="USD")
    by_collector = client.get(f"/api/v1/cases?collector_id={a.id}", headers=supervisor.headers).get_json()
    assert [c["assigned_collector_id"] for c in by_collector] == [a.id]
    by_place = client.get("/api/v1/cases?jurisdiction=US-NY", headers=supervisor.headers).get_json()
    assert [c["jurisdiction"] for c in by_place] == ["US-NY"]


def test_a_case_keeps_and_reports_more_addresses_than_one_request_may_add(client, factory):
    """Each PATCH adds at most 20 addresses; the case reports all it has (the response schema
    carries no request limit, so a generated client can parse it)."""
    supervisor = factory.user("supervisor")
    case = factory.case(supervisor=supervisor)
    more = [{"kind": "home", "line": f"{n} Nanjing Road", "city": "Shanghai", "country": "CN"} for n in range(20)]
    response = client.patch(f"/api/v1/cases/{case['id']}", json={"addresses": more}, headers=supervisor.headers)
    assert response.status_code == 200, response.get_json()
    assert len(client.get(f"/api/v1/cases/{case['id']}", headers=supervisor.headers).get_json()["addresses"]) == 22
    schema = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["CaseView"]
    assert "maxItems" not in schema["properties"]["addresses"]


# --- lost updates: ETag on reads, If-Match on writes ----------------------------------------


def _etag(client, path, user):
    response = client.get(path, headers=user.headers)
    assert response.status_code == 200 and response.headers.get("ETag"), response.headers
    return response.headers["ETag"]


def test_a_write_based_on_a_stale_read_is_412_and_writes_nothing(client, factory):
    supervisor, other = factory.user("supervisor"), factory.user("supervisor")
    case = factory.case()
    path = f"/api/v1/cases/{case['id']}"
    seen_by_both = _etag(client, path, supervisor)
    first = client.patch(path, json={"days_past_due": 120}, headers={**supervisor.headers, "If-Match": seen_by_both})
    assert first.status_code == 200, first.get_json()
    assert first.headers["ETag"] != seen_by_both
    assert first.headers["ETag"] == _etag(client, path, supervisor)  # the new tag is the one a read gives
    second = client.patch(path, json={"days_past_due": 30}, headers={**other.headers, "If-Match": seen_by_both})
    assert_problem(second, 412)
    assert client.get(path, headers=supervisor.headers).get_json()["days_past_due"] == 120
    events = client.get(f"{path}/timeline", headers=supervisor.headers).get_json()
    assert [e["type"] for e in events].count("case_updated") == 1
    again = client.patch(path, json={"days_past_due": 30}, headers={**other.headers, "If-Match": first.headers["ETag"]})
    assert again.status_code == 200


def test_without_if_match_a_write_goes_ahead_unless_the_server_requires_it(client, factory, settings):
    from api.app import create_app
    from tests.conftest import shut_down

    supervisor = factory.user("supervisor")
    case = factory.case()
    path = f"/api/v1/cases/{case['id']}"
    assert client.patch(path, json={"days_past_due": 100}, headers=supervisor.headers).status_code == 200
    strict = create_app(settings.with_overrides(require_if_match=True))
    try:
        strict_client = strict.test_client()
        missing = strict_client.patch(path, json={"days_past_due": 101}, headers=supervisor.headers)
        assert_problem(missing, 428)
        assert missing.get_json()["type"] == "urn:fieldproof:problem:precondition-required"
        current = strict_client.get(path, headers=supervisor.headers).headers["ETag"]
        ok = strict_client.patch(path, json={"days_past_due": 101}, headers={**supervisor.headers, "If-Match": current})
        assert ok.status_code == 200 and ok.get_json()["days_past_due"] == 101
    finally:
        shut_down(strict)


def test_if_none_match_with_the_current_tag_is_304_without_a_body(client, factory):
    supervisor = factory.user("supervisor")
    case = factory.case()
    path = f"/api/v1/cases/{case['id']}"
    tag = _etag(client, path, supervisor)
    cached = client.get(path, headers={**supervisor.headers, "If-None-Match": tag})
    assert cached.status_code == 304 and cached.get_data() == b"" and cached.headers["ETag"] == tag
    client.patch(path, json={"days_past_due": 7}, headers=supervisor.headers)
    changed = client.get(path, headers={**supervisor.headers, "If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag


def test_adding_an_address_changes_the_case_etag(client, factory):
    supervisor = factory.user("supervisor")
    case = factory.case()
    path = f"/api/v1/cases/{case['id']}"
    before = _etag(client, path, supervisor)
    address = {"kind": "home", "line": "2 New Road", "city": "Shanghai", "country": "CN"}
    assert client.patch(path, json={"addresses": [address]}, headers=supervisor.headers).status_code == 200
    assert _etag(client, path, supervisor) != before
