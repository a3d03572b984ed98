"""Evidence against a real S3 endpoint (RADOS Gateway): ingest, direct upload, the server's own re-hash,
and a store that is down (503 with Retry-After, no row).

The endpoint is the storage suite's: FIELDPROOF_TEST_S3_ENDPOINT when set (as `make test` does),
else a RADOS Gateway started for the session.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select

from evidence.models import EvidenceItem
from evidence.storage.base import blob_key
from evidence.storage.s3 import S3BlobStore, s3_client_config
from tests.evidence_corpus import capture, md5_b64, photo, sha256
from tests.evidence_world import world  # noqa: F401 - fixture
from tests.integration.storage.conftest import s3_endpoint  # noqa: F401 - fixture

pytestmark = pytest.mark.s3


@pytest.fixture
def s3_store(app, s3_endpoint):  # noqa: F811
    """The app's blob store swapped for a fresh Object Lock bucket on the real endpoint."""
    bucket = f"fieldproof-evidence-{uuid.uuid4().hex[:12]}"
    store = s3_endpoint.store(bucket)
    store.ensure_bucket(object_lock=True)
    app.extensions["fieldproof"].blobs = store
    return store


def rows(app) -> int:
    with app.extensions["fieldproof"].db.transaction() as session:
        return session.scalar(select(func.count()).select_from(EvidenceItem))


def test_streamed_ingest_stores_on_s3_and_reads_back_exactly(client, world, s3_store):  # noqa: F811
    data = photo((640, 480))
    response = world.upload(client, data)
    assert response.status_code == 201, response.get_json()
    item = response.get_json()
    assert item["storage_backend"] == "s3" and item["status"] == "sealed"
    assert s3_store.exists(item["sha256"]) and s3_store.exists(item["thumbnail"]["sha256"])
    content = client.get(f"/api/v1/evidence/{item['id']}/content", headers=world.collector.headers)
    assert content.data == data


def test_direct_upload_presigned_put_then_complete(client, world, s3_store):  # noqa: F811
    data = photo((800, 600))
    body = capture(world.visit_id, data) | {"size": len(data), "content_md5": md5_b64(data)}
    response = client.post("/api/v1/evidence/uploads", json=body, headers=world.collector.headers)
    assert response.status_code == 201, response.get_json()
    pending = response.get_json()
    upload = pending["upload"]
    assert upload["method"] == "PUT" and "X-Amz-Signature" in upload["url"]
    put = requests.put(upload["url"], data=data, headers=upload["headers"], timeout=30)
    assert put.status_code == 200, put.text
    done = client.post(f"/api/v1/evidence/{pending['id']}/complete", headers=world.collector.headers)
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["status"] == "sealed" and done.get_json()["sha256"] == sha256(data)
    assert client.get(f"/api/v1/evidence/{pending['id']}/content", headers=world.collector.headers).data == data


def test_direct_upload_requires_content_md5_on_s3(client, world, s3_store):  # noqa: F811
    data = photo()
    response = client.post("/api/v1/evidence/uploads", json=capture(world.visit_id, data) | {"size": len(data)},
                           headers=world.collector.headers)
    assert response.status_code == 422 and "content_md5" in response.get_json()["errors"]


def test_wrong_body_with_matching_content_md5_is_caught_by_the_servers_rehash(client, world, s3_store):  # noqa: F811
    """RGW checks Content-MD5 and ignores x-amz-checksum-sha256: a body whose MD5 the client announced
    is accepted by the store under another body's SHA-256 key. Only our own re-hash can catch it."""
    real = photo((320, 240))
    forged = bytes(reversed(real))
    assert len(forged) == len(real)
    body = capture(world.visit_id, real) | {"size": len(real), "content_md5": md5_b64(forged)}
    pending = client.post("/api/v1/evidence/uploads", json=body, headers=world.collector.headers).get_json()
    put = requests.put(pending["upload"]["url"], data=forged, headers=pending["upload"]["headers"], timeout=30)
    assert put.status_code == 200, put.text  # the store itself did not notice
    response = client.post(f"/api/v1/evidence/{pending['id']}/complete", headers=world.collector.headers)
    assert response.status_code == 422 and response.get_json()["code"] == "hash_mismatch"
    item = client.get(f"/api/v1/evidence/{pending['id']}", headers=world.collector.headers).get_json()
    assert item["status"] == "rejected"
    assert not s3_store.exists(sha256(real))  # the forged bytes were only ever staged
    assert s3_store.head_staging(pending["id"]) is None


def test_forged_body_never_reaches_a_locked_content_address(client, world, app, s3_endpoint, s3_store):  # noqa: F811
    """Under COMPLIANCE retention a poisoned content address could neither be removed nor replaced.

    A body with a matching Content-MD5 but the wrong SHA-256 is accepted by RGW into staging; the
    server's re-hash at `complete` refuses it and removes it, nothing is written (or locked) under
    the real file's SHA-256 key, and the genuine bytes can still be uploaded there afterwards."""
    locked = s3_endpoint.store(s3_store.bucket, retention=timedelta(days=1))
    app.extensions["fieldproof"].blobs = locked
    real = photo((320, 240))
    forged = bytes(reversed(real))
    body = capture(world.visit_id, real) | {"size": len(real), "content_md5": md5_b64(forged)}
    pending = client.post("/api/v1/evidence/uploads", json=body, headers=world.collector.headers).get_json()
    assert "/staging/" in pending["upload"]["url"]
    put = requests.put(pending["upload"]["url"], data=forged, headers=pending["upload"]["headers"], timeout=30)
    assert put.status_code == 200, put.text  # RGW checked the MD5 only
    response = client.post(f"/api/v1/evidence/{pending['id']}/complete", headers=world.collector.headers)
    assert response.status_code == 422 and response.get_json()["code"] == "hash_mismatch"
    key = blob_key(sha256(real))
    assert locked.client.list_object_versions(Bucket=locked.bucket, Prefix=key).get("Versions", []) == []
    assert locked.head_staging(pending["id"]) is None

    genuine = capture(world.visit_id, real) | {"size": len(real), "content_md5": md5_b64(real)}
    retry = client.post("/api/v1/evidence/uploads", json=genuine, headers=world.collector.headers).get_json()
    assert requests.put(retry["upload"]["url"], data=real, headers=retry["upload"]["headers"],
                        timeout=30).status_code == 200
    done = client.post(f"/api/v1/evidence/{retry['id']}/complete", headers=world.collector.headers)
    assert done.status_code == 200, done.get_json()
    info = locked.head(sha256(real))
    assert info is not None and info.retain_until is not None  # the genuine bytes, now locked
    with locked.open(sha256(real)) as stream:
        assert stream.read() == real


def test_store_down_is_503_with_retry_after_and_no_row(client, world, app, s3_endpoint):  # noqa: F811
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    import boto3

    client_s3 = boto3.session.Session().client(
        "s3", endpoint_url=dead, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y",
        config=s3_client_config(addressing_style="path", connect_timeout_s=0.5, read_timeout_s=0.5, max_attempts=1))
    app.extensions["fieldproof"].blobs = S3BlobStore("fieldproof-down", client=client_s3)
    response = world.upload(client, photo())
    assert response.status_code == 503, response.get_json()
    assert response.mimetype == "application/problem+json" and int(response.headers["Retry-After"]) > 0
    assert rows(app) == 0
