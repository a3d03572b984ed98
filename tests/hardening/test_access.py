"""Access: role × endpoint × ownership over EVERY operation of the OpenAPI document and every
console page; token expiry, revocation and disabling; login lockout. Objects that are not the
caller's are 404 (a 403 would confirm they exist); a role that may not use an endpoint at all is 403.
"""
from __future__ import annotations

import io
import json
import secrets
from datetime import timedelta

import pytest

from accounts.models import AccessToken
from accounts.services import hash_token
from core.clock import utcnow
from tests.evidence_corpus import capture, multipart, photo
from tests.hardening.conftest import ROLES, op_id, operations
from tests.hardening.world import build, checked_in_visit, custody_event_id, upload, valid_bodies

# Every operation, and which object its path names. A missing row fails `test_every_operation_has_a_row`.
OWNERSHIP = {
    ("POST", "/api/v1/auth/tokens"): "public",
    ("DELETE", "/api/v1/auth/tokens/current"): None,
    ("GET", "/api/v1/me"): None,
    ("GET", "/api/v1/users"): None,
    ("POST", "/api/v1/users"): None,
    ("GET", "/api/v1/users/{user_id}"): None,
    ("PATCH", "/api/v1/users/{user_id}"): None,
    ("GET", "/api/v1/devices"): None,
    ("POST", "/api/v1/devices"): None,
    ("GET", "/api/v1/cases"): None,
    ("POST", "/api/v1/cases"): None,
    ("GET", "/api/v1/cases/{case_id}"): "case",
    ("PATCH", "/api/v1/cases/{case_id}"): "case",
    ("GET", "/api/v1/cases/{case_id}/timeline"): "case",
    ("GET", "/api/v1/visits"): None,
    ("POST", "/api/v1/visits"): None,
    ("GET", "/api/v1/visits/{visit_id}"): "visit",
    ("POST", "/api/v1/visits/{visit_id}/check-in"): "visit",
    ("POST", "/api/v1/visits/{visit_id}/check-out"): "visit",
    ("POST", "/api/v1/visits/{visit_id}/cancel"): "visit",
    ("POST", "/api/v1/visits/{visit_id}/reschedule"): "visit",
    ("GET", "/api/v1/collectors/{collector_id}/route"): "collector",
    ("GET", "/api/v1/reports/promises"): None,
    ("GET", "/api/v1/reports/visits"): None,
    ("POST", "/api/v1/evidence"): "visit",
    ("POST", "/api/v1/evidence/uploads"): "visit",
    ("GET", "/api/v1/evidence/{evidence_id}"): "evidence",
    ("GET", "/api/v1/evidence/{evidence_id}/content"): "evidence",
    ("PUT", "/api/v1/evidence/{evidence_id}/content"): "evidence",
    ("POST", "/api/v1/evidence/{evidence_id}/complete"): "evidence",
    ("GET", "/api/v1/evidence/{evidence_id}/thumbnail"): "evidence",
    ("GET", "/api/v1/evidence/{evidence_id}/custody"): "evidence",
    ("GET", "/api/v1/custody-events/{event_id}"): "evidence",
    ("POST", "/api/v1/evidence/{evidence_id}/redactions"): "evidence",
    ("POST", "/api/v1/evidence/{evidence_id}/legal-hold"): "evidence",
    ("DELETE", "/api/v1/evidence/{evidence_id}/legal-hold"): "evidence",
    ("GET", "/api/v1/cases/{case_id}/evidence"): "case",
    ("POST", "/api/v1/visits/{visit_id}/notes"): "visit",
    ("GET", "/api/v1/ledger/head"): None,
    ("GET", "/api/v1/ledger/checkpoints"): None,
    ("POST", "/api/v1/ledger/checkpoints"): None,
    ("GET", "/api/v1/ledger/proofs/inclusion"): None,
    ("GET", "/api/v1/ledger/proofs/consistency"): None,
    ("GET", "/api/v1/ledger/public-key"): None,
    ("GET", "/api/v1/ledger/keys"): None,
    ("POST", "/api/v1/ledger/checkpoints/verify"): None,
    ("GET", "/api/v1/ledger/checkpoint"): None,
    ("GET", "/api/v1/ledger/tile/{tile_path}"): None,
    ("GET", "/api/v1/ledger/witnesses"): None,
    ("POST", "/api/v1/ledger/witnesses"): None,
    ("POST", "/api/v1/ledger/cosignatures"): None,
    ("GET", "/api/v1/verifications"): None,
    ("POST", "/api/v1/verifications"): None,
    ("GET", "/api/v1/verifications/{verification_id}"): None,
    ("GET", "/api/v1/cases/{case_id}/packets"): "case",
    ("POST", "/api/v1/cases/{case_id}/packets"): "case",
    ("GET", "/api/v1/packets/{packet_id}"): None,
    ("GET", "/api/v1/packets/{packet_id}/pdf"): None,
    ("GET", "/api/v1/packets/{packet_id}/bundle"): None,
    ("GET", "/api/v1/cases/{case_id}/notices"): "case",
    ("POST", "/api/v1/cases/{case_id}/notices"): "case",
    ("GET", "/api/v1/notices/{notice_id}"): None,
    ("GET", "/api/v1/notices/{notice_id}/pdf"): None,
    ("GET", "/api/v1/cases/{case_id}/contacts"): "case",
    ("POST", "/api/v1/cases/{case_id}/contacts"): "case",
    ("POST", "/api/v1/cases/{case_id}/contacts/check"): "case",
    ("GET", "/api/v1/cases/{case_id}/plan"): "case",
    ("PATCH", "/api/v1/cases/{case_id}/plan"): "case",
    ("GET", "/api/v1/worklist"): None,
    ("GET", "/api/v1/reports/contacts"): None,
    ("GET", "/api/v1/creditors"): None,
    ("POST", "/api/v1/creditors"): None,
    ("GET", "/api/v1/creditors/{creditor_id}/portfolios"): None,  # walled by creditor: see WALL_ALSO
    ("POST", "/api/v1/creditors/{creditor_id}/portfolios"): None,
    ("POST", "/api/v1/portfolios/{portfolio_id}/placements"): None,  # walled by creditor: see WALL_ALSO
    ("GET", "/api/v1/placements/{placement_id}"): None,
    ("GET", "/api/v1/placements/{placement_id}/report"): None,
    ("GET", "/api/v1/portfolios/{portfolio_id}/status-export"): None,
    ("GET", "/healthz"): "public",
    ("GET", "/readyz"): "public",
}
QUERIES = {
    "/api/v1/collectors/{collector_id}/route": {"date": "2030-01-01"},
    "/api/v1/reports/visits": {"from": "2030-01-01", "to": "2030-01-31"},
    "/api/v1/reports/contacts": {"from": "2030-01-01", "to": "2030-01-31"},
    "/api/v1/ledger/proofs/inclusion": {"index": 0, "tree_size": 1},
    "/api/v1/ledger/proofs/consistency": {"first": 1, "second": 1},
}
OPS = operations()


