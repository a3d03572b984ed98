"""Visit services: lawful scheduling, geofenced check-in, check-out, routes and reports.

The rules themselves are pure (`jurisdictions.rules`, `visits.geofence`, `visits.route`); this module
gathers what they need from the database, applies the organisation's settings, and records
the outcome — on the visit, in the case timeline, and (for refusals) in `schedule_refusals`.
"""
from __future__ import annotations

import functools
import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, bindparam, false, func, or_, select
from sqlalchemy.orm import Session

from accounts.models import CreditorGrant, User
from cases.models import Address, Case, Portfolio
from cases.promises import RepaymentPromise, broken_promises, make_promise, record_payment, sweep_broken_promises
from cases.services import READERS as CASE_READERS
from cases.services import get_case, lock_case, record_event, visible_case_ids
from core.actor import Actor
from core.clock import utcnow
from core.errors import Conflict, NotFound, RuleViolation, ValidationFailed
from core.paging import Listing
from core.settings import Settings
from custody.append import record_custody_event
from visits.geofence import distance_m, is_impossible_travel, within_geofence
from jurisdictions.localtime import TimeZoneUnavailable, utc, zone_at
from jurisdictions.organisation import organisation_profile
from visits.models import OUTCOMES, ScheduleRefusal, Visit, VisitRow
from visits.route import Stop, plan_route
from jurisdictions.rules import ScheduleRequest, Violation, evaluate_schedule, moment_is_lawful

SCHEDULERS = ("admin", "supervisor")
READERS = CASE_READERS
FIELD_ROLES = ("collector",)
REPORT_READERS = ("admin", "supervisor", "legal", "auditor")

# Visits that count against the frequency limits and appear on a route.
LIVE = ("scheduled", "checked_in", "completed")
# Outcomes where the debtor was met, so a promise to pay can have been made.
PROMISE_OUTCOMES = ("promise_to_pay", "met_debtor", "payment_received")
MAX_REPORT_DAYS = 366
MAX_PROMISE_DAYS = 366

# A cancellation's or rescheduling's reason: required, and short enough for a timeline line.
REASON_MAX_CHARS = 500

# Rule ids of the check-in and check-out clock checks (the jurisdiction rules have theirs).
CLOCK_SKEW = "time.clock_skew"
TIME_ORDER = "time.order"


# --- profiles -----------------------------------------------------------------------------


def _zone_name(address: Address) -> str | None:
    try:
        return zone_at(address.lat, address.lon).key
    except TimeZoneUnavailable:
        return None


def _violations(items: list[Violation]) -> list[dict[str, str]]:
    return [{"rule": v.rule, "detail": v.detail} for v in items]


def _refuse(what: str, violations: list[Violation]) -> RuleViolation:
    rules = ", ".join(dict.fromkeys(v.rule for v in violations))
    return RuleViolation(f"{what} refused by {len(violations)} rule violation(s): {rules}",
                         violations=_violations(violations))


# --- visibility -----------------------------------------------------------------------------


def visible_visits(actor: Actor) -> Select:
    """Collectors see the visits they are named on; the other reading roles see all."""
    query = select(Visit)
    if actor.is_collector:
        query = query.where(or_(Visit.collector_id == actor.id, Visit.second_collector_id == actor.id))
    elif actor.role not in READERS:
        query = query.where(false())
    return _within_creditors(query, actor)


def _within_creditors(query: Select, actor: Actor) -> Select:
    """Only visits of cases of the creditors the actor is granted."""
    cases_seen = visible_case_ids(actor)
    return query if cases_seen is None else query.where(Visit.case_id.in_(cases_seen))


def get_visit(session: Session, actor: Actor, visit_id: str, *, lock: bool = False) -> Visit:
    """The visit the actor may see; `lock`: FOR NO KEY UPDATE until the commit, as `lock_case`
    (rows that refer to the visit, its evidence, still go in meanwhile)."""
    query = visible_visits(actor).where(Visit.id == visit_id)
    visit = session.scalar(query.with_for_update(key_share=True) if lock else query)
    if visit is None:
        raise NotFound("no such visit")
    return visit


