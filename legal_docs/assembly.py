"""Packet assembly: requesting a packet, and turning the database into a `PacketContent`.

What a packet may show is decided here, once, before anything is rendered:

* the selection — the case's sealed originals in capture order, or the items a lawyer named;
* consent — an item with third parties present (no third-party consent is ever recorded) is
  shown only through its latest redacted derivative, the original listed as withheld; an item
  whose subject refused consent is left out unless a legal user overrode that with a reason;
  every exclusion is a warning on the packet, never a silent omission;
* integrity — every file is copied out of the blob store and re-hashed on the way; bytes that
  no longer match their seal stop the build and name the item;
* custody — the `packeted` events are appended first and one checkpoint is signed after them,
  so every exhibit's proofs (including the event that put it in this packet) check against it.
"""
from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from accounts.models import Device, User
from cases.models import Address, Case
from cases.promises import RepaymentPromise
from cases.services import get_case, lock_case, record_event
from contacts.services import case_contacts
from core.actor import Actor
from core.clock import utcnow
from core.db import release_reader
from core.errors import Conflict, Forbidden, IntegrityFailure, NotFound, ValidationFailed
from core.hashing import digest_stream
from core.jobs import submit_after_commit
from custody.append import (
    commit_custody_event,
    custody_for_evidence,
    integrate_everything_queued,
    record_custody_event,
)
from custody.checkpoints import issue_checkpoint, vouch_for, witnessed_since
from custody.models import SigningKey
from custody.proofs import inclusion_proof
from evidence.models import EvidenceItem
from evidence.storage.base import BlobNotFound
from legal_docs.content import (
    CaseSummary,
    CheckpointStamp,
    ChronologyEntry,
    Consent,
    CustodyLine,
    Exhibit,
    LedgerSnapshot,
    PacketContent,
    WithheldItem,
    WitnessedExtension,
)
from legal_docs.models import Notice, Packet
from visits.geofence import InvalidCoordinates, distance_m
from visits.models import Visit

REQUESTERS = ("legal", "admin")
READERS = ("legal", "admin", "auditor")
CONSENT_OVERRIDERS = ("legal",)
BUILD_JOB = "packet.build"
_BLOCK = 1 << 20
_CN_NATIONAL_ID = re.compile(r"\d{6}((?:19|20)\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{3}[\dXx]")


# --- requesting and reading -------------------------------------------------------------------


BATES_PREFIX = re.compile(r"^[A-Z][A-Z0-9_]{0,15}$")


def default_bates_prefix(reference: str) -> str:
    """The case reference as a Bates prefix: capitals, digits and '_', starting with a letter, ≤ 16."""
    prefix = re.sub(r"[^A-Z0-9]+", "_", reference.upper()).strip("_")
    if not prefix or not prefix[0].isalpha():
        prefix = "C" + prefix
    return prefix[:16].rstrip("_")


def _case_items(session: Session, case_id: str, ids: list[str]) -> dict[str, EvidenceItem]:
    return {item.id: item for item in session.scalars(
        select(EvidenceItem).where(EvidenceItem.case_id == case_id, EvidenceItem.id.in_(ids)))}


def _check_request(session: Session, case: Case, evidence_ids: list[str] | None,
                   overrides: dict[str, str]) -> None:
    """Named items must be the case's sealed items; an override must be for a refused consent."""
    errors: dict[str, list[str]] = {}
    if evidence_ids is not None:
        items = _case_items(session, case.id, evidence_ids)
        wrong = [i for i in evidence_ids if i not in items or items[i].status != "sealed"]
        if wrong:
            errors["evidence_ids"] = [f"{i}: not a sealed evidence item of this case" for i in wrong]
    if overrides:
        items = _case_items(session, case.id, list(overrides))
        wrong = [i for i in overrides if i not in items or items[i].status != "sealed"]
        refused = [i for i in overrides if i in items and i not in wrong and items[i].consent_subject != "refused"]
        messages = [f"{i}: not a sealed evidence item of this case" for i in wrong]
        messages += [f"{i}: its subject did not refuse consent, there is nothing to override" for i in refused]
        if messages:
            errors["consent_overrides"] = messages
    if errors:
        raise ValidationFailed("the packet request names items it cannot use", errors)


