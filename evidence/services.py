"""Evidence services: capture, sealing, reads, derivatives, legal hold, retention and the sweep.

Every path that brings bytes in follows one order, so nothing is ever half kept:

1. spool while hashing (`evidence.spool`), in constant memory, within the size limit;
2. check what the device claimed (SHA-256, signature) and what the bytes are (`screen_media`;
   for photos `make_thumbnail`, whose full decode is also the bomb and truncation check);
3. store the blob (content-addressed, idempotent) — a refusal in 1 or 2 stores nothing;
4. write the row, the `created`/`sealed` custody events and the timeline entry in the caller's
   transaction. A crash between 3 and 4 leaves only an unreferenced blob, which the sweep finds.

The bytes are hashed by us at every hand-over: a store's own checksum is never taken on trust
(RADOS Gateway ignores `x-amz-checksum-sha256`), so direct uploads are re-read and re-hashed.
"""
from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from accounts.models import Device
from cases.models import Address, Case
from cases.services import get_case, record_event, visible_case_ids
from core.actor import Actor
from core.clock import utcnow
from core.db import release_reader
from core.errors import Conflict, Forbidden, NotFound, RuleViolation, ValidationFailed
from core.hashing import digest_stream
from core.runtime import Runtime
from custody import receipts
from custody.append import commit_custody_event, custody_for_evidence, record_custody_event
from custody.models import CustodyEvent
from evidence import images
from evidence.errors import EvidenceRejected, HashMismatch, InvalidSignature, TooLarge
from evidence.media import screen_media
from evidence.models import EvidenceItem
from evidence.presence import GeoPoint, check_presence
from evidence.signatures import parse_device_public_key, signed_payload, verify_device_signature
from evidence.spool import SpooledFile, check_claimed_sha256, spool_stream
from evidence.storage.base import (
    BlobStore,
    BlobNotFound,
    PresignedUpload,
    StagedUpload,
    StorageError,
    StorageUnavailable,
    StoredBlob,
)
from visits.models import Visit
from jurisdictions.profiles import ProfileError, profile_for
from visits.services import get_visit

log = logging.getLogger("fieldproof.evidence")

READERS = ("admin", "supervisor", "legal", "auditor", "collector")
CAPTURERS = ("collector",)
DERIVERS = ("admin", "supervisor", "legal")
HOLDERS = ("admin", "legal")
NOTE_MEDIA_TYPE = "text/plain; charset=utf-8"
UPLOAD_URL_TTL_S = 3600
THUMBNAIL_SIDE = 512


# --- spooling -------------------------------------------------------------------------------


def spool_directory(runtime: Runtime) -> Path:
    """Where uploads are spooled, never served: inside the filesystem store's root when it offers
    one (same filesystem, so a checked spool file is published by `link()`, not copied again),
    else private to this process's data dir."""
    store_spool = getattr(runtime.blobs, "spool_directory", None)
    if store_spool is not None:
        return store_spool()
    path = Path(runtime.settings.data_dir) / "spool"
    path.mkdir(parents=True, exist_ok=True)
    return path


def spool_upload(runtime: Runtime, chunks: Iterable[bytes] | BinaryIO, *, max_bytes: int | None = None) -> SpooledFile:
    """Spool and hash an upload within the evidence size limit (`TooLarge` past it)."""
    limit = runtime.settings.evidence_max_bytes if max_bytes is None else max_bytes
    wants_md5 = getattr(runtime.blobs, "backend", None) != "filesystem"
    return spool_stream(chunks, spool_directory(runtime), max_bytes=limit, md5=wants_md5)


@contextmanager
def _scratch_file(runtime: Runtime, suffix: str) -> Iterator[Path]:
    fd, name = tempfile.mkstemp(prefix="derived-", suffix=suffix, dir=spool_directory(runtime))
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


# --- visibility -----------------------------------------------------------------------------


def visible_evidence(actor: Actor) -> Select:
    """Collectors see what they captured and the evidence of cases assigned to them."""
    query = select(EvidenceItem)
    if actor.is_collector:
        assigned = select(Case.id).where(Case.assigned_collector_id == actor.id)
        query = query.where(or_(EvidenceItem.collector_id == actor.id, EvidenceItem.case_id.in_(assigned)))
    elif actor.role not in READERS:
        query = query.where(False)
    cases_seen = visible_case_ids(actor)  # and only within the creditors granted
    return query if cases_seen is None else query.where(EvidenceItem.case_id.in_(cases_seen))


def verification_subjects(actor: Actor) -> Select | None:
    """Ids of the cases and evidence items within the actor's creditors, for the verification runs
    they may read (None: no creditor wall)."""
    case_ids = visible_case_ids(actor)
    if case_ids is None:
        return None
    return case_ids.union(visible_evidence(actor).with_only_columns(EvidenceItem.id))