@functools.lru_cache(maxsize=64)
def _sync_listing(collector: bool, reader: bool, creditors: int | None = None) -> Select:
    """A role's visits by window as plain rows of the visits table (read as `VisitRow`s), the actor
    and each creditor granted (`creditor_0`, ...) as bound parameters: the sync's request, built once
    per role and number of grants (`None`: no creditor wall)."""
    visits, cases, portfolios = Visit.__table__, Case.__table__, Portfolio.__table__
    query = select(*visits.columns)
    if collector:
        actor = bindparam("actor_id")
        query = query.where(or_(visits.c.collector_id == actor, visits.c.second_collector_id == actor))
    elif not reader:
        query = query.where(false())
    if creditors is not None:  # joined rather than `case_id IN (...)`: the planner starts from the actor's visits
        granted = [bindparam(f"creditor_{n}") for n in range(creditors)]
        query = (query.select_from(visits.join(cases, cases.c.id == visits.c.case_id)
                                   .join(portfolios, portfolios.c.id == cases.c.portfolio_id))
                 .where(portfolios.c.creditor_id.in_(granted)))
    return query.order_by(visits.c.window_start, visits.c.id)


def list_visits(session: Session, actor: Actor, *, collector_id: str | None = None, date: date | None = None,
                status: str | None = None, case_id: str | None = None,
                updated_since: datetime | None = None) -> Select | Listing:
    """Visits by window, oldest first; `date` is the local day at the address. The plain sync (no
    filter) is a `Listing` of `VisitRow`s, the filtered lists a query of `Visit`s."""
    if not (collector_id or date or status or case_id or updated_since):
        params = {"actor_id": actor.id} if actor.is_collector else {}
        creditors = None
        if actor.creditor_ids is not None:
            granted = sorted(actor.creditor_ids) or [""]  # no grant: matches no creditor
            creditors = len(granted)
            params.update((f"creditor_{n}", creditor_id) for n, creditor_id in enumerate(granted))
        return Listing(_sync_listing(actor.is_collector, actor.role in READERS, creditors), params, VisitRow.from_values)
    query = visible_visits(actor).order_by(Visit.window_start, Visit.id)
    if collector_id:
        query = query.where(or_(Visit.collector_id == collector_id, Visit.second_collector_id == collector_id))
    if date:
        query = query.where(Visit.local_date == date)
    if status:
        query = query.where(Visit.status == status)
    if case_id:
        query = query.where(Visit.case_id == case_id)
    if updated_since:
        query = query.where(Visit.updated_at >= updated_since)
    return query


# --- scheduling -----------------------------------------------------------------------------


def _check_collector(session: Session, user_id: str, name: str) -> None:
    role = session.scalar(select(User.role).where(User.id == user_id, User.active.is_(True)))
    if role != "collector":
        raise ValidationFailed(f"{name} is not an active collector", {name: ["must be the id of an active collector"]})


def schedule_visit(session: Session, actor: Actor, settings: Settings, data: dict[str, Any],
                   *, now: datetime | None = None) -> Visit:
    """Schedule a visit if every rule allows its whole window; otherwise refuse with all
    violations at once, and keep the refusal (committed on its own) for the reports."""
    now = now or utcnow()
    case = get_case(session, actor, data["case_id"])
    address = next((a for a in case.addresses if a.id == data["address_id"]), None)
    if address is None:
        raise ValidationFailed("the address is not one of the case's", {"address_id": ["not an address of this case"]})
    collector_id, second_id = data["collector_id"], data.get("second_collector_id")
    _check_collector(session, collector_id, "collector_id")
    if second_id is not None:
        if second_id == collector_id:
            raise ValidationFailed("the second collector must be someone else",
                                   {"second_collector_id": ["must differ from collector_id"]})
        _check_collector(session, second_id, "second_collector_id")
    start, end = utc(data["window_start"]), utc(data["window_end"])
    zone, local_date = _judge_window(session, actor, settings, case, address, collector_id, start, end,
                                     has_second_collector=second_id is not None, now=now)

    visit = Visit(case_id=case.id, address_id=address.id, collector_id=collector_id,
                  second_collector_id=second_id, window_start=start, window_end=end, time_zone=zone,
                  local_date=local_date, status="scheduled", scheduled_by=actor.id, flags={})
    session.add(visit)
    session.flush()
    record_event(session, case.id, "visit_scheduled", actor.id,
                 {"visit_id": visit.id, "address_kind": address.kind, "window_start": _iso(start),
                  "window_end": _iso(end), "collector_id": collector_id, "second_collector_id": second_id},
                 subject_id=visit.id, at=now)
    return visit