def request_packet(session: Session, actor: Actor, jobs, case_id: str, *, language: str,
                   bates_prefix: str | None = None, evidence_ids: list[str] | None = None,
                   consent_overrides: list[dict] | None = None) -> Packet:
    """Queue a new version of the case's packet; the build job starts once this commits."""
    if not actor.has_role(*REQUESTERS):
        raise Forbidden("only legal users and admins build packets")
    if bates_prefix is not None and not BATES_PREFIX.match(bates_prefix):
        raise ValidationFailed("not a Bates prefix", {"bates_prefix": [
            "1-16 capitals, digits or '_', starting with a letter"]})
    if language not in ("zh-CN", "en"):
        raise ValidationFailed("unknown language", {"language": ["zh-CN or en"]})
    overrides = {o["evidence_id"]: o["reason"] for o in consent_overrides or []}
    if overrides and not actor.has_role(*CONSENT_OVERRIDERS):
        raise Forbidden("only a legal user may override a refused consent")
    case = get_case(session, actor, case_id)
    lock_case(session, case.id)  # versions in order
    if evidence_ids is not None:
        evidence_ids = list(dict.fromkeys(evidence_ids))
    _check_request(session, case, evidence_ids, overrides)
    version = (session.scalar(select(func.max(Packet.version)).where(Packet.case_id == case.id)) or 0) + 1
    packet = Packet(case_id=case.id, version=version, language=language,
                    bates_prefix=bates_prefix or default_bates_prefix(case.reference), status="queued",
                    progress=0.0, exhibits_total=0, exhibits_done=0, requested_by=actor.id,
                    evidence_ids=evidence_ids, consent_overrides=overrides, exhibits=[], withheld=[], volumes=[],
                    warnings=[])
    session.add(packet)
    session.flush()
    record_event(session, case.id, "packet_requested", actor.id,
                 {"packet_id": packet.id, "version": version, "language": language,
                  "consent_overrides": sorted(overrides)}, subject_id=packet.id)
    submit_after_commit(session, jobs, BUILD_JOB, {"packet_id": packet.id})
    return packet


def get_packet(session: Session, actor: Actor, packet_id: str) -> Packet:
    if not actor.has_role(*READERS):
        raise Forbidden("only legal users, admins and auditors read packets")
    packet = session.get(Packet, packet_id)
    if packet is None:
        raise NotFound("no such packet")
    get_case(session, actor, packet.case_id)
    return packet


def list_case_packets(session: Session, actor: Actor, case_id: str) -> Select:
    """Every version of the case's packet, newest first."""
    if not actor.has_role(*READERS):
        raise Forbidden("only legal users, admins and auditors read packets")
    get_case(session, actor, case_id)
    return select(Packet).where(Packet.case_id == case_id).order_by(Packet.version.desc())


@dataclass(frozen=True)
class PacketFile:
    """An opened packet file (a PDF volume or the bundle) and what its response states."""

    stream: BinaryIO
    sha256: str
    size: int
    media_type: str
    filename: str


def open_packet_file(session: Session, actor: Actor, runtime, packet_id: str, *, volume: int | None = None) -> PacketFile:
    """Open a PDF volume (``volume``) or the bundle (None); the download is a custody event first,
    committed on its own as `evidence.services.record_view` commits a read of an item's bytes
    (`session` is a reader's: the view is marked `@reads_and_records`)."""
    packet = get_packet(session, actor, packet_id)
    if packet.status != "ready":
        raise Conflict(f"the packet is {packet.status}; its files exist once it is ready")
    if volume is None:
        sha256, size, media_type = packet.bundle_sha256, packet.bundle_size, "application/zip"
        name, details = f"{packet.bates_prefix}_v{packet.version}_bundle.zip", {"file": "bundle"}
    else:
        entry = packet.volume(volume)
        if entry is None:
            raise NotFound(f"the packet has {len(packet.volumes)} volume(s), not a volume {volume}")
        sha256, size, media_type = entry["sha256"], entry["size"], "application/pdf"
        name, details = f"{packet.bates_prefix}_v{packet.version}_vol{volume:02d}.pdf", {"file": "pdf", "volume": volume}
    release_reader(session)
    stream = runtime.blobs.open(sha256)
    try:
        commit_custody_event(runtime.db.engine, type="downloaded", subject_id=packet.id, actor_id=actor.id,
                             sha256=sha256, case_id=packet.case_id,
                             details={"packet_version": packet.version, **details})
    except BaseException:
        stream.close()
        raise
    return PacketFile(stream, sha256, size, media_type, name)


# --- the words a packet uses ------------------------------------------------------------------

