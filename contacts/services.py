"""Contact services: log calls, SMS, e-mail and letters under the jurisdiction's rules.

A forbidden attempt is refused before it is made, with every violated rule listed, exactly as a
visit is (the rules themselves are pure: `jurisdictions.contact_rules`). A contact logged after
the fact (`at` in the past) is judged at `at`. Every recorded contact is on the case timeline
and in the custody ledger; its text as sent is stored content-addressed and sealed by its hash.
"""
from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from accounts.models import User
from cases.models import Case, CaseEvent
from cases.services import READERS as CASE_READERS
from cases.services import get_case, lock_case, record_event, visible_cases
from contacts.models import OUTCOMES, Contact, ContactRefusal
from core.actor import Actor
from core.clock import utcnow
from core.crypto import FieldCipher, mask_tail
from core.errors import NotFound, RuleViolation, ValidationFailed
from core.runtime import Runtime
from core.settings import Settings
from custody.append import record_custody_event
from evidence.services import store_record
from jurisdictions.contact_rules import ContactRequest, PastContact, debtor_zones, evaluate_contact
from jurisdictions.localtime import TimeZoneUnavailable
from jurisdictions.organisation import organisation_profile
from jurisdictions.profiles import Profile
from jurisdictions.rules import Violation

READERS = CASE_READERS
WRITERS = ("admin", "supervisor", "collector")
REPORT_READERS = ("admin", "supervisor", "legal", "auditor")
TEXT_MAX_CHARS = 20_000
# A contact cannot be logged before it happens; a device clock may run this far ahead.
FUTURE_SLACK = timedelta(minutes=5)
MAX_REPORT_DAYS = 366

# Which optional fields each channel takes (others are refused, not silently dropped).
CHANNEL_FIELDS: dict[str, set[str]] = {
    "call": {"duration_s", "number", "recording_consent", "text"},
    "sms": {"template", "text", "number", "opt_out"},
    "email": {"template", "text", "opt_out"},
    "letter": {"template", "text", "letter_method", "tracking", "notice_id"},
}
OPTIONAL_FIELDS = {"duration_s", "number", "recording_consent", "text", "template", "opt_out", "letter_method",
                   "tracking", "notice_id"}


# --- visibility -------------------------------------------------------------------------------


def visible_contacts(actor: Actor) -> Select:
    """Contacts of the cases the actor may see (built on the cases' own visibility, so every
    restriction of cases — assignment, creditor — applies to their contacts too)."""
    return select(Contact).where(Contact.case_id.in_(visible_cases(actor).with_only_columns(Case.id)))


def list_contacts(session: Session, actor: Actor, case_id: str) -> Select:
    get_case(session, actor, case_id)
    return visible_contacts(actor).where(Contact.case_id == case_id).order_by(Contact.at, Contact.id)


def get_contact(session: Session, actor: Actor, contact_id: str) -> Contact:
    contact = session.scalar(visible_contacts(actor).where(Contact.id == contact_id))
    if contact is None:
        raise NotFound("no such contact")
    return contact


def case_contacts(session: Session, case_id: str) -> list[Contact]:
    """Every contact of a case in date order, for readers that already hold the case (the
    packet's chronology, the console's case page)."""
    return list(session.scalars(select(Contact).where(Contact.case_id == case_id).order_by(Contact.at, Contact.id)))


# --- the rules, gathered from the database ------------------------------------------------------


def contact_request(session: Session, case: Case, channel: str, at: datetime, *, direction: str = "outbound",
                    text: str | None = None, party: str = "debtor",
                    third_party_key: str | None = None) -> ContactRequest:
    homes = sorted(case.addresses, key=lambda a: (a.kind != "home", a.created_at))
    rows = session.execute(select(Contact.channel, Contact.direction, Contact.at, Contact.outcome, Contact.opt_out,
                                  Contact.party, Contact.third_party_key, Contact.third_party_requested)
                           .where(Contact.case_id == case.id)).all()
    return ContactRequest(
        channel=channel, at=at, direction=direction, places=tuple((a.lat, a.lon) for a in homes),
        cease_contact=case.cease_contact, attorney_represented=case.attorney_represented,
        # the debtor's own opt-outs close the channel to the debtor; a third party's do not
        opted_out=frozenset(r.channel for r in rows if r.opt_out and r.at <= at and r.party == "debtor"), text=text,
        history=tuple(PastContact(r.channel, r.direction, r.at, r.outcome, r.party, r.third_party_key,
                                  r.third_party_requested) for r in rows),
        party=party, third_party_key=third_party_key)