def get_evidence(session: Session, actor: Actor, evidence_id: str) -> EvidenceItem:
    item = session.scalar(visible_evidence(actor).where(EvidenceItem.id == evidence_id))
    if item is None:
        raise NotFound("no such evidence item")
    return item


def list_case_evidence(session: Session, actor: Actor, case_id: str, *, kind: str | None = None,
                       status: str | None = None, updated_since: datetime | None = None) -> Select:
    """A case's evidence in the order it arrived (404 when the case is not yours to see)."""
    get_case(session, actor, case_id)
    query = (visible_evidence(actor).where(EvidenceItem.case_id == case_id)
             .order_by(EvidenceItem.received_at, EvidenceItem.id))
    if kind:
        query = query.where(EvidenceItem.kind == kind)
    if status:
        query = query.where(EvidenceItem.status == status)
    if updated_since:
        query = query.where(EvidenceItem.updated_at >= updated_since)
    return query


def _capture_visit(session: Session, actor: Actor, visit_id: str) -> Visit:
    """The visit being captured on: 404 unless the actor is named on it."""
    if not actor.is_collector:
        raise Forbidden("only the collectors on a visit capture its evidence")
    return get_visit(session, actor, visit_id)


# --- examination (before anything is stored) ------------------------------------------------


@dataclass
class Examination:
    """What the server itself found in the bytes; nothing here comes from the client."""

    media_type: str
    width: int | None = None
    height: int | None = None
    exif: dict | None = None
    presence_flags: list[dict] | None = None
    thumbnail: SpooledFile | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def discard(self) -> None:
        if self.thumbnail is not None:
            self.thumbnail.discard()


def _examine(runtime: Runtime, spooled: SpooledFile, kind: str, *, visit: Visit | None = None,
             address: Address | None = None, claimed_at: datetime | None = None, lat: float | None = None, lon: float | None = None,
             accuracy_m: float | None = None) -> Examination:
    """Sniff and screen the bytes; for a photo decode it once (thumbnail), read EXIF, check presence."""
    media_type = screen_media(spooled.path, kind)
    examination = Examination(media_type=media_type.value)
    if kind != "photo":
        return examination
    with _scratch_file(runtime, ".jpg") as thumb_path:
        info = images.make_thumbnail(spooled.path, thumb_path, THUMBNAIL_SIDE)
        with open(thumb_path, "rb") as thumb:
            examination.thumbnail = spool_upload(runtime, thumb)
    examination.width, examination.height = info.source.width, info.source.height
    examination.exif = images.exif_summary(spooled.path)
    if visit is not None and claimed_at is not None:
        examination.presence_flags = _presence_flags(visit, address, examination.exif, claimed_at, lat, lon,
                                                     accuracy_m)
    return examination


def _presence_flags(visit: Visit, address: Address | None, exif: dict, claimed_at: datetime, lat: float | None,
                    lon: float | None, accuracy_m: float | None) -> list[dict]:
    """EXIF position and time against the claim and the visit's address: flags, never refusals."""
    try:
        zone = ZoneInfo(visit.time_zone)
    except Exception:  # noqa: BLE001 - a visit without a usable zone reads EXIF time as UTC
        zone = ZoneInfo("UTC")
    flags = check_presence(
        exif=exif, claimed_at=claimed_at,
        claimed_location=GeoPoint(lat, lon) if lat is not None and lon is not None else None,
        address_location=GeoPoint(address.lat, address.lon)
        if address is not None and address.lat is not None and address.lon is not None else None,
        address_zone=zone, claimed_accuracy_m=accuracy_m,
    )
    return [{"code": flag.code, "detail": flag.detail} for flag in flags]


def _check_recording_consent(case: Case, kind: str, consent_subject: str | None) -> None:
    """`recording.consent`: in all-party-consent places a recording needs the subject's `granted`."""
    if kind != "audio":
        return
    try:
        rule = profile_for(case.jurisdiction).recording
    except ProfileError:
        rule = None
    if rule is None or (rule.all_party and consent_subject != "granted"):
        raise RuleViolation("recording refused: this jurisdiction needs every party's consent", [{
            "rule": "recording.consent",
            "detail": f"{case.jurisdiction} requires all-party consent to record; subject consent is "
                      f"{consent_subject or 'missing'}, not granted",
        }])


def _signature_status(session: Session, actor: Actor, capture: dict[str, Any]) -> tuple[str, str | None]:
    """('signed', device id) when a registered device's signature verifies; unsigned is allowed."""
    device_id, signature = capture.get("device_id"), capture.get("device_signature")
    if not signature:
        if device_id:
            _device_of(session, actor, device_id)
        return "unsigned", device_id
    if not device_id:
        raise ValidationFailed("a device signature needs the device_id that made it",
                               {"device_id": ["required with device_signature"]})
    device = _device_of(session, actor, device_id)
    payload = signed_payload(sha256=capture["sha256"], captured_at=capture["captured_at_text"],
                             lat=capture["lat"], lon=capture["lon"], visit_id=capture["visit_id"])
    parse_device_public_key(device.public_key)
    if not verify_device_signature(device.public_key, signature, payload):
        raise InvalidSignature("device signature does not verify over the capture metadata",
                               device_id=device_id)
    return "signed", device_id


