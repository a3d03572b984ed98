"""Packets over HTTP: build through the job, download, verify offline; consent, integrity, versions, roles."""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime, timedelta

import pypdf
import pytest
from sqlalchemy import func, select

from custody.models import CustodyEvent
from legal_docs.verify_bundle import verify_bundle
from tests.evidence_corpus import SHANGHAI, photo

PROBLEM = "application/problem+json"


def wait(app) -> None:
    assert app.extensions["fieldproof"].jobs.wait_idle(120)


def upload(client, world, *, minutes_ago: int, colour=(200, 40, 40), **overrides) -> dict:
    """A real JPEG captured `minutes_ago` (capture order, not upload order, numbers exhibits)."""
    at = datetime.now(SHANGHAI) - timedelta(minutes=minutes_ago)
    response = world.upload(client, photo((640, 480), at=at, colour=colour), at=at, **overrides)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def request(client, world, user=None, **body) -> dict:
    response = client.post(f"/api/v1/cases/{world.case['id']}/packets", json={"language": "en", **body},
                           headers=(user or world.legal).headers)
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def build(client, app, world, user=None, **body) -> dict:
    accepted = request(client, world, user, **body)
    wait(app)
    response = client.get(f"/api/v1/packets/{accepted['id']}", headers=world.legal.headers)
    assert response.status_code == 200
    return response.get_json()


def packet_custody(app, packet_id: str):
    """The packet's custody events: it is their subject, never an evidence item."""
    with app.extensions["fieldproof"].db.transaction() as session:
        events = session.scalars(select(CustodyEvent).where(CustodyEvent.subject_id == packet_id)
                                 .order_by(CustodyEvent.ledger_index)).all()
        assert session.scalar(select(func.count()).select_from(CustodyEvent)
                              .where(CustodyEvent.evidence_id == packet_id)) == 0
        return [(e.type, e.sha256, e.actor_id, e.details) for e in events]


def test_packet_is_built_downloaded_and_its_bundle_verifies_offline(client, app, world, factory, tmp_path):
    late = upload(client, world, minutes_ago=5, colour=(10, 120, 30))
    early = upload(client, world, minutes_ago=20)
    note = client.post(f"/api/v1/visits/{world.visit_id}/notes", headers=world.collector.headers,
                       json={"text": "债务人不在家。Debtor not at home.",
                             "at": (datetime.now(SHANGHAI) - timedelta(minutes=10)).isoformat()}).get_json()
    accepted = request(client, world, bates_prefix="FP")
    assert accepted["status"] == "queued" and accepted["version"] == 1
    wait(app)
    packet = client.get(f"/api/v1/packets/{accepted['id']}", headers=world.legal.headers).get_json()
    assert packet["status"] == "ready", packet["error"]
    assert packet["progress"] == 1.0 and packet["exhibits_done"] == packet["exhibits_total"] == 3
    assert [e["evidence_id"] for e in packet["exhibits"]] == [early["id"], note["id"], late["id"]]
    assert packet["exhibits"][0]["bates_first"].startswith("FP") and packet["pages"] >= 4
    assert [e["sha256"] for e in packet["exhibits"]] == [early["sha256"], note["sha256"], late["sha256"]]
    assert len(packet["volumes"]) == 1 and packet["warnings"] == [] and packet["withheld"] == []

    pdf = client.get(f"/api/v1/packets/{packet['id']}/pdf", headers=world.legal.headers)
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert hashlib.sha256(pdf.data).hexdigest() == packet["volumes"][0]["sha256"]
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.data)).pages)
    assert early["sha256"] in text and packet["exhibits"][2]["bates_last"] in text
    assert "4321" in text and "Li Wei" in text and "1985" in text
    assert "110101198501" not in text  # the national id shows only its last four digits and birth year

    bundle = client.get(f"/api/v1/packets/{packet['id']}/bundle", headers=factory.user("auditor").headers)
    assert bundle.status_code == 200 and bundle.headers["Content-Type"] == "application/zip"
    path = tmp_path / "bundle.zip"
    path.write_bytes(bundle.data)
    report = verify_bundle(path)
    assert report.ok, report.failures
    assert report.exhibits == 3 and report.events_checked >= 9
    with zipfile.ZipFile(path) as archive:
        manifest_bytes = archive.read("manifest.json")
    assert hashlib.sha256(manifest_bytes).hexdigest() == packet["manifest_sha256"]
    manifest = json.loads(manifest_bytes)
    assert manifest["checkpoint"]["tree_size"] == packet["checkpoint_tree_size"]
    for exhibit in manifest["exhibits"]:
        assert [e["type"] for e in exhibit["custody"]][-1] == "packeted"

    events = packet_custody(app, packet["id"])
    assert [e[0] for e in events] == ["packet_built", "downloaded", "downloaded"]
    assert events[0][1] == packet["bundle_sha256"]
    assert (events[1][1], events[1][3]["file"]) == (packet["volumes"][0]["sha256"], "pdf")
    assert (events[2][1], events[2][3]["file"]) == (packet["bundle_sha256"], "bundle")
    timeline = client.get(f"/api/v1/cases/{world.case['id']}/timeline?page_size=100",
                          headers=world.legal.headers).get_json()
    assert [e["type"] for e in timeline if e["type"].startswith("packet_")] == ["packet_requested", "packet_built"]