_WORDS = {
    "en": {
        "kind": {"photo": "Photo", "audio": "Audio recording", "document": "Document", "note": "Collector's note"},
        "address": {"home": "home address", "workplace": "workplace address"},
        "title": "{kind} at the {address}, {date}",
        "redacted": "{title} (redacted copy of item {original}: {reason})",
        "source": "Field visit on {date}, recorded on the collector's device",
        "purpose": {
            "photo": "Shows the collector at the {address} at the time stated",
            "audio": "Records what was said during the visit",
            "document": "The document delivered or obtained during the visit",
            "note": "The collector's contemporaneous record of the visit",
        },
        "check_in": "Checked in at the {address}",
        "check_out": "Checked out; outcome: {outcome}",
        "note": "Note recorded during the visit",
        "promise": "Promise to pay {amount} {currency} by {due} ({status})",
        "notice": "{title} mailed, in {language}",
        "notice_validation_end": "; the validation period ends {date}",
        "notice_respond_by": "; reply asked by {date}",
        "notice_titles": {"validation": "Validation notice", "overdue": "Overdue notice"},
        "languages": {"en": "English", "zh-CN": "Chinese"},
        "issued_title": "Written notice issued by the organisation, {date}",
        "issued_source": "Issued from the organisation's notice templates on {date}; sealed when issued",
        "issued_purpose": "The written notice sent to the debtor, as issued",
        "outcomes": {"met_debtor": "met the debtor", "not_home": "debtor not at home", "refused": "debtor refused to talk",
                     "third_party_only": "met a third party only", "promise_to_pay": "promise to pay",
                     "payment_received": "payment received", "address_invalid": "address invalid"},
        "promise_status": {"open": "open", "kept": "kept", "broken": "broken"},
        "device_unregistered": "not a registered device",
        "signed": "signed capture", "unsigned": "unsigned capture",
        "reason_third_party": "third parties present without their consent",
        "reason_third_party_redacted": "third parties present without their consent; shown only redacted",
        "reason_refused": "the subject refused consent",
        "warn_third_party": "Evidence {id} ({kind}): third parties present without their consent and no redacted "
                            "copy exists; withheld for privacy.",
        "warn_redacted": "Evidence {id} ({kind}): third parties present without their consent; shown only as its "
                         "redacted copy {derived} (exhibit {number}).",
        "warn_refused": "Evidence {id} ({kind}): the subject refused consent; left out.",
        "warn_override": "Evidence {id} ({kind}): the subject refused consent; included on a legal override: {reason}",
    },
    "zh-CN": {
        "kind": {"photo": "照片", "audio": "录音", "document": "文件", "note": "催收员笔记"},
        "address": {"home": "住所地址", "workplace": "工作单位地址"},
        "title": "{address}{kind}（{date}）",
        "redacted": "{title}（证据 {original} 的遮盖处理副本：{reason}）",
        "source": "{date}上门催收，催收员设备采集",
        "purpose": {
            "photo": "证明催收员于所述时间到达{address}",
            "audio": "证明上门催收时的沟通内容",
            "document": "证明上门催收时送达或取得的文件",
            "note": "证明催收员对本次上门催收的同期记录",
        },
        "check_in": "在{address}签到",
        "check_out": "签退；结果：{outcome}",
        "note": "上门催收时记录笔记",
        "promise": "承诺于{due}前还款 {amount} {currency}（{status}）",
        "notice": "寄出{title}（{language}）",
        "notice_validation_end": "；债务确认期于{date}届满",
        "notice_respond_by": "；要求于{date}前答复",
        "notice_titles": {"validation": "债务确认通知", "overdue": "逾期欠款通知"},
        "languages": {"en": "英文", "zh-CN": "中文"},
        "issued_title": "本机构发出的书面通知（{date}）",
        "issued_source": "{date}由本机构按通知模板生成，生成时即封存",
        "issued_purpose": "证明向债务人发出的书面通知内容",
        "outcomes": {"met_debtor": "见到债务人", "not_home": "债务人不在家", "refused": "债务人拒绝沟通",
                     "third_party_only": "仅见到第三人", "promise_to_pay": "承诺还款",
                     "payment_received": "已收到还款", "address_invalid": "地址无效"},
        "promise_status": {"open": "未到期", "kept": "已履行", "broken": "未履行"},
        "device_unregistered": "未登记设备",
        "signed": "设备签名", "unsigned": "无设备签名",
        "reason_third_party": "有第三人在场且未经其同意",
        "reason_third_party_redacted": "有第三人在场且未经其同意；仅提交遮盖处理副本",
        "reason_refused": "当事人拒绝同意",
        "warn_third_party": "证据 {id}（{kind}）：有第三人在场且未经其同意，且无遮盖处理副本；为保护隐私未提交。",
        "warn_redacted": "证据 {id}（{kind}）：有第三人在场且未经其同意；仅以其遮盖处理副本 {derived}（证据{number}）提交。",
        "warn_refused": "证据 {id}（{kind}）：当事人拒绝同意；未提交。",
        "warn_override": "证据 {id}（{kind}）：当事人拒绝同意；经法务人员决定仍予提交，理由：{reason}",
    },
}