def _device_of(session: Session, actor: Actor, device_id: str) -> Device:
    device = session.get(Device, device_id)
    if device is None or device.user_id != actor.id or device.revoked_at is not None:
        raise ValidationFailed("not one of your registered, active devices",
                               {"device_id": ["unknown, revoked or not yours"]})
    return device


# --- storing ------------------------------------------------------------------------------


def _store(blobs: BlobStore, spooled: SpooledFile) -> StoredBlob:
    """Put the spooled bytes; bytes already stored are re-hashed, since a key proves nothing.

    A store that can adopt a spool file (the filesystem store, whose spool directory is inside
    its root) publishes it in place: fsync and `link()`, no second copy.
    """
    adopt = getattr(blobs, "adopt_file", None)
    if adopt is not None:
        stored = adopt(spooled.path, spooled.sha256_hex, spooled.size)
    else:
        md5 = spooled.md5_b64 if blobs.backend != "filesystem" else None
        stored = blobs.put_file(spooled.path, spooled.sha256_hex, spooled.size, md5)
    if not stored.created:
        verify_stored(blobs, spooled.sha256_hex, spooled.size)
    return stored


def store_record(runtime: Runtime, data: bytes) -> StoredBlob:
    """Store a record's bytes (a contact's text as sent) content-addressed, as evidence blobs are,
    re-hashed when already there; the caller seals it by naming the hash in a custody event."""
    with spool_upload(runtime, [data]) as spooled:
        return _store(runtime.blobs, spooled)


def verify_stored(blobs: BlobStore, sha256_hex: str, size: int) -> None:
    """Re-read a stored blob and hash it ourselves; `HashMismatch` when it is not those bytes."""
    with blobs.open(sha256_hex) as stream:
        digest = digest_stream(stream)
    actual, actual_size = digest.sha256_hex, digest.size
    if actual != sha256_hex or actual_size != size:
        log.error("stored blob does not match its address", extra={"sha256": sha256_hex})
        raise HashMismatch("the stored object does not hash to its recorded sha256",
                           expected=sha256_hex, actual=actual, size=actual_size)


def _retention(runtime: Runtime, case: Case, sealed_at: datetime, stored: StoredBlob | None) -> datetime:
    """The later of the case profile's `retention.records` and the store's own period."""
    try:
        years = profile_for(case.jurisdiction).retention.years
    except ProfileError:
        years = None
    period = timedelta(days=round(365.25 * years)) if years else timedelta(days=runtime.settings.retention_days)
    until = sealed_at + period
    if stored is not None and stored.retain_until is not None and stored.retain_until > until:
        until = stored.retain_until
    return until


def _extend_retention(blobs: BlobStore, sha256_hex: str, until: datetime) -> None:
    """Have the store enforce the item's retention too, where it can (Object Lock, sidecar)."""
    try:
        info = blobs.head(sha256_hex)
        if info is not None and (info.retain_until is None or info.retain_until < until):
            blobs.extend_retention(sha256_hex, until)
    except StorageUnavailable:
        raise
    except StorageError as exc:  # e.g. a bucket without Object Lock: the row still records it
        log.warning("store cannot enforce retention", extra={"sha256": sha256_hex, "reason": exc.detail})


# --- sealing ------------------------------------------------------------------------------


def seal_evidence(session: Session, runtime: Runtime, actor: Actor, item: EvidenceItem, case: Case,
                  examination: Examination, spooled: SpooledFile,
                  staged: StagedUpload | None = None, created: dict[str, Any] | None = None) -> EvidenceItem:
    """Store the examined bytes (and thumbnail), then seal the row and record it: one transaction.

    `staged`: a direct upload's staged version, re-hashed as `spooled`; it is promoted to its
    content address (a server-side copy or link) instead of storing the spool file.
    `created`: the details of the item's `created` event, for an item made and sealed in this
    request; that event is appended with `sealed`, after the store, not before it.
    """
    if created is not None:
        session.add(item)
        session.flush()  # the item's id, for the case timeline and the events
    blobs: BlobStore = runtime.blobs
    if staged is not None:
        stored = blobs.promote_staging(staged, spooled.sha256_hex, spooled.md5_b64)
        if not stored.created:
            verify_stored(blobs, spooled.sha256_hex, spooled.size)
    else:
        stored = _store(blobs, spooled)
    if examination.thumbnail is not None:
        _store(blobs, examination.thumbnail)
        item.thumbnail_sha256 = examination.thumbnail.sha256_hex
        item.thumbnail_size = examination.thumbnail.size
    now = utcnow()
    item.status = "sealed"
    item.sealed_at = now
    item.media_type = examination.media_type
    item.storage_backend, item.storage_key = stored.backend, stored.key
    item.width, item.height = examination.width, examination.height
    item.exif, item.presence_flags = examination.exif, examination.presence_flags
    item.retain_until = _retention(runtime, case, now, stored)
    _extend_retention(blobs, item.sha256, item.retain_until)
    session.add(item)
    # The ledger append last: it holds the ledger head's lock until the request commits, so nothing
    # that can wait (the store, the case timeline row) may come after it (see start_direct_upload).
    record_event(session, item.case_id, "evidence_sealed", actor.id,
                 {"evidence_id": item.id, "kind": item.kind, "media_type": item.media_type, "size": item.size,
                  "derived_from": item.derived_from},
                 subject_id=item.id, at=now)
    session.flush()
    if created is not None:
        _append_created(session, actor, item, created)
    record_custody_event(session, type="sealed", evidence_id=item.id, actor_id=actor.id, sha256=item.sha256,
                         case_id=item.case_id, at=now, details=_seal_details(item))
    return item