def test_every_operation_has_a_row():
    assert {(m, p) for m, p, _ in OPS} == set(OWNERSHIP), "add the new operation to OWNERSHIP"


def call(client, hw, method, path, headers, *, other=False, body_role=None):
    """One request; bodies are the valid ones, aimed at our own objects or at the other collector's."""
    url = hw.path(path, other=other)
    query = QUERIES.get(path)
    if (method, path) == ("POST", "/api/v1/evidence"):
        data = photo(colour=(secrets.randbelow(255), 1, 2))
        visit = hw.other_visit_id if other else hw.visit_id
        return client.post(url, data=multipart(capture(visit, data), data), headers=headers,
                           content_type="multipart/form-data")
    if (method, path) == ("PUT", "/api/v1/evidence/{evidence_id}/content"):
        return client.put(url, data=b"\xff\xd8\xff", headers=headers, content_type="application/octet-stream")
    if (method, path) == (PLACE, PLACEMENTS):
        return _place(client, url, headers)
    entry = valid_bodies(hw).get((method, path))
    body = json.loads(json.dumps(entry[1])) if entry else None
    if body and other:
        for key in ("visit_id", "case_id"):
            if key in body:
                body[key] = hw.other_visit_id if key == "visit_id" else hw.other_case["id"]
        if (method, path) == ("POST", "/api/v1/verifications"):
            body["id"] = hw.other_case["id"]
    return client.open(url, method=method, json=body, headers=headers, query_string=query)