def test_every_build_is_a_new_version_and_older_versions_are_kept(client, app, world):
    upload(client, world, minutes_ago=3)
    first = build(client, app, world)
    second = build(client, app, world, language="zh-CN")
    assert (first["version"], second["version"]) == (1, 2)
    assert second["status"] == "ready" and second["language"] == "zh-CN"
    assert second["bates_prefix"] == world.case["reference"].replace("-", "_")
    listing = client.get(f"/api/v1/cases/{world.case['id']}/packets", headers=world.legal.headers)
    assert listing.status_code == 200
    assert [p["version"] for p in listing.get_json()] == [2, 1]
    assert json.loads(listing.headers["X-Pagination"])["total"] == 2
    pdf = client.get(f"/api/v1/packets/{first['id']}/pdf?volume=1", headers=world.legal.headers)
    assert hashlib.sha256(pdf.data).hexdigest() == first["volumes"][0]["sha256"]
    text = pypdf.PdfReader(io.BytesIO(client.get(f"/api/v1/packets/{second['id']}/pdf",
                                                 headers=world.legal.headers).data)).pages[0].extract_text()
    assert "证据" in text or "催收" in text


def test_a_blob_changed_on_disk_fails_the_build_and_names_the_item(client, app, world):
    good = upload(client, world, minutes_ago=9)
    bad = upload(client, world, minutes_ago=4, colour=(1, 2, 3))
    store = app.extensions["fieldproof"].blobs
    path = store.root / next(k for k in store.iter_keys() if k.endswith(bad["sha256"]))
    path.chmod(0o644)
    data = path.read_bytes()
    path.write_bytes(data[:-3] + b"\x00\x00\x00")
    packet = build(client, app, world)
    assert packet["status"] == "failed"
    assert bad["id"] in packet["error"] and good["id"] not in packet["error"]
    assert packet["exhibits"] == [] and packet["volumes"] == []
    assert client.get(f"/api/v1/packets/{packet['id']}/bundle", headers=world.legal.headers).status_code == 409
    timeline = client.get(f"/api/v1/cases/{world.case['id']}/timeline?page_size=100",
                          headers=world.legal.headers).get_json()
    failed = [e for e in timeline if e["type"] == "packet_failed"]
    assert len(failed) == 1 and failed[0]["details"]["evidence_id"] == bad["id"]


def test_third_party_item_is_withheld_without_a_redacted_copy_and_shown_through_one(client, app, world):
    plain = upload(client, world, minutes_ago=12)
    crowd = upload(client, world, minutes_ago=8, colour=(90, 90, 200),
                   consent={"subject": "granted", "third_parties_present": True})
    packet = build(client, app, world)
    assert packet["status"] == "ready"
    assert [e["evidence_id"] for e in packet["exhibits"]] == [plain["id"]]
    assert packet["withheld"][0]["evidence_id"] == crowd["id"] and packet["withheld"][0]["replaced_by_exhibit"] is None
    assert len(packet["warnings"]) == 1 and crowd["id"] in packet["warnings"][0]

    redacted = client.post(f"/api/v1/evidence/{crowd['id']}/redactions", headers=world.legal.headers,
                           json={"regions": [{"x": 0, "y": 0, "width": 200, "height": 200}],
                                 "reason": "bystander's face", "mode": "black"}).get_json()
    packet = build(client, app, world)
    assert [e["evidence_id"] for e in packet["exhibits"]] == [plain["id"], redacted["id"]]
    assert packet["exhibits"][1]["derived_from"] == crowd["id"]
    assert packet["withheld"] == [{"evidence_id": crowd["id"], "kind": "photo", "sha256": crowd["sha256"],
                                   "reason": "third parties present without their consent; shown only redacted",
                                   "replaced_by_exhibit": 2}]
    assert len(packet["warnings"]) == 1 and redacted["id"] in packet["warnings"][0]
    original_events = client.get(f"/api/v1/evidence/{crowd['id']}/custody", headers=world.legal.headers).get_json()
    assert "packeted" not in [e["type"] for e in original_events]


def test_refused_consent_is_left_out_unless_a_legal_user_overrides_with_a_reason(client, app, world, factory):
    upload(client, world, minutes_ago=15)
    refused = upload(client, world, minutes_ago=6, colour=(7, 7, 7),
                     consent={"subject": "refused", "third_parties_present": False})
    packet = build(client, app, world)
    assert refused["id"] not in [e["evidence_id"] for e in packet["exhibits"]]
    assert packet["withheld"][0]["reason"] == "the subject refused consent"
    assert any(refused["id"] in w and "refused" in w for w in packet["warnings"])

    override = [{"evidence_id": refused["id"], "reason": "the debtor's own statement is the disputed fact"}]
    admin = factory.user("admin")
    forbidden = client.post(f"/api/v1/cases/{world.case['id']}/packets", headers=admin.headers,
                            json={"language": "en", "consent_overrides": override})
    assert forbidden.status_code == 403 and forbidden.headers["Content-Type"] == PROBLEM

    packet = build(client, app, world, consent_overrides=override)
    assert refused["id"] in [e["evidence_id"] for e in packet["exhibits"]] and packet["withheld"] == []
    assert packet["consent_overrides"] == override
    events = client.get(f"/api/v1/evidence/{refused['id']}/custody", headers=world.legal.headers).get_json()
    packeted = [e for e in events if e["type"] == "packeted"]
    assert len(packeted) == 1 and packeted[0]["actor_id"] == world.legal.id
    assert json.loads(packeted[0]["leaf"])["details"]["consent_override"]["reason"] == override[0]["reason"]