def _seal_details(item: EvidenceItem) -> dict[str, Any]:
    """What the seal vouches for, beyond the hash: no personal data (the ledger is forever)."""
    details: dict[str, Any] = {"size": item.size, "media_type": item.media_type,
                               "storage_backend": item.storage_backend, "signature_status": item.signature_status}
    if item.thumbnail_sha256:
        details["thumbnail_sha256"] = item.thumbnail_sha256
    if item.presence_flags is not None:
        details["presence_flags"] = sorted(flag["code"] for flag in item.presence_flags)
    if item.derived_from:
        details["derived_from"] = item.derived_from
    return details


def _new_item(actor: Actor, visit: Visit, capture: dict[str, Any], *, kind: str, sha256: str, size: int,
              signature_status: str, device_id: str | None, status: str) -> EvidenceItem:
    consent = capture.get("consent") or {}
    return EvidenceItem(
        case_id=visit.case_id, visit_id=visit.id, collector_id=actor.id, created_by=actor.id, kind=kind,
        status=status, sha256=sha256, size=size, captured_at=capture["captured_at"],
        captured_at_device=capture["captured_at_text"], received_at=utcnow(), lat=capture.get("lat"),
        lon=capture.get("lon"), accuracy_m=capture.get("accuracy_m"), device_id=device_id,
        device_signature=capture.get("device_signature") if signature_status == "signed" else None,
        signature_status=signature_status, consent_subject=consent.get("subject"),
        third_parties_present=consent.get("third_parties_present"), legal_hold=False,
    )


def _record_created(session: Session, actor: Actor, item: EvidenceItem, **details) -> None:
    session.add(item)
    session.flush()
    _append_created(session, actor, item, details)


def _append_created(session: Session, actor: Actor, item: EvidenceItem, details: dict[str, Any]) -> None:
    record_custody_event(session, type="created", evidence_id=item.id, actor_id=actor.id, sha256=item.sha256,
                         case_id=item.case_id, at=item.received_at,
                         details={"kind": item.kind, "visit_id": item.visit_id, **details})


def ingest_evidence(session: Session, actor: Actor, runtime: Runtime, capture: dict[str, Any],
                    spooled: SpooledFile) -> EvidenceItem:
    """A streamed upload: every check first, then blob, row and custody events (201 sealed)."""
    visit = _capture_visit(session, actor, capture["visit_id"])
    spooled.check_sha256(capture["sha256"])
    case = session.get(Case, visit.case_id)
    _check_recording_consent(case, capture["kind"], (capture.get("consent") or {}).get("subject"))
    signature_status, device_id = _signature_status(session, actor, capture)
    examination = _examine(runtime, spooled, capture["kind"], visit=visit,
                           address=session.get(Address, visit.address_id), claimed_at=capture["captured_at"],
                           lat=capture.get("lat"), lon=capture.get("lon"), accuracy_m=capture.get("accuracy_m"))
    try:
        item = _new_item(actor, visit, capture, kind=capture["kind"], sha256=spooled.sha256_hex, size=spooled.size,
                         signature_status=signature_status, device_id=device_id, status="pending_upload")
        item.content_md5 = spooled.md5_b64
        return seal_evidence(session, runtime, actor, item, case, examination, spooled, created={"path": "stream"})
    finally:
        examination.discard()


# --- direct uploads -----------------------------------------------------------------------


@dataclass(frozen=True)
class DirectUpload:
    item: EvidenceItem
    presigned: PresignedUpload | None
    """None: PUT the bytes to this API (`/evidence/{id}/content`), or nothing to send (`stored`)."""
    already_stored: bool = False


