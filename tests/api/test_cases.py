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
