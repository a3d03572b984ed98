"""Repayment promises: made at a visit's check-out, kept by a recorded payment, or broken.

A promise is due until the end of its due date in the local time of the address where it
was made; the caller (the visit's check-out) works out that instant, `due_end_at`, so this
package needs no time-zone lookup. A promise still open at `due_end_at` is broken.

Broken promises are marked by `sweep_broken_promises`, which is idempotent: the promises
report runs it before reading, and a scheduler may run it too. Each promise is marked once,
so its `promise_broken` timeline event is written once.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Numeric, Select, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from cases.models import Case
from cases.timeline import record_event
from core.db import Base, Timestamped, uuid_pk

PROMISE_STATUSES = ("open", "kept", "broken")


class RepaymentPromise(Timestamped, Base):
    __tablename__ = "repayment_promises"
    __table_args__ = (Index("ix_repayment_promises_status_due", "status", "due_end_at"),)

    id: Mapped[str] = uuid_pk()
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    visit_id: Mapped[str | None] = mapped_column(ForeignKey("visits.id"))
    collector_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    due_date: Mapped[date] = mapped_column(Date)
    # The end of `due_date` at the address, in UTC: the moment an unpaid promise breaks.
    due_end_at: Mapped[datetime]
    made_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(8), default="open")
    resolved_at: Mapped[datetime | None]


def make_promise(session: Session, case: Case, *, visit_id: str | None, collector_id: str | None,
                 actor_id: str, amount: Decimal, currency: str | None, due_date: date,
                 due_end_at: datetime, made_at: datetime) -> RepaymentPromise:
    """Record a promise to pay; the currency defaults to the case's."""
    promise = RepaymentPromise(case_id=case.id, visit_id=visit_id, collector_id=collector_id, amount=amount,
                               currency=currency or case.currency, due_date=due_date, due_end_at=due_end_at,
                               made_at=made_at, status="open")
    session.add(promise)
    session.flush()
    record_event(session, case.id, "promise_made", actor_id,
                 {"promise_id": promise.id, "amount": str(promise.amount), "currency": promise.currency,
                  "due_date": due_date.isoformat()}, subject_id=visit_id, at=made_at)
    if case.status == "open":
        case.status = "promise"
    return promise


def record_payment(session: Session, case_id: str, *, at: datetime, actor_id: str,
                   visit_id: str | None = None) -> list[RepaymentPromise]:
    """A payment received at `at` keeps every promise of the case still due at that moment."""
    kept = list(session.scalars(select(RepaymentPromise).where(
        RepaymentPromise.case_id == case_id, RepaymentPromise.status == "open",
        RepaymentPromise.due_end_at > at)))
    for promise in kept:
        promise.status, promise.resolved_at = "kept", at
        record_event(session, case_id, "promise_kept", actor_id, {"promise_id": promise.id},
                     subject_id=visit_id, at=at)
    return kept


def sweep_broken_promises(session: Session, now: datetime) -> int:
    """Mark open promises whose due date has ended as broken; returns how many were marked."""
    due = list(session.scalars(select(RepaymentPromise).where(
        RepaymentPromise.status == "open", RepaymentPromise.due_end_at <= now)
        .order_by(RepaymentPromise.due_end_at, RepaymentPromise.id)))
    for promise in due:
        promise.status, promise.resolved_at = "broken", promise.due_end_at
        record_event(session, promise.case_id, "promise_broken", None,
                     {"promise_id": promise.id, "due_date": promise.due_date.isoformat()},
                     subject_id=promise.visit_id, at=now)
    if due:
        session.flush()
    return len(due)


def broken_promises(*, collector_id: str | None = None, case_id: str | None = None,
                    updated_since: datetime | None = None) -> Select:
    """Broken promises, oldest due first (run `sweep_broken_promises` before reading)."""
    query = select(RepaymentPromise).where(RepaymentPromise.status == "broken")
    if collector_id:
        query = query.where(RepaymentPromise.collector_id == collector_id)
    if case_id:
        query = query.where(RepaymentPromise.case_id == case_id)
    if updated_since:
        query = query.where(RepaymentPromise.updated_at >= updated_since)
    return query.order_by(RepaymentPromise.due_end_at, RepaymentPromise.id)
