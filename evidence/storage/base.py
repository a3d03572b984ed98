"""The blob store interface: content-addressed, write-once storage for evidence bytes.

Every back end (one file each: `filesystem.py`, `s3.py`) implements `BlobStore` with the same
signatures, return values and errors, and one conformance suite
(`tests/integration/storage/test_conformance.py`) runs against each. A stored file's row records
`StoredBlob.backend`, `.key`, `.sha256` and `.size`.

Keys are derived from the SHA-256 alone (`sha256/ab/cd/<hex>`): no personal data ever reaches a
key or object metadata, identical bytes are stored once, and the blob is written before its row,
so a crash leaves at most an unreferenced blob (found by `iter_keys`), never a row without bytes.
"""
from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Literal, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from core.clock import utcnow
from core.errors import Conflict, DependencyUnavailable, FieldProofError, IntegrityFailure, NotFound

KEY_PREFIX = "sha256"
STAGING_PREFIX = "staging"
"""Direct uploads land under `staging/<upload id>` (never under a content address, never locked)
until the server has re-read and re-hashed them; only then are they promoted to `sha256/...`."""
CHUNK_SIZE = 1024 * 1024
"""Bytes per read or write when streaming; bounds the memory a transfer uses."""

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_KEY = re.compile(rf"{KEY_PREFIX}/([0-9a-f]{{2}})/([0-9a-f]{{2}})/([0-9a-f]{{64}})")
# S3 bucket naming rules (3-63 chars, lowercase letters, digits, dots, hyphens; no IP form).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_LIKE = re.compile(r"\d+\.\d+\.\d+\.\d+")
_UPLOAD_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

BlobSource = str | os.PathLike | BinaryIO
"""A path, or a binary file object read from its start (seekable ones are rewound to 0)."""


# --- errors -----------------------------------------------------------------------------------


class StorageError(FieldProofError):
    """Base of the blob store errors; a bare one means a refusal the caller cannot retry away."""

    title = "Storage error"


class StorageUnavailable(StorageError, DependencyUnavailable):
    """The store cannot be reached or failed on its side; retry later (maps to 503)."""

    title = "Object storage temporarily unavailable"


class BlobNotFound(StorageError, NotFound):
    """No blob under this SHA-256."""

    title = "Blob not found"


class RetentionLocked(StorageError, Conflict):
    """Retention or a legal hold forbids the change (shortening a retention period...)."""

    title = "Blob is under retention"


class BlobAlreadyStored(StorageError, Conflict):
    """The bytes are already stored; an upload would only add an overwrite path, so none is given."""

    title = "Blob already stored"


class ContentMismatch(StorageError, IntegrityFailure):
    """The bytes do not match the declared size or Content-MD5; nothing was stored."""

    title = "Stored bytes do not match their declared digest"


# --- value types ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredBlob:
    """What a put left in the store; `created` is False when identical bytes were already there."""

    backend: str
    key: str
    sha256: str
    size: int
    created: bool
    retain_until: datetime | None


@dataclass(frozen=True)
class BlobInfo:
    """A stored blob's size and the locks that keep it from being deleted."""

    key: str
    sha256: str
    size: int
    retain_until: datetime | None
    legal_hold: bool

    def is_retained(self, now: datetime | None = None) -> bool:
        return self.retain_until is not None and self.retain_until > (now or utcnow())

    def deletable(self, now: datetime | None = None) -> bool:
        return not self.legal_hold and not self.is_retained(now)


