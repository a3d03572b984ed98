"""One conformance suite for every blob store, then what only S3 (a real Ceph RGW) can show.

Each conformance test runs once per back end (`make_store`/`store` are parametrized in
conftest.py); the same calls must give the same results and the same errors everywhere.
"""
from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
import tracemalloc
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from core.clock import utcnow
from evidence.storage.base import (
    BlobNotFound,
    BlobStore,
    ContentMismatch,
    RetentionLocked,
    StorageError,
    StorageUnavailable,
    blob_key,
)
from evidence.storage.s3 import S3BlobStore

READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Blob:
    """Test bytes on disk with the digests an uploader would declare."""

    path: Path
    sha256: str
    md5_b64: str
    size: int

    def read(self) -> bytes:
        return self.path.read_bytes()


@pytest.fixture
def make_blob(tmp_path):
    counter = iter(range(10**6))

    def make(size: int = 100_000, data: bytes | None = None) -> Blob:
        body = data if data is not None else os.urandom(size)
        path = tmp_path / f"blob-{next(counter)}"
        path.write_bytes(body)
        return Blob(
            path,
            hashlib.sha256(body).hexdigest(),
            base64.b64encode(hashlib.md5(body).digest()).decode(),
            len(body),
        )

    return make


def sha256_of_stream(stream, chunk: int = READ_CHUNK) -> tuple[str, int, int]:
    """Digest, total size and largest chunk of a stream read in bounded chunks."""
    digest, total, largest = hashlib.sha256(), 0, 0
    while piece := stream.read(chunk):
        digest.update(piece)
        total += len(piece)
        largest = max(largest, len(piece))
    return digest.hexdigest(), total, largest


