"""Key layout and store URL parsing: pure functions, no disk, no network."""
from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from evidence.storage.base import (
    BlobInfo,
    StoreLocation,
    blob_key,
    open_blob_store,
    parse_store_url,
    retention_period,
    sha256_b64,
    sha256_of_key,
)

DIGEST = hashlib.sha256(b"evidence").hexdigest()


def test_blob_key_fans_out_on_the_first_two_bytes():
    assert blob_key(DIGEST) == f"sha256/{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST}"


def test_blob_key_of_the_empty_file():
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert blob_key(empty) == f"sha256/e3/b0/{empty}"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        DIGEST[:-1],
        DIGEST + "0",
        DIGEST.upper(),
        "g" + DIGEST[1:],
        "../" + DIGEST[3:],
        DIGEST[:63] + "\n",
        None,
        b"\x00" * 32,
    ],
)
def test_blob_key_refuses_anything_but_64_lowercase_hex(bad):
    with pytest.raises(ValueError):
        blob_key(bad)


def test_sha256_of_key_inverts_blob_key():
    assert sha256_of_key(blob_key(DIGEST)) == DIGEST


@pytest.mark.parametrize(
    "key",
    [
        f"sha256/{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST}.json",
        f"sha256/00/{DIGEST[2:4]}/{DIGEST}",  # fan-out does not match the digest
        f"sha256/{DIGEST[:2]}/{DIGEST}",
        f"md5/{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST}",
        f"sha256/{DIGEST[:2]}/{DIGEST[2:4]}/.upload-x1y2",
        f"/sha256/{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST}",
    ],
)
def test_sha256_of_key_refuses_other_names(key):
    with pytest.raises(ValueError):
        sha256_of_key(key)


def test_sha256_b64_is_base64_of_the_raw_digest():
    assert sha256_b64(DIGEST) == base64.b64encode(hashlib.sha256(b"evidence").digest()).decode()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file:///var/lib/fieldproof/blobs", StoreLocation("file", path=Path("/var/lib/fieldproof/blobs"))),
        ("file://localhost/srv/blobs", StoreLocation("file", path=Path("/srv/blobs"))),
        ("file:///srv/my%20blobs", StoreLocation("file", path=Path("/srv/my blobs"))),
        ("s3://fieldproof-evidence", StoreLocation("s3", bucket="fieldproof-evidence")),
        ("s3://fieldproof.evidence.eu/", StoreLocation("s3", bucket="fieldproof.evidence.eu")),
    ],
)
def test_parse_store_url(url, expected):
    assert parse_store_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "file://var/blobs",  # host "var": a relative path written wrongly
        "file:relative/blobs",
        "file:///",
        "file:///srv/blobs?x=1",
        "s3://",
        "s3://Fieldproof",
        "s3://ab",
        "s3://fieldproof-evidence/prefix",
        "s3://192.168.1.10",
        "s3://bad..bucket",
        "gs://bucket",
        "/srv/blobs",
        "",
    ],
)
def test_parse_store_url_refuses(url):
    with pytest.raises(ValueError):
        parse_store_url(url)


def test_retention_period_in_days_and_never_negative():
    assert retention_period(0) == timedelta(0)
    assert retention_period(1825) == timedelta(days=1825)
    with pytest.raises(ValueError):
        retention_period(-1)


def test_open_blob_store_builds_an_s3_store_without_network():
    store = open_blob_store(
        "s3://fieldproof-evidence",
        s3_endpoint_url="http://127.0.0.1:9",
        retention_days=730,
        s3_region="us-east-1",
        s3_access_key_id="id",
        s3_secret_access_key="secret",
    )
    assert (store.backend, store.bucket, store.retention) == ("s3", "fieldproof-evidence", timedelta(days=730))
    assert store.client.meta.endpoint_url == "http://127.0.0.1:9"
    config = store.client.meta.config
    assert config.signature_version == "s3v4"
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"


def test_open_blob_store_refuses_negative_retention():
    with pytest.raises(ValueError):
        open_blob_store("s3://fieldproof-evidence", retention_days=-5)


@pytest.mark.parametrize(
    ("retain_until_offset", "legal_hold", "deletable"),
    [(None, False, True), (None, True, False), (-1, False, True), (60, False, False), (-1, True, False)],
)
def test_blob_info_deletable_only_without_hold_or_running_retention(retain_until_offset, legal_hold, deletable):
    from core.clock import utcnow

    now = utcnow()
    until = None if retain_until_offset is None else now + timedelta(seconds=retain_until_offset)
    info = BlobInfo(blob_key(DIGEST), DIGEST, 1, until, legal_hold)
    assert info.deletable(now) is deletable
