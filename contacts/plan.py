"""The case plan: the next actions on a case (notice → calls → visit → referral to legal) with due
dates, generated from the case's state and its jurisdiction, editable by a supervisor; and the
worklist, each caller's due and overdue actions that are lawful to take now.

What is done is read from the case timeline, so no other feature has to call in here: a notice
step is done when the timeline holds `notice_issued`, a call step when a call reached the debtor
(`contact_recorded`, outcome `spoke_debtor`), a visit step when a visit was checked out, a
referral when the case is in status `legal`. A supervisor's edits (dates, order, notes, skipping
a step) are kept as the case's own plan; until then the generated plan stands.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cases.models import Case, CaseEvent
from cases.services import get_case, record_event, visible_cases
from contacts.models import PLAN_KINDS, PLAN_STATUSES, PlanAction
from contacts.services import WRITERS, case_profile, contact_request
from core.actor import Actor
from core.clock import utcnow
from core.errors import NotFound, ValidationFailed
from core.settings import Settings
from jurisdictions.contact_rules import evaluate_contact
from jurisdictions.profiles import Profile

EDITORS = ("admin", "supervisor")
ACTIVE_CASE_STATUSES = ("open", "promise")
# Days from the plan's start (or from the notice, where the law puts it first) to each step.
CALL_AFTER_DAYS = 1
VISIT_AFTER_DAYS = 14
LEGAL_AFTER_DAYS = 60
MAX_ACTIONS = 20
NOTE_MAX_CHARS = 500


@dataclass(frozen=True)
class PlannedAction:
    """One step, as the plan shows it: ``not_before`` is the earliest lawful day (the notice
    first, no visit inside the notice period); ``blocked`` says why it cannot be taken yet."""

    kind: str
    due_on: date
    not_before: date | None = None
    status: str = "open"
    done_at: datetime | None = None
    note: str | None = None
    blocked: str | None = None
    position: int = 0
    edited: bool = False


def notice_period_end(mailed: date, profile: Profile) -> date | None:
    """The last day of the notice period after mailing, or ``None`` where there is none; receipt
    is presumed as the notice itself prints it (the profile's business days and holidays)."""
    rule = profile.notice
    if rule.visit_after_days is None:
        return None
    return rule.presumed_receipt(mailed) + timedelta(days=rule.visit_after_days)


def default_plan(start: date, profile: Profile, *, notice_on: date | None) -> list[PlannedAction]:
    """The generated plan of a case opened on ``start``; ``notice_on``: the day a notice was issued."""
    first = profile.notice.first
    anchor = notice_on or start
    steps = [PlannedAction("notice", start)]
    steps.append(PlannedAction("call", (anchor if first else start) + timedelta(days=CALL_AFTER_DAYS),
                               not_before=notice_on if first else None))
    period_end = notice_period_end(notice_on, profile) if notice_on else None
    visit_not_before = (period_end + timedelta(days=1)) if period_end else (notice_on if first else None)
    visit_due = max(start + timedelta(days=VISIT_AFTER_DAYS), visit_not_before or start)
    steps.append(PlannedAction("visit", visit_due, not_before=visit_not_before))
    steps.append(PlannedAction("legal_referral", max(start + timedelta(days=LEGAL_AFTER_DAYS), visit_due)))
    return [PlannedAction(**{**s.__dict__, "position": i}) for i, s in enumerate(steps)]


def _done_marks(session: Session, case: Case) -> dict[str, datetime]:
    """When each kind of step was first done, read from the case timeline."""
    marks: dict[str, datetime] = {}
    rows = session.execute(select(CaseEvent.type, CaseEvent.at, CaseEvent.details)
                           .where(CaseEvent.case_id == case.id,
                                  CaseEvent.type.in_(("notice_issued", "contact_recorded", "visit_checked_out")))
                           .order_by(CaseEvent.at)).all()
    for type_, at, details in rows:
        kind = None
        if type_ == "notice_issued":
            kind = "notice"
        elif type_ == "contact_recorded" and (details or {}).get("channel") == "call" \
                and (details or {}).get("outcome") == "spoke_debtor":
            kind = "call"
        elif type_ == "visit_checked_out":
            kind = "visit"
        if kind is not None:
            marks.setdefault(kind, at)
    if case.status == "legal":
        marks.setdefault("legal_referral", case.updated_at)
    return marks


def _plan_of(session: Session, case: Case, profile: Profile, today: date) -> list[PlannedAction]:
    marks = _done_marks(session, case)
    notice_on = marks["notice"].astimezone(UTC).date() if "notice" in marks else None
    stored = list(session.scalars(select(PlanAction).where(PlanAction.case_id == case.id)
                                  .order_by(PlanAction.position)))
    generated = default_plan(case.created_at.astimezone(UTC).date(), profile, notice_on=notice_on)
    lawful_from = {a.kind: a.not_before for a in generated}
    if stored:
        steps = [PlannedAction(a.kind, a.due_on, not_before=lawful_from.get(a.kind), status=a.status,
                               done_at=a.done_at, note=a.note, position=a.position, edited=True) for a in stored]
    else:
        steps = generated
    out = []
    for step in steps:
        status, done_at, blocked = step.status, step.done_at, None
        if status == "open" and step.kind in marks:
            status, done_at = "done", marks[step.kind]
        if status == "open":
            if profile.notice.first and step.kind != "notice" and notice_on is None:
                blocked = f"{profile.jurisdiction} requires the written notice first"
            elif step.not_before is not None and today < step.not_before:
                blocked = f"not before {step.not_before.isoformat()} (notice period)"
        out.append(PlannedAction(**{**step.__dict__, "status": status, "done_at": done_at, "blocked": blocked}))
    return out


def _view(case: Case, steps: list[PlannedAction], today: date) -> dict[str, Any]:
    return {"case_id": case.id, "edited": any(s.edited for s in steps),
            "actions": [{"position": s.position, "kind": s.kind, "due_on": s.due_on, "not_before": s.not_before,
                         "status": s.status, "done_at": s.done_at, "note": s.note, "blocked": s.blocked,
                         "overdue": s.status == "open" and s.due_on < today} for s in steps]}


def get_plan(session: Session, actor: Actor, settings: Settings, case_id: str, *, now: datetime | None = None
             ) -> dict[str, Any]:
    case = get_case(session, actor, case_id)
    today = (now or utcnow()).astimezone(UTC).date()
    return _view(case, _plan_of(session, case, case_profile(settings, case), today), today)


def edit_plan(session: Session, actor: Actor, settings: Settings, case_id: str, data: dict[str, Any],
              *, now: datetime | None = None,
              precondition: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Replace the case's plan with the supervisor's: steps in order, each with its due date,
    optionally skipped or marked done, with a note. Recorded on the case timeline.
    `precondition` sees the plan as it stands (under the case's lock) and may refuse the edit
    (a stale `If-Match`)."""
    if actor.role not in EDITORS:
        raise NotFound("no such case")
    now = now or utcnow()
    case = get_case(session, actor, case_id, lock=True)
    if precondition is not None:
        today = now.astimezone(UTC).date()
        precondition(_view(case, _plan_of(session, case, case_profile(settings, case), today), today))
    actions = data["actions"]
    errors: dict[str, list[str]] = {}
    if not 1 <= len(actions) <= MAX_ACTIONS:
        errors["actions"] = [f"between 1 and {MAX_ACTIONS} steps"]
    for i, action in enumerate(actions):
        if action["kind"] not in PLAN_KINDS:
            errors[f"actions.{i}.kind"] = [f"one of {', '.join(PLAN_KINDS)}"]
        if action.get("status", "open") not in PLAN_STATUSES:
            errors[f"actions.{i}.status"] = [f"one of {', '.join(PLAN_STATUSES)}"]
        if action.get("note") and len(action["note"]) > NOTE_MAX_CHARS:
            errors[f"actions.{i}.note"] = [f"at most {NOTE_MAX_CHARS} characters"]
    if errors:
        raise ValidationFailed("the plan is not well formed", errors)
    session.execute(delete(PlanAction).where(PlanAction.case_id == case.id))
    for i, action in enumerate(actions):
        status = action.get("status", "open")
        session.add(PlanAction(case_id=case.id, position=i, kind=action["kind"], due_on=action["due_on"],
                               status=status, note=action.get("note"), edited_by=actor.id,
                               done_at=now if status == "done" else None))
    session.flush()
    record_event(session, case.id, "plan_edited", actor.id,
                 {"actions": [{"kind": a["kind"], "due_on": a["due_on"].isoformat(),
                               "status": a.get("status", "open")} for a in actions]}, at=now)
    return get_plan(session, actor, settings, case_id, now=now)


def worklist(session: Session, actor: Actor, settings: Settings, *, include_blocked: bool = False,
             collector_id: str | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """The caller's due and overdue steps (due today or before), in order of due date; only the
    ones lawful to take now unless ``include_blocked``, each call step judged by the contact rules."""
    if actor.role not in WRITERS:
        raise NotFound("no worklist")
    now = now or utcnow()
    today = now.astimezone(UTC).date()
    query = visible_cases(actor).where(Case.status.in_(ACTIVE_CASE_STATUSES))
    if collector_id:
        query = query.where(Case.assigned_collector_id == collector_id)
    items: list[dict[str, Any]] = []
    for case in session.scalars(query.order_by(Case.created_at, Case.id)):
        profile = case_profile(settings, case)
        step = next((s for s in _plan_of(session, case, profile, today) if s.status == "open"), None)
        # the next open step of each case only: the plan is an order
        if step is not None and step.due_on <= today:
            violations = []
            if step.blocked:
                violations.append({"rule": "notice.validation", "detail": step.blocked})
            elif step.kind == "call":
                found = evaluate_contact(contact_request(session, case, "call", now), profile)
                violations = [{"rule": v.rule, "detail": v.detail} for v in found]
            lawful = not violations
            if lawful or include_blocked:
                items.append({"case_id": case.id, "reference": case.reference,
                              "assigned_collector_id": case.assigned_collector_id, "kind": step.kind,
                              "due_on": step.due_on, "overdue": step.due_on < today, "lawful_now": lawful,
                              "violations": violations})
    items.sort(key=lambda item: (item["due_on"], item["reference"]))
    return items