def http_put(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, method="PUT", headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


# --- conformance: every back end ----------------------------------------------------------------


def test_store_satisfies_the_blob_store_protocol(store):
    assert isinstance(store, BlobStore)
    store.ping()


def test_round_trip_returns_the_exact_bytes_streamed_in_chunks(store, make_blob):
    blob = make_blob(3 * 1024 * 1024 + 17)

    stored = store.put_file(blob.path, blob.sha256, blob.size, blob.md5_b64)

    assert (stored.key, stored.sha256, stored.size, stored.created) == (
        blob_key(blob.sha256), blob.sha256, blob.size, True
    )
    assert stored.backend == store.backend
    with store.open(blob.sha256) as stream:
        digest, total, largest = sha256_of_stream(stream)
    assert (digest, total) == (blob.sha256, blob.size)
    assert largest <= READ_CHUNK


def test_put_accepts_a_file_object_and_computes_what_it_needs(store, make_blob):
    blob = make_blob(50_000)
    with open(blob.path, "rb") as source:
        source.read(100)  # a file object is read from its start, wherever it was left
        store.put_file(source, blob.sha256, blob.size)
    with store.open(blob.sha256) as stream:
        assert stream.read() == blob.read()


def test_identical_bytes_are_stored_once(store, make_blob):
    blob = make_blob()

    first = store.put_file(blob.path, blob.sha256, blob.size, blob.md5_b64)
    again = store.put_file(blob.path, blob.sha256, blob.size, blob.md5_b64)

    assert (first.created, again.created) == (True, False)
    assert again.key == first.key
    assert list(store.iter_keys()) == [first.key]


def test_never_overwrites_a_stored_blob(store, make_blob):
    original = make_blob(1000)
    impostor = make_blob(1000)
    store.put_file(original.path, original.sha256, original.size)

    result = store.put_file(impostor.path, original.sha256, impostor.size, impostor.md5_b64)

    assert result.created is False
    with store.open(original.sha256) as stream:
        assert stream.read() == original.read()


def test_head_reports_size_retention_and_hold(make_store, make_blob):
    store = make_store(retention=timedelta(minutes=2))
    blob = make_blob(12_345)
    before = utcnow()

    stored = store.put_file(blob.path, blob.sha256, blob.size, blob.md5_b64)
    info = store.head(blob.sha256)

    assert (info.key, info.sha256, info.size, info.legal_hold) == (stored.key, blob.sha256, 12_345, False)
    assert before + timedelta(minutes=2) <= info.retain_until <= utcnow() + timedelta(minutes=2, seconds=2)
    assert stored.retain_until == info.retain_until
    assert info.is_retained() and not info.deletable()


def test_a_missing_blob_is_absent_everywhere(store):
    missing = hashlib.sha256(b"never stored").hexdigest()

    assert store.head(missing) is None
    assert store.exists(missing) is False
    with pytest.raises(BlobNotFound):
        store.open(missing)
    with pytest.raises(BlobNotFound):
        store.set_legal_hold(missing, True)
    assert store.delete_if_allowed(missing) is True


def test_wrong_size_or_content_md5_is_refused_and_nothing_stored(store, make_blob):
    blob = make_blob(4096)
    other = make_blob(4096)

    with pytest.raises(ContentMismatch):
        store.put_file(blob.path, blob.sha256, blob.size + 1, blob.md5_b64)
    with pytest.raises(ContentMismatch):
        store.put_file(blob.path, blob.sha256, blob.size, other.md5_b64)

    assert not store.exists(blob.sha256)
    assert list(store.iter_keys()) == []


def test_legal_hold_on_refuses_deletion_and_off_allows_it(store, make_blob):
    blob = make_blob()
    store.put_file(blob.path, blob.sha256, blob.size, blob.md5_b64)

    store.set_legal_hold(blob.sha256, True)
    assert store.head(blob.sha256).legal_hold is True
    assert store.delete_if_allowed(blob.sha256) is False
    assert store.exists(blob.sha256)

    store.set_legal_hold(blob.sha256, False)
    assert store.head(blob.sha256).legal_hold is False
    assert store.delete_if_allowed(blob.sha256) is True
    assert not store.exists(blob.sha256)
    assert list(store.iter_keys()) == []


def test_deletion_allowed_without_retention_or_hold(store, make_blob):
    blob = make_blob()
    store.put_file(blob.path, blob.sha256, blob.size, blob.md5_b64)

    assert store.head(blob.sha256).retain_until is None
    assert store.delete_if_allowed(blob.sha256) is True
    assert store.head(blob.sha256) is None
    # the bytes can be stored again afterwards, as a new blob
    assert store.put_file(blob.path, blob.sha256, blob.size).created is True


def test_deletion_refused_while_retained_and_allowed_once_retention_ends(make_store, make_blob):
    store = make_store(retention=timedelta(seconds=2))
    blob = make_blob()
    stored = store.put_file(blob.path, blob.sha256, blob.size, blob.md5_b64)

    assert store.delete_if_allowed(blob.sha256) is False
    assert store.exists(blob.sha256)

    time.sleep(max(0.0, (stored.retain_until - utcnow()).total_seconds()) + 1.1)
    assert store.delete_if_allowed(blob.sha256) is True
    assert not store.exists(blob.sha256)


def test_retention_extends_but_never_shortens(make_store, make_blob):
    store = make_store(retention=timedelta(seconds=30))
    blob = make_blob()
    stored = store.put_file(blob.path, blob.sha256, blob.size, blob.md5_b64)

    later = stored.retain_until + timedelta(seconds=10)
    assert store.extend_retention(blob.sha256, later).retain_until == later
    assert store.head(blob.sha256).retain_until == later

    with pytest.raises(RetentionLocked):
        store.extend_retention(blob.sha256, later - timedelta(seconds=20))
    assert store.head(blob.sha256).retain_until == later


def test_storing_identical_bytes_again_extends_their_retention(make_store, make_blob):
    blob = make_blob()
    first = make_store(retention=timedelta(seconds=3)).put_file(blob.path, blob.sha256, blob.size)

    again = make_store(retention=timedelta(seconds=40)).put_file(blob.path, blob.sha256, blob.size)

    assert again.created is False
    assert again.retain_until >= first.retain_until + timedelta(seconds=30)
    assert make_store().head(blob.sha256).retain_until == again.retain_until


UPLOAD_ID = "0b6f4bd2-8a55-4b0c-9d9e-2f1c3a4b5c6d"


def test_presigned_staging_put_binds_the_content_md5_and_never_a_content_address(store, make_blob):
    blob = make_blob(20_000)
    wrong = bytearray(blob.read())
    wrong[1000] ^= 0xFF

    upload = store.presign_staging_put(UPLOAD_ID, blob.size, blob.md5_b64, blob.sha256, expires_s=300)

    if store.backend == "filesystem":
        assert upload is None  # uploads go through the API, which streams into put_staging
        return
    assert upload.method == "PUT" and f"/staging/{UPLOAD_ID}" in upload.url
    assert upload.headers["Content-MD5"] == blob.md5_b64
    assert upload.headers["x-amz-checksum-sha256"] == base64.b64encode(bytes.fromhex(blob.sha256)).decode()
    assert not any(name.lower().startswith("x-amz-object-lock") for name in upload.headers)
    assert http_put(upload.url, bytes(wrong), upload.headers) == 400  # BadDigest
    assert store.head_staging(UPLOAD_ID) is None
    missing_md5 = {k: v for k, v in upload.headers.items() if k != "Content-MD5"}
    assert http_put(upload.url, blob.read(), missing_md5) == 403  # header is signed

    assert http_put(upload.url, blob.read(), upload.headers) == 200
    assert store.head_staging(UPLOAD_ID).size == blob.size
    assert not store.exists(blob.sha256) and list(store.iter_keys()) == []


def test_a_staged_upload_is_promoted_to_its_content_address_and_leaves_staging(store, make_blob):
    blob = make_blob(3 * 1024 * 1024 + 5)

    staged = store.put_staging(UPLOAD_ID, blob.path, blob.size, blob.md5_b64)

    assert staged == store.head_staging(UPLOAD_ID) and staged.size == blob.size
    assert not store.exists(blob.sha256) and list(store.iter_keys()) == []  # staging is not a blob
    with store.open_staging(staged) as stream:
        assert sha256_of_stream(stream)[:2] == (blob.sha256, blob.size)
    stored = store.promote_staging(staged, blob.sha256, blob.md5_b64)
    assert (stored.key, stored.size, stored.created) == (blob_key(blob.sha256), blob.size, True)
    assert store.head_staging(UPLOAD_ID) is None
    with store.open(blob.sha256) as stream:
        assert sha256_of_stream(stream)[:2] == (blob.sha256, blob.size)
    assert list(store.iter_keys()) == [blob_key(blob.sha256)]


def test_promoting_bytes_already_stored_keeps_the_one_blob(store, make_blob):
    blob = make_blob(10_000)
    store.put_file(blob.path, blob.sha256, blob.size, blob.md5_b64)
    staged = store.put_staging(UPLOAD_ID, blob.path, blob.size)

    stored = store.promote_staging(staged, blob.sha256, blob.md5_b64)

    assert stored.created is False and store.head_staging(UPLOAD_ID) is None
    assert list(store.iter_keys()) == [blob_key(blob.sha256)]


def test_staged_bytes_carry_no_retention_and_can_always_be_discarded(make_store, make_blob):
    store = make_store(retention=timedelta(days=1))
    blob = make_blob(10_000)
    store.put_staging(UPLOAD_ID, blob.path, blob.size, blob.md5_b64)
    store.put_staging(UPLOAD_ID, blob.path, blob.size, blob.md5_b64)  # staged again: replaced

    assert store.discard_staging(UPLOAD_ID) is True
    assert store.head_staging(UPLOAD_ID) is None and store.discard_staging(UPLOAD_ID) is True
    assert not store.exists(blob.sha256)

    staged = store.put_staging(UPLOAD_ID, blob.path, blob.size, blob.md5_b64)
    stored = store.promote_staging(staged, blob.sha256, blob.md5_b64)
    assert stored.retain_until is not None and store.delete_if_allowed(blob.sha256) is False


def test_only_the_rehashed_staged_version_can_be_promoted(store, make_blob):
    """Bytes staged again after the re-hash (same id) never reach the re-hashed bytes' address."""
    first, second = make_blob(10_000), make_blob(10_000)
    staged = store.put_staging(UPLOAD_ID, first.path, first.size, first.md5_b64)
    store.put_staging(UPLOAD_ID, second.path, second.size, second.md5_b64)

    try:
        store.promote_staging(staged, first.sha256, first.md5_b64)
    except BlobNotFound:
        assert not store.exists(first.sha256)
    else:  # a versioned store copies exactly the pinned version: still the re-hashed bytes
        with store.open(first.sha256) as stream:
            assert sha256_of_stream(stream)[0] == first.sha256
    assert not store.exists(second.sha256)


def test_staging_refuses_ids_that_are_not_upload_ids(store, make_blob):
    blob = make_blob(100)
    for bad in ("../sha256/aa", "staging", UPLOAD_ID.upper(), ""):
        with pytest.raises(ValueError):
            store.put_staging(bad, blob.path, blob.size)
        with pytest.raises(ValueError):
            store.head_staging(bad)


def test_iter_keys_lists_every_blob_and_nothing_else(store, make_blob):
    blobs = [make_blob(1000 + i) for i in range(3)]
    for blob in blobs:
        store.put_file(blob.path, blob.sha256, blob.size, blob.md5_b64)
    store.set_legal_hold(blobs[0].sha256, True)

    keys = list(store.iter_keys())

    assert keys == sorted(blob_key(blob.sha256) for blob in blobs)
    store.set_legal_hold(blobs[0].sha256, False)


def test_reads_and_writes_stream_in_bounded_memory(store, make_blob):
    blob = make_blob(24 * 1024 * 1024)
    tracemalloc.start()
    try:
        store.put_file(blob.path, blob.sha256, blob.size, blob.md5_b64)
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with store.open(blob.sha256) as stream:
            digest, total, largest = sha256_of_stream(stream)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (digest, total) == (blob.sha256, blob.size)
    assert largest <= READ_CHUNK
    assert put_peak < 6 * 1024 * 1024, f"put held {put_peak} bytes"
    assert read_peak < 6 * 1024 * 1024, f"read held {read_peak} bytes"


def test_invalid_digests_are_refused_before_touching_the_store(store, make_blob):
    blob = make_blob(10)
    for bad in ("", "ABC", blob.sha256.upper(), blob.sha256[:-1], "../" + blob.sha256[3:]):
        with pytest.raises(ValueError):
            store.put_file(blob.path, bad, blob.size)
        with pytest.raises(ValueError):
            store.head(bad)


# --- filesystem only ----------------------------------------------------------------------------


def test_filesystem_blobs_are_read_only_and_temp_files_never_listed(tmp_path, make_blob):
    from evidence.storage.filesystem import FilesystemBlobStore

    store = FilesystemBlobStore(tmp_path / "blobs", retention=timedelta(seconds=30))
    blob = make_blob()
    stored = store.put_file(blob.path, blob.sha256, blob.size)
    path = tmp_path / "blobs" / stored.key
    (path.parent / ".upload-leftover").write_bytes(b"crash debris")

    assert path.stat().st_mode & 0o777 == 0o444
    assert list(store.iter_keys()) == [stored.key]
    sidecars = list((tmp_path / "blobs" / "retention").rglob("*.json"))
    assert [p.name for p in sidecars] == [f"{blob.sha256}.json"]


# --- S3 only: what the real server enforces and what it does not ----------------------------------


@pytest.fixture
def s3_store(s3_bucket_store) -> S3BlobStore:
    return s3_bucket_store(retention=timedelta(seconds=20))


def _version_ids(store: S3BlobStore, key: str) -> list[str]:
    response = store.client.list_object_versions(Bucket=store.bucket, Prefix=key)
    return [v["VersionId"] for v in response.get("Versions", []) if v["Key"] == key]


@pytest.mark.s3
def test_s3_put_sets_compliance_retention_and_no_metadata(s3_store, make_blob):
    blob = make_blob()
    stored = s3_store.put_file(blob.path, blob.sha256, blob.size, blob.md5_b64)

    response = s3_store.client.head_object(Bucket=s3_store.bucket, Key=stored.key)

    assert response["ObjectLockMode"] == "COMPLIANCE"
    assert response["ObjectLockRetainUntilDate"] == stored.retain_until
    assert response["Metadata"] == {}
    assert s3_store.object_lock_enabled


@pytest.mark.s3
def test_s3_compliance_retention_refuses_delete_and_shortening_at_the_server(s3_store, make_blob):
    blob = make_blob()
    stored = s3_store.put_file(blob.path, blob.sha256, blob.size, blob.md5_b64)
    (version,) = _version_ids(s3_store, stored.key)

    with pytest.raises(ClientError) as refused_delete:
        s3_store.client.delete_object(Bucket=s3_store.bucket, Key=stored.key, VersionId=version)
    with pytest.raises(ClientError) as refused_shortening:
        s3_store.client.put_object_retention(
            Bucket=s3_store.bucket,
            Key=stored.key,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": stored.retain_until - timedelta(seconds=10)},
        )

    for refusal in (refused_delete, refused_shortening):
        assert refusal.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert _version_ids(s3_store, stored.key) == [version]
    assert s3_store.head(blob.sha256).retain_until == stored.retain_until


@pytest.mark.s3
def test_s3_an_extension_overtaken_by_a_later_one_is_a_no_op(s3_bucket_store, make_blob):
    """The 409 seen under load: two sealings extend the same blob; the one with the earlier date
    read the old retention, the other then set a later one, and COMPLIANCE refused the earlier PUT
    (a shortening by then). It must end as a no-op that keeps the later date, not an error."""
    first, second = s3_bucket_store(retention=timedelta(seconds=30)), s3_bucket_store(retention=timedelta(seconds=60))
    blob = make_blob()
    stored = first.put_file(blob.path, blob.sha256, blob.size, blob.md5_b64)
    earlier, later = stored.retain_until + timedelta(seconds=5), stored.retain_until + timedelta(seconds=9)
    real_head = first.head
    overtaken = []

    def head_then_overtaken(sha256_hex):
        info = real_head(sha256_hex)  # what the slower call read ...
        if not overtaken:
            overtaken.append(second.extend_retention(sha256_hex, later))  # ... before the faster PUT
        return info

    first.head = head_then_overtaken
    kept = first.extend_retention(blob.sha256, earlier)

    assert overtaken and kept.retain_until == later
    assert second.head(blob.sha256).retain_until == later
    with pytest.raises(RetentionLocked):  # asked outright to shorten, the contract still refuses
        second.extend_retention(blob.sha256, earlier)


@pytest.mark.s3
def test_s3_concurrent_sealings_of_identical_bytes_all_succeed(s3_bucket_store, make_blob):
    """Every photo of one scene has the same thumbnail: many `complete` calls store it at once,
    each owing it its own now + retention. None may fail, and the latest date is what stays."""
    from concurrent.futures import ThreadPoolExecutor

    blob = make_blob()
    s3_bucket_store(retention=timedelta(seconds=30)).put_file(blob.path, blob.sha256, blob.size, blob.md5_b64)
    stores = [s3_bucket_store(retention=timedelta(seconds=30 + n)) for n in range(12)]
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda store: store.put_file(blob.path, blob.sha256, blob.size), stores * 3))

    assert all(not r.created for r in results)
    assert stores[0].head(blob.sha256).retain_until >= max(r.retain_until for r in results)