PLACE, PLACEMENTS = "POST", "/api/v1/portfolios/{portfolio_id}/placements"


def _place(client, url, headers):
    return client.post(url, data={"file": (io.BytesIO(b"reference,action\nNO-SUCH-REF,recall\n"), "recall.csv"),
                                  "mode": "validate"}, headers=headers, content_type="multipart/form-data")


def _allowed(operation, role) -> bool:
    roles = operation.get("x-roles") or []
    return "any" in roles or role in roles


@pytest.fixture
def hw(app, client, factory):
    world = build(app, client, factory)
    packet = client.post(f"/api/v1/cases/{world.case['id']}/packets", json={"language": "en"},
                         headers=world.headers("legal"))
    assert packet.status_code == 202, packet.get_json()
    run = client.post("/api/v1/verifications", json={"scope": "all"}, headers=world.headers("auditor"))
    assert run.status_code == 202, run.get_json()
    notice = client.post(f"/api/v1/cases/{world.case['id']}/notices", headers=world.headers("supervisor"),
                         json=valid_bodies(world)[("POST", "/api/v1/cases/{case_id}/notices")][1])
    assert notice.status_code == 201, notice.get_json()
    placement = _place(client, f"/api/v1/portfolios/{world.ids['portfolio_id']}/placements",
                       world.headers("supervisor"))
    assert placement.status_code == 202, placement.get_json()
    assert app.extensions["fieldproof"].jobs.wait_idle()
    world.ids.update(packet_id=packet.get_json()["id"], verification_id=run.get_json()["id"],
                     notice_id=notice.get_json()["id"], placement_id=placement.get_json()["id"],
                     tile_path="0/000.p/1")  # the first leaf's hash: the world has appended at least one
    return world


@pytest.mark.parametrize("method,path,operation", OPS, ids=[op_id(m, p) for m, p, _ in OPS])
def test_role_endpoint_ownership(app, client, factory, hw, method, path, operation):
    kind = OWNERSHIP[(method, path)]
    if kind == "public":
        assert call(client, hw, method, path, {}).status_code not in (401, 403, 500)
        return
    # no token, a garbage token, a token that is not Bearer: 401 with a WWW-Authenticate challenge
    for headers in ({}, {"Authorization": "Bearer " + secrets.token_urlsafe(32)}, {"Authorization": "Basic eDp5"},
                    {"Authorization": "Bearer " + "x" * 600}, {"Authorization": "Bearer"}):
        response = call(client, hw, method, path, headers)
        assert response.status_code == 401, (headers, response.status_code)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    seen = {}
    for role in ROLES:
        user = hw.users[role] if (method, path) != ("DELETE", "/api/v1/auth/tokens/current") else factory.user(role)
        response = call(client, hw, method, path, dict(user.headers))
        status = response.status_code
        if not _allowed(operation, role):
            assert status == 403, (role, status, response.get_data(as_text=True)[:200])
        else:
            assert status not in (401, 403, 404, 405, 500), (role, status, response.get_data(as_text=True)[:300])
        seen[role] = status
        if kind is None or not _allowed(operation, role):
            continue
        other = call(client, hw, method, path, dict(user.headers), other=True)
        if role == "collector":
            assert other.status_code == 404, (role, "other", other.status_code, other.get_data(as_text=True)[:300])
            assert other.get_json()["status"] == 404
        else:
            assert other.status_code not in (401, 403, 404, 500), (role, "other", other.status_code)
    assert seen


def test_not_yours_and_not_existing_look_the_same(client, hw):
    """For a collector, another collector's case, visit and evidence answer exactly like unknown ids."""
    headers = hw.headers("collector")
    unknown = "00000000-0000-4000-8000-00000000dead"
    for template, theirs in [("/api/v1/cases/{}", hw.other_case["id"]), ("/api/v1/visits/{}", hw.other_visit_id),
                             ("/api/v1/evidence/{}", hw.other_evidence_id),
                             ("/api/v1/evidence/{}/content", hw.other_evidence_id),
                             ("/api/v1/evidence/{}/custody", hw.other_evidence_id),
                             ("/api/v1/cases/{}/timeline", hw.other_case["id"])]:
        a = client.get(template.format(theirs), headers=headers)
        b = client.get(template.format(unknown), headers=headers)
        assert a.status_code == b.status_code == 404
        strip = lambda body: {k: v for k, v in body.items() if k != "instance"}  # noqa: E731
        assert strip(a.get_json()) == strip(b.get_json()), template
    listed = client.get("/api/v1/cases", headers=headers).get_json()
    assert {c["id"] for c in listed} == {hw.case["id"]}
    visits = client.get("/api/v1/visits", headers=headers).get_json()
    assert hw.other_visit_id not in {v["id"] for v in visits}