def start_direct_upload(session: Session, actor: Actor, runtime: Runtime, capture: dict[str, Any]) -> DirectUpload:
    """A pending item and where to put its bytes: a presigned PUT bound to size and digests."""
    visit = _capture_visit(session, actor, capture["visit_id"])
    size = capture["size"]
    if size > runtime.settings.evidence_max_bytes:
        raise TooLarge(f"upload of {size} bytes exceeds {runtime.settings.evidence_max_bytes}",
                       max_bytes=runtime.settings.evidence_max_bytes, received=size)
    check_claimed_sha256(capture["sha256"], capture["sha256"].lower())
    capture = {**capture, "sha256": capture["sha256"].lower()}
    case = session.get(Case, visit.case_id)
    _check_recording_consent(case, capture["kind"], (capture.get("consent") or {}).get("subject"))
    signature_status, device_id = _signature_status(session, actor, capture)
    blobs: BlobStore = runtime.blobs
    md5 = capture.get("content_md5")
    if blobs.backend != "filesystem" and not md5:
        raise ValidationFailed("direct uploads to object storage are bound to the Content-MD5",
                               {"content_md5": ["required: base64 of the MD5 of the bytes"]})
    already = blobs.exists(capture["sha256"])  # nothing to send; `complete` re-hashes what is stored
    item = _new_item(actor, visit, capture, kind=capture["kind"], sha256=capture["sha256"], size=size,
                     signature_status=signature_status, device_id=device_id, status="pending_upload")
    item.content_md5 = md5
    session.add(item)
    session.flush()  # the item's id, for the presigned URL
    presigned = None
    if not already:  # to `staging/<item id>`: never to the content address (see `complete_upload`)
        presigned = blobs.presign_staging_put(item.id, size, md5 or "", capture["sha256"], UPLOAD_URL_TTL_S)
    # The ledger append last: its head lock is held until the request commits, and a niced or
    # starved ingest process signing a URL under it would stall every other custody write.
    _record_created(session, actor, item, path="direct")
    return DirectUpload(item, presigned, already)


def _pending_item(session: Session, actor: Actor, evidence_id: str) -> EvidenceItem:
    item = session.scalar(select(EvidenceItem).where(EvidenceItem.id == evidence_id,
                                                     EvidenceItem.collector_id == actor.id))
    if item is None:
        raise NotFound("no such evidence item")
    if item.status != "pending_upload":
        raise Conflict(f"the item is {item.status}; its bytes cannot be sent again")
    return item


def receive_content(session: Session, actor: Actor, runtime: Runtime, evidence_id: str,
                    body: Iterable[bytes] | BinaryIO) -> EvidenceItem:
    """A direct upload through the API (the filesystem store's): spool and hash, refuse unless
    exactly the announced bytes arrived, then stage them — the same staging `complete` promotes
    from on every store, so both direct paths are spool → verify → stage → re-hash → promote."""
    item = _pending_item(session, actor, evidence_id)
    with spool_upload(runtime, body, max_bytes=item.size) as spooled:
        if spooled.size != item.size:
            raise HashMismatch(f"expected {item.size} bytes, received {spooled.size}",
                               expected_size=item.size, received=spooled.size)
        spooled.check_sha256(item.sha256)
        md5 = spooled.md5_b64 if runtime.blobs.backend != "filesystem" else None
        runtime.blobs.put_staging(item.id, spooled.path, spooled.size, md5)
    return item


def complete_upload(session: Session, actor: Actor, runtime: Runtime, evidence_id: str) -> EvidenceItem:
    """Seal a direct upload after re-reading and re-hashing what the store holds.

    The client's bytes sit under `staging/<item id>`; exactly that version is re-read, re-hashed
    and screened here, and only then promoted to its content address. Bytes that do not hash as
    announced are removed from staging and never reach a content address (where retention could
    lock them for years and block the genuine file). When the bytes were already stored before
    the upload was announced, nothing was staged and the stored blob itself is re-hashed.
    """
    item = _pending_item(session, actor, evidence_id)
    blobs: BlobStore = runtime.blobs
    staged = blobs.head_staging(item.id)
    if staged is None and blobs.head(item.sha256) is None:
        raise Conflict("no bytes have been uploaded for this item yet")
    visit = session.get(Visit, item.visit_id)
    case = session.get(Case, item.case_id)
    try:
        try:
            source = blobs.open_staging(staged) if staged is not None else blobs.open(item.sha256)
        except BlobNotFound:
            raise Conflict("the uploaded bytes changed while being completed; complete again") from None
        with source as stream, _reread(runtime, stream, item) as spooled:
            examination = _examine(runtime, spooled, item.kind, visit=visit,
                                   address=session.get(Address, visit.address_id), claimed_at=item.captured_at,
                                   lat=item.lat, lon=item.lon, accuracy_m=item.accuracy_m)
            try:
                return seal_evidence(session, runtime, actor, item, case, examination, spooled, staged=staged)
            finally:
                examination.discard()
    except EvidenceRejected as refusal:
        _reject(session, runtime, item.id, refusal, staged=staged is not None)
        raise