@pytest.mark.s3
def test_s3_store_never_adds_a_version_for_stored_bytes(s3_store, make_blob):
    blob = make_blob()
    stored = s3_store.put_file(blob.path, blob.sha256, blob.size, blob.md5_b64)

    s3_store.put_file(blob.path, blob.sha256, blob.size, blob.md5_b64)

    assert len(_version_ids(s3_store, stored.key)) == 1


@pytest.mark.s3
def test_rgw_accepts_a_wrong_sha256_checksum_so_the_server_must_rehash(s3_store, make_blob):
    claimed = make_blob(5000)
    delivered = make_blob(5000)
    # presigned for the claimed SHA-256 but the delivered bytes' Content-MD5: only MD5 is checked
    upload = s3_store.presign_staging_put(UPLOAD_ID, delivered.size, delivered.md5_b64, claimed.sha256,
                                          expires_s=300)

    assert http_put(upload.url, delivered.read(), upload.headers) == 200

    staged = s3_store.head_staging(UPLOAD_ID)
    with s3_store.open_staging(staged) as stream:
        actual, size, _ = sha256_of_stream(stream)
    assert size == delivered.size
    assert actual == delivered.sha256 != claimed.sha256
    assert not s3_store.exists(claimed.sha256)  # staged only: nothing at the claimed address