@dataclass(frozen=True)
class PresignedUpload:
    """A direct upload: the client must send exactly these headers, or the store refuses the PUT."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    expires_at: datetime | None = None


@dataclass(frozen=True)
class StagedUpload:
    """One exact version of a staged direct upload: what was re-hashed is what gets promoted.

    `version` pins the bytes (the S3 version id, the filesystem inode); `etag` is the store's
    ETag (for a single S3 PUT, the hex MD5), used as a copy precondition where there are no
    versions.
    """

    upload_id: str
    key: str
    size: int
    version: str | None = None
    etag: str | None = None


@dataclass(frozen=True)
class StoreLocation:
    """A parsed store URL: `file:///abs/dir` or `s3://bucket`."""

    scheme: Literal["file", "s3"]
    path: Path | None = None
    bucket: str | None = None


# --- the interface ----------------------------------------------------------------------------


@runtime_checkable
class BlobStore(Protocol):
    """Content-addressed, write-once blob storage; every method takes the blob's SHA-256 in hex."""

    backend: str

    def put_file(
        self, source: BlobSource, sha256_hex: str, size: int, md5_b64: str | None = None
    ) -> StoredBlob:
        """Store the bytes under their SHA-256 unless already stored; never overwrites.

        The SHA-256 is the caller's claim and is not re-checked here: ingest hashes the bytes
        itself. The size and, when given, the Content-MD5 are enforced (`ContentMismatch`).
        Storing existing bytes again extends their retention to this store's period.
        """
        ...

    def open(self, sha256_hex: str) -> BinaryIO:
        """A binary stream of the blob, read in chunks; close it (or use `with`)."""
        ...

    def head(self, sha256_hex: str) -> BlobInfo | None:
        ...

    def exists(self, sha256_hex: str) -> bool:
        ...

    # Direct uploads go to a staging key, never to a content address: a store that checks only
    # the Content-MD5 (RGW) would otherwise accept other bytes under a SHA-256 key, and under
    # COMPLIANCE retention they could neither be removed nor replaced by the genuine bytes.

    def presign_staging_put(
        self, upload_id: str, size: int, md5_b64: str, sha256_hex: str, expires_s: int
    ) -> PresignedUpload | None:
        """A PUT to `staging/<upload_id>` bound to the size and digests (no retention), or None
        when the back end has no presigned uploads (the bytes then come through the API)."""
        ...

    def put_staging(
        self, upload_id: str, source: BlobSource, size: int, md5_b64: str | None = None
    ) -> StagedUpload:
        """Store bytes under `staging/<upload_id>` (replacing earlier staged bytes), no retention."""
        ...

    def head_staging(self, upload_id: str) -> StagedUpload | None:
        """The staged upload's current version, or None when nothing has been staged."""
        ...

    def open_staging(self, staged: StagedUpload) -> BinaryIO:
        """A stream of exactly that staged version (`BlobNotFound` if it was replaced or removed)."""
        ...

    def promote_staging(
        self, staged: StagedUpload, sha256_hex: str, md5_b64: str | None = None
    ) -> StoredBlob:
        """Make exactly that staged version the blob `sha256_hex` (with this store's retention),
        then remove the staging object. The caller has re-hashed it; the store never overwrites a
        stored blob (identical bytes already there: `created` False)."""
        ...

    def discard_staging(self, upload_id: str) -> bool:
        """Remove every staged version; True once nothing is left (absent counts as removed)."""
        ...

    def iter_staging(self) -> Iterator[tuple[str, datetime]]:
        """Every staged upload id with when its bytes were written, for the sweep of direct
        uploads that were never completed."""
        ...

    def set_legal_hold(self, sha256_hex: str, on: bool) -> None:
        ...

    def extend_retention(self, sha256_hex: str, until: datetime) -> BlobInfo:
        """Keep the blob at least until `until`; `RetentionLocked` if that would shorten it."""
        ...

    def delete_if_allowed(self, sha256_hex: str) -> bool:
        """Delete unless retained or held (then False). An absent blob counts as deleted."""
        ...

    def iter_keys(self) -> Iterator[str]:
        """Every blob key, for the sweep of blobs that no row references."""
        ...

    def ping(self) -> None:
        """Readiness: return quietly, or raise `StorageUnavailable`."""
        ...


# --- keys and digests -------------------------------------------------------------------------


def check_sha256_hex(sha256_hex: str) -> str:
    """The digest itself, if it is 64 lowercase hex characters; one spelling, one key."""
    if not isinstance(sha256_hex, str) or not _SHA256_HEX.fullmatch(sha256_hex):
        raise ValueError(f"not a lowercase hex SHA-256: {sha256_hex!r}")
    return sha256_hex


