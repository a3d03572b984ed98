"""Case services: who may see which case, creating and editing cases, the timeline."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, false, or_, select
from sqlalchemy.orm import Session

from accounts.models import CreditorGrant, User
from accounts.services import get_creditor
from cases.jurisdiction import parse_jurisdiction
from cases.models import Address, Case, CaseEvent, Portfolio
from cases.promises import RepaymentPromise, sweep_broken_promises
from cases.timeline import record_event
from core.actor import Actor
from core.clock import utcnow
from core.crypto import FieldCipher, mask_tail
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed

READERS = ("admin", "supervisor", "legal", "auditor", "collector")
WRITERS = ("admin", "supervisor")


def creditor_scope(actor: Actor) -> ColumnElement[bool] | None:
    """The condition on `Case` that keeps an actor within the creditors they are granted (None:
    every creditor). Every package's visibility derives from this or from `visible_case_ids`."""
    if actor.creditor_ids is None:
        return None
    if not actor.creditor_ids:
        return false()
    return Case.portfolio_id.in_(select(Portfolio.id).where(Portfolio.creditor_id.in_(sorted(actor.creditor_ids))))


def visible_cases(actor: Actor) -> Select:
    """Collectors see only the cases assigned to them; the other roles see all — and everyone
    only within the creditors they are granted."""
    query = select(Case)
    if actor.is_collector:
        query = query.where(Case.assigned_collector_id == actor.id)
    elif actor.role not in READERS:
        query = query.where(False)
    scope = creditor_scope(actor)
    return query if scope is None else query.where(scope)


def visible_case_ids(actor: Actor) -> Select | None:
    """`select(Case.id)` of the creditors an actor may see (None: no creditor wall), for
    `X.case_id.in_(...)` in other packages' visibility."""
    scope = creditor_scope(actor)
    return None if scope is None else select(Case.id).where(scope)


def get_case(session: Session, actor: Actor, case_id: str, *, lock: bool = False) -> Case:
    """The case the actor may see; `lock`: held as `lock_case` holds it, until the commit."""
    query = visible_cases(actor).where(Case.id == case_id)
    case = session.scalar(query.with_for_update(key_share=True) if lock else query)
    if case is None:
        raise NotFound("no such case")
    return case


def lock_case(session: Session, case_id: str) -> None:
    """Serialise the work on one case (its notices, calls, visits, packet versions) until the commit.

    FOR NO KEY UPDATE, not FOR UPDATE: rows that refer to the case (its timeline, its evidence)
    still go in meanwhile. Under FOR UPDATE they waited for the lock, and a job holding the ledger
    head while it wrote one deadlocked with a request holding the case that then recorded a
    custody event. (SQLite: ignored; its writers take turns anyway.)
    """
    session.execute(select(Case.id).where(Case.id == case_id).with_for_update(key_share=True))


def list_cases(session: Session, actor: Actor, *, status: str | None = None, collector_id: str | None = None,
               jurisdiction: str | None = None, updated_since: datetime | None = None,
               q: str | None = None, broken_promises: bool | None = None, creditor_id: str | None = None,
               portfolio_id: str | None = None) -> Select:
    query = visible_cases(actor).order_by(Case.created_at, Case.id)
    if portfolio_id:
        query = query.where(Case.portfolio_id == portfolio_id)
    if creditor_id:
        query = query.where(Case.portfolio_id.in_(select(Portfolio.id).where(Portfolio.creditor_id == creditor_id)))
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


def _check_collector(session: Session, user_id: str | None, portfolio_id: str | None = None) -> None:
    """An active collector, granted the creditor of the case's portfolio (else they could not see it)."""
    if user_id is None:
        return
    role = session.scalar(select(User.role).where(User.id == user_id, User.active.is_(True)))
    if role != "collector":
        raise ValidationFailed("assigned collector is not an active collector",
                               {"assigned_collector_id": ["must be the id of an active collector"]})
    if portfolio_id is not None and session.scalar(
            select(CreditorGrant.user_id).where(CreditorGrant.user_id == user_id, CreditorGrant.creditor_id == (
                select(Portfolio.creditor_id).where(Portfolio.id == portfolio_id).scalar_subquery()))) is None:
        raise ValidationFailed("the collector works for another creditor",
                               {"assigned_collector_id": ["the collector is not granted this case's creditor"]})


def _check_jurisdiction(code: str) -> None:
    try:
        parse_jurisdiction(code)
    except ValueError as error:
        raise ValidationFailed(str(error), {"jurisdiction": [str(error)]}) from None


def create_case(session: Session, actor: Actor, cipher: FieldCipher, data: dict[str, Any]) -> Case:
    _check_jurisdiction(data["jurisdiction"])
    portfolio = placing_portfolio(session, actor, data.get("portfolio_id"))
    _check_collector(session, data.get("assigned_collector_id"), portfolio.id)
    if session.scalar(select(Case.id).where(Case.reference == data["reference"])):
        raise Conflict(f"a case with reference {data['reference']!r} exists")
    debtor = data["debtor"]
    flags = data.get("flags") or {}
    case = Case(
        reference=data["reference"],
        portfolio_id=portfolio.id,
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


def placing_portfolio(session: Session, actor: Actor, portfolio_id: str | None) -> Portfolio:
    """The portfolio a new case goes into: the one named (404 outside the actor's creditors), or,
    while only one creditor exists, its first portfolio."""
    if portfolio_id is not None:
        return get_portfolio(session, actor, portfolio_id)
    creditors = session.scalars(select(Portfolio.creditor_id).distinct().limit(2)).all()
    if len(creditors) == 1:
        portfolio = session.scalar(select(Portfolio).where(Portfolio.creditor_id == creditors[0])
                                   .order_by(Portfolio.created_at, Portfolio.id).limit(1))
        if actor.creditor_ids is None or portfolio.creditor_id in actor.creditor_ids:
            return portfolio
    raise ValidationFailed("portfolio_id is required", {"portfolio_id": ["required: several creditors exist"]})


def visible_portfolios(actor: Actor) -> Select:
    query = select(Portfolio).order_by(Portfolio.code, Portfolio.id)
    if actor.creditor_ids is not None:
        query = query.where(Portfolio.creditor_id.in_(sorted(actor.creditor_ids)))
    return query


def get_portfolio(session: Session, actor: Actor, portfolio_id: str) -> Portfolio:
    portfolio = session.scalar(visible_portfolios(actor).where(Portfolio.id == portfolio_id))
    if portfolio is None:
        raise NotFound("no such portfolio")
    return portfolio


def create_portfolio(session: Session, actor: Actor, creditor_id: str, *, code: str, name: str) -> Portfolio:
    if actor.role != "admin":
        raise Forbidden("only admins manage portfolios")
    get_creditor(session, actor, creditor_id)
    if session.scalar(select(Portfolio.id).where(Portfolio.creditor_id == creditor_id, Portfolio.code == code)):
        raise Conflict(f"the creditor has a portfolio with code {code!r}")
    portfolio = Portfolio(creditor_id=creditor_id, code=code, name=name)
    session.add(portfolio)
    session.flush()
    return portfolio


def list_portfolios(session: Session, actor: Actor, creditor_id: str) -> Select:
    get_creditor(session, actor, creditor_id)
    return visible_portfolios(actor).where(Portfolio.creditor_id == creditor_id)


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
        _check_collector(session, changes["assigned_collector_id"], case.portfolio_id)
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