@pytest.mark.s3
def test_rgw_refuses_a_wrong_content_md5_on_put(s3_store, make_blob):
    blob = make_blob()
    key = blob_key(blob.sha256)
    with pytest.raises(ClientError) as refused:
        s3_store.client.put_object(
            Bucket=s3_store.bucket, Key=key, Body=blob.read()[:-1] + b"!", ContentMD5=blob.md5_b64
        )
    assert refused.value.response["Error"]["Code"] == "BadDigest"
    assert not s3_store.exists(blob.sha256)


@pytest.mark.s3
def test_s3_staged_upload_is_unlocked_and_its_promotion_carries_the_retention(s3_bucket_store, make_blob):
    store = s3_bucket_store(retention=timedelta(days=1))
    blob = make_blob()
    upload = store.presign_staging_put(UPLOAD_ID, blob.size, blob.md5_b64, blob.sha256, expires_s=300)
    assert http_put(upload.url, blob.read(), upload.headers) == 200
    staged = store.head_staging(UPLOAD_ID)
    head = store.client.head_object(Bucket=store.bucket, Key=staged.key)
    assert "ObjectLockMode" not in head and staged.version is not None

    store.promote_staging(staged, blob.sha256, blob.md5_b64)

    info = store.head(blob.sha256)
    assert info.retain_until is not None and info.retain_until > utcnow()
    assert store.delete_if_allowed(blob.sha256) is False
    assert store.head_staging(UPLOAD_ID) is None
    assert _version_ids(store, staged.key) == []


