"""Evidence over HTTP: capture, exact reads with custody, direct uploads, notes, redactions, holds, sweep."""
from __future__ import annotations

import base64
import io
import json
import os
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from PIL import Image

from core.clock import utcnow
from evidence.signatures import signed_payload
from evidence.storage.filesystem import FilesystemBlobStore
from tests.evidence_corpus import capture, md5_b64, photo, sha256, wav


def stored_blobs(app) -> set[str]:
    return set(app.extensions["fieldproof"].blobs.iter_keys())


def custody_types(client, world, item_id, user=None):
    response = client.get(f"/api/v1/evidence/{item_id}/custody", headers=(user or world.collector).headers)
    assert response.status_code == 200
    return [event["type"] for event in response.get_json()]


def test_photo_is_sealed_with_thumbnail_exif_and_no_presence_flags(client, world, app):
    data = photo()
    response = world.upload(client, data)
    assert response.status_code == 201, response.get_json()
    item = response.get_json()
    assert item["status"] == "sealed" and item["sha256"] == sha256(data) and item["size"] == len(data)
    assert item["media_type"] == "image/jpeg" and item["kind"] == "photo"
    assert item["exif"]["model"] == "FieldCam 3" and item["exif"]["gps_lat"] == pytest.approx(31.2354, abs=1e-3)
    assert item["presence_flags"] == []
    assert item["signature_status"] == "unsigned"
    assert item["consent"] == {"subject": "granted", "third_parties_present": False}
    assert item["retain_until"] > item["sealed_at"]
    assert item["thumbnail"]["sha256"]
    assert custody_types(client, world, item["id"]) == ["created", "sealed"]
    assert len(stored_blobs(app)) == 2  # original and thumbnail


def test_content_is_the_exact_bytes_and_each_read_is_a_custody_event(client, world):
    data = photo((200, 120))
    item = world.upload(client, data).get_json()
    for _ in range(2):
        response = client.get(f"/api/v1/evidence/{item['id']}/content", headers=world.supervisor.headers)
        assert response.status_code == 200
        assert response.data == data
        assert response.headers["Content-Type"] == "image/jpeg"
        assert response.headers["Repr-Digest"] == f"sha-256=:{base64.b64encode(bytes.fromhex(sha256(data))).decode()}:"
    events = client.get(f"/api/v1/evidence/{item['id']}/custody", headers=world.collector.headers).get_json()
    assert [e["type"] for e in events] == ["created", "sealed", "downloaded", "downloaded"]
    assert events[-1]["actor_id"] == world.supervisor.id
    assert all(json.loads(e["leaf"])["sha256"] == item["sha256"] for e in events)
    assert [e["ledger_index"] for e in events] == sorted(e["ledger_index"] for e in events)


def test_thumbnail_is_small_upright_jpeg_without_metadata(client, world):
    item = world.upload(client, photo((1600, 900))).get_json()
    response = client.get(f"/api/v1/evidence/{item['id']}/thumbnail", headers=world.legal.headers)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/jpeg"
    thumb = Image.open(io.BytesIO(response.data))
    assert max(thumb.size) == 512 and not thumb.getexif()
    assert custody_types(client, world, item["id"])[-1] == "viewed"


def test_presence_flags_when_exif_gps_is_far_from_the_claim(client, world):
    data = photo(where=(31.30, 121.60))
    item = world.upload(client, data).get_json()
    codes = {flag["code"] for flag in item["presence_flags"]}
    assert {"exif_gps_far_from_claimed", "exif_gps_far_from_address"} <= codes
    assert item["status"] == "sealed"


def test_case_lists_its_evidence_and_the_timeline_shows_it_without_personal_data(client, world):
    first = world.upload(client, photo(colour=(1, 2, 3))).get_json()
    second = world.upload(client, wav(), kind="audio", filename="a.wav").get_json()
    response = client.get(f"/api/v1/cases/{world.case['id']}/evidence", headers=world.collector.headers)
    assert response.status_code == 200
    assert [i["id"] for i in response.get_json()] == [first["id"], second["id"]]
    assert json.loads(response.headers["X-Pagination"])["total"] == 2
    only_audio = client.get(f"/api/v1/cases/{world.case['id']}/evidence?kind=audio", headers=world.collector.headers)
    assert [i["id"] for i in only_audio.get_json()] == [second["id"]]
    timeline = client.get(f"/api/v1/cases/{world.case['id']}/timeline", headers=world.supervisor.headers).get_json()
    sealed = [e for e in timeline if e["type"] == "evidence_sealed"]
    assert [e["subject_id"] for e in sealed] == [first["id"], second["id"]]
    text = json.dumps(sealed)
    assert "Li Wei" not in text and "31.23" not in text