def _judge_window(session: Session, actor: Actor, settings: Settings, case: Case, address: Address,
                  collector_id: str, start: datetime, end: datetime, *, has_second_collector: bool,
                  now: datetime, visit_id: str | None = None) -> tuple[str | None, date]:
    """The address's zone and local day of a window every rule allows; else refuse with every
    violation, keeping the refusal (committed on its own) for the reports.

    Scheduling and rescheduling share it, so a window is judged the same way whichever route
    it comes by; `visit_id` is the visit being moved, which must not count against itself."""
    if end <= start:
        raise ValidationFailed("the window ends before it starts", {"window_end": ["must be after window_start"]})
    if end <= now:
        raise ValidationFailed("the window has already ended", {"window_end": ["must be in the future"]})
    profile = organisation_profile(case.jurisdiction, settings.rule_overrides)

    # Serialise scheduling per case (PostgreSQL; SQLite writers queue anyway) so that two
    # supervisors cannot both take the last slot the frequency limit allows.
    lock_case(session, case.id)
    others = select(Visit.window_start).where(Visit.case_id == case.id, Visit.status.in_(LIVE))
    if visit_id is not None:
        others = others.where(Visit.id != visit_id)
    request = ScheduleRequest(
        window_start=start, window_end=end, address_kind=address.kind, lat=address.lat, lon=address.lon,
        cease_contact=case.cease_contact, attorney_represented=case.attorney_represented,
        workplace_contact_prohibited=case.workplace_contact_prohibited,
        has_second_collector=has_second_collector, other_visits=tuple(session.scalars(others)))
    violations = evaluate_schedule(request, profile)
    zone = _zone_name(address)
    local_date = start.astimezone(zone_at(address.lat, address.lon)).date() if zone else start.date()
    if violations:
        session.add(ScheduleRefusal(at=now, case_id=case.id, collector_id=collector_id, requested_by=actor.id,
                                    local_date=local_date, rules=sorted({v.rule for v in violations})))
        # The request fails, but the refusal must count in the reports: commit it first.
        session.commit()
        raise _refuse("visit", violations)
    return zone, local_date


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- cancelling and rescheduling -------------------------------------------------------------


class VisitCancelled(Conflict):
    """The visit was cancelled: nothing more happens on it (check-in, check-out, changes)."""

    title = "Visit cancelled"
    slug = "visit-cancelled"


class VisitUnderway(Conflict):
    """The visit was checked in (or completed): its record stands, it cannot be called off."""

    title = "Visit already underway"
    slug = "visit-underway"


def _schedulers_visit(session: Session, actor: Actor, visit_id: str) -> Visit:
    """The visit, locked, for one of the roles that schedule (others never see it: 404)."""
    if actor.role not in SCHEDULERS:
        raise NotFound("no such visit")
    visit = get_visit(session, actor, visit_id, lock=True)
    if visit.status == "cancelled":
        raise VisitCancelled(f"the visit was cancelled at {_iso(visit.cancelled_at)}")
    if visit.status != "scheduled":
        raise VisitUnderway(f"the visit is {visit.status.replace('_', ' ')}; only a scheduled visit can be "
                            "cancelled or rescheduled")
    return visit