@pytest.mark.s3
def test_s3_bucket_without_object_lock_stores_but_cannot_hold(s3_endpoint, make_blob):
    store = s3_endpoint.store(f"fieldproof-plain-{os.urandom(6).hex()}", retention=timedelta(days=1))
    store.ensure_bucket(object_lock=False)
    blob = make_blob()

    stored = store.put_file(blob.path, blob.sha256, blob.size, blob.md5_b64)

    assert stored.retain_until is None and not store.object_lock_enabled
    with pytest.raises(StorageError):
        store.set_legal_hold(blob.sha256, True)
    assert store.delete_if_allowed(blob.sha256) is True
    assert not store.exists(blob.sha256)


@pytest.mark.s3
def test_s3_unreachable_endpoint_raises_storage_unavailable(make_blob):
    blob = make_blob()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before use: nothing listens there
    store = S3BlobStore(
        "fieldproof-nowhere",
        endpoint_url=f"http://127.0.0.1:{port}",
        region="us-east-1",
        access_key_id="nobody",
        secret_access_key="nothing",
        connect_timeout_s=1,
        read_timeout_s=1,
        max_attempts=1,
        addressing_style="path",
    )

    for call in (
        store.ping,
        lambda: store.head(blob.sha256),
        lambda: store.open(blob.sha256),
        lambda: store.put_file(blob.path, blob.sha256, blob.size),
        lambda: list(store.iter_keys()),
    ):
        with pytest.raises(StorageUnavailable):
            call()