def test_other_collector_cannot_see_the_item(client, world, factory):
    item = world.upload(client, photo()).get_json()
    stranger = factory.user("collector")
    for path in ("", "/content", "/thumbnail", "/custody"):
        assert client.get(f"/api/v1/evidence/{item['id']}{path}", headers=stranger.headers).status_code == 404
    assert client.get(f"/api/v1/cases/{world.case['id']}/evidence", headers=stranger.headers).status_code == 404


def test_only_collectors_capture(client, world):
    response = world.upload(client, photo(), user=world.supervisor)
    assert response.status_code == 403


def test_note_is_a_sealed_utf8_object(client, world):
    text = "债务人不在家，邻居说周五回来。"
    response = client.post(f"/api/v1/visits/{world.visit_id}/notes", headers=world.collector.headers,
                           json={"text": text, "at": "2026-03-01T10:15:00+08:00", "lat": 31.2354, "lon": 121.5055})
    assert response.status_code == 201, response.get_json()
    item = response.get_json()
    assert item["kind"] == "note" and item["status"] == "sealed"
    assert item["sha256"] == sha256(text.encode("utf-8")) and item["media_type"].startswith("text/plain")
    assert item["captured_at_device"] == "2026-03-01T10:15:00+08:00"
    content = client.get(f"/api/v1/evidence/{item['id']}/content", headers=world.collector.headers)
    assert content.data.decode("utf-8") == text
    assert client.post(f"/api/v1/visits/{world.other_visit_id}/notes", headers=world.collector.headers,
                       json={"text": "x", "at": "2026-03-01T10:15:00+08:00"}).status_code == 404


def test_direct_upload_on_the_filesystem_store(client, world, app):
    data = photo((300, 200))
    body = capture(world.visit_id, data) | {"size": len(data)}
    response = client.post("/api/v1/evidence/uploads", json=body, headers=world.collector.headers)
    assert response.status_code == 201, response.get_json()
    pending = response.get_json()
    assert pending["status"] == "pending_upload"
    upload = pending["upload"]
    assert upload["method"] == "PUT" and upload["url"].endswith(f"/api/v1/evidence/{pending['id']}/content")
    early = client.post(f"/api/v1/evidence/{pending['id']}/complete", headers=world.collector.headers)
    assert early.status_code == 409
    for rendition in ("content", "thumbnail"):
        unread = client.get(f"/api/v1/evidence/{pending['id']}/{rendition}", headers=world.collector.headers)
        assert unread.status_code == 409 and "pending_upload" in unread.get_json()["detail"]
    wrong = client.put(upload["url"], data=data[:-1] + b"\x00", headers=world.collector.headers,
                       content_type="application/octet-stream")
    assert wrong.status_code == 422 and wrong.get_json()["code"] == "hash_mismatch"
    assert stored_blobs(app) == set()
    put = client.put(upload["url"], data=data, headers=world.collector.headers, content_type="application/octet-stream")
    assert put.status_code == 204
    done = client.post(f"/api/v1/evidence/{pending['id']}/complete", headers=world.collector.headers)
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["status"] == "sealed" and done.get_json()["thumbnail"]
    assert custody_types(client, world, pending["id"]) == ["created", "sealed"]
    again = client.post(f"/api/v1/evidence/{pending['id']}/complete", headers=world.collector.headers)
    assert again.status_code == 409