def _reason(text: str) -> str:
    reason = (text or "").strip()
    if not reason:
        raise ValidationFailed("a reason is required", {"reason": ["must not be blank"]})
    if len(reason) > REASON_MAX_CHARS:
        raise ValidationFailed("the reason is too long", {"reason": [f"at most {REASON_MAX_CHARS} characters"]})
    return reason


def _record_in_ledger(session: Session, type_: str, actor: Actor, visit: Visit, details: dict[str, Any],
                      at: datetime) -> None:
    """The change as a custody event: the reason enters the leaf as its SHA-256 only, so the
    ledger (read by auditors and witnesses) proves the reason given without repeating its text."""
    record_custody_event(session, type=type_, subject_id=visit.id, actor_id=actor.id, case_id=visit.case_id,
                         sha256=hashlib.sha256(details.pop("reason").encode("utf-8")).hexdigest(),
                         details=details, at=at)


def cancel_visit(session: Session, actor: Actor, visit_id: str, data: dict[str, Any],
                 *, now: datetime | None = None) -> Visit:
    """Call off a scheduled visit, with a reason; it then leaves routes and frequency counts,
    and cannot be checked in. On the case timeline and in the ledger."""
    now = now or utcnow()
    reason = _reason(data["reason"])
    visit = _schedulers_visit(session, actor, visit_id)
    visit.status = "cancelled"
    visit.cancelled_at, visit.cancelled_by, visit.cancel_reason = now, actor.id, reason
    visit.updated_at = now
    session.flush()
    record_event(session, visit.case_id, "visit_cancelled", actor.id, {"visit_id": visit.id, "reason": reason},
                 subject_id=visit.id, at=now)
    _record_in_ledger(session, "visit_cancelled", actor, visit, {"reason": reason}, now)
    return visit


def reschedule_visit(session: Session, actor: Actor, settings: Settings, visit_id: str, data: dict[str, Any],
                     *, now: datetime | None = None) -> Visit:
    """Move a scheduled visit to a new window, judged by exactly the rules that schedule one
    (a refusal lists every violation and leaves the visit as it was)."""
    now = now or utcnow()
    reason = _reason(data["reason"])
    visit = _schedulers_visit(session, actor, visit_id)
    case = session.get(Case, visit.case_id)
    address = session.get(Address, visit.address_id)
    start, end = utc(data["window_start"]), utc(data["window_end"])
    zone, local_date = _judge_window(session, actor, settings, case, address, visit.collector_id, start, end,
                                     has_second_collector=visit.second_collector_id is not None, now=now,
                                     visit_id=visit.id)
    before = {"previous_window_start": _iso(visit.window_start), "previous_window_end": _iso(visit.window_end)}
    visit.window_start, visit.window_end, visit.time_zone, visit.local_date = start, end, zone, local_date
    visit.updated_at = now
    session.flush()
    window = {"window_start": _iso(start), "window_end": _iso(end), **before}
    record_event(session, visit.case_id, "visit_rescheduled", actor.id,
                 {"visit_id": visit.id, **window, "reason": reason}, subject_id=visit.id, at=now)
    _record_in_ledger(session, "visit_rescheduled", actor, visit, {**window, "reason": reason}, now)
    return visit


# --- check-in and check-out ----------------------------------------------------------------


def _field_visit(session: Session, actor: Actor, visit_id: str) -> Visit:
    """The visit, locked, when the actor is one of its collectors (others: 404)."""
    visit = get_visit(session, actor, visit_id, lock=True)
    if actor.id not in (visit.collector_id, visit.second_collector_id):
        raise NotFound("no such visit")
    return visit


