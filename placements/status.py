"""Status back to the creditor: per case of a portfolio, what the agency did and where it stands."""
from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases.models import Case
from cases.promises import RepaymentPromise
from cases.services import get_portfolio, visible_cases
from core.actor import Actor
from core.errors import Forbidden
from placements import csvsafe
from visits.models import Visit

EXPORTERS = ("admin", "supervisor")
COLUMNS = ("reference", "status", "amount_overdue", "currency", "days_past_due", "visits_scheduled",
           "visits_completed", "contacts_with_debtor", "last_visit_at", "last_outcome", "promises_open",
           "promises_kept", "promises_broken", "promised_amount", "payments_recorded", "legal_referral")
PAGE = 1000
CONTACT_OUTCOMES = ("met_debtor", "promise_to_pay", "payment_received", "refused")


def status_export(session: Session, actor: Actor, portfolio_id: str) -> Iterator[str]:
    """CSV lines, a page of cases at a time (three grouped queries per page)."""
    if not actor.has_role(*EXPORTERS):
        raise Forbidden("only supervisors and admins export a portfolio's status")
    portfolio = get_portfolio(session, actor, portfolio_id)
    cases = visible_cases(actor).where(Case.portfolio_id == portfolio.id).order_by(Case.reference, Case.id)
    yield _line(COLUMNS)
    offset = 0
    while True:
        page = list(session.scalars(cases.limit(PAGE).offset(offset)))
        if not page:
            return
        offset += PAGE
        ids = [c.id for c in page]
        visits: dict[str, Counter] = defaultdict(Counter)
        last: dict[str, tuple] = {}
        for case_id, status, outcome, count, latest in session.execute(
                select(Visit.case_id, Visit.status, Visit.outcome, func.count(), func.max(Visit.checked_out_at))
                .where(Visit.case_id.in_(ids)).group_by(Visit.case_id, Visit.status, Visit.outcome)):
            counter = visits[case_id]
            if status != "cancelled":
                counter["scheduled"] += count
            if status == "completed":
                counter["completed"] += count
                counter["contacts"] += count if outcome in CONTACT_OUTCOMES else 0
                counter["payments"] += count if outcome == "payment_received" else 0
                if latest is not None and (case_id not in last or latest > last[case_id][0]):
                    last[case_id] = (latest, outcome)
        promises: dict[str, Counter] = defaultdict(Counter)
        promised: dict[str, object] = {}
        for case_id, status, count, amount in session.execute(
                select(RepaymentPromise.case_id, RepaymentPromise.status, func.count(), func.sum(RepaymentPromise.amount))
                .where(RepaymentPromise.case_id.in_(ids)).group_by(RepaymentPromise.case_id, RepaymentPromise.status)):
            promises[case_id][status] += count
            if status == "open":
                promised[case_id] = amount
        for case in page:
            v, p = visits[case.id], promises[case.id]
            at, outcome = last.get(case.id, (None, None))
            yield _line((case.reference, case.status, case.amount_overdue, case.currency, case.days_past_due,
                         v["scheduled"], v["completed"], v["contacts"], at.isoformat() if at else "", outcome or "",
                         p["open"], p["kept"], p["broken"], promised.get(case.id) or "", v["payments"],
                         "yes" if case.status == "legal" else "no"))


def _line(values) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(csvsafe.row(values))
    return out.getvalue()