def _reread(runtime: Runtime, stream: BinaryIO, item: EvidenceItem) -> SpooledFile:
    """Our own copy and hash of what the store holds; any other bytes than announced refuse."""
    try:
        spooled = spool_upload(runtime, stream, max_bytes=item.size)
    except TooLarge:
        raise HashMismatch(f"the store holds more than the {item.size} bytes announced",
                           expected_size=item.size) from None
    try:
        if spooled.size != item.size:
            raise HashMismatch(f"the store holds {spooled.size} bytes, {item.size} were announced",
                               expected_size=item.size, received=spooled.size)
        spooled.check_sha256(item.sha256)
    except BaseException:
        spooled.discard()
        raise
    return spooled


def _reject(request_session: Session, runtime: Runtime, evidence_id: str, refusal: EvidenceRejected, *,
            staged: bool = False) -> None:
    """Record the refusal on its own and drop bytes that nothing else uses.

    The request's own transaction is rolled back first (a refusal commits nothing of it), which
    also releases SQLite's write lock for the transaction that records the refusal. A staged
    upload's bytes are removed from staging (they never reached a content address); otherwise
    the stored blob that failed its re-hash goes, unless another live item names it.
    """
    request_session.rollback()
    with runtime.db.transaction() as session:
        item = session.get(EvidenceItem, evidence_id)
        item.status, item.rejection = "rejected", refusal.code
        shared = session.scalar(select(EvidenceItem.id).where(
            EvidenceItem.sha256 == item.sha256, EvidenceItem.id != item.id,
            EvidenceItem.status != "rejected").limit(1))
    if staged:
        try:
            if not runtime.blobs.discard_staging(item.id):
                log.warning("refused staged upload is retained by the bucket's default retention",
                            extra={"evidence_id": item.id})
        except StorageError:
            log.warning("could not remove a refused staged upload", extra={"evidence_id": item.id})
        return
    if shared is None:
        try:
            if not runtime.blobs.delete_if_allowed(item.sha256):
                log.warning("refused upload is retained by the store; the sweep will report it",
                            extra={"sha256": item.sha256})
        except StorageError:
            log.warning("could not remove a refused upload", extra={"sha256": item.sha256})


# --- notes and derivatives ------------------------------------------------------------------


def add_note(session: Session, actor: Actor, runtime: Runtime, visit_id: str, data: dict[str, Any]) -> EvidenceItem:
    """A visit note is evidence: stored as a UTF-8 object, hashed and sealed like a photo."""
    visit = _capture_visit(session, actor, visit_id)
    case = session.get(Case, visit.case_id)
    capture = {"captured_at": data["at"], "captured_at_text": data.get("at_text") or data["at"].isoformat(),
               "lat": data.get("lat"), "lon": data.get("lon"), "accuracy_m": data.get("accuracy_m"),
               "visit_id": visit_id, "device_id": data.get("device_id"),
               "device_signature": data.get("device_signature")}
    if capture["device_signature"] and capture["lat"] is None:
        raise ValidationFailed("a signed note needs the lat and lon it was signed with",
                               {"lat": ["required with device_signature"]})
    with spool_upload(runtime, [data["text"].encode("utf-8")]) as spooled:
        capture["sha256"] = spooled.sha256_hex
        signature_status, device_id = _signature_status(session, actor, capture)
        item = _new_item(actor, visit, capture, kind="note", sha256=spooled.sha256_hex, size=spooled.size,
                         signature_status=signature_status, device_id=device_id, status="pending_upload")
        return seal_evidence(session, runtime, actor, item, case, Examination(media_type=NOTE_MEDIA_TYPE), spooled,
                             created={"path": "note"})


def seal_issued_document(session: Session, actor: Actor, runtime: Runtime, case: Case, content: bytes, *,
                         media_type: str, issued_at: datetime, created: dict[str, Any]) -> EvidenceItem:
    """A document the organisation issued (a written notice): no visit, no device; sealed, stored and
    in the ledger like a photo, so it can be proven the same way. `created`: its `created` details."""
    with spool_upload(runtime, [content]) as spooled:
        item = EvidenceItem(
            case_id=case.id, visit_id=None, collector_id=actor.id, created_by=actor.id, kind="document",
            status="pending_upload", sha256=spooled.sha256_hex, size=spooled.size, content_md5=spooled.md5_b64,
            captured_at=issued_at, captured_at_device=issued_at.isoformat(), received_at=utcnow(),
            signature_status="unsigned", legal_hold=False)
        return seal_evidence(session, runtime, actor, item, case, Examination(media_type=media_type), spooled,
                             created=created)