def test_staged_uploads_are_listed_with_when_they_were_written(make_store, make_blob):
    from evidence.services import sweep_staging

    store = make_store()
    blob = make_blob(1_000)
    before = utcnow() - timedelta(minutes=5)  # a store's clock may differ from ours by a little
    assert list(store.iter_staging()) == []
    store.put_staging(UPLOAD_ID, blob.path, blob.size, blob.md5_b64)
    [(upload_id, written_at)] = list(store.iter_staging())
    assert upload_id == UPLOAD_ID and before <= written_at <= utcnow() + timedelta(minutes=5)

    young = sweep_staging(store, older_than=timedelta(hours=24), remove=True)
    assert young.abandoned == [] and store.head_staging(UPLOAD_ID) is not None
    later = written_at + timedelta(hours=25)
    listed = sweep_staging(store, older_than=timedelta(hours=24), now=later)
    assert listed.abandoned == [UPLOAD_ID] and listed.removed == [] and store.head_staging(UPLOAD_ID) is not None
    swept = sweep_staging(store, older_than=timedelta(hours=24), remove=True, now=later)
    assert swept.removed == [UPLOAD_ID] and store.head_staging(UPLOAD_ID) is None
    assert list(store.iter_staging()) == [] and list(store.iter_keys()) == []