# --- two creditors: a user granted one gets nothing of the other ------------------------------


@pytest.fixture
def two(app, client, factory, hw):
    """Beside the world (all of the default creditor): creditor B with its own portfolio, collector,
    case, visit, photo, packet and verification run. The world's users are granted the default only."""
    admin = hw.users["admin"]
    creditor = client.post("/api/v1/creditors", json={"code": "BANK-B", "name": "Bank B"}, headers=admin.headers)
    assert creditor.status_code == 201, creditor.get_json()
    creditor_id = creditor.get_json()["id"]
    portfolio = client.post(f"/api/v1/creditors/{creditor_id}/portfolios", json={"code": "P1", "name": "Cards"},
                            headers=admin.headers)
    assert portfolio.status_code == 201, portfolio.get_json()
    b = {role: factory.user(role, creditors=[creditor_id]) for role in ROLES if role != "admin"}
    b_collector = b["collector"]
    case = factory.case(collector=b_collector, supervisor=b["supervisor"], portfolio_id=portfolio.get_json()["id"])
    visit_id = checked_in_visit(app, case, b_collector.id, b["supervisor"].id)
    item = upload(client, b_collector, visit_id, photo(colour=(90, 90, 90)))
    packet = client.post(f"/api/v1/cases/{case['id']}/packets", json={"language": "en"}, headers=b["legal"].headers)
    assert packet.status_code == 202, packet.get_json()
    run = client.post("/api/v1/verifications", json={"scope": "case", "id": case["id"]}, headers=b["auditor"].headers)
    assert run.status_code == 202, run.get_json()
    placement = _place(client, f"/api/v1/portfolios/{portfolio.get_json()['id']}/placements", b["supervisor"].headers)
    assert placement.status_code == 202, placement.get_json()
    notice = client.post(f"/api/v1/cases/{case['id']}/notices", headers=b["supervisor"].headers, json={
        "template": "overdue", "language": "en", "itemization": {"date": "2026-01-01", "amount": case["amount_overdue"]}})
    assert notice.status_code == 201, notice.get_json()
    assert app.extensions["fieldproof"].jobs.wait_idle()
    ids = {**hw.ids, "case_id": case["id"], "visit_id": visit_id, "evidence_id": item["id"],
           "portfolio_id": portfolio.get_json()["id"], "placement_id": placement.get_json()["id"],
           "collector_id": b_collector.id, "packet_id": packet.get_json()["id"],
           "verification_id": run.get_json()["id"], "creditor_id": creditor_id,
           "event_id": custody_event_id(client, b_collector, item["id"]), "notice_id": notice.get_json()["id"]}
    return {"ids": ids, "case": case, "portfolio_id": portfolio.get_json()["id"], "users": b}


# Operations with no collector ownership that still name an object of a creditor (in the path or the body).
WALL_ALSO = {("POST", "/api/v1/visits"), ("POST", "/api/v1/evidence/uploads"), ("POST", "/api/v1/cases"),
             ("POST", "/api/v1/verifications"), ("POST", "/api/v1/evidence"),
             ("GET", "/api/v1/creditors/{creditor_id}/portfolios"), ("POST", "/api/v1/creditors/{creditor_id}/portfolios"),
             ("GET", "/api/v1/packets/{packet_id}"), ("GET", "/api/v1/packets/{packet_id}/pdf"),
             ("GET", "/api/v1/packets/{packet_id}/bundle"), ("GET", "/api/v1/verifications/{verification_id}"),
             (PLACE, PLACEMENTS), ("GET", "/api/v1/placements/{placement_id}"),
             ("GET", "/api/v1/placements/{placement_id}/report"),
             ("GET", "/api/v1/portfolios/{portfolio_id}/status-export"),
             ("GET", "/api/v1/notices/{notice_id}"), ("GET", "/api/v1/notices/{notice_id}/pdf")}