# --- selection and consent --------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One exhibit to be: the item shown, the original it stands for, and any consent override."""

    item: EvidenceItem
    original: EvidenceItem
    override: str | None = None


@dataclass
class Selection:
    choices: list[Choice] = field(default_factory=list)
    withheld: list[tuple[EvidenceItem, str, Choice | None]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def select_exhibits(candidates: list[EvidenceItem], derivatives: dict[str, EvidenceItem],
                    overrides: dict[str, str], language: str) -> Selection:
    """Apply the consent rules to candidates already in capture order (a pure function).

    `derivatives` maps an original's id to its latest sealed derivative.
    """
    words = _WORDS[language]
    selection = Selection()
    used: set[str] = set()
    for item in candidates:
        kind = words["kind"][item.kind]
        override = None
        if item.consent_subject == "refused":  # a redacted copy inherits its original's refusal
            override = overrides.get(item.id) or overrides.get(item.derived_from or "")
            if override is None:
                selection.withheld.append((item, words["reason_refused"], None))
                selection.warnings.append(words["warn_refused"].format(id=item.id, kind=kind))
                continue
            selection.warnings.append(words["warn_override"].format(id=item.id, kind=kind, reason=override))
        shown = item
        if item.derived_from is None and item.third_parties_present:
            shown = derivatives.get(item.id)
            if shown is None:
                selection.withheld.append((item, words["reason_third_party"], None))
                selection.warnings.append(words["warn_third_party"].format(id=item.id, kind=kind))
                continue
        if shown.id in used:
            continue
        used.add(shown.id)
        choice = Choice(item=shown, original=item, override=override)
        selection.choices.append(choice)
        if shown is not item:
            selection.withheld.append((item, words["reason_third_party_redacted"], choice))
            selection.warnings.append(words["warn_redacted"].format(id=item.id, kind=kind, derived=shown.id,
                                                                    number=len(selection.choices)))
    return selection


def _capture_order(query: Select) -> Select:
    return query.order_by(EvidenceItem.captured_at, EvidenceItem.received_at, EvidenceItem.id)


def _selection(session: Session, packet: Packet) -> Selection:
    sealed = select(EvidenceItem).where(EvidenceItem.case_id == packet.case_id, EvidenceItem.status == "sealed")
    if packet.evidence_ids is not None:
        candidates = list(session.scalars(_capture_order(sealed.where(EvidenceItem.id.in_(packet.evidence_ids)))))
        missing = set(packet.evidence_ids) - {item.id for item in candidates}
        if missing:
            raise IntegrityFailure(f"requested evidence {', '.join(sorted(missing))} is no longer a sealed item of "
                                   "the case", evidence_ids=sorted(missing))
    else:
        candidates = list(session.scalars(_capture_order(sealed.where(EvidenceItem.derived_from.is_(None)))))
    originals = [item.id for item in candidates if item.derived_from is None and item.third_parties_present]
    derivatives: dict[str, EvidenceItem] = {}
    if originals:
        for derived in session.scalars(sealed.where(EvidenceItem.derived_from.in_(originals))
                                       .order_by(EvidenceItem.sealed_at, EvidenceItem.received_at, EvidenceItem.id)):
            derivatives[derived.derived_from] = derived  # the latest wins
    return select_exhibits(candidates, derivatives, packet.consent_overrides or {}, packet.language)


# --- copying and re-hashing -------------------------------------------------------------------


def _media_type(item: EvidenceItem) -> str:
    return (item.media_type or "application/octet-stream").split(";", 1)[0].strip()


def copy_verified(blobs, item: EvidenceItem, target: Path) -> None:
    """Copy an item's stored bytes to `target`, hashing as they pass; other bytes fail naming the item."""
    try:
        with blobs.open(item.sha256) as stream, open(target, "wb") as out:
            digest = digest_stream(stream, copy_to=out)
    except BlobNotFound:
        raise IntegrityFailure(f"evidence item {item.id} ({item.kind}): its stored bytes are missing",
                               evidence_id=item.id) from None
    if digest.sha256_hex != item.sha256 or digest.size != item.size:
        raise IntegrityFailure(f"evidence item {item.id} ({item.kind}): the stored bytes hash to "
                               f"{digest.sha256_hex} ({digest.size} bytes), not the sealed {item.sha256} "
                               f"({item.size} bytes)", evidence_id=item.id)


# --- custody and the checkpoint ---------------------------------------------------------------


def _record_packeted(session: Session, runtime, packet: Packet, selection: Selection):
    """`packeted` events first, then one checkpoint over them and every event queued before
    (committed before any proof is read)."""
    for choice in selection.choices:
        details = {"packet_id": packet.id, "packet_version": packet.version, "language": packet.language}
        if choice.item is not choice.original:
            details["shown_for"] = choice.original.id
        if choice.override is not None:
            details["consent_override"] = {"reason": choice.override, "by": packet.requested_by}
        record_custody_event(session, type="packeted", evidence_id=choice.item.id, actor_id=packet.requested_by,
                             sha256=choice.item.sha256, case_id=packet.case_id, details=details)
    integrate_everything_queued(session)  # queued events (these and earlier ones) in the head it signs
    return issue_checkpoint(session, runtime.signer, runtime.settings.ledger_origin)


def _custody_proofs(session: Session, item: EvidenceItem, tree_size: int) -> tuple[CustodyLine, ...]:
    """Every event about the item inside the checkpoint's tree, each with its inclusion proof."""
    events = []
    for event in custody_for_evidence(session, item.id):
        if event.ledger_index >= tree_size or event.sha256 != item.sha256:
            continue
        proof = inclusion_proof(session, event.ledger_index, tree_size)
        leaf = event.leaf.encode("utf-8")
        events.append(CustodyLine(index=event.ledger_index, type=event.type, at=json.loads(leaf)["at"],
                                   actor=event.actor_id, leaf=leaf, leaf_hash=event.leaf_hash,
                                   audit_path=tuple(proof.audit_path)))
    return tuple(events)


# --- the content ------------------------------------------------------------------------------


def _person(user: User | None) -> str:
    if user is None:
        return ""
    return f"{user.display_name} ({user.username})" if user.display_name else user.username


def _address_line(address: Address | None) -> str:
    if address is None:
        return ""
    return ", ".join(part for part in (address.line, address.city, address.region, address.country) if part)


def _zone(visit: Visit | None) -> ZoneInfo:
    try:
        return ZoneInfo(visit.time_zone) if visit is not None else ZoneInfo("UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _distance(item: EvidenceItem, address: Address | None) -> float | None:
    if None in (item.lat, item.lon) or address is None or None in (address.lat, address.lon):
        return None
    try:
        return round(distance_m((item.lat, item.lon), (address.lat, address.lon)), 1)
    except InvalidCoordinates:
        return None


def _birth_year(case: Case, cipher) -> int | None:
    """The year from a Chinese resident id (digits 7–10); nothing else of the id leaves here."""
    if not case.debtor_national_id_encrypted:
        return None
    from cases.services import reveal_identity

    match = _CN_NATIONAL_ID.fullmatch(reveal_identity(case, cipher)["national_id"] or "")
    return int(match.group(1)) if match else None


def case_summary(case: Case, settings, cipher) -> CaseSummary:
    """The case reduced as FRCP 5.2(a) asks: last 4 of account and id numbers, birth year only."""
    masked = case.debtor_national_id_masked or ""
    home = next((a for a in case.addresses if a.kind == "home"), case.addresses[0] if case.addresses else None)
    return CaseSummary(
        reference=case.reference, debtor_name=case.debtor_name, creditor=settings.organisation_name,
        account_last4=case.card_last4, currency=case.currency, amount_overdue=f"{case.amount_overdue:.2f}",
        days_past_due=case.days_past_due, address=_address_line(home),
        national_id_last4=masked[-4:] if len(masked) > 4 and "*" not in masked[-4:] else None,
        birth_year=_birth_year(case, cipher),
    )


@dataclass
class _Lookups:
    visits: dict[str, Visit]
    addresses: dict[str, Address]
    users: dict[str, User]
    devices: dict[str, Device]


def _lookups(session: Session, case: Case, items: list[EvidenceItem]) -> _Lookups:
    visits = {v.id: v for v in session.scalars(select(Visit).where(Visit.case_id == case.id))}
    user_ids = {i.collector_id for i in items} | {v.collector_id for v in visits.values()} | \
               {v.checked_in_by for v in visits.values() if v.checked_in_by} | \
               set(session.scalars(select(Notice.issued_by).where(Notice.case_id == case.id)))
    device_ids = {i.device_id for i in items if i.device_id}
    return _Lookups(
        visits=visits, addresses={a.id: a for a in case.addresses},
        users={u.id: u for u in session.scalars(select(User).where(User.id.in_(user_ids)))} if user_ids else {},
        devices={d.id: d for d in session.scalars(select(Device).where(Device.id.in_(device_ids)))}
        if device_ids else {},
    )


def _exhibit(number: int, choice: Choice, path: Path, custody: tuple[CustodyLine, ...], look: _Lookups,
             language: str) -> Exhibit:
    words = _WORDS[language]
    item = choice.item
    visit = look.visits.get(item.visit_id)
    address = look.addresses.get(visit.address_id) if visit else None
    zone = _zone(visit)
    local = item.captured_at.astimezone(zone)
    address_label = words["address"].get(address.kind, "") if address else ""
    kind = words["kind"][item.kind]
    title = words["title"].format(kind=kind, address=address_label, date=local.date().isoformat())
    description = title
    if item.derived_from:
        description = words["redacted"].format(title=title, original=item.derived_from,
                                               reason=item.redaction_reason or "")
    device = look.devices.get(item.device_id) if item.device_id else None
    device_text = f"{device.label} ({device.id})" if device else words["device_unregistered"]
    device_text += f"; {words['signed'] if item.signature_status == 'signed' else words['unsigned']}"
    third_parties = bool(item.third_parties_present)
    source = words["source"].format(date=(visit.local_date.isoformat() if visit else local.date().isoformat()))
    purpose = words["purpose"][item.kind].format(address=address_label)
    if item.visit_id is None:  # a document the organisation issued (a written notice), not a capture
        title = description = words["issued_title"].format(date=local.date().isoformat())
        source = words["issued_source"].format(date=local.date().isoformat())
        purpose = words["issued_purpose"]
    return Exhibit(
        number=number, evidence_id=item.id, title=title, description=description, source=source,
        purpose=purpose, kind=item.kind,
        media_type=_media_type(item), path=path, sha256=item.sha256, size=item.size, captured_at=item.captured_at,
        captured_local=local, zone=zone.key, collector=_person(look.users.get(item.collector_id)), device=device_text,
        consent=Consent(subject=item.consent_subject or "not_asked", third_parties_present=third_parties,
                        third_party_consent=False if third_parties else None),
        custody=custody, lat=item.lat, lon=item.lon, distance_m=_distance(item, address), address_label=address_label,
        derived_from=item.derived_from, redaction_reason=(item.redaction_reason or "") if item.derived_from else "",
    )


# Contacts in the chronology: channel and outcome in the packet's language (contacts.models codes).
_CONTACT_WORDS = {
    "en": {
        "outbound": {"call": "Call to the debtor", "sms": "SMS sent", "email": "E-mail sent", "letter": "Letter sent"},
        "inbound": {"call": "Call from the debtor", "sms": "SMS from the debtor", "email": "E-mail from the debtor",
                    "letter": "Letter from the debtor"},
        "outcomes": {"no_answer": "no answer", "voicemail": "voicemail left", "wrong_party": "wrong party",
                     "spoke_debtor": "spoke to the debtor", "spoke_third_party": "spoke to a third party",
                     "refused": "debtor refused to talk", "sent": "sent", "delivered": "delivered",
                     "failed": "delivery failed", "returned": "returned to sender"},
        "method": {"post": "by post", "hand": "by hand"},
        "duration": "{seconds} s", "template": "template {template}", "tracking": "tracking {tracking}",
        "opt_out": "the debtor opted out of this channel", "sealed": "text sealed, SHA-256 {digest}",
        "said": "{what}: {outcome}", "and": "; ",
    },
    "zh-CN": {
        "outbound": {"call": "致电债务人", "sms": "发送短信", "email": "发送电子邮件", "letter": "寄送信函"},
        "inbound": {"call": "债务人来电", "sms": "债务人来短信", "email": "债务人来邮件", "letter": "债务人来信"},
        "outcomes": {"no_answer": "无人接听", "voicemail": "语音留言", "wrong_party": "非本人接听",
                     "spoke_debtor": "与债务人通话", "spoke_third_party": "与第三方通话", "refused": "债务人拒绝沟通",
                     "sent": "已发送", "delivered": "已送达", "failed": "发送失败", "returned": "已退回"},
        "method": {"post": "邮寄", "hand": "当面送达"},
        "duration": "{seconds} 秒", "template": "模板 {template}", "tracking": "运单号 {tracking}",
        "opt_out": "债务人已退订此渠道", "sealed": "文本已封存，SHA-256 {digest}",
        "said": "{what}：{outcome}", "and": "；",
    },
}


def _contact_entries(session: Session, case: Case, look: _Lookups, language: str,
                     entry: Callable[..., ChronologyEntry]) -> list[ChronologyEntry]:
    """Calls, messages and letters, at the debtor's local time the contact was judged in."""
    words = _CONTACT_WORDS[language]
    found = []
    contacts = case_contacts(session, case.id)
    missing = {c.collector_id for c in contacts} - set(look.users)
    if missing:
        look.users.update({u.id: u for u in session.scalars(select(User).where(User.id.in_(missing)))})
    for contact in contacts:
        try:
            zone = ZoneInfo(contact.time_zone) if contact.time_zone else ZoneInfo("UTC")
        except (KeyError, ValueError):
            zone = ZoneInfo("UTC")
        parts = [words["said"].format(what=words[contact.direction][contact.channel],
                                      outcome=words["outcomes"].get(contact.outcome, contact.outcome))]
        if contact.letter_method:
            parts.append(words["method"][contact.letter_method])
        if contact.duration_s:
            parts.append(words["duration"].format(seconds=contact.duration_s))
        if contact.template:
            parts.append(words["template"].format(template=contact.template))
        if contact.tracking:
            parts.append(words["tracking"].format(tracking=contact.tracking))
        if contact.opt_out:
            parts.append(words["opt_out"])
        if contact.text_sha256:
            parts.append(words["sealed"].format(digest=contact.text_sha256))
        found.append(entry(contact.at, zone, contact.channel, words["and"].join(parts),
                           _person(look.users.get(contact.collector_id))))
    return found


def _chronology(session: Session, case: Case, look: _Lookups, choices: list[Choice], notes: list[EvidenceItem],
                language: str) -> tuple[ChronologyEntry, ...]:
    """Visits (check-in with its geofence result, check-out with its outcome), notes, promises and contacts
    (calls, messages, letters)."""
    words = _WORDS[language]
    entries: list[ChronologyEntry] = []
    by_visit: dict[str, list[int]] = {}
    exhibit_of: dict[str, int] = {}
    for number, choice in enumerate(choices, 1):
        by_visit.setdefault(choice.item.visit_id, []).append(number)
        exhibit_of[choice.item.id] = exhibit_of[choice.original.id] = number

    def entry(at: datetime, zone: ZoneInfo, kind: str, summary: str, actor: str = "", **extra) -> ChronologyEntry:
        return ChronologyEntry(at=at, local_at=at.astimezone(zone), zone=zone.key, kind=kind, summary=summary,
                               actor=actor, **extra)

    for visit in look.visits.values():
        zone = _zone(visit)
        address = look.addresses.get(visit.address_id)
        label = words["address"].get(address.kind, "") if address else ""
        if visit.checked_in_at is not None:
            entries.append(entry(visit.checked_in_at, zone, "check_in", words["check_in"].format(address=label),
                                 _person(look.users.get(visit.checked_in_by or visit.collector_id)),
                                 within_geofence=visit.within_geofence, distance_m=visit.check_in_distance_m,
                                 exhibit_numbers=tuple(sorted(by_visit.get(visit.id, ())))))
        if visit.checked_out_at is not None:
            summary = words["check_out"].format(outcome=words["outcomes"].get(visit.outcome, visit.outcome or ""))
            if visit.summary:
                summary += f" — {visit.summary}"
            entries.append(entry(visit.checked_out_at, zone, "check_out", summary,
                                 _person(look.users.get(visit.collector_id))))
    for note in notes:
        numbers = (exhibit_of[note.id],) if note.id in exhibit_of else ()
        entries.append(entry(note.captured_at, _zone(look.visits.get(note.visit_id)), "note", words["note"],
                             _person(look.users.get(note.collector_id)), exhibit_numbers=numbers))
    notice_zone = _zone(next(iter(look.visits.values()), None))   # notices have no place: the case's visits' zone
    for notice in session.scalars(select(Notice).where(Notice.case_id == case.id)):
        summary = words["notice"].format(title=words["notice_titles"].get(notice.template, notice.template),
                                         language=words["languages"].get(notice.language, notice.language))
        if notice.validation_end is not None:
            summary += words["notice_validation_end"].format(date=notice.validation_end.isoformat())
        elif notice.respond_by is not None:
            summary += words["notice_respond_by"].format(date=notice.respond_by.isoformat())
        numbers = (exhibit_of[notice.evidence_id],) if notice.evidence_id in exhibit_of else ()
        entries.append(entry(notice.mailed_at, notice_zone, "notice", summary, _person(look.users.get(notice.issued_by)),
                             exhibit_numbers=numbers))
    for promise in session.scalars(select(RepaymentPromise).where(RepaymentPromise.case_id == case.id)):
        summary = words["promise"].format(amount=f"{promise.amount:.2f}", currency=promise.currency,
                                          due=promise.due_date.isoformat(),
                                          status=words["promise_status"].get(promise.status, promise.status))
        entries.append(entry(promise.made_at, _zone(look.visits.get(promise.visit_id)), "promise", summary))
    entries.extend(_contact_entries(session, case, look, language, entry))
    entries.sort(key=lambda e: (e.at, e.kind))
    return tuple(entries)


Progress = Callable[[int, int], None]


def assemble_content(runtime, packet_id: str, work_dir: Path, *, progress: Progress | None = None) -> PacketContent:
    """Everything the packet shows, from the database, with every file copied and re-hashed into `work_dir`.

    Short transactions: reading the selection, copying (long, no transaction held), then one
    transaction for the custody events, the checkpoint and the proofs.
    """
    files = work_dir / "exhibits"
    if files.exists():
        shutil.rmtree(files)
    files.mkdir(parents=True)
    with runtime.db.transaction() as session:
        packet = session.get(Packet, packet_id)
        selection = _selection(session, packet)
    total = len(selection.choices)
    if progress is not None:
        progress(0, total)
    paths: dict[str, Path] = {}
    for done, choice in enumerate(selection.choices, 1):
        paths[choice.item.id] = files / choice.item.id
        copy_verified(runtime.blobs, choice.item, paths[choice.item.id])
        if progress is not None:
            progress(done, total)
    with runtime.db.transaction() as session:
        packet = session.get(Packet, packet_id)
        checkpoint = _record_packeted(session, runtime, packet, selection)
        packet.checkpoint_tree_size = checkpoint.tree_size
        key = session.get(SigningKey, checkpoint.key_id)
        snapshot = LedgerSnapshot(checkpoint=checkpoint.body.encode("utf-8"),
                                  signature=base64.b64decode(checkpoint.signature), key_id=checkpoint.key_id,
                                  public_key_pem=key.public_key_pem.encode("ascii"))
        checkpoint_id = checkpoint.id
    vouched = vouch_for(runtime, checkpoint_id)  # the TSA is asked with no transaction held
    stamp = vouched.timestamp
    snapshot = replace(snapshot, cosignatures=vouched.cosignatures, timestamp=None if stamp is None else CheckpointStamp(
        token=base64.b64decode(stamp.token), tsa=stamp.tsa, time=stamp.time, chain_pem=stamp.chain_pem,
        note=vouched.note), stamp_pending=stamp is None and bool(runtime.settings.tsa_url))
    with runtime.db.transaction() as session:
        packet = session.get(Packet, packet_id)
        case = session.get(Case, packet.case_id)
        choices = selection.choices
        notes = list(session.scalars(_capture_order(select(EvidenceItem).where(
            EvidenceItem.case_id == case.id, EvidenceItem.status == "sealed", EvidenceItem.kind == "note",
            EvidenceItem.derived_from.is_(None)))))
        look = _lookups(session, case, [choice.item for choice in choices] + notes)
        exhibits = tuple(_exhibit(n, choice, paths[choice.item.id], _custody_proofs(session, choice.item, snapshot.parsed.tree_size),
                                  look, packet.language) for n, choice in enumerate(choices, 1))
        number_of = {choice.item.id: n for n, choice in enumerate(choices, 1)}
        withheld = tuple(WithheldItem(evidence_id=item.id, kind=item.kind, sha256=item.sha256, reason=reason,
                                      replaced_by_exhibit=number_of[choice.item.id] if choice else None)
                         for item, reason, choice in selection.withheld)
        return PacketContent(
            packet_id=packet.id, language=packet.language, jurisdiction=case.jurisdiction,
            bates_prefix=packet.bates_prefix, organisation=runtime.settings.organisation_name,
            custodian_name=runtime.settings.custodian_name, custodian_title=runtime.settings.custodian_title,
            case=case_summary(case, runtime.settings, runtime.cipher),
            chronology=_chronology(session, case, look, choices, notes, packet.language),
            exhibits=exhibits, ledger=snapshot, generated_at=utcnow(), withheld=withheld,
            warnings=tuple(selection.warnings),
        )


def with_witnesses(runtime, content: PacketContent) -> PacketContent:
    """The content with the newest witness cosignatures that vouch for its checkpoint, gathered
    just before the bundle is written (witnesses may have cosigned while the pages were laid out):
    on the checkpoint itself, or on a later one with the proof that it extends the packet's."""
    ledger = content.ledger
    with runtime.db.transaction() as session:
        witnessed = witnessed_since(session, ledger.parsed.tree_size, ledger.key_id)
    if witnessed is None:
        return content
    if witnessed.note.startswith(ledger.checkpoint + b"\n"):
        return replace(content, ledger=replace(ledger, cosignatures=witnessed.cosignatures))
    return replace(content, ledger=replace(ledger, witnessed=WitnessedExtension(
        witnessed.note, witnessed.cosignatures, witnessed.consistency_proof)))
