"""Case services: who may see which case, creating and editing cases, the timeline."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from accounts.models import User
from cases.jurisdiction import parse_jurisdiction
from cases.models import Address, Case, CaseEvent
from cases.promises import RepaymentPromise, sweep_broken_promises
from cases.timeline import record_event
from core.actor import Actor
from core.clock import utcnow
from core.crypto import FieldCipher, mask_tail
from core.errors import Conflict, NotFound, ValidationFailed

READERS = ("admin", "supervisor", "legal", "auditor", "collector")
WRITERS = ("admin", "supervisor")


def visible_cases(actor: Actor) -> Select:
    """Collectors see only the cases assigned to them; the other roles see all."""
    query = select(Case)
    if actor.is_collector:
        query = query.where(Case.assigned_collector_id == actor.id)
    elif actor.role not in READERS:
        query = query.where(False)
    return query


def get_case(session: Session, actor: Actor, case_id: str, *, lock: bool = False) -> Case:
    query = visible_cases(actor).where(Case.id == case_id)
    case = session.scalar(query.with_for_update() if lock else query)
    if case is None:
        raise NotFound("no such case")
    return case


def list_cases(session: Session, actor: Actor, *, status: str | None = None, collector_id: str | None = None,
               jurisdiction: str | None = None, updated_since: datetime | None = None,
               q: str | None = None, broken_promises: bool | None = None) -> Select:
    query = visible_cases(actor).order_by(Case.created_at, Case.id)
    if broken_promises:
        sweep_broken_promises(session, utcnow())  # a promise is broken from its due moment, not its sweep
        query = query.where(Case.id.in_(select(RepaymentPromise.case_id).where(RepaymentPromise.status == "broken")))
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(Case.reference.ilike(pattern, escape="\\"),
                                Case.debtor_name.ilike(pattern, escape="\\")))
    if status:
        query = query.where(Case.status == status)
    if collector_id:
        query = query.where(Case.assigned_collector_id == collector_id)
    if jurisdiction:
        query = query.where(Case.jurisdiction == jurisdiction)
    if updated_since:
        query = query.where(Case.updated_at >= updated_since)
    return query


def _check_collector(session: Session, user_id: str | None) -> None:
    if user_id is None:
        return
    role = session.scalar(select(User.role).where(User.id == user_id, User.active.is_(True)))
    if role != "collector":
        raise ValidationFailed("assigned collector is not an active collector",
                               {"assigned_collector_id": ["must be the id of an active collector"]})


def _check_jurisdiction(code: str) -> None:
    try:
        parse_jurisdiction(code)
    except ValueError as error:
        raise ValidationFailed(str(error), {"jurisdiction": [str(error)]}) from None


def create_case(session: Session, actor: Actor, cipher: FieldCipher, data: dict[str, Any]) -> Case:
    _check_jurisdiction(data["jurisdiction"])
    _check_collector(session, data.get("assigned_collector_id"))
    if session.scalar(select(Case.id).where(Case.reference == data["reference"])):
        raise Conflict(f"a case with reference {data['reference']!r} exists")
    debtor = data["debtor"]
    flags = data.get("flags") or {}
    case = Case(
        reference=data["reference"],
        debtor_name=debtor["name"],
        card_last4=data["card_last4"],
        currency=data["currency"],
        amount_overdue=data["amount_overdue"],
        days_past_due=data["days_past_due"],
        jurisdiction=data["jurisdiction"],
        cease_contact=flags.get("cease_contact", False),
        attorney_represented=flags.get("attorney_represented", False),
        workplace_contact_prohibited=flags.get("workplace_contact_prohibited", False),
        assigned_collector_id=data.get("assigned_collector_id"),
        created_by=actor.id,
    )
    _set_identity(case, cipher, debtor)
    for address in data.get("addresses", []):
        case.addresses.append(Address(**address))
    session.add(case)
    session.flush()
    record_event(session, case.id, "case_opened", actor.id,
                 {"reference": case.reference, "jurisdiction": case.jurisdiction})
    return case


def _set_identity(case: Case, cipher: FieldCipher, debtor: dict[str, Any]) -> None:
    if "national_id" in debtor:
        value = debtor["national_id"]
        case.debtor_national_id_encrypted = cipher.encrypt(value, "cases.national_id") if value else None
        case.debtor_national_id_masked = mask_tail(value) if value else None
    if "phone" in debtor:
        value = debtor["phone"]
        case.debtor_phone_encrypted = cipher.encrypt(value, "cases.phone") if value else None
        case.debtor_phone_masked = mask_tail(value) if value else None


def update_case(session: Session, actor: Actor, cipher: FieldCipher, case_id: str, changes: dict[str, Any],
                *, precondition: Callable[[Case], None] | None = None) -> Case:
    """Apply `changes`; `precondition` sees the case as it stands, locked, before any change
    (the API's If-Match check), so two editors of one version cannot both write."""
    case = get_case(session, actor, case_id, lock=True)
    if precondition is not None:
        precondition(case)
    changed: list[str] = []
    if "jurisdiction" in changes:
        _check_jurisdiction(changes["jurisdiction"])
    if "assigned_collector_id" in changes:
        _check_collector(session, changes["assigned_collector_id"])
    for name in ("status", "amount_overdue", "days_past_due", "jurisdiction", "assigned_collector_id", "currency"):
        if name in changes and getattr(case, name) != changes[name]:
            setattr(case, name, changes[name])
            changed.append(name)
    for name, value in (changes.get("flags") or {}).items():
        if getattr(case, name) != value:
            setattr(case, name, value)
            changed.append(f"flags.{name}")
    debtor = changes.get("debtor") or {}
    if "name" in debtor and debtor["name"] != case.debtor_name:
        case.debtor_name = debtor["name"]
        changed.append("debtor.name")
    if "national_id" in debtor or "phone" in debtor:
        _set_identity(case, cipher, debtor)
        changed.extend(f"debtor.{k}" for k in ("national_id", "phone") if k in debtor)
    for address in changes.get("addresses", []):
        case.addresses.append(Address(**address))
        changed.append("addresses")
    if changed:
        case.updated_at = utcnow()
        session.flush()
        # Field names only: the timeline must not copy personal data it is meant to mask.
        record_event(session, case.id, "case_updated", actor.id, {"changed": sorted(set(changed))})
    return case


def reveal_identity(case: Case, cipher: FieldCipher) -> dict[str, str | None]:
    """Clear text for the rare internal use (court filings need none: they show last 4)."""
    return {
        "national_id": cipher.decrypt(case.debtor_national_id_encrypted, "cases.national_id")
        if case.debtor_national_id_encrypted else None,
        "phone": cipher.decrypt(case.debtor_phone_encrypted, "cases.phone") if case.debtor_phone_encrypted else None,
    }


def case_timeline(session: Session, actor: Actor, case_id: str, *, updated_since: datetime | None = None) -> Select:
    get_case(session, actor, case_id)
    query = select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.at, CaseEvent.id)
    if updated_since:
        query = query.where(CaseEvent.at >= updated_since)
    return query
