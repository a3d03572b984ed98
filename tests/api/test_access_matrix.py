"""Role × endpoint × own/other: every expected status holds; others' objects are 404, never 403."""
import pytest

ROLES = ["admin", "supervisor", "collector", "legal", "auditor"]


@pytest.fixture
def world(factory):
    own = factory.user("collector")
    other = factory.user("collector")
    return {
        "own_collector": own,
        "own_case": factory.case(collector=own),
        "other_case": factory.case(collector=other),
        "users": {role: factory.user(role) for role in ROLES},
    }


# (method, path template, body factory or None, {role: status}) — "collector" is the owner of own_case
MATRIX = [
    ("GET", "/api/v1/cases", None, dict.fromkeys(ROLES, 200)),
    ("GET", "/api/v1/cases/{own_case}", None, dict.fromkeys(ROLES, 200)),
    ("GET", "/api/v1/cases/{other_case}", None, {**dict.fromkeys(ROLES, 200), "collector": 404}),
    ("GET", "/api/v1/cases/{other_case}/timeline", None, {**dict.fromkeys(ROLES, 200), "collector": 404}),
    ("GET", "/api/v1/cases/{own_case}/timeline", None, dict.fromkeys(ROLES, 200)),
    ("POST", "/api/v1/cases", "case", {"admin": 201, "supervisor": 201, "collector": 403, "legal": 403,
                                        "auditor": 403}),
    ("PATCH", "/api/v1/cases/{own_case}", {"days_past_due": 120},
     {"admin": 200, "supervisor": 200, "collector": 403, "legal": 403, "auditor": 403}),
    ("GET", "/api/v1/users", None, {**dict.fromkeys(ROLES, 403), "admin": 200}),
    ("GET", "/api/v1/me", None, dict.fromkeys(ROLES, 200)),
    ("GET", "/api/v1/devices", None, {**dict.fromkeys(ROLES, 403), "admin": 200, "collector": 200}),
    ("GET", "/api/v1/cases/{own_case}/notices", None, dict.fromkeys(ROLES, 200)),
    ("GET", "/api/v1/cases/{other_case}/notices", None, {**dict.fromkeys(ROLES, 200), "collector": 404}),
    ("POST", "/api/v1/cases/{own_case}/notices",
     {"template": "overdue", "language": "en", "itemization": {"date": "2026-09-30", "amount": "12345.67"}},
     {"admin": 403, "supervisor": 201, "collector": 403, "legal": 201, "auditor": 403}),
    # contacts, the case plan and the worklist: a collector sees only the cases assigned to them
    ("GET", "/api/v1/cases/{own_case}/contacts", None, dict.fromkeys(ROLES, 200)),
    ("GET", "/api/v1/cases/{other_case}/contacts", None, {**dict.fromkeys(ROLES, 200), "collector": 404}),
    ("POST", "/api/v1/cases/{own_case}/contacts", "letter",
     {"admin": 201, "supervisor": 201, "collector": 201, "legal": 403, "auditor": 403}),
    ("POST", "/api/v1/cases/{other_case}/contacts", "letter",
     {"admin": 201, "supervisor": 201, "collector": 404, "legal": 403, "auditor": 403}),
    ("POST", "/api/v1/cases/{own_case}/contacts/check", {"channel": "letter"},
     {"admin": 200, "supervisor": 200, "collector": 200, "legal": 403, "auditor": 403}),
    ("POST", "/api/v1/cases/{other_case}/contacts/check", {"channel": "letter"},
     {"admin": 200, "supervisor": 200, "collector": 404, "legal": 403, "auditor": 403}),
    ("GET", "/api/v1/cases/{own_case}/plan", None, dict.fromkeys(ROLES, 200)),
    ("GET", "/api/v1/cases/{other_case}/plan", None, {**dict.fromkeys(ROLES, 200), "collector": 404}),
    ("PATCH", "/api/v1/cases/{own_case}/plan", {"actions": [{"kind": "call", "due_on": "2026-12-01"}]},
     {"admin": 200, "supervisor": 200, "collector": 403, "legal": 403, "auditor": 403}),
    ("GET", "/api/v1/worklist", None, {"admin": 200, "supervisor": 200, "collector": 200, "legal": 403,
                                       "auditor": 403}),
    ("GET", "/api/v1/reports/contacts?from=2026-12-01&to=2026-12-02", None,
     {**dict.fromkeys(ROLES, 200), "collector": 403}),
]

LETTER = {"channel": "letter", "direction": "outbound", "at": "2026-11-02T10:00:00+08:00", "outcome": "sent",
          "letter_method": "post", "template": "overdue"}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method,template,body,expected", MATRIX, ids=[f"{m[0]} {m[1]}" for m in MATRIX])
def test_matrix(client, factory, world, role, method, template, body, expected):
    actor = world["own_collector"] if role == "collector" else world["users"][role]
    path = template.format(own_case=world["own_case"]["id"], other_case=world["other_case"]["id"])
    json_body = factory.case_payload() if body == "case" else LETTER if body == "letter" else body
    response = client.open(path, method=method, json=json_body, headers=actor.headers)
    assert response.status_code == expected[role], (role, method, path, response.get_json())


def test_worklist_of_a_collector_holds_only_their_cases(client, world):
    work = client.get("/api/v1/worklist", headers=world["own_collector"].headers).get_json()
    assert {w["case_id"] for w in work} == {world["own_case"]["id"]}
    everyone = client.get("/api/v1/worklist", headers=world["users"]["supervisor"].headers).get_json()
    assert {world["own_case"]["id"], world["other_case"]["id"]} <= {w["case_id"] for w in everyone}


def test_collector_list_holds_only_their_cases(client, world):
    listed = client.get("/api/v1/cases?page_size=100", headers=world["own_collector"].headers).get_json()
    assert [c["id"] for c in listed] == [world["own_case"]["id"]]


def test_reassigning_a_case_moves_visibility(client, factory, world):
    other_collector = factory.user("collector")
    case_id = world["own_case"]["id"]
    client.patch(f"/api/v1/cases/{case_id}", json={"assigned_collector_id": other_collector.id},
                 headers=world["users"]["supervisor"].headers)
    assert client.get(f"/api/v1/cases/{case_id}", headers=world["own_collector"].headers).status_code == 404
    assert client.get(f"/api/v1/cases/{case_id}", headers=other_collector.headers).status_code == 200
