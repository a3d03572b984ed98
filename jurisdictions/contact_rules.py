"""Pure evaluation of a contact attempt (call, SMS, e-mail, letter) against a jurisdiction profile.

Every rule is evaluated and every violation returned at once, as for visits. Only outbound
attempts are judged: a debtor who calls or writes in is always recorded.

* ``hours.local`` (calls, SMS, e-mail; a letter is posted, not received at an hour): the moment
  ``t`` is lawful iff ``start <= local(t) < end`` in the debtor's local time — half-open, so CN
  21:59 is lawful and 22:00 is not. Where the debtor's addresses lie in several zones the
  attempt must be lawful in each (12 CFR 1006.6(b)(1)(i): convenient at every location the
  collector knows of). Without a zone the rule cannot be evaluated and refuses, saying why.
* ``contact.cease`` and ``contact.represented`` refuse every channel.
* ``contact.opt_out`` (SMS, e-mail): a channel the debtor opted out of is closed; where the
  profile requires it, the text as sent must carry a way to opt out.
* ``frequency.calls`` (calls): counted per debt on the debtor's local calendar days (in the zone
  of the first address with one). The law's presumption (US: more than 7 calls in 7 consecutive
  days; any call in the 7 days that begin with the day of a telephone conversation) and the
  organisation's caps per day and per period. Only calls to the debtor count here; a call to a
  third party is judged by ``contact.third_party``.
* ``contact.third_party`` (every channel, when the party contacted is not the debtor): where the
  profile caps location contacts per person (US: once, unless the person asks — 15 USC
  1692b(3), 12 CFR 1006.10(c)), a person already reached is not contacted again until they ask
  (an inbound contact from them, or a contact on which they asked to be contacted again); the
  person is recognised by a keyed hash of their number, and without one the cap cannot be
  counted and the contact is refused. Where there is no cap (CN, IN) a third party may be
  contacted to locate the debtor, and the rule's note says what may not be said.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from jurisdictions.localtime import TimeZoneUnavailable, require_aware, utc, zone_at
from jurisdictions.profiles import Profile
from jurisdictions.rules import Violation

__all__ = [
    "CALL_OUTCOMES",
    "CHANNELS",
    "CONVERSATION_OUTCOMES",
    "DIRECTIONS",
    "ContactRequest",
    "PARTIES",
    "PastContact",
    "debtor_zones",
    "evaluate_contact",
]

CHANNELS = ("call", "sms", "email", "letter")
DIRECTIONS = ("outbound", "inbound")
CALL_OUTCOMES = ("no_answer", "voicemail", "wrong_party", "spoke_debtor", "spoke_third_party", "refused")
# Outcomes where a telephone conversation about the debt took place with the debtor.
CONVERSATION_OUTCOMES = ("spoke_debtor", "refused")
TIMED_CHANNELS = ("call", "sms", "email")
PARTIES = ("debtor", "third_party")
# Outcomes where nobody was reached: they are attempts, not communications with the person.
NOT_REACHED = ("no_answer", "wrong_party", "failed", "returned")


@dataclass(frozen=True)
class PastContact:
    """A contact already on the case, as far as the rules need it."""

    channel: str
    direction: str
    at: datetime
    outcome: str
    party: str = "debtor"
    third_party_key: str | None = None
    third_party_requested: bool = False

    def __post_init__(self) -> None:
        require_aware(self.at, "past contact at")


@dataclass(frozen=True)
class ContactRequest:
    """What the rules need to know about a proposed (or just made) contact, and nothing else.

    ``places`` are the coordinates of the debtor's addresses, home first; ``text`` is the
    message as sent (SMS, e-mail), checked for an opt-out where the law asks for one; ``None``
    when only asking whether a contact may be made now. ``party``: who is contacted, the debtor
    or a third party (recognised again by ``third_party_key``, a keyed hash of their number).
    """

    channel: str
    at: datetime
    places: tuple[tuple[float | None, float | None], ...] = ()
    direction: str = "outbound"
    cease_contact: bool = False
    attorney_represented: bool = False
    opted_out: frozenset[str] = frozenset()
    text: str | None = None
    history: tuple[PastContact, ...] = field(default=())
    party: str = "debtor"
    third_party_key: str | None = None

    def __post_init__(self) -> None:
        if self.party not in PARTIES:
            raise ValueError(f"party must be one of {PARTIES}, got {self.party!r}")
        if self.channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}, got {self.channel!r}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
        require_aware(self.at, "at")
        object.__setattr__(self, "places", tuple(self.places))
        object.__setattr__(self, "history", tuple(self.history))
        object.__setattr__(self, "opted_out", frozenset(self.opted_out))


def debtor_zones(places: Iterable[tuple[float | None, float | None]]) -> list[tzinfo]:
    """The distinct zones of the places that have one; :class:`TimeZoneUnavailable` when none has."""
    zones: list[tzinfo] = []
    reasons: list[str] = []
    for lat, lon in places:
        try:
            zone = zone_at(lat, lon)
        except TimeZoneUnavailable as exc:
            reasons.append(str(exc))
            continue
        if zone not in zones:
            zones.append(zone)
    if not zones:
        why = "; ".join(dict.fromkeys(reasons)) or "the case has no address"
        raise TimeZoneUnavailable(f"the debtor's time zone cannot be known ({why})")
    return zones


def evaluate_contact(request: ContactRequest, profile: Profile) -> list[Violation]:
    """All violations of ``profile`` by ``request``, in rule order; empty means lawful."""
    if request.direction != "outbound":
        return []
    violations: list[Violation] = []
    zones: list[tzinfo] = []
    timed = request.channel in TIMED_CHANNELS
    if timed:
        try:
            zones = debtor_zones(request.places)
        except TimeZoneUnavailable as exc:
            extra = "; the call limits cannot be counted either" if request.channel == "call" else ""
            violations.append(Violation(profile.hours.id,
                                        f"cannot check lawful hours {profile.hours.label()}: {exc}{extra}"))
    if timed:
        violations.extend(_hours(request.at, zones, profile))

    for rule, flag, why in (
        (profile.cease, request.cease_contact,
         "the case has a cease-contact request on file; no {channel} may be made"),
        (profile.represented, request.attorney_represented,
         "the debtor is represented by an attorney; contact goes through the attorney, not by {channel}"),
    ):
        if rule.refuse and flag:
            violations.append(Violation(rule.id, why.format(channel=_CHANNEL_WORD[request.channel])))

    opt_out = profile.opt_out
    if request.channel in opt_out.channels:
        if request.channel in request.opted_out:
            violations.append(Violation(opt_out.id, f"the debtor opted out of {_CHANNEL_WORD[request.channel]}; "
                                                    "the channel is closed"))
        if opt_out.notice_required and request.text is not None and not _has_opt_out(request.text, opt_out.markers):
            violations.append(Violation(opt_out.id, f"{profile.jurisdiction} requires every "
                                                    f"{_CHANNEL_WORD[request.channel]} to carry a clear way to "
                                                    "opt out (e.g. 'Reply STOP to opt out'); the text has none"))

    if request.party == "third_party":
        violations.extend(_third_party(request, profile))
    elif request.channel == "call" and zones:
        violations.extend(_call_frequency(request, profile, zones[0]))
    return violations


def _third_party(request: ContactRequest, profile: Profile) -> list[Violation]:
    rule = profile.third_party
    cap = rule.max_location_contacts_per_person
    if cap is None:
        return []
    what = f"{profile.jurisdiction} allows contacting a third party {_times(cap)} to locate the debtor ({rule.note})"
    if request.third_party_key is None:
        return [Violation(rule.id, f"{what}; without the person's number the contacts cannot be counted")]
    at = utc(request.at, "at")
    theirs = [c for c in request.history
              if c.party == "third_party" and c.third_party_key == request.third_party_key and utc(c.at) <= at]
    asked = [utc(c.at) for c in theirs if c.direction == "inbound" or c.third_party_requested]
    since = max(asked) if asked else None
    reached = sorted(utc(c.at) for c in theirs if c.direction == "outbound" and c.outcome not in NOT_REACHED
                     and (since is None or utc(c.at) >= since) and not c.third_party_requested)
    if len(reached) < cap:
        return []
    return [Violation(rule.id, f"{what}; this person was reached on {reached[-1].date().isoformat()} (UTC) and has "
                               "not asked to be contacted again")]


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


_CHANNEL_WORD = {"call": "call", "sms": "SMS", "email": "e-mail", "letter": "letter"}


def _has_opt_out(text: str, markers: tuple[str, ...]) -> bool:
    folded = text.casefold()
    return any(marker.casefold() in folded for marker in markers)


def _hours(at: datetime, zones: list[tzinfo], profile: Profile) -> list[Violation]:
    hours = profile.hours
    found = []
    for zone in zones:
        local = at.astimezone(zone)
        if not hours.start <= local.time() < hours.end:
            found.append(Violation(hours.id, f"{local:%Y-%m-%d %H:%M} {_zone_name(zone)} ({local:%Z}) is outside "
                                             f"lawful hours {hours.label()} in the debtor's local time"))
    return found


def _call_frequency(request: ContactRequest, profile: Profile, zone: tzinfo) -> list[Violation]:
    rule = profile.call_frequency
    at = utc(request.at, "at")
    day = at.astimezone(zone).date()
    calls = [c for c in request.history if c.channel == "call" and c.party == "debtor"]
    placed = [utc(c.at).astimezone(zone).date() for c in calls if c.direction == "outbound"]
    found: list[Violation] = []
    name = _zone_name(zone)

    if rule.after_conversation_days is not None:
        talks = [c for c in calls if c.outcome in CONVERSATION_OUTCOMES and utc(c.at) <= at]
        if talks:
            last = max(talks, key=lambda c: utc(c.at))
            first_day = utc(last.at).astimezone(zone).date()
            last_day = first_day + timedelta(days=rule.after_conversation_days - 1)
            if first_day <= day <= last_day:
                found.append(Violation(rule.id, f"a telephone conversation about the debt took place on "
                                                f"{first_day.isoformat()} ({name}); no call may be placed through "
                                                f"{last_day.isoformat()} (7 consecutive days from that date)"))
    if rule.presumed_max_calls is not None:
        worst = _worst_window(placed, day, rule.presumed_days)
        if worst[0] > rule.presumed_max_calls:
            found.append(Violation(rule.id, _too_many(worst, rule.presumed_days, rule.presumed_max_calls, name,
                                                      "calls", "more than")))
    if rule.max_per_day is not None:
        same_day = 1 + sum(1 for d in placed if d == day)
        if same_day > rule.max_per_day:
            found.append(Violation(rule.id, f"{same_day} calls on local day {day.isoformat()} ({name}) would exceed "
                                            f"the organisation's limit of {rule.max_per_day} per day"))
    if rule.max_per_period is not None:
        worst = _worst_window(placed, day, rule.period_days)
        if worst[0] > rule.max_per_period:
            found.append(Violation(rule.id, _too_many(worst, rule.period_days, rule.max_per_period, name,
                                                      "calls", "the organisation's limit of")))
    return found


def _worst_window(days: list[date], day: date, length: int) -> tuple[int, date]:
    """The most calls (this one included) in any ``length`` consecutive days holding ``day``."""
    best = (0, day)
    for back in range(length):
        first = day - timedelta(days=back)
        last = first + timedelta(days=length - 1)
        count = 1 + sum(1 for d in days if first <= d <= last)
        if count > best[0]:
            best = (count, first)
    return best


def _too_many(worst: tuple[int, date], length: int, limit: int, zone: str, what: str, how: str) -> str:
    count, first = worst
    last = first + timedelta(days=length - 1)
    return (f"{count} {what} in the {length} consecutive local days {first.isoformat()} to {last.isoformat()} "
            f"({zone}) would be {how} {limit}" if how == "more than" else
            f"{count} {what} in the {length} consecutive local days {first.isoformat()} to {last.isoformat()} "
            f"({zone}) would exceed {how} {limit}")


def _zone_name(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or str(zone)