def third_party_key(cipher: FieldCipher, who: str | None) -> str | None:
    """The keyed hash that recognises a third party again by their number or e-mail address (a
    number by its digits only, so "+1 (916) 555-0100" and "19165550100" are one person; an
    address case-folded); the value itself is not kept."""
    text = (who or "").strip()
    if not text:
        return None
    if "@" in text or any(ch.isalpha() for ch in text):
        normal = " ".join(text.casefold().split())
    else:
        normal = "".join(ch for ch in text if ch.isdigit())
    return cipher.blind_index(normal, "contacts.third_party") if normal else None


def case_profile(settings: Settings, case: Case) -> Profile:
    return organisation_profile(case.jurisdiction, settings.rule_overrides)


def _violations(items: list[Violation]) -> list[dict[str, str]]:
    return [{"rule": v.rule, "detail": v.detail} for v in items]


def check_contact(session: Session, actor: Actor, runtime: Runtime, case_id: str, data: dict[str, Any],
                  *, now: datetime | None = None) -> dict[str, Any]:
    """May this contact be made at `at` (default now)? Every rule that forbids it, or none. A
    contact to a third party names the party and, to be counted per person, their number."""
    case = get_case(session, actor, case_id)
    _check_writer(actor)
    at = (data.get("at") or now or utcnow()).astimezone(UTC)
    party = data.get("party", "debtor")
    if party == "debtor" and data.get("third_party_id"):
        raise ValidationFailed("only a third party is named", {"third_party_id": ["only for a third party"]})
    request = contact_request(session, case, data["channel"], at, party=party,
                              third_party_key=third_party_key(runtime.cipher, data.get("third_party_id"))
                              if party == "third_party" else None)
    violations = evaluate_contact(request, case_profile(runtime.settings, case))
    return {"allowed": not violations, "violations": _violations(violations), "at": at, "channel": data["channel"],
            "party": party}


def _check_writer(actor: Actor) -> None:
    if actor.role not in WRITERS:
        raise NotFound("no such case")


# --- recording a contact ---------------------------------------------------------------------------


def _validate(data: dict[str, Any], now: datetime) -> None:
    channel = data["channel"]
    errors: dict[str, list[str]] = {}
    if data["outcome"] not in OUTCOMES[channel]:
        errors["outcome"] = [f"a {channel} takes one of: {', '.join(OUTCOMES[channel])}"]
    for name in sorted(OPTIONAL_FIELDS & set(data)):
        if name not in CHANNEL_FIELDS[channel] and data[name] is not None:
            errors[name] = [f"not a field of a {channel}"]
    if channel in ("sms", "email") and data["direction"] == "outbound" and not data.get("text"):
        errors["text"] = [f"an outbound {channel} is logged with its text as sent"]
    if data.get("opt_out") and data["direction"] != "inbound":
        errors["opt_out"] = ["an opt-out is the debtor's own message: direction inbound"]
    if channel == "letter" and data["direction"] == "outbound" and not data.get("letter_method"):
        errors["letter_method"] = ["a letter is sent by post or by hand"]
    if data.get("text") is not None and len(data["text"]) > TEXT_MAX_CHARS:
        errors["text"] = [f"at most {TEXT_MAX_CHARS} characters"]
    if data["at"] > now + FUTURE_SLACK:
        errors["at"] = ["a contact is logged when it has been made, not before"]
    party = data.get("party", "debtor")
    if party == "third_party":
        if not data.get("relation"):
            errors["relation"] = ["a third party is named by who they are to the debtor"]
        if data["outcome"] == "spoke_debtor":
            errors["outcome"] = ["a contact with a third party did not reach the debtor"]
        if data.get("opt_out"):
            errors["opt_out"] = ["an opt-out is the debtor's own"]
    else:
        for name in ("relation", "third_party_requested", "third_party_id"):
            if data.get(name):
                errors[name] = ["only for a contact with a third party"]
    if data.get("notice_id") is not None and channel != "letter":
        errors["notice_id"] = ["a written notice goes by letter"]
    if errors:
        raise ValidationFailed("the contact is not well described", errors)


