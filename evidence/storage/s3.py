"""S3 blob store (AWS S3, MinIO, Ceph RGW) with Object Lock: the scale-out topology's store.

What S3-compatible servers really do shaped this file (seen against Ceph RGW 16.2):
- `x-amz-checksum-sha256` is ignored, so every put also carries Content-MD5, which RGW does
  enforce; the SHA-256 is still sent for servers that check it, and ingest re-hashes anyway.
- boto3 >= 1.36 adds CRC32 checksums by default, which some servers reject or ignore, so
  checksums are only calculated and validated "when_required".
- `If-None-Match: *` on PUT is ignored by RGW (the second PUT silently adds a version), so
  "never overwrite" is a HEAD before every PUT or copy.
- Content-MD5 is the only digest RGW checks, so a presigned PUT straight to `sha256/<hex>` would
  let a client land other bytes under the real file's address, locked by COMPLIANCE retention
  for years and blocking the genuine bytes. Presigned PUTs therefore go to `staging/<upload id>`
  (no retention); `complete` re-reads and re-hashes that exact version, and only then is it
  server-side copied to its content address (`promote_staging`) and the staging object removed.
  A bucket *default* retention rule would lock staging objects too: buckets are created without
  one (retention is set per object), and where one exists a refused upload's staging object
  simply stays until the default period lapses — it never reaches a content address.
- Object Lock makes the bucket versioned: deleting means deleting every version, and RGW itself
  refuses (403) to delete a locked version or to shorten COMPLIANCE retention.

No personal data goes into keys or metadata: keys are `sha256/ab/cd/<hex>`, metadata is empty.
"""
from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError as BotoConnectionError,
    HTTPClientError,
    IncompleteReadError,
    ResponseStreamingError,
)

from core.clock import as_utc, utcnow
from core.hashing import digest_stream
from evidence.storage.base import (
    CHUNK_SIZE,
    KEY_PREFIX,
    STAGING_PREFIX,
    BlobInfo,
    BlobNotFound,
    BlobSource,
    ContentMismatch,
    PresignedUpload,
    RetentionLocked,
    StorageError,
    StorageUnavailable,
    StagedUpload,
    StoredBlob,
    blob_key,
    is_upload_id,
    sha256_b64,
    sha256_of_key,
    staging_key,
)

MAX_SINGLE_PUT = 5 * 1024**3
"""S3's limit for one PUT; evidence is far smaller (500 MB default), so no multipart."""

_NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}
_BAD_DIGEST = {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "IncompleteBody"}
_RETRYABLE = {"SlowDown", "ServiceUnavailable", "RequestTimeout", "InternalError", "RequestTimeTooSkewed"}
_UNREACHABLE = (BotoConnectionError, HTTPClientError, ResponseStreamingError, IncompleteReadError)


def s3_client_config(
    *,
    addressing_style: str = "auto",
    connect_timeout_s: float = 5.0,
    read_timeout_s: float = 30.0,
    max_attempts: int = 3,
) -> Config:
    """SigV4 always (boto3 presigns SigV2 for http endpoints otherwise), checksums only when
    required (S3-compatible servers), bounded timeouts and retries so a dead store is a fast 503."""
    return Config(
        signature_version="s3v4",
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
        s3={"addressing_style": addressing_style},
    )


