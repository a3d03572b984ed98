"""Filesystem blob store: the embedded default (`var/blobs`), content-addressed and write-once.

Layout under the root directory:

    sha256/ab/cd/<hex>          the blob, mode 0444, never replaced
    retention/ab/cd/<hex>.json  sidecar {"retain_until": ISO-8601 UTC or null, "legal_hold": bool}
    .lock                       flock taken for every retention, hold and delete decision
    staging/<upload id>         a direct upload's bytes until `complete` re-hashes and promotes them
    spool/                      ingest's spool files (same filesystem: published by `link()`)

Retention lives in a sidecar rather than in file times because mtimes are rewritten by copies,
backups and `touch`; a missing sidecar means no retention and no hold. The sidecar is written
before the blob becomes visible, so a visible blob never lacks its retention.

A blob is written to a temporary file in its final directory, fsynced, made read-only, then
published with `link()`, which fails if the name exists: unlike `rename()` it can never replace
a blob, even when two writers race. The directory is fsynced after publishing.
"""
from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO

from core.clock import as_utc, utcnow
from core.files import fsync_directory, write_atomically
from core.hashing import StreamTooLong, digest_stream
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
    StorageUnavailable,
    StagedUpload,
    StoredBlob,
    blob_key,
    check_sha256_hex,
    is_upload_id,
    sha256_of_key,
    staging_key,
)

_RETENTION_DIR = "retention"
_SPOOL_DIR = "spool"
_READ_ONLY = 0o444