def _other_creditor_call(client, hw, two, method, path, headers):
    url = path.format(**two["ids"])
    if (method, path) == ("POST", "/api/v1/evidence"):
        data = photo(colour=(secrets.randbelow(255), 3, 4))
        return client.post(url, data=multipart(capture(two["ids"]["visit_id"], data), data), headers=headers,
                           content_type="multipart/form-data")
    if (method, path) == ("PUT", "/api/v1/evidence/{evidence_id}/content"):
        return client.put(url, data=b"\xff\xd8\xff", headers=headers, content_type="application/octet-stream")
    if (method, path) == (PLACE, PLACEMENTS):
        return _place(client, url, headers)
    entry = valid_bodies(hw).get((method, path))
    body = json.loads(json.dumps(entry[1])) if entry else None
    if body is not None:
        home = next(a for a in two["case"]["addresses"] if a["kind"] == "home")
        if "visit_id" in body:
            body["visit_id"] = two["ids"]["visit_id"]
        if "case_id" in body:
            body.update(case_id=two["case"]["id"], address_id=home["id"])
        if (method, path) == ("POST", "/api/v1/verifications"):
            body["id"] = two["case"]["id"]
        if (method, path) == ("POST", "/api/v1/cases"):
            body.update(portfolio_id=two["portfolio_id"], reference="HARD-B-0001")
    return client.open(url, method=method, json=body, headers=headers, query_string=QUERIES.get(path))


WALLED = [(m, p, o) for m, p, o in OPS if OWNERSHIP[(m, p)] not in (None, "public") or (m, p) in WALL_ALSO]
WALLED_IDS = [op_id(m, p) for m, p, _ in WALLED]


@pytest.mark.parametrize("method,path,operation", WALLED, ids=WALLED_IDS)
def test_a_user_granted_one_creditor_gets_nothing_of_the_other(client, hw, two, method, path, operation):
    """Every operation that names an object, every role: an object of a creditor you are not
    granted is 404, exactly like one that does not exist (admins are granted every creditor)."""
    for role in ROLES:
        if role == "admin" or not _allowed(operation, role):
            continue
        response = _other_creditor_call(client, hw, two, method, path, dict(hw.users[role].headers))
        assert response.status_code == 404, (role, response.status_code, response.get_data(as_text=True)[:300])
    # and the creditor's own people reach the same objects (the 404 is the wall, not a broken path)
    for role, user in two["users"].items():
        if not _allowed(operation, role) or (method, path) == ("POST", "/api/v1/creditors/{creditor_id}/portfolios"):
            continue
        response = _other_creditor_call(client, hw, two, method, path, dict(user.headers))
        assert response.status_code not in (401, 403, 404, 500), (role, "own", response.status_code,
                                                                   response.get_data(as_text=True)[:300])


def test_lists_reports_and_searches_hold_nothing_of_the_other_creditor(client, hw, two):
    theirs = two["ids"]
    for role in ROLES:
        if role == "admin":
            continue
        headers = hw.headers(role)
        cases = client.get("/api/v1/cases", headers=headers, query_string={"page_size": 100}).get_json()
        assert theirs["case_id"] not in {c["id"] for c in cases}, role
        found = client.get("/api/v1/cases", headers=headers, query_string={"q": two["case"]["reference"]})
        assert found.get_json() == [], role
        visits = client.get("/api/v1/visits", headers=headers, query_string={"page_size": 100}).get_json()
        assert theirs["visit_id"] not in {v["id"] for v in visits}, role
        creditors = client.get("/api/v1/creditors", headers=headers).get_json()
        assert theirs["creditor_id"] not in {c["id"] for c in creditors}, role
        if role in ("supervisor", "legal", "auditor"):
            report = client.get("/api/v1/reports/visits", headers=headers, query_string={
                "from": "2000-01-01", "to": "2000-01-02"})
            assert report.status_code == 200
            today = utcnow().date()
            report = client.get("/api/v1/reports/visits", headers=headers, query_string={
                "from": (today - timedelta(days=2)).isoformat(), "to": (today + timedelta(days=2)).isoformat()})
            assert two["users"]["collector"].id not in {r["collector_id"] for r in report.get_json()["collectors"]}
        if role == "auditor":
            runs = client.get("/api/v1/verifications", headers=headers).get_json()
            assert theirs["verification_id"] not in {r["id"] for r in runs}
    # the admin sees both creditors; B's supervisor sees B's case and not the default's
    admin = client.get("/api/v1/cases", headers=hw.headers("admin"), query_string={"page_size": 100}).get_json()
    assert {theirs["case_id"], hw.case["id"]} <= {c["id"] for c in admin}
    b_cases = client.get("/api/v1/cases", headers=two["users"]["supervisor"].headers).get_json()
    assert [c["id"] for c in b_cases] == [theirs["case_id"]]