def test_requests_are_validated(client, app, world, factory):
    item = upload(client, world, minutes_ago=2)
    other_case = factory.case(collector=world.collector, supervisor=world.supervisor)
    cases = f"/api/v1/cases/{world.case['id']}/packets"
    wrong_item = client.post(cases, headers=world.legal.headers, json={"language": "en", "evidence_ids": ["nope"]})
    assert wrong_item.status_code == 422 and "evidence_ids" in wrong_item.get_json()["errors"]
    not_refused = client.post(cases, headers=world.legal.headers, json={
        "language": "en", "consent_overrides": [{"evidence_id": item["id"], "reason": "because"}]})
    assert not_refused.status_code == 422 and "consent_overrides" in not_refused.get_json()["errors"]
    for body in ({"language": "fr"}, {"language": "en", "bates_prefix": "lower"}, {"language": "en", "extra": 1}):
        response = client.post(cases, headers=world.legal.headers, json=body)
        assert response.status_code == 422 and response.headers["Content-Type"] == PROBLEM
    assert client.post(f"/api/v1/cases/{other_case['id']}/packets", headers=world.legal.headers,
                       json={"language": "en", "evidence_ids": [item["id"]]}).status_code == 422
    missing = client.post("/api/v1/cases/no-such-case/packets", headers=world.legal.headers, json={"language": "en"})
    assert missing.status_code == 404 and missing.headers["Content-Type"] == PROBLEM
    chosen = build(client, app, world, evidence_ids=[item["id"]])
    assert [e["evidence_id"] for e in chosen["exhibits"]] == [item["id"]]
    assert client.get(f"/api/v1/packets/{chosen['id']}/pdf?volume=2", headers=world.legal.headers).status_code == 404
    assert client.get("/api/v1/packets/unknown", headers=world.legal.headers).status_code == 404


@pytest.mark.parametrize("role, read, build_status", [
    ("collector", 403, 403), ("supervisor", 403, 403), ("auditor", 200, 403), ("legal", 200, 202), ("admin", 200, 202),
])
def test_roles(client, app, world, factory, role, read, build_status):
    upload(client, world, minutes_ago=2)
    packet = build(client, app, world)
    user = factory.user(role)
    response = client.post(f"/api/v1/cases/{world.case['id']}/packets", headers=user.headers, json={"language": "en"})
    assert response.status_code == build_status
    wait(app)
    for path in (f"/packets/{packet['id']}", f"/packets/{packet['id']}/pdf", f"/packets/{packet['id']}/bundle",
                 f"/cases/{world.case['id']}/packets"):
        response = client.get(f"/api/v1{path}", headers=user.headers)
        assert response.status_code == read, path
        if read == 403:
            assert response.headers["Content-Type"] == PROBLEM


def test_build_job_is_idempotent_and_a_dead_attempt_starts_over(client, app, world, monkeypatch):
    from legal_docs.jobs import build_packet
    from legal_docs.models import Packet

    runtime = app.extensions["fieldproof"]
    held = []
    monkeypatch.setattr(runtime.jobs, "submit", lambda name, payload: held.append((name, payload)))
    item = upload(client, world, minutes_ago=2)
    accepted = request(client, world)
    assert held == [("packet.build", {"packet_id": accepted["id"]})]
    early = client.get(f"/api/v1/packets/{accepted['id']}/pdf", headers=world.legal.headers)
    assert early.status_code == 409 and early.headers["Content-Type"] == PROBLEM
    with runtime.db.transaction() as session:  # an attempt that died half-way
        packet = session.get(Packet, accepted["id"])
        packet.status, packet.progress, packet.warnings = "building", 0.7, ["left over"]
    build_packet(runtime, accepted["id"])
    ready = client.get(f"/api/v1/packets/{accepted['id']}", headers=world.legal.headers).get_json()
    assert ready["status"] == "ready" and ready["warnings"] == []
    build_packet(runtime, accepted["id"])
    again = client.get(f"/api/v1/packets/{accepted['id']}", headers=world.legal.headers).get_json()
    assert again == ready
    events = client.get(f"/api/v1/evidence/{item['id']}/custody", headers=world.legal.headers).get_json()
    assert [e["type"] for e in events].count("packeted") == 1
    assert [e[0] for e in packet_custody(app, accepted["id"])] == ["packet_built"]