def _clock_violations(at: datetime, earliest: datetime, earliest_what: str, device_now: datetime, now: datetime,
                      allowed: timedelta, clock: str) -> tuple[list[Violation], bool]:
    """The violations of `at`, and whether it lies before `earliest` within the skew allowance.

    Order is judged on the server's clock (`at` moved by the device's known offset when it sent
    `sent_at`) and with the same allowance as the future: a phone whose clock runs a little behind,
    or a time sent in whole seconds, is flagged, not refused; further back is still refused."""
    found = []
    if at > device_now + allowed:
        found.append(Violation(CLOCK_SKEW, f"at {_iso(at)} lies {(at - device_now).total_seconds():.0f} s after "
                                           f"{clock}; at most {allowed.total_seconds():.0f} s of clock skew is "
                                           "allowed"))
    on_server = at + (now - device_now)
    if on_server < earliest - allowed:
        found.append(Violation(TIME_ORDER, f"at {_iso(at)} is before {earliest_what} ({_iso(earliest)}) by more "
                                           f"than the {allowed.total_seconds():.0f} s of clock skew allowed"))
    return found, earliest - allowed <= on_server < earliest


def check_in(session: Session, actor: Actor, settings: Settings, visit_id: str, data: dict[str, Any],
             *, now: datetime | None = None) -> Visit:
    """Record the collector's arrival at the reported moment `at`.

    `at` is when the phone says it happened (it may sync hours later), so the lawful-hours
    rule judges `at`. When the phone also says when it sent the request (`sent_at`), its
    clock offset is known: `at` is then judged against the phone's own clock, and the offset
    is recorded as clock skew rather than refused.
    """
    now = now or utcnow()
    visit = _field_visit(session, actor, visit_id)
    if visit.status == "cancelled":
        raise VisitCancelled(f"the visit was cancelled at {_iso(visit.cancelled_at)}; it cannot be checked in")
    if visit.status != "scheduled":
        raise Conflict(f"the visit is {visit.status.replace('_', ' ')}; it can be checked in only once")
    case = session.get(Case, visit.case_id)
    address = session.get(Address, visit.address_id)
    profile = organisation_profile(case.jurisdiction, settings.rule_overrides)

    at, sent_at = utc(data["at"]), data.get("sent_at")
    device_now = utc(sent_at) if sent_at is not None else now
    clock = "the device's clock when it sent the check-in" if sent_at is not None else "the server's clock"
    allowed = timedelta(seconds=settings.clock_skew_seconds)
    violations, early = _clock_violations(at, visit.created_at, "the visit was scheduled", device_now, now, allowed,
                                          clock)
    hours = moment_is_lawful(at, address.lat, address.lon, profile)
    if hours is not None:
        violations.append(hours)
    if violations:
        raise _refuse("check-in", violations)

    here = (data["lat"], data["lon"])
    accuracy = data.get("accuracy_m")
    distance = distance_m(here, (address.lat, address.lon))
    capped = None if accuracy is None else min(accuracy, settings.geofence_accuracy_cap_m)
    inside = within_geofence(distance, settings.geofence_radius_m, capped)
    skew = (device_now - now).total_seconds() if sent_at is not None else max(0.0, (at - now).total_seconds())
    travel = _impossible_travel(session, actor, visit, here, at, settings.max_travel_kmh)

    visit.status = "checked_in"
    visit.checked_in_at, visit.checked_in_by = at, actor.id
    visit.check_in_device_at = data["at"].isoformat()
    visit.check_in_received_at = now
    visit.check_in_lat, visit.check_in_lon, visit.check_in_accuracy_m = here[0], here[1], accuracy
    visit.check_in_distance_m = round(distance, 1)
    visit.within_geofence = inside
    visit.outside_window = not (visit.window_start <= at < visit.window_end)
    visit.clock_skew_s = round(skew, 3)
    visit.impossible_travel = bool(travel)
    flags = dict(visit.flags or {})
    if travel:
        flags["impossible_travel_with"] = travel
    if abs(skew) > allowed.total_seconds() or early:
        flags["clock_skew"] = True
    visit.flags = flags
    visit.updated_at = now
    session.flush()
    record_event(session, visit.case_id, "visit_checked_in", actor.id,
                 {"visit_id": visit.id, "within_geofence": inside, "distance_m": visit.check_in_distance_m,
                  "outside_window": visit.outside_window, "impossible_travel": visit.impossible_travel},
                 subject_id=visit.id, at=at)
    return visit