def blob_key(sha256_hex: str) -> str:
    """`sha256/ab/cd/<hex>`: two fan-out levels keep directories and listings small."""
    digest = check_sha256_hex(sha256_hex)
    return f"{KEY_PREFIX}/{digest[0:2]}/{digest[2:4]}/{digest}"


def staging_key(upload_id: str) -> str:
    """`staging/<upload id>`; the id is a lowercase UUID, so it can never escape the prefix."""
    if not isinstance(upload_id, str) or not _UPLOAD_ID.fullmatch(upload_id):
        raise ValueError(f"not an upload id (lowercase UUID): {upload_id!r}")
    return f"{STAGING_PREFIX}/{upload_id}"


def is_upload_id(name: str) -> bool:
    """Whether a name under `staging/` is one of ours (anything else there is left alone)."""
    return isinstance(name, str) and _UPLOAD_ID.fullmatch(name) is not None


def sha256_of_key(key: str) -> str:
    """The digest a well-formed key names; `ValueError` for anything else (a sweep skips it)."""
    match = _KEY.fullmatch(key)
    if not match or match.group(3)[0:2] != match.group(1) or match.group(3)[2:4] != match.group(2):
        raise ValueError(f"not a blob key: {key!r}")
    return match.group(3)


def sha256_b64(sha256_hex: str) -> str:
    """The digest as S3's `x-amz-checksum-sha256` wants it: base64 of the 32 raw bytes."""
    return base64.b64encode(bytes.fromhex(check_sha256_hex(sha256_hex))).decode("ascii")


def retention_period(retention_days: int | float) -> timedelta:
    if retention_days < 0:
        raise ValueError("retention_days must not be negative")
    return timedelta(days=retention_days)


# --- configuration ----------------------------------------------------------------------------


def parse_store_url(url: str) -> StoreLocation:
    """Parse `file:///absolute/dir` or `s3://bucket` (no path: keys are the content address)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise ValueError(f"file store URL must be file:///absolute/path: {url!r}")
        path = unquote(parts.path)
        if not path.startswith("/") or path == "/":
            raise ValueError(f"file store URL needs an absolute directory: {url!r}")
        return StoreLocation(scheme="file", path=Path(path))
    if parts.scheme == "s3":
        bucket = parts.netloc
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"S3 store URL must be s3://bucket with no path: {url!r}")
        if not _BUCKET.fullmatch(bucket) or ".." in bucket or _IP_LIKE.fullmatch(bucket):
            raise ValueError(f"not a valid S3 bucket name: {bucket!r}")
        return StoreLocation(scheme="s3", bucket=bucket)
    raise ValueError(f"unsupported blob store URL (use file:/// or s3://): {url!r}")


def open_blob_store(
    url: str,
    *,
    s3_endpoint_url: str | None = None,
    retention_days: int | float = 0,
    s3_region: str | None = None,
    s3_access_key_id: str | None = None,
    s3_secret_access_key: str | None = None,
    s3_addressing_style: str = "auto",
    connect_timeout_s: float = 5.0,
    read_timeout_s: float = 30.0,
    max_attempts: int = 3,
) -> BlobStore:
    """The store a settings URL names. `retention_days` = 0 sets no retention of the store's own.

    S3 credentials left as None come from boto3's usual chain (environment, profile, role).
    Nothing talks to the network here; `ping()` does.
    """
    location = parse_store_url(url)
    retention = retention_period(retention_days)
    if location.scheme == "file":
        from evidence.storage.filesystem import FilesystemBlobStore

        return FilesystemBlobStore(location.path, retention=retention)
    from evidence.storage.s3 import S3BlobStore

    return S3BlobStore(
        location.bucket,
        endpoint_url=s3_endpoint_url,
        region=s3_region,
        access_key_id=s3_access_key_id,
        secret_access_key=s3_secret_access_key,
        retention=retention,
        addressing_style=s3_addressing_style,
        connect_timeout_s=connect_timeout_s,
        read_timeout_s=read_timeout_s,
        max_attempts=max_attempts,
    )
