"""Console flows through the test client: evidence views are custody events, redaction, packets, audit."""
import io
import json
import re

from custody.models import CustodyEvent
from sqlalchemy import func, select
from tests.evidence_corpus import photo
from tests.evidence_world import world  # noqa: F401 - fixture


def sealed_photo(client, world, **overrides) -> dict:  # noqa: F811
    response = world.upload(client, photo(size=(320, 240)), **overrides)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def custody_count(app, evidence_id, type_=None, *, about=CustodyEvent.evidence_id):
    with app.extensions["fieldproof"].db.transaction() as session:
        query = select(func.count()).select_from(CustodyEvent).where(about == evidence_id)
        if type_:
            query = query.where(CustodyEvent.type == type_)
        return session.scalar(query)


def test_case_page_shows_gallery_and_visits(console, client, world):  # noqa: F811
    item = sealed_photo(client, world)
    console.login(world.legal)
    page = client.get(f"/console/cases/{world.case['id']}").get_data(as_text=True)
    assert f"/console/evidence/{item['id']}/thumbnail" in page
    assert "consent granted" in page or "consent not asked" in page
    assert "Visits" in page


def test_viewing_evidence_is_a_custody_event(app, console, client, world):  # noqa: F811
    item = sealed_photo(client, world)
    console.login(world.legal)
    before = custody_count(app, item["id"])
    page = client.get(f"/console/evidence/{item['id']}").get_data(as_text=True)
    assert item["sha256"] in page and "Chain of custody" in page
    content = client.get(f"/console/evidence/{item['id']}/content")
    assert content.status_code == 200 and content.headers["ETag"] == f"\"{item['sha256']}\""
    assert custody_count(app, item["id"]) == before + 1
    client.get(f"/console/evidence/{item['id']}/thumbnail")
    assert custody_count(app, item["id"], "viewed") >= 1


def test_legal_user_redacts_a_photo(app, console, client, world):  # noqa: F811
    item = sealed_photo(client, world)
    console.login(world.legal)
    response = console.post(f"/console/evidence/{item['id']}/redactions",
                            {"regions": json.dumps([{"x": 10, "y": 10, "width": 80, "height": 60}]),
                             "reason": "third-party face", "mode": "black"})
    assert response.status_code == 302
    derived_id = response.headers["Location"].rsplit("/", 1)[-1]
    page = client.get(f"/console/evidence/{derived_id}").get_data(as_text=True)
    assert item["id"] in page and "third-party face" in page
    assert custody_count(app, item["id"], "derived") == 1


def test_redaction_needs_regions_and_reason_and_the_legal_role(console, client, world, factory):  # noqa: F811
    item = sealed_photo(client, world)
    console.login(world.legal)
    assert console.post(f"/console/evidence/{item['id']}/redactions", {"regions": "[]", "reason": "x"}).status_code == 422
    console.post("/console/logout")
    console.login(factory.user("auditor"))
    assert console.post(f"/console/evidence/{item['id']}/redactions",
                        {"regions": json.dumps([{"x": 1, "y": 1, "width": 5, "height": 5}]),
                         "reason": "x"}).status_code == 403


def test_collector_cannot_open_evidence_of_others(console, client, world, factory):  # noqa: F811
    item = sealed_photo(client, world)
    console.login(factory.user("collector"))
    assert client.get(f"/console/evidence/{item['id']}").status_code == 404
    assert client.get(f"/console/evidence/{item['id']}/content").status_code == 404


def test_packet_build_progress_and_downloads(app, console, client, world):  # noqa: F811
    sealed_photo(client, world)
    console.login(world.legal)
    form = client.get(f"/console/cases/{world.case['id']}/packets/new")
    assert form.status_code == 200
    response = console.post(f"/console/cases/{world.case['id']}/packets", {"language": "en", "bates_prefix": "TEST"})
    assert response.status_code == 302
    packet_id = response.headers["Location"].rsplit("/", 1)[-1]
    assert app.extensions["fieldproof"].jobs.wait_idle(120)
    status = client.get(f"/console/packets/{packet_id}/status").get_json()
    assert status["status"] == "ready" and status["progress"] == 1.0
    page = client.get(f"/console/packets/{packet_id}").get_data(as_text=True)
    assert "download-bundle" in page
    pdf = client.get(f"/console/packets/{packet_id}/pdf?volume=1")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    bundle = client.get(f"/console/packets/{packet_id}/bundle")
    assert bundle.status_code == 200 and bundle.data[:2] == b"PK"
    assert custody_count(app, packet_id, "downloaded", about=CustodyEvent.subject_id) == 2


def test_auditor_runs_a_verification_and_verifies_bundles(app, console, client, world, factory, tmp_path):  # noqa: F811
    sealed_photo(client, world)
    console.login(factory.user("auditor"))
    audit = client.get("/console/audit").get_data(as_text=True)
    assert "Current checkpoint" in audit and re.search(r"[0-9a-f]{64}", audit)
    response = console.post("/console/verifications", {"scope": "all"})
    assert response.status_code == 302
    run_id = response.headers["Location"].rsplit("/", 1)[-1]
    assert app.extensions["fieldproof"].jobs.wait_idle(120)
    assert client.get(f"/console/verifications/{run_id}/status").get_json()["status"] == "passed"
    page = client.get(f"/console/verifications/{run_id}").get_data(as_text=True)
    assert "passed" in page
    garbage = console.post("/console/bundles/verify", {"bundle": (io.BytesIO(b"not a zip"), "bundle.zip")},
                           content_type="multipart/form-data")
    assert garbage.status_code == 200 and "Bundle rejected" in garbage.get_data(as_text=True)


def test_a_verification_page_shows_the_published_mirror_it_checked(app, console, client, factory, tmp_path,
                                                                    monkeypatch):
    runtime = app.extensions["fieldproof"]
    monkeypatch.setattr(runtime, "settings", runtime.settings.with_overrides(ledger_mirror=str(tmp_path / "gone")))
    console.login(factory.user("auditor"))
    run_id = console.post("/console/verifications", {"scope": "all"}).headers["Location"].rsplit("/", 1)[-1]
    assert runtime.jobs.wait_idle(120)
    page = client.get(f"/console/verifications/{run_id}").get_data(as_text=True)
    assert "Published mirror" in page and str(tmp_path / "gone") in page and "mirror_unreachable" in page


def test_only_auditors_and_admins_open_the_audit_page(console, client, factory):
    console.login(factory.user("legal"))
    assert client.get("/console/audit").status_code == 403