def redact_evidence(session: Session, actor: Actor, runtime: Runtime, evidence_id: str,
                    regions: list[dict[str, int]], reason: str, mode: str = "blur") -> EvidenceItem:
    """A redacted copy as a new sealed item; the original is re-verified and never touched."""
    original = get_evidence(session, actor, evidence_id)
    if original.status != "sealed" or original.kind != "photo":
        raise Conflict("only sealed photos can be redacted")
    blobs: BlobStore = runtime.blobs
    case = session.get(Case, original.case_id)
    suffix = ".jpg" if original.media_type == "image/jpeg" else ".png"
    with blobs.open(original.sha256) as stream, spool_upload(runtime, stream) as source:
        source.check_sha256(original.sha256)
        with _scratch_file(runtime, suffix) as out_path:
            info = images.redact(source.path, out_path, regions, mode)
            with open(out_path, "rb") as out, spool_upload(runtime, out) as redacted:
                examination = _examine(runtime, redacted, "photo")
                try:
                    item = EvidenceItem(
                        case_id=original.case_id, visit_id=original.visit_id, collector_id=original.collector_id,
                        created_by=actor.id, kind="photo", status="pending_upload", sha256=redacted.sha256_hex,
                        size=redacted.size, content_md5=redacted.md5_b64, captured_at=original.captured_at,
                        captured_at_device=original.captured_at_device, received_at=utcnow(), lat=original.lat,
                        lon=original.lon, accuracy_m=original.accuracy_m, device_id=original.device_id,
                        signature_status="unsigned", consent_subject=original.consent_subject,
                        third_parties_present=original.third_parties_present, derived_from=original.id,
                        redaction_regions=[vars(region) for region in info.regions], redaction_mode=info.mode,
                        redaction_reason=reason, legal_hold=False,
                    )
                    seal_evidence(session, runtime, actor, item, case, examination, redacted,
                                  created={"path": "redaction", "derived_from": original.id})
                finally:
                    examination.discard()
    record_custody_event(session, type="derived", evidence_id=original.id, actor_id=actor.id,
                         sha256=original.sha256, case_id=original.case_id,
                         details={"derived_id": item.id, "derived_sha256": item.sha256, "operation": "redaction",
                                  "mode": info.mode, "regions": len(info.regions)})
    return item


# --- reads --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Content:
    """An opened stream of exact stored bytes, with what a response needs to describe them."""

    stream: BinaryIO
    sha256: str
    size: int
    media_type: str
    filename: str


_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf", "audio/wav": "wav",
               "audio/mp4": "m4a", "video/mp4": "mp4", NOTE_MEDIA_TYPE: "txt"}


def record_view(session: Session, actor: Actor, runtime: Runtime, evidence_id: str, *,
                rendition: str = "original") -> Content:
    """Open an item's bytes (or its thumbnail) and record the access as a custody event.

    Who may read is checked on `session`, a reader's (the view is marked `@reads_and_records`);
    the event is committed in a transaction of its own (`commit_custody_event`) before this
    returns, so before the first byte is sent: a read the ledger does not show cannot happen.
    A request whose only write is its event then holds no unit of work while it reads, and on
    SQLite no write lock.
    """
    item = get_evidence(session, actor, evidence_id)
    if item.status != "sealed":
        raise Conflict(f"the item is {item.status}; there is nothing to read")
    if rendition == "thumbnail":
        if not item.thumbnail_sha256:
            raise NotFound("this item has no thumbnail")
        sha256, size, media_type, name = item.thumbnail_sha256, item.thumbnail_size, "image/jpeg", "thumbnail.jpg"
        event = "viewed"
    else:
        sha256, size, media_type = item.sha256, item.size, item.media_type
        name = f"{item.id}.{_EXTENSIONS.get(media_type, 'bin')}"
        event = "downloaded"
    release_reader(session)
    stream = runtime.blobs.open(sha256)
    try:
        commit_custody_event(runtime.db.engine, type=event, evidence_id=item.id, actor_id=actor.id,
                             sha256=item.sha256, case_id=item.case_id, details={"rendition": rendition})
    except BaseException:
        stream.close()
        raise
    return Content(stream, sha256, size, media_type, name)


def custody_of(session: Session, actor: Actor, evidence_id: str) -> list[CustodyEvent]:
    """The item's integrated events in ledger order, then those still waiting to be integrated."""
    item = get_evidence(session, actor, evidence_id)
    return custody_for_evidence(session, item.id, pending=True)


def custody_receipt(session: Session, actor: Actor, runtime: Runtime, event_id: str) -> receipts.Receipt:
    """A custody event's receipt, for whoever may see what it is about (404 otherwise)."""
    event = receipts.find_event(session, event_id)
    try:
        if event.evidence_id is not None:
            get_evidence(session, actor, event.evidence_id)
        elif event.case_id is not None:
            get_case(session, actor, event.case_id)
    except NotFound:
        raise NotFound("no such custody event") from None
    return receipts.receipt(session, runtime, event)