def test_complete_rehashes_the_stored_object_and_rejects_tampering(client, world, app):
    """Bytes swapped in the store after the upload are caught by the server's own re-hash."""
    data = photo((300, 200))
    pending = client.post("/api/v1/evidence/uploads", json=capture(world.visit_id, data) | {"size": len(data)},
                          headers=world.collector.headers).get_json()
    client.put(pending["upload"]["url"], data=data, headers=world.collector.headers,
               content_type="application/octet-stream")
    store = app.extensions["fieldproof"].blobs
    assert stored_blobs(app) == set()  # staged, not yet at a content address
    path = store.root / "staging" / pending["id"]
    path.chmod(0o644)
    path.write_bytes(data[:-1] + b"\x01")
    response = client.post(f"/api/v1/evidence/{pending['id']}/complete", headers=world.collector.headers)
    assert response.status_code == 422 and response.get_json()["code"] == "hash_mismatch"
    item = client.get(f"/api/v1/evidence/{pending['id']}", headers=world.collector.headers).get_json()
    assert item["status"] == "rejected" and item["rejection"] == "hash_mismatch"
    assert stored_blobs(app) == set() and not path.exists()  # nothing reached a content address


def _register_device(client, collector) -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    response = client.post("/api/v1/devices", json={"label": "phone", "public_key": base64.b64encode(raw).decode()},
                           headers=collector.headers)
    assert response.status_code == 201, response.get_json()
    return key, response.get_json()["id"]


def test_a_note_is_signed_by_its_device_like_a_capture(client, world):
    key, device_id = _register_device(client, world.collector)
    text, at, where = "Left the notice with the doorman.", "2026-03-01T10:15:00.250+08:00", (31.2354, 121.5055)
    payload = signed_payload(sha256=sha256(text.encode()), captured_at=at, lat=where[0], lon=where[1],
                             visit_id=world.visit_id)
    body = {"text": text, "at": at, "lat": where[0], "lon": where[1], "device_id": device_id,
            "device_signature": base64.b64encode(key.sign(payload)).decode()}
    url = f"/api/v1/visits/{world.visit_id}/notes"
    signed = client.post(url, json=body, headers=world.collector.headers)
    assert signed.status_code == 201 and signed.get_json()["signature_status"] == "signed", signed.get_json()
    forged = client.post(url, json=body | {"text": text + " (edited)"}, headers=world.collector.headers)
    assert forged.status_code == 422 and forged.get_json()["code"] == "invalid_signature"
    nowhere = {k: v for k, v in body.items() if k not in ("lat", "lon")}
    assert client.post(url, json=nowhere, headers=world.collector.headers).status_code == 422


def test_signed_capture_is_marked_signed_and_a_bad_signature_is_refused(client, world, app):
    key, device_id = _register_device(client, world.collector)
    data = photo()
    body = capture(world.visit_id, data)
    payload = signed_payload(sha256=body["sha256"], captured_at=body["captured_at"], lat=body["lat"],
                             lon=body["lon"], visit_id=body["visit_id"])
    signature = base64.b64encode(key.sign(payload)).decode()
    good = world.upload(client, data, metadata=body | {"device_id": device_id, "device_signature": signature})
    assert good.status_code == 201 and good.get_json()["signature_status"] == "signed"
    other = photo(colour=(9, 9, 9))
    forged = capture(world.visit_id, other) | {"device_id": device_id, "device_signature": signature}
    before = stored_blobs(app)
    response = world.upload(client, other, metadata=forged)
    assert response.status_code == 422 and response.get_json()["code"] == "invalid_signature"
    assert stored_blobs(app) == before


def test_redaction_is_a_new_sealed_item_pointing_at_the_original(client, world):
    data = photo((400, 300))
    original = world.upload(client, data).get_json()
    body = {"regions": [{"x": 10, "y": 10, "width": 100, "height": 80}], "reason": "bystander's face", "mode": "black"}
    assert client.post(f"/api/v1/evidence/{original['id']}/redactions", json=body,
                       headers=world.collector.headers).status_code == 403
    response = client.post(f"/api/v1/evidence/{original['id']}/redactions", json=body, headers=world.legal.headers)
    assert response.status_code == 201, response.get_json()
    derived = response.get_json()
    assert derived["derived_from"] == original["id"] and derived["status"] == "sealed"
    assert derived["redaction"]["reason"] == "bystander's face" and derived["redaction"]["regions"][0]["width"] == 100
    assert derived["sha256"] != original["sha256"] and derived["exif"] == {}
    redacted = Image.open(io.BytesIO(client.get(f"/api/v1/evidence/{derived['id']}/content",
                                                headers=world.legal.headers).data))
    assert redacted.getpixel((50, 50)) == (0, 0, 0)
    assert client.get(f"/api/v1/evidence/{original['id']}/content", headers=world.legal.headers).data == data
    assert "derived" in custody_types(client, world, original["id"])
    out_of_bounds = body | {"regions": [{"x": 390, "y": 10, "width": 100, "height": 10}]}
    refused = client.post(f"/api/v1/evidence/{original['id']}/redactions", json=out_of_bounds,
                          headers=world.legal.headers)
    assert refused.status_code == 422 and refused.get_json()["code"] == "invalid_region"