def record_contact(session: Session, actor: Actor, runtime: Runtime, case_id: str, data: dict[str, Any],
                   *, now: datetime | None = None) -> Contact:
    """Log a contact if every rule allows it at `at`; otherwise refuse with every violation, and
    keep the refusal (committed on its own) for the reports."""
    now = now or utcnow()
    _check_writer(actor)
    case = get_case(session, actor, case_id)
    at = data["at"].astimezone(UTC)
    _validate(data, now)
    channel, direction = data["channel"], data["direction"]
    profile = case_profile(runtime.settings, case)

    # Serialise contacts per case (PostgreSQL; SQLite writers queue anyway) so that two collectors
    # cannot both place the call the frequency limit still allows.
    lock_case(session, case.id)
    party = data.get("party", "debtor")
    number = data.get("number")
    person = third_party_key(runtime.cipher, data.get("third_party_id") or number) if party == "third_party" else None
    notice = _notice_of(session, case, data.get("notice_id"))
    request = contact_request(session, case, channel, at, direction=direction, text=data.get("text"),
                              party=party, third_party_key=person)
    violations = evaluate_contact(request, profile)
    if violations:
        session.add(ContactRefusal(at=now, case_id=case.id, collector_id=actor.id, channel=channel,
                                   rules=sorted({v.rule for v in violations})))
        session.commit()  # the request fails, but the refusal must count in the reports
        rules = ", ".join(dict.fromkeys(v.rule for v in violations))
        raise RuleViolation(f"{channel} refused by {len(violations)} rule violation(s): {rules}",
                            violations=_violations(violations))

    try:
        zone = debtor_zones(request.places)[0].key
    except TimeZoneUnavailable:
        zone = None
    contact = Contact(
        case_id=case.id, collector_id=actor.id, channel=channel, direction=direction, at=at,
        at_text=data.get("at_text") or data["at"].isoformat(), time_zone=zone, outcome=data["outcome"],
        duration_s=data.get("duration_s"), recording_consent=data.get("recording_consent"),
        template=data.get("template"), letter_method=data.get("letter_method"), tracking=data.get("tracking"),
        opt_out=bool(data.get("opt_out")), party=party, relation=data.get("relation"), third_party_key=person,
        third_party_requested=bool(data.get("third_party_requested")), notice_id=notice,
        number_masked=mask_tail(number) if number else (case.debtor_phone_masked
                                                        if channel in ("call", "sms") and party == "debtor" else None))
    text = data.get("text")
    if text:
        stored = store_record(runtime, text.encode("utf-8"))  # blob first: a crash leaves no row without bytes
        contact.text_sha256, contact.text_size = stored.sha256, stored.size
        contact.storage_backend, contact.storage_key = stored.backend, stored.key
    session.add(contact)
    session.flush()
    record_event(session, case.id, "contact_recorded", actor.id, _timeline_details(contact), subject_id=contact.id,
                 at=at)
    # The custody event last: inline, it holds the ledger head's lock until the request commits.
    contact.custody_event_id = record_custody_event(
        session, type="contact_recorded", subject_id=contact.id, actor_id=actor.id, case_id=case.id,
        sha256=contact.text_sha256, at=now,
        details={"channel": channel, "direction": direction, "outcome": contact.outcome, "at": _iso(at),
                 **({"size": contact.text_size} if contact.text_size is not None else {})}).event_id
    return contact


def _timeline_details(contact: Contact) -> dict[str, Any]:
    details = {"contact_id": contact.id, "channel": contact.channel, "direction": contact.direction,
               "outcome": contact.outcome, "at": _iso(contact.at), "time_zone": contact.time_zone}
    for name in ("duration_s", "template", "letter_method", "tracking", "text_sha256", "relation", "notice_id"):
        value = getattr(contact, name)
        if value is not None:
            details[name] = value
    if contact.opt_out:
        details["opt_out"] = True
    if contact.party != "debtor":
        details["party"] = contact.party
    return details


def _notice_of(session: Session, case: Case, notice_id: str | None) -> str | None:
    """The notice a letter carried, if it is one of this case's (read from the case timeline,
    where every issued notice is recorded)."""
    if notice_id is None:
        return None
    issued = session.scalar(select(CaseEvent.id).where(CaseEvent.case_id == case.id,
                                                      CaseEvent.type == "notice_issued",
                                                      CaseEvent.subject_id == notice_id))
    if issued is None:
        raise ValidationFailed("no such notice on this case", {"notice_id": ["a notice issued on this case"]})
    return notice_id


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- reports --------------------------------------------------------------------------------------