# --- legal hold, retention, sweep -------------------------------------------------------------


def set_legal_hold(session: Session, actor: Actor, runtime: Runtime, evidence_id: str, on: bool,
                   reason: str | None = None) -> EvidenceItem:
    """Put an item under legal hold or release it; the store enforces it where it can."""
    item = get_evidence(session, actor, evidence_id)
    if item.status != "sealed":
        raise Conflict(f"the item is {item.status}; only sealed items are held")
    if item.legal_hold == on:
        return item
    item.legal_hold = on
    item.updated_at = utcnow()
    others_held = session.scalar(select(EvidenceItem.id).where(
        EvidenceItem.sha256 == item.sha256, EvidenceItem.id != item.id,
        EvidenceItem.legal_hold.is_(True)).limit(1)) is not None
    enforced = True
    if on or not others_held:
        try:
            runtime.blobs.set_legal_hold(item.sha256, on)
        except StorageUnavailable:
            raise
        except StorageError as exc:  # a bucket without Object Lock: the row still records it
            log.warning("store cannot enforce legal hold", extra={"sha256": item.sha256, "reason": exc.detail})
            enforced = False
    session.flush()
    record_custody_event(session, type="legal_hold_set" if on else "legal_hold_released", evidence_id=item.id,
                         actor_id=actor.id, sha256=item.sha256, case_id=item.case_id,
                         details={"store_enforced": enforced})
    record_event(session, item.case_id, "evidence_legal_hold_set" if on else "evidence_legal_hold_released",
                 actor.id, {"evidence_id": item.id}, subject_id=item.id)
    if reason:
        log.info("legal hold changed", extra={"evidence_id": item.id, "on": on})
    return item


def deletable(item: EvidenceItem, now: datetime | None = None) -> bool:
    """Never while held, never before the retention period ends."""
    now = now or utcnow()
    return not item.legal_hold and (item.retain_until is None or item.retain_until <= now)


@dataclass
class SweepReport:
    scanned: int = 0
    unreferenced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


ReferenceProvider = Callable[[Session, Collection[str]], Iterable[str]]
"""Given a batch of stored digests, the ones some other record still needs (packet volumes,
bundles...). Evidence cannot import the packages that keep such records (they import
evidence), so whoever runs a sweep passes their providers in; `fieldproof storage sweep` passes
every one the application has (`api/commands/evidence.py`)."""


def sweep_storage(session: Session, blobs: BlobStore, *, remove: bool = False, batch: int = 500,
                  references: Sequence[ReferenceProvider] = ()) -> SweepReport:
    """Blobs nothing references (a crash between blob and row, a refused direct upload).

    Referenced: a live evidence row's bytes or thumbnail, and whatever a `references` provider
    names. A blob is only ever removed when none of them claims it, and removal goes through
    `delete_if_allowed`, so the store's retention and legal holds still win; a blob written
    moments ago by an ingest that has not committed yet is protected the same way (every store
    put carries at least a day of retention).
    """
    from evidence.storage.base import sha256_of_key

    report = SweepReport()
    keys: list[str] = []

    def flush() -> None:
        digests = {sha256_of_key(key): key for key in keys}
        live = set(session.scalars(select(EvidenceItem.sha256).where(
            EvidenceItem.sha256.in_(digests), EvidenceItem.status != "rejected")))
        live |= set(session.scalars(select(EvidenceItem.thumbnail_sha256).where(
            EvidenceItem.thumbnail_sha256.in_(digests))))
        for provider in references:
            live |= set(provider(session, frozenset(digests)))
        for digest, key in digests.items():
            if digest in live:
                continue
            report.unreferenced.append(key)
            if remove:
                (report.removed if blobs.delete_if_allowed(digest) else report.kept).append(key)
        keys.clear()

    for key in blobs.iter_keys():
        report.scanned += 1
        keys.append(key)
        if len(keys) >= batch:
            flush()
    if keys:
        flush()
    return report


@dataclass
class StagingSweep:
    abandoned: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def sweep_staging(blobs: BlobStore, *, older_than: timedelta, remove: bool = False,
                  now: datetime | None = None) -> StagingSweep:
    """Direct uploads staged longer ago than `older_than` and never completed.

    Age alone decides: a completed upload leaves staging when it is promoted, a refused one is
    discarded then, so what stays there past the upload URL's life plus a margin was abandoned by
    its phone. Its pending row stays as it is (a later `complete` finds nothing staged).
    """
    cutoff = (now or utcnow()) - older_than
    report = StagingSweep()
    for upload_id, written_at in blobs.iter_staging():
        if written_at > cutoff:
            continue
        report.abandoned.append(upload_id)
        if remove and blobs.discard_staging(upload_id):
            report.removed.append(upload_id)
    return report