class FilesystemBlobStore:
    """Blobs as read-only files under `root`; retention and legal hold in JSON sidecars."""

    backend = "filesystem"

    def __init__(self, root: str | os.PathLike, *, retention: timedelta = timedelta(0)):
        if retention < timedelta(0):
            raise ValueError("retention must not be negative")
        self.root = Path(root)
        self.retention = retention
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"FilesystemBlobStore({str(self.root)!r}, retention={self.retention})"

    # --- writing

    def put_file(
        self, source: BlobSource, sha256_hex: str, size: int, md5_b64: str | None = None
    ) -> StoredBlob:
        key = blob_key(sha256_hex)
        final = self.root / key
        if final.exists():
            return self._already_stored(sha256_hex)
        with _opened(source) as stream:  # a missing source is the caller's error, not a 503
            try:
                _make_dirs(final.parent, self.root)
                temp = self._spool(stream, final.parent, size, md5_b64)
            except OSError as exc:
                raise StorageUnavailable(f"filesystem blob store write failed: {exc.strerror}") from exc
        try:
            return self._publish(temp, sha256_hex, size)
        finally:
            _unlink_quietly(temp)

    def spool_directory(self) -> Path:
        """Where ingest spools uploads: inside the root (same filesystem), so that `adopt_file`
        publishes a spooled file with `link()` instead of copying it a second time."""
        path = self.root / _SPOOL_DIR
        if not path.is_dir():
            _make_dirs(path, self.root)
        return path

    def adopt_file(self, path: str | os.PathLike, sha256_hex: str, size: int) -> StoredBlob:
        """Publish a file already in this store's `spool_directory()`, hashed by the caller, as the
        blob `sha256_hex` without copying it: made read-only, fsynced, then hard-linked into place
        (the caller removes its own name afterwards). Files elsewhere are copied by `put_file`."""
        path = Path(path)
        key = blob_key(sha256_hex)
        if (self.root / key).exists():
            return self._already_stored(sha256_hex)
        if path.parent.resolve() != self.spool_directory().resolve():
            return self.put_file(path, sha256_hex, size)
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                if os.fstat(fd).st_size != size:
                    raise ContentMismatch(f"expected {size} bytes, the spooled file has {os.fstat(fd).st_size}")
                os.fchmod(fd, _READ_ONLY)
                os.fsync(fd)
            finally:
                os.close(fd)
            _make_dirs((self.root / key).parent, self.root)
        except OSError as exc:
            raise StorageUnavailable(f"filesystem blob store write failed: {exc.strerror}") from exc
        return self._publish(path, sha256_hex, size)

    def _publish(self, temp: Path, sha256_hex: str, size: int) -> StoredBlob:
        """Link a fsynced read-only file into its content address; never replaces a blob."""
        key = blob_key(sha256_hex)
        final = self.root / key
        try:
            _make_dirs(final.parent, self.root)
            with self._locked():
                if final.exists():
                    return self._already_stored(sha256_hex, locked=True)
                retain_until = self._new_retention()
                if retain_until is not None:
                    self._write_sidecar(sha256_hex, retain_until, legal_hold=False)
                try:
                    os.link(temp, final)
                except FileExistsError:
                    return self._already_stored(sha256_hex, locked=True)
                fsync_directory(final.parent)
        except OSError as exc:
            raise StorageUnavailable(f"filesystem blob store write failed: {exc.strerror}") from exc
        return StoredBlob(self.backend, key, sha256_hex, size, True, retain_until)

    # --- staged direct uploads

    def presign_staging_put(
        self, upload_id: str, size: int, md5_b64: str, sha256_hex: str, expires_s: int
    ) -> PresignedUpload | None:
        """None: uploads go through the API (`PUT .../content`), which streams into `put_staging`."""
        staging_key(upload_id)
        check_sha256_hex(sha256_hex)
        return None

    def put_staging(
        self, upload_id: str, source: BlobSource, size: int, md5_b64: str | None = None
    ) -> StagedUpload:
        target = self.root / staging_key(upload_id)
        with _opened(source) as stream:
            try:
                _make_dirs(target.parent, self.root)
                temp = self._spool(stream, target.parent, size, md5_b64)
            except OSError as exc:
                raise StorageUnavailable(f"filesystem blob store write failed: {exc.strerror}") from exc
        try:
            os.replace(temp, target)
            fsync_directory(target.parent)
        except OSError as exc:
            _unlink_quietly(temp)
            raise StorageUnavailable(f"filesystem blob store write failed: {exc.strerror}") from exc
        staged = self.head_staging(upload_id)
        if staged is None:
            raise BlobNotFound(f"staged upload {upload_id} vanished while being stored")
        return staged

    def head_staging(self, upload_id: str) -> StagedUpload | None:
        key = staging_key(upload_id)
        try:
            stat = (self.root / key).stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageUnavailable(f"filesystem blob store stat failed: {exc.strerror}") from exc
        return StagedUpload(upload_id, key, stat.st_size, version=str(stat.st_ino))

    def open_staging(self, staged: StagedUpload) -> BinaryIO:
        try:
            stream = open(self.root / staging_key(staged.upload_id), "rb", buffering=CHUNK_SIZE)
        except FileNotFoundError:
            raise BlobNotFound(f"no staged upload {staged.upload_id}") from None
        except OSError as exc:
            raise StorageUnavailable(f"filesystem blob store read failed: {exc.strerror}") from exc
        if staged.version is not None and str(os.fstat(stream.fileno()).st_ino) != staged.version:
            stream.close()
            raise BlobNotFound(f"staged upload {staged.upload_id} was replaced")
        return stream

    def promote_staging(
        self, staged: StagedUpload, sha256_hex: str, md5_b64: str | None = None
    ) -> StoredBlob:
        """Hard-link exactly the staged inode into the content address (no copy), then unlink it."""
        check_sha256_hex(sha256_hex)
        path = self.root / staging_key(staged.upload_id)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise BlobNotFound(f"no staged upload {staged.upload_id}") from None
        try:
            stat = os.fstat(fd)
            if staged.version is not None and str(stat.st_ino) != staged.version:
                raise BlobNotFound(f"staged upload {staged.upload_id} was replaced")
            if stat.st_size != staged.size:
                raise ContentMismatch(f"staged upload {staged.upload_id} changed size")
            # A private second name, checked to be the inode that was re-hashed: a concurrent
            # re-upload (a new inode under the staging name) can never be the one published.
            temp = self.root / _SPOOL_DIR / f".promote-{staged.upload_id}"
            _make_dirs(temp.parent, self.root)
            _unlink_quietly(temp)
            os.link(path, temp)
            if os.stat(temp).st_ino != stat.st_ino:
                _unlink_quietly(temp)
                raise BlobNotFound(f"staged upload {staged.upload_id} was replaced")
        except OSError as exc:
            raise StorageUnavailable(f"filesystem blob store write failed: {exc.strerror}") from exc
        finally:
            os.close(fd)
        try:
            stored = self._publish(temp, sha256_hex, staged.size)
        finally:
            _unlink_quietly(temp)
        self.discard_staging(staged.upload_id)
        return stored

    def discard_staging(self, upload_id: str) -> bool:
        path = self.root / staging_key(upload_id)
        try:
            path.unlink()
            fsync_directory(path.parent)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageUnavailable(f"filesystem blob store delete failed: {exc.strerror}") from exc
        return True

    def iter_staging(self) -> Iterator[tuple[str, datetime]]:
        try:
            entries = sorted(os.scandir(self.root / STAGING_PREFIX), key=lambda e: e.name)
        except FileNotFoundError:
            return
        for entry in entries:
            if is_upload_id(entry.name) and entry.is_file(follow_symlinks=False):
                yield entry.name, datetime.fromtimestamp(entry.stat().st_mtime, timezone.utc)

    def _spool(self, stream: BinaryIO, directory: Path, size: int, md5_b64: str | None) -> Path:
        """Copy the stream into a fsynced read-only temp file beside its final name."""
        fd, name = tempfile.mkstemp(prefix=".upload-", dir=directory)
        temp = Path(name)
        try:
            with os.fdopen(fd, "wb", buffering=0) as out:
                try:
                    digest = digest_stream(stream, md5=md5_b64 is not None, copy_to=out, max_bytes=size)
                except StreamTooLong:
                    raise ContentMismatch(f"expected {size} bytes, got more") from None
                if digest.size != size:
                    raise ContentMismatch(f"expected {size} bytes, got {digest.size}")
                if md5_b64 is not None and digest.md5_b64 != md5_b64:
                    raise ContentMismatch("Content-MD5 does not match the bytes")
                os.fchmod(out.fileno(), _READ_ONLY)
                os.fsync(out.fileno())
        except BaseException:
            _unlink_quietly(temp)
            raise
        return temp

    def _already_stored(self, sha256_hex: str, *, locked: bool = False) -> StoredBlob:
        """Identical bytes are stored once; a second put still owes them this store's retention."""
        wanted = self._new_retention()
        if wanted is not None:
            info = self._extend(sha256_hex, wanted, locked=locked, only_if_longer=True)
        else:
            info = self.head(sha256_hex)
        if info is None:
            raise BlobNotFound(f"blob {sha256_hex} vanished while being stored")
        return StoredBlob(self.backend, info.key, sha256_hex, info.size, False, info.retain_until)

    def _new_retention(self) -> datetime | None:
        return utcnow() + self.retention if self.retention else None

    # --- reading

    def open(self, sha256_hex: str) -> BinaryIO:
        path = self.root / blob_key(sha256_hex)
        try:
            return open(path, "rb", buffering=CHUNK_SIZE)
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {sha256_hex}") from None
        except OSError as exc:
            raise StorageUnavailable(f"filesystem blob store read failed: {exc.strerror}") from exc

    def head(self, sha256_hex: str) -> BlobInfo | None:
        key = blob_key(sha256_hex)
        try:
            size = (self.root / key).stat().st_size
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageUnavailable(f"filesystem blob store stat failed: {exc.strerror}") from exc
        retain_until, legal_hold = self._read_sidecar(sha256_hex)
        return BlobInfo(key, sha256_hex, size, retain_until, legal_hold)

    def exists(self, sha256_hex: str) -> bool:
        return (self.root / blob_key(sha256_hex)).is_file()

    def iter_keys(self) -> Iterator[str]:
        """Keys in sorted order; temp files, sidecars and stray names are skipped."""
        top = self.root / KEY_PREFIX
        for first in _sorted_dirs(top):
            for second in _sorted_dirs(first):
                for entry in sorted(os.scandir(second), key=lambda e: e.name):
                    key = f"{KEY_PREFIX}/{first.name}/{second.name}/{entry.name}"
                    try:
                        sha256_of_key(key)
                    except ValueError:
                        continue
                    if entry.is_file(follow_symlinks=False):
                        yield key

    def ping(self) -> None:
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"blob directory {self.root} is missing or not writable")

    # --- locks

    def set_legal_hold(self, sha256_hex: str, on: bool) -> None:
        with self._locked():
            info = self._head_or_raise(sha256_hex)
            self._write_sidecar(sha256_hex, info.retain_until, legal_hold=on)

    def extend_retention(self, sha256_hex: str, until: datetime) -> BlobInfo:
        return self._extend(sha256_hex, as_utc(until), locked=False, only_if_longer=False)

    def _extend(self, sha256_hex: str, until: datetime, *, locked: bool, only_if_longer: bool) -> BlobInfo:
        with self._locked(already=locked):
            info = self._head_or_raise(sha256_hex)
            if info.retain_until is not None and until <= info.retain_until:
                if until < info.retain_until and not only_if_longer:
                    raise RetentionLocked(
                        f"blob {sha256_hex} is retained until {info.retain_until.isoformat()}; "
                        "retention can be extended, never shortened"
                    )
                return info
            self._write_sidecar(sha256_hex, until, legal_hold=info.legal_hold)
            return BlobInfo(info.key, sha256_hex, info.size, until, info.legal_hold)

    def delete_if_allowed(self, sha256_hex: str) -> bool:
        key = blob_key(sha256_hex)
        with self._locked():
            info = self.head(sha256_hex)
            if info is None:
                _unlink_quietly(self._sidecar_path(sha256_hex))
                return True
            if not info.deletable():
                return False
            try:
                (self.root / key).unlink()
                fsync_directory((self.root / key).parent)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise StorageUnavailable(f"filesystem blob store delete failed: {exc.strerror}") from exc
            _unlink_quietly(self._sidecar_path(sha256_hex))
            return True

    def _head_or_raise(self, sha256_hex: str) -> BlobInfo:
        info = self.head(sha256_hex)
        if info is None:
            raise BlobNotFound(f"no blob {sha256_hex}")
        return info

    @contextmanager
    def _locked(self, *, already: bool = False):
        """Serialize lock decisions across processes, so a check and its change cannot interleave."""
        if already:
            yield
            return
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # --- sidecars

    def _sidecar_path(self, sha256_hex: str) -> Path:
        return self.root / _RETENTION_DIR / sha256_hex[0:2] / sha256_hex[2:4] / f"{sha256_hex}.json"

    def _read_sidecar(self, sha256_hex: str) -> tuple[datetime | None, bool]:
        try:
            data = json.loads(self._sidecar_path(sha256_hex).read_text("utf-8"))
        except FileNotFoundError:
            return None, False
        retain_until = data.get("retain_until")
        return (
            as_utc(datetime.fromisoformat(retain_until)) if retain_until else None,
            bool(data.get("legal_hold", False)),
        )

    def _write_sidecar(self, sha256_hex: str, retain_until: datetime | None, *, legal_hold: bool) -> None:
        """Replace the sidecar atomically (temp file, fsync, rename, fsync dir)."""
        path = self._sidecar_path(sha256_hex)
        _make_dirs(path.parent, self.root)
        body = json.dumps(
            {
                "retain_until": as_utc(retain_until).isoformat() if retain_until else None,
                "legal_hold": legal_hold,
            },
            sort_keys=True,
        ).encode("utf-8")
        write_atomically(path, body)


@contextmanager
def _opened(source: BlobSource):
    """A path is opened (and closed); a file object is rewound when it can be, and left open."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb", buffering=0) as stream:
            yield stream
        return
    if source.seekable():
        source.seek(0)
    yield source


def _make_dirs(directory: Path, root: Path) -> None:
    """Create missing fan-out directories and fsync each parent, so the new names are durable."""
    missing = []
    current = directory
    while not current.exists() and current != root:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue
        fsync_directory(path.parent)




def _sorted_dirs(directory: Path) -> list[Path]:
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    return [Path(e.path) for e in sorted(entries, key=lambda e: e.name) if e.is_dir(follow_symlinks=False)]


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