def _impossible_travel(session: Session, actor: Actor, visit: Visit, here: tuple[float, float], at: datetime,
                       max_kmh: float) -> list[str]:
    """Ids of the actor's check-ins just before and just after `at` that no one could
    travel between at `max_kmh` (check-ins sync out of order, so both neighbours count)."""
    base = select(Visit).where(Visit.checked_in_by == actor.id, Visit.id != visit.id,
                               Visit.checked_in_at.is_not(None))
    neighbours = [
        session.scalar(base.where(Visit.checked_in_at <= at).order_by(Visit.checked_in_at.desc()).limit(1)),
        session.scalar(base.where(Visit.checked_in_at > at).order_by(Visit.checked_in_at).limit(1)),
    ]
    return [other.id for other in neighbours if other is not None and is_impossible_travel(
        (other.check_in_lat, other.check_in_lon), other.checked_in_at, here, at, max_kmh=max_kmh)]


def check_out(session: Session, actor: Actor, settings: Settings, visit_id: str, data: dict[str, Any],
              *, now: datetime | None = None) -> Visit:
    """Record how the visit ended; a promise becomes a repayment promise on the case and a
    payment keeps the case's open promises."""
    now = now or utcnow()
    visit = _field_visit(session, actor, visit_id)
    if visit.status == "cancelled":
        raise VisitCancelled(f"the visit was cancelled at {_iso(visit.cancelled_at)}; it cannot be checked out")
    if visit.status == "scheduled":
        raise Conflict("the visit has not been checked in; check in before checking out")
    if visit.status != "checked_in":
        raise Conflict(f"the visit is {visit.status}; it can be checked out only once")
    outcome, promise = data["outcome"], data.get("promise")
    if outcome == "promise_to_pay" and promise is None:
        raise ValidationFailed("a promise to pay needs its amount and due date", {"promise": ["required for promise_to_pay"]})
    if promise is not None and outcome not in PROMISE_OUTCOMES:
        raise ValidationFailed(f"no promise can come from a visit with outcome {outcome}",
                               {"promise": [f"only with outcomes {', '.join(PROMISE_OUTCOMES)}"]})
    case = session.get(Case, visit.case_id)
    address = session.get(Address, visit.address_id)
    zone = zone_at(address.lat, address.lon)
    at = utc(data["at"])
    violations, early = _clock_violations(at, visit.checked_in_at, "the check-in", now, now,
                                          timedelta(seconds=settings.clock_skew_seconds), "the server's clock")
    if violations:
        raise _refuse("check-out", violations)
    due_end = None
    if promise is not None:
        today = at.astimezone(zone).date()
        due = promise["due_date"]
        if not today <= due <= today + timedelta(days=MAX_PROMISE_DAYS):
            raise ValidationFailed("the due date must lie between the visit's day and a year after it",
                                   {"promise.due_date": [f"between {today} and {today + timedelta(days=MAX_PROMISE_DAYS)}"]})
        due_end = datetime.combine(due + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)

    visit.status = "completed"
    visit.checked_out_at = at
    visit.check_out_lat, visit.check_out_lon = data["lat"], data["lon"]
    visit.outcome, visit.summary = outcome, data.get("summary")
    profile = organisation_profile(case.jurisdiction, settings.rule_overrides)
    late = moment_is_lawful(at, address.lat, address.lon, profile)
    if late is not None:
        # The record of what happened is kept; the overrun is flagged for the supervisor.
        visit.flags = {**(visit.flags or {}), "check_out_outside_hours": late.detail}
    if early:
        visit.flags = {**(visit.flags or {}), "clock_skew": True}
    visit.updated_at = now
    session.flush()
    record_event(session, case.id, "visit_checked_out", actor.id, {"visit_id": visit.id, "outcome": outcome},
                 subject_id=visit.id, at=at)
    if outcome == "payment_received":
        record_payment(session, case.id, at=at, actor_id=actor.id, visit_id=visit.id)
    if promise is not None:
        make_promise(session, case, visit_id=visit.id, collector_id=visit.collector_id, actor_id=actor.id,
                     amount=Decimal(promise["amount"]), currency=promise.get("currency"),
                     due_date=promise["due_date"], due_end_at=due_end, made_at=at)
        case.updated_at = now
    return visit