def contacts_report(session: Session, actor: Actor, start: date, end: date,
                    collector_id: str | None = None) -> dict[str, Any]:
    """Per collector and channel over UTC days `[start, end]`: contacts made, their outcomes, refused
    attempts and the rules that refused them; and refusals per rule over all."""
    if actor.role not in REPORT_READERS:
        raise NotFound("no such report")
    if end < start:
        raise ValidationFailed("the period ends before it starts", {"to": ["must not be before from"]})
    if (end - start).days >= MAX_REPORT_DAYS:
        raise ValidationFailed("the period is too long", {"to": [f"at most {MAX_REPORT_DAYS} days"]})
    lo = datetime.combine(start, datetime.min.time(), UTC)
    hi = datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC)
    made = (select(Contact.collector_id, Contact.channel, Contact.outcome, Contact.party, func.count())
            .where(Contact.at >= lo, Contact.at < hi)
            .group_by(Contact.collector_id, Contact.channel, Contact.outcome, Contact.party))
    refused = select(ContactRefusal.collector_id, ContactRefusal.channel, ContactRefusal.rules).where(
        ContactRefusal.at >= lo, ContactRefusal.at < hi)
    if collector_id:
        made = made.where(Contact.collector_id == collector_id)
        refused = refused.where(ContactRefusal.collector_id == collector_id)
    per: dict[tuple[str, str], dict[str, Any]] = {}

    def row(key: tuple[str, str]) -> dict[str, Any]:
        return per.setdefault(key, {"collector_id": key[0], "channel": key[1], "contacts": 0,
                                    "third_party_contacts": 0, "outcomes": {},
                                    "refused_attempts": 0, "refused_by_rule": {}})

    for who, channel, outcome, party, count in session.execute(made):
        entry = row((who, channel))
        entry["contacts"] += count
        entry["outcomes"][outcome] = entry["outcomes"].get(outcome, 0) + count
        if party == "third_party":
            entry["third_party_contacts"] += count
    overall: Counter[str] = Counter()
    for who, channel, rules in session.execute(refused):
        entry = row((who, channel))
        entry["refused_attempts"] += 1
        for rule in rules:
            entry["refused_by_rule"][rule] = entry["refused_by_rule"].get(rule, 0) + 1
        overall.update(rules)
    names = {user_id: username for user_id, username in session.execute(
        select(User.id, User.username).where(User.id.in_({k[0] for k in per})))} if per else {}
    rows = [dict(entry, username=names.get(key[0])) for key, entry in sorted(per.items())]
    letters_returned = sum(r["outcomes"].get("returned", 0) for r in rows if r["channel"] == "letter")
    return {"start": start, "end": end, "rows": rows, "refused_by_rule": dict(sorted(overall.items())),
            "notices": _notices_report(session, lo, hi, collector_id), "letters_returned": letters_returned}


def _notices_report(session: Session, lo: datetime, hi: datetime, collector_id: str | None) -> list[dict[str, Any]]:
    """Per template and language: notices issued in the period, and notices whose letter came back
    (a letter contact with outcome `returned` naming the notice) in the period. Read from the case
    timeline (each issued notice is a `notice_issued` event); with ``collector_id``, the notices of
    the cases assigned to that collector."""
    issued = (select(CaseEvent.subject_id, CaseEvent.details).join(Case, Case.id == CaseEvent.case_id)
              .where(CaseEvent.type == "notice_issued", CaseEvent.at >= lo, CaseEvent.at < hi))
    came_back = select(Contact.notice_id).where(Contact.notice_id.is_not(None), Contact.outcome == "returned",
                                                Contact.at >= lo, Contact.at < hi)
    returned = (select(CaseEvent.subject_id, CaseEvent.details).join(Case, Case.id == CaseEvent.case_id)
                .where(CaseEvent.type == "notice_issued", CaseEvent.subject_id.in_(came_back)))
    if collector_id:
        issued = issued.where(Case.assigned_collector_id == collector_id)
        returned = returned.where(Case.assigned_collector_id == collector_id)
    per: dict[tuple[str, str], dict[str, Any]] = {}

    def row(details: dict[str, Any]) -> dict[str, Any]:
        key = (details.get("kind", ""), details.get("language", ""))
        return per.setdefault(key, {"template": key[0], "language": key[1], "issued": 0, "returned": 0})

    for _notice, details in session.execute(issued):
        row(details or {})["issued"] += 1
    for _notice, details in session.execute(returned):
        row(details or {})["returned"] += 1
    return [entry for _key, entry in sorted(per.items())]
