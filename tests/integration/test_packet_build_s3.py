"""A packet built on the S3 store (a real endpoint): originals read back and re-hashed from S3, volumes
and bundle stored there, and the downloaded bundle verifies offline.

The endpoint is the storage suite's: FIELDPROOF_TEST_S3_ENDPOINT when set, else a RADOS Gateway
started for the session.
"""
from __future__ import annotations

import hashlib
import uuid

import pytest

from legal_docs.verify_bundle import verify_bundle
from tests.evidence_corpus import photo
from tests.evidence_world import world  # noqa: F401 - fixture
from tests.integration.storage.conftest import s3_endpoint  # noqa: F401 - fixture

pytestmark = pytest.mark.s3


def test_packet_build_on_s3(app, client, world, s3_endpoint, tmp_path):  # noqa: F811
    store = s3_endpoint.store(f"fieldproof-packets-{uuid.uuid4().hex[:12]}")
    store.ensure_bucket(object_lock=True)
    runtime = app.extensions["fieldproof"]
    runtime.blobs = store
    items = [world.upload(client, photo((320, 240), colour=(n * 40, 20, 90))).get_json() for n in range(2)]
    response = client.post(f"/api/v1/cases/{world.case['id']}/packets", json={"language": "en"},
                           headers=world.legal.headers)
    assert response.status_code == 202, response.get_json()
    assert runtime.jobs.wait_idle(120)
    packet = client.get(f"/api/v1/packets/{response.get_json()['id']}", headers=world.legal.headers).get_json()
    assert packet["status"] == "ready", packet["error"]
    assert {e["sha256"] for e in packet["exhibits"]} == {i["sha256"] for i in items}
    assert store.exists(packet["bundle_sha256"]) and store.exists(packet["volumes"][0]["sha256"])
    bundle = client.get(f"/api/v1/packets/{packet['id']}/bundle", headers=world.legal.headers)
    assert hashlib.sha256(bundle.data).hexdigest() == packet["bundle_sha256"]
    (tmp_path / "bundle.zip").write_bytes(bundle.data)
    report = verify_bundle(tmp_path / "bundle.zip")
    assert report.ok, report.failures