def test_a_grant_reaches_a_cached_token_at_once(app, client, hw, two):
    """Granting and withdrawing a creditor changes what the same token sees on its next request."""
    supervisor, admin = hw.users["supervisor"], hw.headers("admin")
    url = f"/api/v1/cases/{two['case']['id']}"
    assert client.get(url, headers=supervisor.headers).status_code == 404
    default = [c["id"] for c in client.get("/api/v1/creditors", headers=supervisor.headers).get_json()]
    both = client.patch(f"/api/v1/users/{supervisor.id}", json={"creditor_ids": default + [two["ids"]["creditor_id"]]},
                        headers=admin)
    assert both.status_code == 200 and set(both.get_json()["creditor_ids"]) == {*default, two["ids"]["creditor_id"]}
    assert client.get(url, headers=supervisor.headers).status_code == 200
    assert client.patch(f"/api/v1/users/{supervisor.id}", json={"creditor_ids": default},
                        headers=admin).status_code == 200
    assert client.get(url, headers=supervisor.headers).status_code == 404
    unknown = client.patch(f"/api/v1/users/{supervisor.id}", json={"creditor_ids": ["no-such-creditor"]},
                           headers=admin)
    assert unknown.status_code == 422


# --- tokens -------------------------------------------------------------------------------------