class S3BlobStore:
    """Blobs as S3 objects; COMPLIANCE retention and legal holds when the bucket has Object Lock."""

    backend = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        retention: timedelta = timedelta(0),
        addressing_style: str = "auto",
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        max_attempts: int = 3,
    ):
        if retention < timedelta(0):
            raise ValueError("retention must not be negative")
        self.bucket = bucket
        self.retention = retention
        self.client = client or boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=s3_client_config(
                addressing_style=addressing_style,
                connect_timeout_s=connect_timeout_s,
                read_timeout_s=read_timeout_s,
                max_attempts=max_attempts,
            ),
        )
        self._object_lock: bool | None = None

    def __repr__(self) -> str:
        return f"S3BlobStore({self.bucket!r}, endpoint={self.client.meta.endpoint_url!r})"

    # --- set-up

    def ensure_bucket(self, *, object_lock: bool = True) -> None:
        """Create the bucket (with Object Lock, which also turns versioning on) unless it exists."""
        params: dict[str, Any] = {"Bucket": self.bucket, "ObjectLockEnabledForBucket": object_lock}
        region = self.client.meta.region_name
        if region and region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        with self._translated("create bucket"):
            try:
                self.client.create_bucket(**params)
            except ClientError as exc:
                if _code(exc) not in {"BucketAlreadyOwnedByYou"}:
                    raise
        self._object_lock = None

    @property
    def object_lock_enabled(self) -> bool:
        """Whether the bucket enforces retention and legal holds; asked once, then remembered."""
        if self._object_lock is None:
            with self._translated("read Object Lock configuration"):
                try:
                    conf = self.client.get_object_lock_configuration(Bucket=self.bucket)
                    enabled = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
                except ClientError as exc:
                    if _code(exc) != "ObjectLockConfigurationNotFoundError":
                        raise
                    enabled = False
            self._object_lock = enabled
        return self._object_lock

    # --- writing

    def put_file(
        self, source: BlobSource, sha256_hex: str, size: int, md5_b64: str | None = None
    ) -> StoredBlob:
        key = blob_key(sha256_hex)
        if size > MAX_SINGLE_PUT:
            raise StorageError(f"blob of {size} bytes exceeds the single-PUT limit of {MAX_SINGLE_PUT}")
        if self.head(sha256_hex) is not None:
            return self._already_stored(sha256_hex)
        with _opened(source) as stream:
            measured, computed_md5 = _measure(stream, want_md5=md5_b64 is None)
            if measured != size:
                raise ContentMismatch(f"expected {size} bytes, got {measured}")
            params: dict[str, Any] = {
                "Bucket": self.bucket,
                "Key": key,
                "Body": stream,
                "ContentLength": size,
                "ContentMD5": md5_b64 or computed_md5,
                "ChecksumSHA256": sha256_b64(sha256_hex),
                "ContentType": "application/octet-stream",
            }
            retain_until = self._new_retention()
            if retain_until is not None:
                params["ObjectLockMode"] = "COMPLIANCE"
                params["ObjectLockRetainUntilDate"] = retain_until
            with self._translated(f"store blob {sha256_hex}"):
                try:
                    self.client.put_object(**params)
                except ClientError as exc:
                    if _code(exc) in _BAD_DIGEST:
                        raise ContentMismatch("the store refused the bytes: Content-MD5 mismatch") from exc
                    raise
        return StoredBlob(self.backend, key, sha256_hex, size, True, retain_until)

    def _already_stored(self, sha256_hex: str) -> StoredBlob:
        """Identical bytes are stored once; a second put still owes them this store's retention."""
        wanted = self._new_retention()
        info = self.head(sha256_hex)
        if info is None:
            raise BlobNotFound(f"blob {sha256_hex} vanished while being stored")
        if wanted is not None:
            info = self._retain(sha256_hex, wanted, known=info)
        return StoredBlob(self.backend, info.key, sha256_hex, info.size, False, info.retain_until)

    def _new_retention(self) -> datetime | None:
        """now + retention, to whole seconds (the header format), or None without Object Lock."""
        if not self.retention or not self.object_lock_enabled:
            return None
        return (utcnow() + self.retention).replace(microsecond=0) + timedelta(seconds=1)

    # --- staged direct uploads

    def presign_staging_put(
        self, upload_id: str, size: int, md5_b64: str, sha256_hex: str, expires_s: int
    ) -> PresignedUpload | None:
        """A PUT URL for `staging/<upload_id>` whose signature covers the length, Content-MD5 and
        SHA-256 headers. No Object Lock headers: staged bytes are unverified and must stay
        removable. RGW checks only the Content-MD5, so `complete` re-hashes before promoting."""
        key = staging_key(upload_id)
        if size > MAX_SINGLE_PUT:
            raise StorageError(f"blob of {size} bytes exceeds the single-PUT limit of {MAX_SINGLE_PUT}")
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "ContentLength": size,
            "ContentMD5": md5_b64,
            "ChecksumSHA256": sha256_b64(sha256_hex),
        }
        headers = {
            "Content-Length": str(size),
            "Content-MD5": md5_b64,
            "x-amz-checksum-sha256": params["ChecksumSHA256"],
        }
        with self._translated("presign upload"):
            url = self.client.generate_presigned_url(
                "put_object", Params=params, ExpiresIn=expires_s, HttpMethod="PUT"
            )
        return PresignedUpload("PUT", url, headers, utcnow() + timedelta(seconds=expires_s))

    def put_staging(
        self, upload_id: str, source: BlobSource, size: int, md5_b64: str | None = None
    ) -> StagedUpload:
        key = staging_key(upload_id)
        if size > MAX_SINGLE_PUT:
            raise StorageError(f"blob of {size} bytes exceeds the single-PUT limit of {MAX_SINGLE_PUT}")
        with _opened(source) as stream:
            measured, computed_md5 = _measure(stream, want_md5=md5_b64 is None)
            if measured != size:
                raise ContentMismatch(f"expected {size} bytes, got {measured}")
            with self._translated(f"stage upload {upload_id}"):
                try:
                    self.client.put_object(Bucket=self.bucket, Key=key, Body=stream, ContentLength=size,
                                           ContentMD5=md5_b64 or computed_md5,
                                           ContentType="application/octet-stream")
                except ClientError as exc:
                    if _code(exc) in _BAD_DIGEST:
                        raise ContentMismatch("the store refused the bytes: Content-MD5 mismatch") from exc
                    raise
        staged = self.head_staging(upload_id)
        if staged is None:
            raise BlobNotFound(f"staged upload {upload_id} vanished while being stored")
        return staged

    def head_staging(self, upload_id: str) -> StagedUpload | None:
        key = staging_key(upload_id)
        with self._translated(f"inspect staged upload {upload_id}"):
            try:
                response = self.client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    return None
                raise
        version = response.get("VersionId")
        return StagedUpload(upload_id, key, response["ContentLength"],
                            version=version if version not in (None, "null") else None,
                            etag=response.get("ETag"))

    def open_staging(self, staged: StagedUpload) -> BinaryIO:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": staging_key(staged.upload_id)}
        if staged.version is not None:
            params["VersionId"] = staged.version
        elif staged.etag is not None:
            params["IfMatch"] = staged.etag
        with self._translated(f"read staged upload {staged.upload_id}"):
            try:
                response = self.client.get_object(**params)
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND or _code(exc) == "PreconditionFailed":
                    raise BlobNotFound(f"no staged upload {staged.upload_id} (or it was replaced)") from None
                raise
        return io.BufferedReader(_BodyReader(response["Body"], staged.upload_id), buffer_size=CHUNK_SIZE)

    def promote_staging(
        self, staged: StagedUpload, sha256_hex: str, md5_b64: str | None = None
    ) -> StoredBlob:
        """Server-side copy of exactly the re-hashed version (its version id, else its ETag as a
        precondition) to the content address with COMPLIANCE retention; then the staging object goes.

        A copy has no body, so there is no Content-MD5 to send: the copy is bound to the source's
        ETag (the MD5 of a single PUT) and its result is checked against it and the size."""
        key = blob_key(sha256_hex)
        if staged.size > MAX_SINGLE_PUT:
            raise StorageError(f"blob of {staged.size} bytes exceeds the single-copy limit of {MAX_SINGLE_PUT}")
        if md5_b64 is not None and staged.etag is not None and "-" not in staged.etag:
            if staged.etag.strip('"') != base64.b64decode(md5_b64).hex():
                raise ContentMismatch("the staged object's ETag is not the announced Content-MD5")
        if self.head(sha256_hex) is not None:
            stored = self._already_stored(sha256_hex)
            self.discard_staging(staged.upload_id)
            return stored
        source: dict[str, Any] = {"Bucket": self.bucket, "Key": staging_key(staged.upload_id)}
        if staged.version is not None:
            source["VersionId"] = staged.version
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "CopySource": source,
            "MetadataDirective": "REPLACE",
            "ContentType": "application/octet-stream",
        }
        if staged.etag is not None:
            params["CopySourceIfMatch"] = staged.etag
        retain_until = self._new_retention()
        if retain_until is not None:
            params["ObjectLockMode"] = "COMPLIANCE"
            params["ObjectLockRetainUntilDate"] = retain_until
        with self._translated(f"promote staged upload {staged.upload_id}"):
            try:
                response = self.client.copy_object(**params)
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND or _code(exc) == "PreconditionFailed":
                    raise BlobNotFound(f"staged upload {staged.upload_id} was replaced or removed") from None
                raise
        etag = (response.get("CopyObjectResult", {}).get("ETag") or "").strip('"')
        info = self.head(sha256_hex)
        if info is None or info.size != staged.size or (staged.etag and etag and etag != staged.etag.strip('"')):
            raise StorageError(f"promoting staged upload {staged.upload_id} did not give the staged bytes")
        if retain_until is not None:
            # RGW ignores Object Lock headers on a copy: set the retention on the new version.
            # Until then it is unlocked, but it already holds the re-hashed bytes.
            info = self._retain(sha256_hex, retain_until, known=info)
        self.discard_staging(staged.upload_id)
        return StoredBlob(self.backend, key, sha256_hex, staged.size, True, retain_until)

    def discard_staging(self, upload_id: str) -> bool:
        """Delete every version of the staging object. Staging objects carry no retention; a bucket
        whose *default* retention locks them anyway leaves them (False) until it lapses."""
        return self._delete_versions(staging_key(upload_id))

    # --- reading

    def open(self, sha256_hex: str) -> BinaryIO:
        key = blob_key(sha256_hex)
        with self._translated(f"read blob {sha256_hex}"):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    raise BlobNotFound(f"no blob {sha256_hex}") from None
                raise
        return io.BufferedReader(_BodyReader(response["Body"], sha256_hex), buffer_size=CHUNK_SIZE)

    def head(self, sha256_hex: str) -> BlobInfo | None:
        key = blob_key(sha256_hex)
        with self._translated(f"inspect blob {sha256_hex}"):
            try:
                response = self.client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    return None
                raise
        retain_until = response.get("ObjectLockRetainUntilDate") if response.get("ObjectLockMode") else None
        return BlobInfo(
            key=key,
            sha256=sha256_hex,
            size=response["ContentLength"],
            retain_until=as_utc(retain_until) if retain_until else None,
            legal_hold=response.get("ObjectLockLegalHoldStatus") == "ON",
        )

    def exists(self, sha256_hex: str) -> bool:
        return self.head(sha256_hex) is not None

    def iter_keys(self) -> Iterator[str]:
        """Current keys under `sha256/`, in the store's (lexicographic) order, page by page."""
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=f"{KEY_PREFIX}/")
        iterator = iter(pages)
        while True:
            with self._translated("list blobs"):
                page = next(iterator, None)
            if page is None:
                return
            for item in page.get("Contents", []):
                try:
                    sha256_of_key(item["Key"])
                except ValueError:
                    continue
                yield item["Key"]

    def iter_staging(self) -> Iterator[tuple[str, datetime]]:
        paginator = self.client.get_paginator("list_objects_v2")
        iterator = iter(paginator.paginate(Bucket=self.bucket, Prefix=f"{STAGING_PREFIX}/"))
        while True:
            with self._translated("list staged uploads"):
                page = next(iterator, None)
            if page is None:
                return
            for item in page.get("Contents", []):
                upload_id = item["Key"].removeprefix(f"{STAGING_PREFIX}/")
                if is_upload_id(upload_id):
                    yield upload_id, as_utc(item["LastModified"])

    def ping(self) -> None:
        try:
            with self._translated("reach the bucket"):
                self.client.head_bucket(Bucket=self.bucket)
        except StorageUnavailable:
            raise
        except StorageError as exc:
            raise StorageUnavailable(f"bucket {self.bucket} is not usable: {exc.detail}") from exc

    # --- locks

    def set_legal_hold(self, sha256_hex: str, on: bool) -> None:
        key = self._locked_key(sha256_hex, "a legal hold")
        with self._translated(f"set legal hold on blob {sha256_hex}"):
            self.client.put_object_legal_hold(
                Bucket=self.bucket, Key=key, LegalHold={"Status": "ON" if on else "OFF"}
            )

    def extend_retention(self, sha256_hex: str, until: datetime) -> BlobInfo:
        """Keep the blob at least until `until`; `RetentionLocked` if `until` is earlier than the
        retention it already has (COMPLIANCE can only be extended)."""
        return self._retain(sha256_hex, until, refuse_earlier=True)

    def _retain(self, sha256_hex: str, until: datetime, *, refuse_earlier: bool = False,
                known: BlobInfo | None = None) -> BlobInfo:
        """Set COMPLIANCE retention until `until` unless the blob is already kept that long.

        Many `complete` calls extend the same blob at once (identical bytes; every photo of one
        scene has the same thumbnail), each to its own now + retention. Between one call's HEAD
        and its PUT another may set a later date, and COMPLIANCE then refuses the earlier one
        (403): it is a shortening by then. So a refusal is checked against what the object holds
        now, and a date at or before it is a no-op, never an error. `refuse_earlier`: a request
        that is earlier than the retention seen *before* the PUT is an error (the public contract);
        the sealing paths only need "at least until" and pass False.
        """
        if not self.object_lock_enabled:
            raise StorageError(f"bucket {self.bucket} has no Object Lock; retention cannot be enforced")
        info = known or self.head(sha256_hex)
        if info is None:
            raise BlobNotFound(f"no blob {sha256_hex}")
        key = info.key
        until = as_utc(until)
        if info.retain_until is not None and until <= info.retain_until:
            if until < info.retain_until and refuse_earlier:
                raise RetentionLocked(
                    f"blob {sha256_hex} is retained until {info.retain_until.isoformat()}; "
                    "retention can be extended, never shortened"
                )
            return info
        with self._translated(f"extend retention of blob {sha256_hex}"):
            for attempt in range(_RETENTION_ATTEMPTS):
                try:
                    self.client.put_object_retention(
                        Bucket=self.bucket, Key=key, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until}
                    )
                    break
                except ClientError as exc:
                    if _code(exc) != "AccessDenied":
                        raise
                    now_held = self.head(sha256_hex)
                    # The store keeps whole seconds: a concurrent call's date in the same second as
                    # this one reads back as earlier than `until`, though it was set after it.
                    if now_held is not None and now_held.retain_until is not None and \
                            now_held.retain_until >= until.replace(microsecond=0):
                        return now_held  # a concurrent call kept it as long already: nothing to do
                    # What it holds now is earlier than `until`: the refusal answered a date that
                    # other calls were still changing. Setting `until` again is an extension.
                    if attempt == _RETENTION_ATTEMPTS - 1:
                        raise RetentionLocked(f"the store refused to change retention of blob {sha256_hex}") from exc
        return BlobInfo(info.key, sha256_hex, info.size, until, info.legal_hold)

    def delete_if_allowed(self, sha256_hex: str) -> bool:
        """Delete every version (Object Lock buckets are versioned); False if any is locked."""
        key = blob_key(sha256_hex)
        info = self.head(sha256_hex)
        if info is not None and not info.deletable():
            return False
        return self._delete_versions(key)

    def _delete_versions(self, key: str) -> bool:
        paginator = self.client.get_paginator("list_object_versions")
        with self._translated(f"delete {key}"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=key):
                for version in page.get("Versions", []) + page.get("DeleteMarkers", []):
                    if version["Key"] != key:
                        continue
                    params = {"Bucket": self.bucket, "Key": key}
                    if version.get("VersionId") not in (None, "null"):
                        params["VersionId"] = version["VersionId"]
                    try:
                        self.client.delete_object(**params)
                    except ClientError as exc:
                        if _code(exc) == "AccessDenied":
                            return False
                        if _code(exc) not in _NOT_FOUND:
                            raise
        return True

    def _locked_key(self, sha256_hex: str, what: str) -> str:
        key = blob_key(sha256_hex)
        if not self.object_lock_enabled:
            raise StorageError(f"bucket {self.bucket} has no Object Lock; {what} cannot be enforced")
        if self.head(sha256_hex) is None:
            raise BlobNotFound(f"no blob {sha256_hex}")
        return key

    @contextmanager
    def _translated(self, doing: str):
        """botocore's errors → ours: unreachable or failing on the server side → StorageUnavailable."""
        try:
            yield
        except _UNREACHABLE as exc:
            raise StorageUnavailable(f"object store unreachable while trying to {doing}: {exc}") from exc
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status >= 500 or _code(exc) in _RETRYABLE:
                raise StorageUnavailable(f"object store failed to {doing}: {_code(exc)}") from exc
            raise StorageError(f"object store refused to {doing}: {_code(exc)} (HTTP {status})") from exc
        except BotoCoreError as exc:
            raise StorageError(f"object store client failed to {doing}: {exc}") from exc