# --- routes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoutePlan:
    collector_id: str
    date: date
    start: dict[str, Any]
    stops: list[dict[str, Any]] = field(default_factory=list)
    total_distance_m: float = 0.0
    missed_windows: int = 0


def collector_route(session: Session, actor: Actor, settings: Settings, collector_id: str, day: date) -> RoutePlan:
    """The collector's visits on local day `day`, in route order from the day's first
    check-in, else the configured base, else the first visit of the day."""
    if actor.role not in READERS or (actor.is_collector and actor.id != collector_id):
        raise NotFound("no such collector")
    if session.scalar(select(User.role).where(User.id == collector_id)) != "collector":
        raise NotFound("no such collector")
    if actor.creditor_ids is not None and not session.scalar(select(CreditorGrant.user_id).where(
            CreditorGrant.user_id == collector_id, CreditorGrant.creditor_id.in_(sorted(actor.creditor_ids))).limit(1)):
        raise NotFound("no such collector")  # works for none of the creditors the actor is granted
    visits = list(session.scalars(_within_creditors(select(Visit), actor).where(
        or_(Visit.collector_id == collector_id, Visit.second_collector_id == collector_id),
        Visit.local_date == day, Visit.status.in_(LIVE)).order_by(Visit.window_start, Visit.id)))
    addresses = {a.id: a for a in session.scalars(select(Address).where(
        Address.id.in_({v.address_id for v in visits})))} if visits else {}
    stops = [Stop(id=v.id, lat=addresses[v.address_id].lat, lon=addresses[v.address_id].lon,
                  window_start=v.window_start, window_end=v.window_end)
             for v in visits if addresses[v.address_id].lat is not None and addresses[v.address_id].lon is not None]

    checked = [v for v in visits if v.checked_in_by == collector_id and v.checked_in_at is not None]
    first = min(checked, key=lambda v: v.checked_in_at, default=None)
    if first is not None:
        start, source, start_time = (first.check_in_lat, first.check_in_lon), "first_check_in", first.checked_in_at
    else:
        if settings.route_base_lat is not None and settings.route_base_lon is not None:
            start, source = (settings.route_base_lat, settings.route_base_lon), "base"
        elif stops:
            start, source = (stops[0].lat, stops[0].lon), "first_visit"
        else:
            return RoutePlan(collector_id, day, {"lat": None, "lon": None, "source": "none"})
        if not stops:
            return RoutePlan(collector_id, day, {"lat": start[0], "lon": start[1], "source": source})
        # Leave in time to reach the earliest window as it opens.
        earliest = stops[0]
        start_time = earliest.window_start - timedelta(
            seconds=distance_m(start, (earliest.lat, earliest.lon)) / (settings.route_speed_kmh / 3.6))
    route = plan_route(start, stops, settings.route_speed_kmh, start_time,
                       service_time=timedelta(minutes=settings.route_service_minutes))
    return RoutePlan(
        collector_id=collector_id, date=day, start={"lat": start[0], "lon": start[1], "source": source},
        stops=[{"visit_id": s.id, "order": s.order, "lat": s.lat, "lon": s.lon,
                "leg_distance_m": round(s.leg_distance_m, 1), "arrival_estimate": s.arrival_estimate,
                "begins_at": s.begins_at, "late": s.late} for s in route.stops],
        total_distance_m=round(route.total_distance_m, 1), missed_windows=route.missed_windows)


# --- reports --------------------------------------------------------------------------------