def test_expired_revoked_and_disabled_tokens_are_401(app, client, factory):
    db = app.extensions["fieldproof"].db
    user = factory.user("legal")
    assert client.get("/api/v1/me", headers=user.headers).status_code == 200
    with db.transaction() as session:
        row = session.query(AccessToken).filter_by(token_hash=hash_token(user.token)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
    assert client.get("/api/v1/me", headers=user.headers).status_code == 401

    other = factory.user("legal")
    assert client.delete("/api/v1/auth/tokens/current", headers=other.headers).status_code == 204
    assert client.get("/api/v1/me", headers=other.headers).status_code == 401
    assert client.delete("/api/v1/auth/tokens/current", headers=other.headers).status_code == 401

    victim, admin = factory.user("collector"), factory.user("admin")
    assert client.patch(f"/api/v1/users/{victim.id}", json={"active": False}, headers=admin.headers).status_code == 200
    assert client.get("/api/v1/me", headers=victim.headers).status_code == 401
    login = client.post("/api/v1/auth/tokens", json={"username": victim.username, "password": "correct horse battery"})
    assert login.status_code == 401

    changed = factory.user("supervisor")
    assert client.patch(f"/api/v1/users/{changed.id}", json={"password": "a brand new password"},
                        headers=admin.headers).status_code == 200
    assert client.get("/api/v1/me", headers=changed.headers).status_code == 401


def test_issued_tokens_expire_after_the_configured_ttl(app, client, factory, monkeypatch):
    user = factory.user("auditor")
    response = client.post("/api/v1/auth/tokens", json={"username": user.username, "password": "correct horse battery"})
    assert response.status_code == 201
    token = response.get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    import accounts.services as accounts

    later = utcnow() + timedelta(seconds=app.extensions["fieldproof"].settings.token_ttl_seconds + 1)
    monkeypatch.setattr(accounts, "utcnow", lambda: later)
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    # tokens are stored hashed: the database never holds one that works
    with app.extensions["fieldproof"].db.transaction() as session:
        assert token not in {t.token_hash for t in session.query(AccessToken)}


def test_login_lockout_per_username_and_no_user_enumeration(app, client, factory):
    settings = app.extensions["fieldproof"].settings
    user = factory.user("legal")
    wrong = {"username": user.username, "password": "wrong password!"}
    for _ in range(settings.login_max_failures):
        assert client.post("/api/v1/auth/tokens", json=wrong).status_code == 401
    locked = client.post("/api/v1/auth/tokens", json={"username": user.username, "password": "correct horse battery"})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    # another user is not locked by it
    fine = factory.user("legal")
    assert client.post("/api/v1/auth/tokens", json={"username": fine.username,
                                                    "password": "correct horse battery"}).status_code == 201
    # an unknown user and a wrong password are indistinguishable
    a = client.post("/api/v1/auth/tokens", json={"username": "nobody-here", "password": "whatever1"}).get_json()
    b = client.post("/api/v1/auth/tokens", json={"username": fine.username, "password": "whatever1"}).get_json()
    assert {k: v for k, v in a.items() if k != "instance"} == {k: v for k, v in b.items() if k != "instance"}


def test_console_login_lockout(app, client, factory, console):
    user = factory.user("legal")
    for _ in range(app.extensions["fieldproof"].settings.login_max_failures):
        assert console.login(user, password="not the password").status_code == 401
    assert console.login(user).status_code == 429
    assert client.get("/console/cases").status_code == 302


# --- console pages ---------------------------------------------------------------------------------

# (method, rule) → (roles allowed or "any", ownership kind). Generated list must match the app's rules.
CONSOLE = {
    ("GET", "/console/"): ("public", None),
    ("GET", "/console/login"): ("public", None),
    ("POST", "/console/login"): ("public", None),
    ("POST", "/console/logout"): ("public", None),
    ("POST", "/console/language"): ("public", None),
    ("GET", "/console/static/<path:filename>"): ("public", None),
    ("GET", "/console/cases"): ("any", None),
    ("GET", "/console/cases/<case_id>"): ("any", "case"),
    ("GET", "/console/cases/<case_id>/evidence"): ("any", None),  # a redirect to the case page
    ("GET", "/console/evidence/<evidence_id>"): ("any", "evidence"),
    ("GET", "/console/evidence/<evidence_id>/content"): ("any", "evidence"),
    ("GET", "/console/evidence/<evidence_id>/thumbnail"): ("any", "evidence"),
    ("POST", "/console/evidence/<evidence_id>/redactions"): (("legal", "admin"), "evidence"),
    ("GET", "/console/audit"): (("auditor", "admin"), None),
    ("POST", "/console/verifications"): (("auditor", "admin"), None),
    ("GET", "/console/verifications/<verification_id>"): (("auditor", "admin"), None),
    ("GET", "/console/verifications/<verification_id>/status"): (("auditor", "admin"), None),
    ("GET", "/console/bundles/verify"): (("auditor", "admin", "legal"), None),
    ("POST", "/console/bundles/verify"): (("auditor", "admin", "legal"), None),
    ("GET", "/console/cases/<case_id>/packets/new"): (("legal", "admin"), "case"),
    ("POST", "/console/cases/<case_id>/packets"): (("legal", "admin"), "case"),
    ("POST", "/console/cases/<case_id>/notices"): (("supervisor", "legal"), "case"),
    ("GET", "/console/packets/<packet_id>"): (("legal", "admin", "auditor"), None),
    ("GET", "/console/packets/<packet_id>/status"): (("legal", "admin", "auditor"), None),
    ("GET", "/console/packets/<packet_id>/pdf"): (("legal", "admin", "auditor"), None),
    ("GET", "/console/packets/<packet_id>/bundle"): (("legal", "admin", "auditor"), None),
    ("GET", "/console/placements"): (("supervisor", "admin"), None),
    ("POST", "/console/placements"): (("supervisor", "admin"), None),
    ("GET", "/console/placements/<placement_id>"): (("supervisor", "admin"), None),
    ("GET", "/console/placements/<placement_id>/status"): (("supervisor", "admin"), None),
    ("GET", "/console/placements/<placement_id>/report"): (("supervisor", "admin"), None),
}


def test_every_console_page_has_a_row(app):
    rules = {(method, rule.rule) for rule in app.url_map.iter_rules() if rule.rule.startswith("/console")
             for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert rules == set(CONSOLE), "add the new console page to CONSOLE"


def _console_url(hw, rule: str, *, other=False) -> str:
    ids = hw.ids if not other else {**hw.ids, "case_id": hw.other_case["id"], "evidence_id": hw.other_evidence_id}
    url = rule.replace("<path:filename>", "console.css")
    for name in ("case_id", "evidence_id", "packet_id", "verification_id", "placement_id"):
        url = url.replace(f"<{name}>", ids[name])
    return url


def _console_form(method, rule, ids=None):
    if rule == "/console/placements":
        return {"portfolio_id": (ids or {}).get("portfolio_id", ""), "mode": "validate",
                "file": (io.BytesIO(b"reference,action\nNO-SUCH-REF,recall\n"), "recall.csv")}
    if rule.endswith("/redactions"):
        return {"regions": json.dumps([{"x": 1, "y": 1, "width": 5, "height": 5}]), "reason": "face", "mode": "black"}
    if rule.endswith("/packets"):
        return {"language": "en"}
    if rule.endswith("/notices"):
        return {"template": "overdue", "language": "en"}
    if rule.endswith("/verifications"):
        return {"scope": "all"}
    if rule.endswith("/bundles/verify"):
        return {"bundle": (io.BytesIO(b"PK\x05\x06" + b"\x00" * 18), "b.zip")}
    return {}


@pytest.mark.parametrize("method,rule", sorted(CONSOLE), ids=[f"{m} {r}" for m, r in sorted(CONSOLE)])
def test_console_role_page_ownership(client, hw, console, method, rule):
    roles, kind = CONSOLE[(method, rule)]
    url = _console_url(hw, rule)
    if roles == "public":
        response = console.post(url, _console_form(method, rule, hw.ids)) if method == "POST" else client.get(url)
        assert response.status_code in ((200, 302, 401) if rule == "/console/login" else (200, 302)), \
            response.status_code
        return
    signed_out = console.post(url, _console_form(method, rule, hw.ids), content_type="multipart/form-data") \
        if method == "POST" else client.get(url)
    assert signed_out.status_code == 302 and "/console/login" in signed_out.headers["Location"]
    for role in ROLES:
        console.login(hw.users[role])

        def hit(target):
            if method == "POST":
                return console.post(target, _console_form(method, rule, hw.ids), content_type="multipart/form-data")
            return client.get(target)

        response = hit(url)
        allowed = roles == "any" or role in roles
        if not allowed:
            assert response.status_code == 403, (role, response.status_code)
        else:
            assert response.status_code in (200, 302, 409), (role, response.status_code,
                                                              response.get_data(as_text=True)[:300])
            if kind and role == "collector":
                assert hit(_console_url(hw, rule, other=True)).status_code == 404, (role, "other")
        console.post("/console/logout")


def test_console_pages_hold_nothing_of_the_other_creditor(client, hw, two, console):
    """Every console page that names an object, every role granted only the default creditor: 404
    for creditor B's; the case list neither lists nor finds B's case."""
    b = {**hw.ids, **two["ids"]}
    for role in ROLES:
        if role == "admin":
            continue
        console.login(hw.users[role])
        for (method, rule), (roles, _kind) in sorted(CONSOLE.items()):
            names = [n for n in ("case_id", "evidence_id", "packet_id", "verification_id", "placement_id")
                     if f"<{n}>" in rule]
            if method != "GET" or not names or rule.endswith("/evidence") or (roles != "any" and role not in roles):
                continue
            url = rule
            for name in names:
                url = url.replace(f"<{name}>", b[name])
            assert client.get(url).status_code == 404, (role, url)
        page = client.get("/console/cases", query_string={"q": two["case"]["reference"]}).get_data(as_text=True)
        assert two["case"]["id"] not in page and "0 cases" in page, role
        if role == "supervisor":  # placing into B's portfolio, and B's portfolio and placement in the list
            form = {**_console_form("POST", "/console/placements"), "portfolio_id": two["portfolio_id"]}
            assert console.post("/console/placements", form, content_type="multipart/form-data").status_code == 404
            listed = client.get("/console/placements").get_data(as_text=True)
            assert two["portfolio_id"] not in listed and two["ids"]["placement_id"] not in listed
            assert hw.ids["portfolio_id"] in listed and hw.ids["placement_id"] in listed
        console.post("/console/logout")
    console.login(hw.users["admin"])
    page = client.get("/console/cases", query_string={"creditor_id": two["ids"]["creditor_id"]}).get_data(as_text=True)
    assert two["case"]["id"] in page and hw.case["id"] not in page
    assert 'name="portfolio_id"' in page
