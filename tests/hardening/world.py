"""One realistic world for the table-driven hardening tests: users of each role, an assigned case,
a scheduled and a checked-in visit, a sealed photo, and the ids every path template needs."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.clock import utcnow
from tests.evidence_corpus import photo
from tests.evidence_world import make_visit

ROLES = ("admin", "supervisor", "collector", "legal", "auditor")
SHANGHAI = timezone(timedelta(hours=8))


@dataclass
class HardWorld:
    users: dict
    other_collector: object
    case: dict
    other_case: dict
    visit_id: str
    other_visit_id: str
    evidence_id: str
    other_evidence_id: str
    other_event_id: str = ""  # a custody event about the other collector's item
    ids: dict = field(default_factory=dict)
    checkpoint_note: str = ""  # a real signed note of the head, as an auditor would have kept it

    def headers(self, role: str) -> dict:
        return dict(self.users[role].headers)

    def path(self, template: str, *, other: bool = False) -> str:
        """Fill `{case_id}`-style parameters with our own objects (or the other collector's)."""
        ids = dict(self.ids)
        if other:
            ids.update(case_id=self.other_case["id"], visit_id=self.other_visit_id,
                       evidence_id=self.other_evidence_id, collector_id=self.other_collector.id,
                       event_id=self.other_event_id)
        return template.format(**ids)


def checked_in_visit(app, case: dict, collector_id: str, scheduled_by: str) -> str:
    """A visit in progress, as a real check-in leaves it (time and place of arrival recorded)."""
    from visits.models import Visit

    visit_id = make_visit(app, case, collector_id, scheduled_by)
    home = next(a for a in case["addresses"] if a["kind"] == "home")
    with app.extensions["fieldproof"].db.transaction() as session:
        visit = session.get(Visit, visit_id)
        visit.checked_in_at, visit.checked_in_by = visit.window_start + timedelta(minutes=5), collector_id
        visit.check_in_lat, visit.check_in_lon = home["lat"], home["lon"]
    return visit_id


def upload(client, user, visit_id: str, data: bytes) -> dict:
    from tests.evidence_corpus import capture, multipart

    response = client.post("/api/v1/evidence", data=multipart(capture(visit_id, data), data),
                           headers=user.headers, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def build(app, client, factory) -> HardWorld:
    users = {role: factory.user(role) for role in ROLES}
    other = factory.user("collector")
    case = factory.case(collector=users["collector"], supervisor=users["supervisor"])
    other_case = factory.case(collector=other, supervisor=users["supervisor"])
    visit_id = checked_in_visit(app, case, users["collector"].id, users["supervisor"].id)
    other_visit_id = checked_in_visit(app, other_case, other.id, users["supervisor"].id)
    mine = upload(client, users["collector"], visit_id, photo(colour=(10, 20, 30)))
    theirs = upload(client, other, other_visit_id, photo(colour=(30, 20, 10)))
    world = HardWorld(users=users, other_collector=other, case=case, other_case=other_case, visit_id=visit_id,
                      other_visit_id=other_visit_id, evidence_id=mine["id"], other_evidence_id=theirs["id"])
    world.ids = {"case_id": case["id"], "visit_id": visit_id, "evidence_id": mine["id"],
                 "collector_id": users["collector"].id, "user_id": users["collector"].id,
                 "packet_id": "00000000-0000-4000-8000-000000000001",
                 "verification_id": "00000000-0000-4000-8000-000000000002",
                 "event_id": custody_event_id(client, users["collector"], mine["id"])}
    world.other_event_id = custody_event_id(client, other, theirs["id"])
    creditors = client.get("/api/v1/creditors", headers=users["admin"].headers).get_json()
    portfolios = client.get(f"/api/v1/creditors/{creditors[0]['id']}/portfolios", headers=users["admin"].headers)
    world.ids.update(creditor_id=creditors[0]["id"], portfolio_id=portfolios.get_json()[0]["id"],
                     placement_id="00000000-0000-4000-8000-000000000003")
    head = client.get("/api/v1/ledger/head", headers=users["auditor"].headers)
    assert head.status_code == 200, head.get_json()
    world.checkpoint_note = head.get_json()["note"]
    return world


def custody_event_id(client, user, evidence_id: str) -> str:
    trail = client.get(f"/api/v1/evidence/{evidence_id}/custody", headers=user.headers)
    assert trail.status_code == 200, trail.get_json()
    return trail.get_json()[0]["id"]


def device_key() -> str:
    return base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode()


def now_text(offset_hours: int = 8) -> str:
    return datetime.now(timezone(timedelta(hours=offset_hours))).isoformat(timespec="seconds")


def valid_bodies(world: HardWorld) -> dict[tuple[str, str], tuple[str, dict]]:
    """(METHOD, path template) → (role that may call it, a body that passes validation)."""
    sha = "ab" * 32
    start = (utcnow() + timedelta(days=1)).astimezone(SHANGHAI).replace(hour=10, minute=0, second=0, microsecond=0)
    home = next(a for a in world.case["addresses"] if a["kind"] == "home")
    capture = {"visit_id": world.visit_id, "kind": "photo", "sha256": sha, "captured_at": now_text(),
               "lat": 31.2354, "lon": 121.5055, "accuracy_m": 8.0,
               "consent": {"subject": "granted", "third_parties_present": False}}
    case = {"reference": "HARD-0001", "debtor": {"name": "Zhang San", "national_id": "110101199001011234",
                                                 "phone": "+86 139 0000 0000"},
            "card_last4": "1234", "currency": "CNY", "amount_overdue": "100.00", "days_past_due": 30,
            "jurisdiction": "CN", "assigned_collector_id": world.users["collector"].id,
            "addresses": [{"kind": "home", "line": "1 Road", "city": "Shanghai", "country": "CN",
                           "lat": 31.2, "lon": 121.5}]}
    return {
        ("POST", "/api/v1/auth/tokens"): (None, {"username": world.users["legal"].username,
                                                 "password": "correct horse battery"}),
        ("POST", "/api/v1/users"): ("admin", {"username": "hardened_user", "role": "legal",
                                              "password": "a long enough password"}),
        ("PATCH", "/api/v1/users/{user_id}"): ("admin", {"display_name": "Renamed"}),
        ("POST", "/api/v1/devices"): ("collector", {"label": "phone", "public_key": device_key()}),
        ("POST", "/api/v1/cases"): ("supervisor", case),
        ("PATCH", "/api/v1/cases/{case_id}"): ("supervisor", {"days_past_due": 31}),
        ("POST", "/api/v1/visits"): ("supervisor", {
            "case_id": world.case["id"], "address_id": home["id"], "collector_id": world.users["collector"].id,
            "window_start": start.isoformat(), "window_end": (start + timedelta(hours=1)).isoformat()}),
        ("POST", "/api/v1/visits/{visit_id}/check-in"): ("collector", {
            "at": now_text(), "lat": 31.2354, "lon": 121.5055, "accuracy_m": 5.0}),
        ("POST", "/api/v1/visits/{visit_id}/check-out"): ("collector", {
            "at": now_text(), "lat": 31.2354, "lon": 121.5055, "outcome": "promise_to_pay",
            "promise": {"amount": "50.00", "due_date": (utcnow() + timedelta(days=7)).date().isoformat()}}),
        ("POST", "/api/v1/visits/{visit_id}/cancel"): ("supervisor", {"reason": "debtor asked for another day"}),
        ("POST", "/api/v1/visits/{visit_id}/reschedule"): ("supervisor", {
            "window_start": (start + timedelta(days=1)).isoformat(),
            "window_end": (start + timedelta(days=1, hours=1)).isoformat(), "reason": "debtor asked"}),
        ("POST", "/api/v1/visits/{visit_id}/notes"): ("collector", {"text": "spoke at the door", "at": now_text(),
                                                                    "lat": 31.2354, "lon": 121.5055}),
        ("POST", "/api/v1/evidence/uploads"): ("collector", {**capture, "size": 1234}),
        ("POST", "/api/v1/evidence/{evidence_id}/redactions"): ("legal", {
            "regions": [{"x": 1, "y": 1, "width": 10, "height": 10}], "reason": "bystander face"}),
        ("POST", "/api/v1/evidence/{evidence_id}/legal-hold"): ("legal", {"reason": "litigation"}),
        ("POST", "/api/v1/verifications"): ("auditor", {"scope": "case", "id": world.case["id"]}),
        ("POST", "/api/v1/ledger/checkpoints/verify"): ("auditor", {"note": world.checkpoint_note}),
        ("POST", "/api/v1/ledger/witnesses"): ("admin", {"name": "audit.example/w", "vkey": _witness_vkey()}),
        ("POST", "/api/v1/ledger/cosignatures"): ("auditor", {"note": world.checkpoint_note + _cosignature(
            world.checkpoint_note)}),
        ("POST", "/api/v1/cases/{case_id}/packets"): ("legal", {"language": "en", "bates_prefix": "HARD"}),
        ("POST", "/api/v1/cases/{case_id}/notices"): ("supervisor", {
            "template": "overdue", "language": "zh-CN", "mailed_at": now_text(),
            "itemization": {"date": "2026-01-01", "amount": world.case["amount_overdue"]}}),
        ("POST", "/api/v1/cases/{case_id}/contacts"): ("collector", {
            "channel": "letter", "at": now_text(), "outcome": "sent", "letter_method": "post", "template": "t1"}),
        ("POST", "/api/v1/cases/{case_id}/contacts/check"): ("collector", {"channel": "letter", "at": now_text()}),
        ("PATCH", "/api/v1/cases/{case_id}/plan"): ("supervisor", {
            "actions": [{"kind": "call", "due_on": utcnow().date().isoformat()}]}),
        ("POST", "/api/v1/creditors"): ("admin", {"code": "HARD-BANK", "name": "Hardened Bank"}),
        ("POST", "/api/v1/creditors/{creditor_id}/portfolios"): ("admin", {"code": "HARD-P", "name": "Cards"}),
    }


def role_for(operation: dict) -> str | None:
    """A role the operation admits (None: no token needed)."""
    roles = operation.get("x-roles")
    if not roles:
        return None
    return "admin" if "any" in roles or "admin" in roles else roles[0]


_WITNESS_SEED = bytes(range(32))


def _witness_vkey() -> str:
    from custody.ledger.cosignature import COSIGNATURE_TYPE, verifier_key

    key = Ed25519PrivateKey.from_private_bytes(_WITNESS_SEED)
    return verifier_key("audit.example/w", key.public_key().public_bytes_raw(), COSIGNATURE_TYPE)


def _cosignature(note: str) -> str:
    """A witness's cosignature line on the note's checkpoint (the witness need not be registered)."""
    from custody.ledger.cosignature import cosignature_line

    body = note.split("\n\n", 1)[0] + "\n"
    return cosignature_line(Ed25519PrivateKey.from_private_bytes(_WITNESS_SEED), "audit.example/w", body.encode(),
                            1_700_000_000)
