"""Pure evaluation of a visit request against a jurisdiction profile.

Every rule is evaluated and every violation returned at once, so a supervisor can fix a
request in one go. A rule that cannot be evaluated refuses (RULES.md): without coordinates
there is no time zone, hence no local time, and ``hours.local`` says so.

Lawful hours are half-open, ``[start, end)`` in the local time of the address:

* a check-in *moment* ``t`` is lawful iff ``start <= local(t) < end`` (CN: 21:59 lawful,
  22:00 not);
* a visit *window* ``[s, e)`` is lawful iff every instant in it is lawful, i.e. (without a
  clock change inside it) ``local(s) >= start`` and ``local(e) <= end`` on the same local day:
  a CN window ending at 22:00 is lawful, because 22:00 itself is not part of it. A window
  that crosses a DST change is judged piece by piece at each piece's own UTC offset.

"Per day" is the local calendar day at the address; the period limit counts visits in any
run of ``period_days`` consecutive local days that includes the requested day. Other visits
of the case are placed on local days in the zone of the requested address.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo

from jurisdictions.localtime import TimeZoneUnavailable, require_aware, segments, utc, zone_at
from jurisdictions.profiles import HoursRule, Profile

__all__ = [
    "ADDRESS_KINDS",
    "ScheduleRequest",
    "Violation",
    "check_recording_consent",
    "evaluate_schedule",
    "moment_is_lawful",
    "window_violation",
]

ADDRESS_KINDS = ("home", "workplace")
CONSENT_STATES = ("granted", "refused", "not_asked")


@dataclass(frozen=True)
class Violation:
    """One refusal: the rule id it rests on and a plain-English reason."""

    rule: str
    detail: str


@dataclass(frozen=True)
class ScheduleRequest:
    """What the rules need to know about a proposed visit, and nothing else.

    ``other_visits`` are the window starts of the case's other scheduled or completed
    visits (not cancelled ones, not this visit itself when it is being rescheduled).
    """

    window_start: datetime
    window_end: datetime
    address_kind: str
    lat: float | None
    lon: float | None
    cease_contact: bool = False
    attorney_represented: bool = False
    workplace_contact_prohibited: bool = False
    has_second_collector: bool = False
    other_visits: tuple[datetime, ...] = field(default=())

    def __post_init__(self) -> None:
        if utc(self.window_end, "window_end") <= utc(self.window_start, "window_start"):
            raise ValueError("window_end must be after window_start")
        if self.address_kind not in ADDRESS_KINDS:
            raise ValueError(f"address_kind must be one of {ADDRESS_KINDS}, got {self.address_kind!r}")
        object.__setattr__(self, "other_visits", tuple(self.other_visits))
        for i, other in enumerate(self.other_visits):
            require_aware(other, f"other_visits[{i}]")


def evaluate_schedule(request: ScheduleRequest, profile: Profile) -> list[Violation]:
    """All violations of ``profile`` by ``request``, in rule order; empty means lawful."""
    violations: list[Violation] = []
    try:
        zone: tzinfo | None = zone_at(request.lat, request.lon)
    except TimeZoneUnavailable as exc:
        zone = None
        violations.append(
            Violation(
                profile.hours.id,
                f"cannot check lawful hours {profile.hours.label()}: {exc}; the per-day and "
                f"per-{profile.frequency.period_days}-day visit limits cannot be checked either",
            )
        )
    if zone is not None:
        hours = window_violation(request.window_start, request.window_end, zone, profile.hours)
        if hours is not None:
            violations.append(hours)

    for rule in (profile.workplace, profile.cease, profile.represented):
        if not rule.refuse or not getattr(request, rule.flag):
            continue
        if rule.applies_to is not None and rule.applies_to != request.address_kind:
            continue
        violations.append(Violation(rule.id, _FLAG_DETAIL[rule.id]))

    if zone is not None:
        violations.extend(_frequency_violations(request, profile, zone))

    needed = profile.team_size.minimum(request.address_kind)
    named = 2 if request.has_second_collector else 1
    if named < needed:
        violations.append(
            Violation(
                profile.team_size.id,
                f"a {request.address_kind} visit under {profile.jurisdiction} needs {needed} "
                f"collectors; name a second collector",
            )
        )
    return violations


_FLAG_DETAIL = {
    "place.workplace": (
        "the debtor may not be contacted at the workplace (workplace contact is prohibited "
        "on this case); choose another address"
    ),
    "contact.cease": (
        "the case has a cease-contact request on file; no visit may be scheduled"
    ),
    "contact.represented": (
        "the debtor is represented by an attorney; contact goes through the attorney, "
        "not a visit"
    ),
}


def window_violation(
    start: datetime, end: datetime, zone: tzinfo, hours: HoursRule
) -> Violation | None:
    """``hours.local`` violation of the window ``[start, end)`` in ``zone``, or None."""
    start, end = utc(start, "window start"), utc(end, "window end")
    early = late = dipped = False
    if end - start >= timedelta(hours=24):
        early = _wall(start, zone).time() < hours.start
        late = True  # it cannot avoid a night
    else:
        for n, (piece_start, piece_end, offset) in enumerate(segments(start, end, zone)):
            wall_start = (piece_start + offset).replace(tzinfo=None)
            wall_end = (piece_end + offset).replace(tzinfo=None)
            if wall_start.time() < hours.start:
                if n == 0:
                    early = True
                elif not late:
                    dipped = True  # a clock change took the wall clock back before opening
            if wall_end > datetime.combine(wall_start.date(), hours.end):
                late = True
    if not (early or late or dipped):
        return None
    if early and late:
        how = "lies outside"
    elif early:
        how = "starts before"
    elif late:
        how = "extends past"
    else:
        how = "falls before"
    return Violation(
        hours.id, f"window {_describe(start, end, zone)} {how} lawful hours {hours.label()}"
    )


def moment_is_lawful(
    at: datetime, lat: float | None, lon: float | None, profile: Profile
) -> Violation | None:
    """``hours.local`` violation of a check-in moment, or None when it is lawful."""
    require_aware(at, "at")
    hours = profile.hours
    try:
        zone = zone_at(lat, lon)
    except TimeZoneUnavailable as exc:
        return Violation(hours.id, f"cannot check lawful hours {hours.label()}: {exc}")
    local = at.astimezone(zone)
    if hours.start <= local.time() < hours.end:
        return None
    return Violation(
        hours.id,
        f"{local:%Y-%m-%d %H:%M} {_zone_name(zone)} ({local:%Z}) is outside lawful hours "
        f"{hours.label()}",
    )


def check_recording_consent(profile: Profile, subject_consent: str) -> Violation | None:
    """``recording.consent``: where all parties must consent, audio needs ``granted``.

    Elsewhere the consent state is only recorded, so any valid state passes.
    """
    if subject_consent not in CONSENT_STATES:
        raise ValueError(f"subject consent must be one of {CONSENT_STATES}, got {subject_consent!r}")
    rule = profile.recording
    if rule.all_party and subject_consent != "granted":
        return Violation(
            rule.id,
            f"{profile.jurisdiction} requires every party's consent to record audio; the "
            f"subject's consent is {subject_consent.replace('_', ' ')}",
        )
    return None


def _frequency_violations(
    request: ScheduleRequest, profile: Profile, zone: tzinfo
) -> list[Violation]:
    rule = profile.frequency
    day = _wall(request.window_start, zone).date()
    others = [_wall(t, zone).date() for t in request.other_visits]
    found: list[Violation] = []
    same_day = 1 + sum(1 for d in others if d == day)
    if same_day > rule.max_per_day:
        found.append(
            Violation(
                rule.id,
                f"{same_day} visits on local day {day.isoformat()} ({_zone_name(zone)}) would "
                f"exceed the limit of {rule.max_per_day} per day",
            )
        )
    worst: tuple[int, date] | None = None
    for back in range(rule.period_days):
        first = day - timedelta(days=back)
        last = first + timedelta(days=rule.period_days - 1)
        count = 1 + sum(1 for d in others if first <= d <= last)
        if count > rule.max_per_period and (worst is None or count > worst[0]):
            worst = (count, first)
    if worst is not None:
        count, first = worst
        last = first + timedelta(days=rule.period_days - 1)
        found.append(
            Violation(
                rule.id,
                f"{count} visits in the {rule.period_days} local days {first.isoformat()} to "
                f"{last.isoformat()} ({_zone_name(zone)}) would exceed the limit of "
                f"{rule.max_per_period} per {rule.period_days} days",
            )
        )
    return found


def _wall(t: datetime, zone: tzinfo) -> datetime:
    return t.astimezone(zone)


def _zone_name(zone: tzinfo) -> str:
    key = getattr(zone, "key", None)
    if key:
        return key
    return str(zone) if isinstance(zone, timezone) else type(zone).__name__


def _describe(start: datetime, end: datetime, zone: tzinfo) -> str:
    """``2026-05-01 21:30–22:30 Asia/Shanghai``, with the date and offsets when they change."""
    s, e = _wall(start, zone), _wall(end, zone)
    end_text = f"{e:%H:%M}" if e.date() == s.date() else f"{e:%Y-%m-%d %H:%M}"
    text = f"{s:%Y-%m-%d %H:%M}–{end_text} {_zone_name(zone)}"
    if s.utcoffset() != e.utcoffset():
        text += f" ({s:%Z}→{e:%Z}, clocks change)"
    return text