class _BodyReader(io.RawIOBase):
    """A raw stream over a GetObject body that maps mid-read failures to StorageUnavailable."""

    def __init__(self, body: Any, sha256_hex: str):
        self._body = body
        self._sha256 = sha256_hex

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            chunk = self._body.read(len(buffer))
        except _UNREACHABLE as exc:
            raise StorageUnavailable(f"object store connection lost reading blob {self._sha256}") from exc
        view = memoryview(buffer).cast("B")
        view[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


@contextmanager
def _opened(source: BlobSource):
    """A path is opened (and closed); a file object must be seekable: boto3 signs and may resend it."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as stream:
            yield stream
        return
    if not source.seekable():
        raise TypeError("the S3 store needs a seekable file object (spool the upload first)")
    source.seek(0)
    yield source


def _measure(stream: BinaryIO, *, want_md5: bool) -> tuple[int, str | None]:
    """Size (and Content-MD5 when the caller has none) in one streaming pass; rewinds after."""
    if not want_md5:
        size = stream.seek(0, os.SEEK_END)
        stream.seek(0)
        return size, None
    digest = digest_stream(stream, md5=True)
    stream.seek(0)
    return digest.size, digest.md5_b64


_RETENTION_ATTEMPTS = 3  # a refused retention set, re-read and set again (concurrent extensions)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