def test_legal_hold_on_and_off_is_recorded_and_enforced_by_the_store(client, world, app):
    item = world.upload(client, photo()).get_json()
    assert client.post(f"/api/v1/evidence/{item['id']}/legal-hold", json={},
                       headers=world.collector.headers).status_code == 403
    held = client.post(f"/api/v1/evidence/{item['id']}/legal-hold", json={"reason": "litigation"},
                       headers=world.legal.headers)
    assert held.status_code == 200 and held.get_json()["legal_hold"] is True
    store = app.extensions["fieldproof"].blobs
    assert store.head(item["sha256"]).legal_hold is True
    assert store.delete_if_allowed(item["sha256"]) is False
    released = client.delete(f"/api/v1/evidence/{item['id']}/legal-hold", headers=world.legal.headers)
    assert released.status_code == 200 and released.get_json()["legal_hold"] is False
    assert store.head(item["sha256"]).legal_hold is False
    assert custody_types(client, world, item["id"])[-2:] == ["legal_hold_set", "legal_hold_released"]


def test_retention_follows_the_case_jurisdiction(client, world, factory, app):
    from datetime import datetime

    from tests.evidence_world import make_visit

    us_case = factory.case(collector=world.collector, supervisor=world.supervisor, jurisdiction="US-NY")
    visit = make_visit(app, us_case, world.collector.id, world.supervisor.id)
    cn = world.upload(client, photo(colour=(3, 3, 3)), kind="photo").get_json()
    us = world.upload(client, photo(colour=(4, 4, 4)), visit_id=visit).get_json()

    def years(item):
        return (datetime.fromisoformat(item["retain_until"]) - datetime.fromisoformat(item["sealed_at"])).days / 365.25

    # The store's own 5-year period is the floor; US (3 years after activity) cannot shorten it.
    assert years(cn) == pytest.approx(5, abs=0.01) and years(us) == pytest.approx(5, abs=0.01)
    store = app.extensions["fieldproof"].blobs
    assert store.head(cn["sha256"]).is_retained()


def test_all_party_consent_state_refuses_a_recording_without_consent(client, world, factory, app):
    from tests.evidence_world import make_visit

    ca_case = factory.case(collector=world.collector, supervisor=world.supervisor, jurisdiction="US-CA")
    visit = make_visit(app, ca_case, world.collector.id, world.supervisor.id)
    data = wav()
    refused = world.upload(client, data, visit_id=visit, kind="audio", filename="a.wav",
                           consent={"subject": "not_asked", "third_parties_present": False})
    assert refused.status_code == 422
    assert refused.get_json()["violations"][0]["rule"] == "recording.consent"
    assert stored_blobs(app) == set()
    allowed = world.upload(client, data, visit_id=visit, kind="audio", filename="a.wav")
    assert allowed.status_code == 201 and allowed.get_json()["media_type"] == "audio/wav"


def test_no_update_or_delete_routes(client, world):
    item = world.upload(client, photo()).get_json()
    for method in ("put", "patch", "delete"):
        response = getattr(client, method)(f"/api/v1/evidence/{item['id']}", json={}, headers=world.supervisor.headers)
        assert response.status_code == 405
    assert client.delete(f"/api/v1/evidence/{item['id']}/custody", headers=world.supervisor.headers).status_code == 405


def sweep(settings, *args):
    from click.testing import CliRunner

    from api.cli import main

    env = {"FIELDPROOF_DATA_DIR": str(settings.data_dir), "FIELDPROOF_DATABASE_URL": settings.database_url,
           "FIELDPROOF_STORAGE_URL": settings.storage_url, "FIELDPROOF_SECRET_KEY": settings.secret_key}
    return CliRunner().invoke(main, ["storage", "sweep", *args], env=env)