def promises_report(session: Session, actor: Actor, *, now: datetime | None = None, **filters) -> Select:
    """Broken promises; the sweep runs first, so a promise due yesterday shows today."""
    _report_reader(actor)
    sweep_broken_promises(session, now or utcnow())
    query = broken_promises(**filters)
    cases_seen = visible_case_ids(actor)
    return query if cases_seen is None else query.where(RepaymentPromise.case_id.in_(cases_seen))


def _report_reader(actor: Actor) -> None:
    if actor.role not in REPORT_READERS:
        raise NotFound("no such report")


def visits_report(session: Session, actor: Actor, start: date, end: date,
                  collector_id: str | None = None) -> dict[str, Any]:
    """Per collector, for visits whose window starts on local days `start`..`end`: scheduled,
    checked in, completed, outside the geofence or window, impossible travel, outcomes, and the
    refused scheduling attempts by rule id."""
    _report_reader(actor)
    if end < start:
        raise ValidationFailed("the period ends before it starts", {"to": ["must not be before from"]})
    if (end - start).days >= MAX_REPORT_DAYS:
        raise ValidationFailed(f"a report covers at most {MAX_REPORT_DAYS} days", {"to": ["period too long"]})
    visits = select(Visit.collector_id, Visit.status, Visit.outcome, Visit.within_geofence, Visit.outside_window,
                    Visit.impossible_travel, func.count()).where(Visit.local_date.between(start, end))
    refusals = select(ScheduleRefusal.collector_id, ScheduleRefusal.rules).where(
        ScheduleRefusal.local_date.between(start, end))
    if collector_id:
        visits = visits.where(Visit.collector_id == collector_id)
        refusals = refusals.where(ScheduleRefusal.collector_id == collector_id)
    cases_seen = visible_case_ids(actor)
    if cases_seen is not None:
        visits = visits.where(Visit.case_id.in_(cases_seen))
        refusals = refusals.where(ScheduleRefusal.case_id.in_(cases_seen))
    rows: dict[str, dict[str, Any]] = defaultdict(_report_row)
    for who, status, outcome, inside, outside_window, travel, count in session.execute(
            visits.group_by(Visit.collector_id, Visit.status, Visit.outcome, Visit.within_geofence,
                            Visit.outside_window, Visit.impossible_travel)):
        row = rows[who]
        if status != "cancelled":
            row["scheduled"] += count
        if status in ("checked_in", "completed"):
            row["checked_in"] += count
            row["outside_geofence"] += count if inside is False else 0
            row["outside_window"] += count if outside_window else 0
            row["impossible_travel"] += count if travel else 0
        if status == "completed":
            row["completed"] += count
            row["outcomes"][outcome] += count
    for who, rules in session.execute(refusals):
        row = rows[who]
        row["refused_attempts"] += 1
        row["refused_by_rule"].update(rules or [])
    names = dict(session.execute(select(User.id, User.username).where(User.id.in_(list(rows)))).all()) if rows else {}
    collectors = [{"collector_id": who, "username": names.get(who), **row,
                   "refused_by_rule": dict(sorted(row["refused_by_rule"].items())),
                   "outcomes": {o: row["outcomes"].get(o, 0) for o in OUTCOMES}}
                  for who, row in sorted(rows.items(), key=lambda item: (names.get(item[0]) or "", item[0]))]
    return {"start": start, "end": end, "collectors": collectors}


def _report_row() -> dict[str, Any]:
    return {"scheduled": 0, "checked_in": 0, "completed": 0, "outside_geofence": 0, "outside_window": 0,
            "impossible_travel": 0, "refused_attempts": 0, "refused_by_rule": Counter(), "outcomes": Counter()}


__all__ = [
    "FIELD_ROLES", "READERS", "REASON_MAX_CHARS", "REPORT_READERS", "SCHEDULERS", "RoutePlan", "VisitCancelled",
    "VisitUnderway", "cancel_visit", "check_in", "check_out", "collector_route", "get_visit", "list_visits",
    "promises_report", "reschedule_visit", "schedule_visit", "visible_visits",
    "visits_report",
]