def test_storage_sweep_reports_and_removes_unreferenced_blobs(app, world, client, settings):
    from evidence.storage.filesystem import FilesystemBlobStore

    runtime = app.extensions["fieldproof"]
    item = world.upload(client, photo()).get_json()
    # A crash between blob and row: bytes that no row names, stored here without any retention.
    orphan = b"orphaned bytes"
    FilesystemBlobStore(runtime.blobs.root).put_file(io.BytesIO(orphan), sha256(orphan), len(orphan))
    report = sweep(settings)
    assert report.exit_code == 1 and sha256(orphan) in report.output and item["sha256"] not in report.output
    assert runtime.blobs.exists(sha256(orphan))
    removed = sweep(settings, "--remove")
    assert removed.exit_code == 0, removed.output
    assert not runtime.blobs.exists(sha256(orphan)) and runtime.blobs.exists(item["sha256"])


def test_storage_sweep_removes_direct_uploads_never_completed(app, world, client, settings):
    runtime = app.extensions["fieldproof"]
    data = photo((300, 200))
    pending = client.post("/api/v1/evidence/uploads", json=capture(world.visit_id, data) | {"size": len(data)},
                          headers=world.collector.headers).get_json()
    put = client.put(pending["upload"]["url"], data=data, headers=world.collector.headers,
                     content_type="application/octet-stream")
    assert put.status_code == 204 and runtime.blobs.head_staging(pending["id"]) is not None
    young = sweep(settings, "--remove")  # staged just now: not abandoned yet
    assert young.exit_code == 0 and runtime.blobs.head_staging(pending["id"]) is not None, young.output

    staged = runtime.blobs.root / "staging" / pending["id"]
    long_ago = (utcnow() - timedelta(hours=25)).timestamp()
    os.utime(staged, (long_ago, long_ago))  # the phone never called complete
    report = sweep(settings)
    assert report.exit_code == 1 and f"staging/{pending['id']}\tabandoned" in report.output
    removed = sweep(settings, "--remove")
    assert removed.exit_code == 0 and f"staging/{pending['id']}\tremoved" in removed.output
    assert runtime.blobs.head_staging(pending["id"]) is None
    late = client.post(f"/api/v1/evidence/{pending['id']}/complete", headers=world.collector.headers)
    assert late.status_code == 409


def test_sweep_keeps_retained_and_held_blobs(app, world, client, settings):
    runtime = app.extensions["fieldproof"]
    orphan = b"retained orphan"
    runtime.blobs.put_file(io.BytesIO(orphan), sha256(orphan), len(orphan))
    result = sweep(settings, "--remove")
    assert result.exit_code == 1 and "kept" in result.output
    assert runtime.blobs.exists(sha256(orphan))


def test_sweep_keeps_packet_volumes_and_bundles(app, world, client, settings):
    """Packets keep blobs too: once the store's retention ends, `--remove` must still spare them."""
    from legal_docs.models import Packet

    runtime = app.extensions["fieldproof"]
    volume, bundle, orphan = b"%PDF volume one", b"PK bundle zip", b"nobody's bytes"
    for data in (volume, bundle, orphan):  # stored with no retention: only references protect them
        FilesystemBlobStore(runtime.blobs.root).put_file(io.BytesIO(data), sha256(data), len(data))
    with runtime.db.transaction() as session:
        session.add(Packet(case_id=world.case["id"], version=1, language="en", bates_prefix="FP",
                           status="ready", requested_by=world.legal.id, bundle_sha256=sha256(bundle),
                           bundle_size=len(bundle),
                           volumes=[{"number": 1, "sha256": sha256(volume), "size": len(volume), "pages": 1}]))
    result = sweep(settings, "--remove")
    assert result.exit_code == 0, result.output
    assert not runtime.blobs.exists(sha256(orphan))
    assert runtime.blobs.exists(sha256(volume)) and runtime.blobs.exists(sha256(bundle))


def test_uploads_metadata_is_validated(client, world):
    data = photo()
    body = capture(world.visit_id, data)
    del body["sha256"]
    response = world.upload(client, data, metadata=body)
    assert response.status_code == 422 and "metadata.sha256" in response.get_json()["errors"]
    direct = client.post("/api/v1/evidence/uploads", json=capture(world.visit_id, data) | {"size": 0},
                         headers=world.collector.headers)
    assert direct.status_code == 422
    assert md5_b64(data)
