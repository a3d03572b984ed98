"""Jurisdiction profiles: the visit and contact rules of RULES.md, held as data.

A profile is chosen per case (``CN``, ``IN`` or ``US-XX``) and may be tightened per
organisation, never loosened below the law. Every rule carries its id (the ``rule`` of a
refusal) and the citation it rests on, tagged as in RULES.md: [P] checked against the
primary text, [S] secondary source only.

Which way is "tighter" is declared on each adjustable field (``metadata={"tighter": ...}``),
so that :func:`tighten` is one generic comparison instead of a rule-by-rule ``if`` chain.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from types import MappingProxyType
from typing import Any

from jurisdictions.business_days import add_business_days

__all__ = [
    "ALL_PARTY_CONSENT_STATES",
    "CN",
    "IN",
    "RULE_IDS",
    "US",
    "US_STATE_CODES",
    "CallFrequencyRule",
    "ConsentEntryRule",
    "OptOutRule",
    "FlagRule",
    "FrequencyRule",
    "HoursRule",
    "LooseningError",
    "NoticeRule",
    "Profile",
    "ProfileError",
    "RecordingConsentRule",
    "RetentionRule",
    "TeamSizeRule",
    "ThirdPartyRule",
    "UnknownJurisdiction",
    "profile_for",
    "tighten",
]

RULE_IDS = (
    "hours.local",
    "place.workplace",
    "contact.cease",
    "contact.represented",
    "contact.third_party",
    "frequency.visits",
    "team.size",
    "consent.entry",
    "recording.consent",
    "retention.records",
    "frequency.calls",
    "contact.opt_out",
    "notice.validation",
)

# Directions of "tighter" for adjustable fields.
_LATER = "later"  # a later time is tighter (start of lawful hours)
_EARLIER = "earlier"  # an earlier time is tighter (end of lawful hours)
_HIGHER = "higher"  # a larger number is tighter (collectors, retention years)
_LOWER = "lower"  # a smaller number is tighter (visit caps)
_ON = "on"  # True is tighter (a refusal or a consent requirement switched on)


def _tight(direction: str) -> dict[str, str]:
    return {"tighter": direction}


class ProfileError(ValueError):
    """A profile cannot be built as asked; ``rule`` names the rule concerned, if any."""

    def __init__(self, message: str, rule: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule


class UnknownJurisdiction(ProfileError):
    """The jurisdiction is not ``CN``, ``IN`` or ``US-XX`` with a real state code."""


class LooseningError(ProfileError):
    """An organisation override would loosen a rule below the profile (the law)."""


@dataclass(frozen=True)
class HoursRule:
    """Lawful visiting hours, half-open ``[start, end)`` in the address's local time."""

    start: time = field(metadata=_tight(_LATER))
    end: time = field(metadata=_tight(_EARLIER))
    source: str
    id: str = "hours.local"

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ProfileError(
                f"{self.id}: start {self.start:%H:%M} must be before end {self.end:%H:%M}",
                self.id,
            )

    def label(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


@dataclass(frozen=True)
class FlagRule:
    """A case flag that, when set, refuses a visit (``refuse``); ``applies_to`` limits it
    to one kind of address (``workplace``) or to every visit (``None``)."""

    id: str
    flag: str
    refuse: bool = field(metadata=_tight(_ON))
    applies_to: str | None
    source: str


@dataclass(frozen=True)
class ThirdPartyRule:
    """What may be done with a person who is neither debtor nor guarantor.

    Evaluated at check-out (outcome ``third_party_only``), not when scheduling.
    """

    locating_only: bool = field(metadata=_tight(_ON))
    disclose_debt: bool
    max_location_contacts_per_person: int | None = field(metadata=_tight(_LOWER))
    note: str
    source: str
    id: str = "contact.third_party"


@dataclass(frozen=True)
class FrequencyRule:
    """Visits per case: per local calendar day at the address, and in any run of
    ``period_days`` consecutive local days."""

    max_per_day: int = field(metadata=_tight(_LOWER))
    max_per_period: int = field(metadata=_tight(_LOWER))
    period_days: int = field(metadata=_tight(_HIGHER))
    source: str
    id: str = "frequency.visits"

    def __post_init__(self) -> None:
        if self.max_per_day < 0 or self.max_per_period < 0 or self.period_days < 1:
            raise ProfileError(f"{self.id}: caps must be >= 0 and the period >= 1 day", self.id)


@dataclass(frozen=True)
class TeamSizeRule:
    """Minimum number of collectors on a visit, by address kind.

    The visit names at most a second collector, so two is the most a profile can ask for.
    """

    home: int = field(metadata=_tight(_HIGHER))
    workplace: int = field(metadata=_tight(_HIGHER))
    source: str
    id: str = "team.size"
    MAX_NAMED = 2

    def __post_init__(self) -> None:
        for kind in ("home", "workplace"):
            n = getattr(self, kind)
            if not 1 <= n <= self.MAX_NAMED:
                raise ProfileError(
                    f"{self.id}: {kind} needs 1..{self.MAX_NAMED} collectors (a visit names at "
                    f"most a second collector), got {n}",
                    self.id,
                )

    def minimum(self, address_kind: str) -> int:
        return self.home if address_kind == "home" else self.workplace


@dataclass(frozen=True)
class ConsentEntryRule:
    """Entering a home, and photographing inside one, need the occupant's consent."""

    entry_needs_consent: bool = field(metadata=_tight(_ON))
    photo_inside_needs_consent: bool = field(metadata=_tight(_ON))
    source: str
    id: str = "consent.entry"


@dataclass(frozen=True)
class RecordingConsentRule:
    """Audio recording: always record the consent state; where ``all_party`` holds, a
    recording needs the subject's ``granted`` consent."""

    all_party: bool = field(metadata=_tight(_ON))
    all_party_states: frozenset[str]
    source: str
    id: str = "recording.consent"


@dataclass(frozen=True)
class RetentionRule:
    """Minimum years to keep collection records after the last activity on a case.

    ``years`` is ``None`` where the law sets no floor and the organisation must choose.
    """

    years: int | None = field(metadata=_tight(_HIGHER))
    internet_lender_years: int | None = field(metadata=_tight(_HIGHER))
    source: str
    id: str = "retention.records"


@dataclass(frozen=True)
class CallFrequencyRule:
    """Call attempts per debt (per case), counted on the debtor's local calendar days.

    ``presumed_max_calls`` in ``presumed_days`` consecutive days and the quiet period of
    ``after_conversation_days`` (the day of a telephone conversation is its first day) are the
    law's presumption where one exists (US Reg F); ``max_per_day`` and ``max_per_period`` in
    ``period_days`` are the organisation's own caps (CN, IN; a US organisation may add them).
    ``None`` means no such limit.
    """

    presumed_max_calls: int | None = field(metadata=_tight(_LOWER))
    presumed_days: int
    after_conversation_days: int | None = field(metadata=_tight(_HIGHER))
    max_per_day: int | None = field(metadata=_tight(_LOWER))
    max_per_period: int | None = field(metadata=_tight(_LOWER))
    period_days: int = field(metadata=_tight(_HIGHER))
    source: str
    id: str = "frequency.calls"

    def __post_init__(self) -> None:
        for name in ("presumed_max_calls", "after_conversation_days", "max_per_day", "max_per_period"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ProfileError(f"{self.id}: {name} must be >= 0", self.id)
        if self.period_days < 1 or self.presumed_days < 1:
            raise ProfileError(f"{self.id}: periods must be at least one day", self.id)


@dataclass(frozen=True)
class OptOutRule:
    """Opting out of a channel (e-mail, SMS) is recorded and honoured; where
    ``notice_required`` holds, every message on those channels must carry a clear way to opt
    out, recognised by one of ``markers`` (matched case-insensitively in the text as sent)."""

    channels: frozenset[str]
    notice_required: bool = field(metadata=_tight(_ON))
    markers: tuple[str, ...]
    source: str
    id: str = "contact.opt_out"


@dataclass(frozen=True)
class NoticeRule:
    """The written notices: which ``templates`` the jurisdiction uses, whether one must come
    before any other contact (``first``), and its periods. Receipt is presumed
    ``receipt_business_days`` business days after mailing (holidays of ``holiday_calendar``,
    see :mod:`jurisdictions.business_days`); the validation period ends
    ``validation_period_days`` after receipt (``None``: no validation notice); no visit is
    planned for ``visit_after_days`` after receipt (``None``: no such period). ``respond_days``
    is the reply period an overdue notice prints, counted from mailing; ``respond_source`` says
    where it comes from (an organisation default where the law sets none)."""

    first: bool = field(metadata=_tight(_ON))
    visit_after_days: int | None = field(metadata=_tight(_HIGHER))
    receipt_business_days: int
    source: str
    templates: tuple[str, ...] = ("overdue",)
    holiday_calendar: str | None = None
    validation_period_days: int | None = None
    respond_days: int | None = field(default=None, metadata=_tight(_HIGHER))
    respond_source: str | None = None
    id: str = "notice.validation"

    def presumed_receipt(self, mailed: date) -> date:
        """The day a notice mailed on ``mailed`` is presumed received."""
        return add_business_days(mailed, self.receipt_business_days, self.holiday_calendar)

    def validation_end(self, mailed: date) -> date | None:
        """The last day of the validation period (12 CFR 1006.34(b)(5)), or ``None``."""
        if self.validation_period_days is None:
            return None
        return self.presumed_receipt(mailed) + timedelta(days=self.validation_period_days)

    def respond_by(self, mailed: date) -> date | None:
        """The reply date an overdue notice prints, or ``None``."""
        return None if self.respond_days is None else mailed + timedelta(days=self.respond_days)


@dataclass(frozen=True)
class Profile:
    """The rules of one jurisdiction; ``overridden`` lists rules an organisation tightened."""

    jurisdiction: str
    country: str
    hours: HoursRule
    workplace: FlagRule
    cease: FlagRule
    represented: FlagRule
    third_party: ThirdPartyRule
    frequency: FrequencyRule
    team_size: TeamSizeRule
    consent_entry: ConsentEntryRule
    recording: RecordingConsentRule
    retention: RetentionRule
    call_frequency: CallFrequencyRule
    opt_out: OptOutRule
    notice: NoticeRule
    overridden: frozenset[str] = frozenset()

    @property
    def rules(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _ATTR_BY_RULE.values())

    def rule(self, rule_id: str) -> Any:
        try:
            return getattr(self, _ATTR_BY_RULE[rule_id])
        except KeyError:
            raise ProfileError(f"unknown rule id {rule_id!r}", rule_id) from None


_ATTR_BY_RULE = MappingProxyType(
    {
        "hours.local": "hours",
        "place.workplace": "workplace",
        "contact.cease": "cease",
        "contact.represented": "represented",
        "contact.third_party": "third_party",
        "frequency.visits": "frequency",
        "team.size": "team_size",
        "consent.entry": "consent_entry",
        "recording.consent": "recording",
        "retention.records": "retention",
        "frequency.calls": "call_frequency",
        "contact.opt_out": "opt_out",
        "notice.validation": "notice",
    }
)

# --- sources (RULES.md) ------------------------------------------------------------------

_CN_HOURS = (
    "China Banking Association 2026 consumer-loan collection guideline; NIFA 2024; "
    "GB/T 45251-2025 [S]"
)
_CN_FLAG = "RULES.md: CN follows the case flag"
_CN_THIRD = "2011 Measures Art. 68 [S]"
_CN_TEAM = "organisation setting; industry practice, count unverified"
_CN_CONSENT = "Civil Code Arts. 1033, 1019 [S]"
_CN_RETENTION = "2011 Measures Art. 68 [S]; internet lenders: NIFA 2018 [S]"
_FREQ = "organisation setting (RULES.md default: 1 per day, 3 per 7 days)"
_US_FREQ = (
    "organisation setting; Reg F's 7-in-7 presumption (12 CFR 1006.14(b)) is for calls [P]"
)
_IN_SRC = "RBI/2022-23/108 [S]"
_ORG_CALLS = (
    "organisation setting; RULES.md default 3 call attempts per local day, 10 per 7 days "
    "(no national number verified) [S]"
)
_US_CALLS = (
    "12 CFR 1006.14(b)(2) [P]: presumed harassment to call more than 7 times within 7 "
    "consecutive days, or within 7 consecutive days after a telephone conversation about the "
    "debt (the conversation's date is the first day); per debt"
)
# The reply period an overdue notice prints where the law names none (CN, IN): the
# organisation's default, not a legal number (RULES.md `notice.validation`); tighten with
# ``{"notice.validation": {"respond_days": N}}``, N >= 14.
_ORG_RESPOND_DAYS = 14
_ORG_RESPOND = "organisation default: 14 days to reply; no national number verified (RULES.md) [S]"
# Words that show a message offers a way to opt out (English and Chinese).
_OPT_OUT_MARKERS = ("opt out", "opt-out", "unsubscribe", "reply stop", "text stop", "退订", "回复TD", "取消订阅")
_MESSAGE_CHANNELS = frozenset({"sms", "email"})


def _org_calls() -> CallFrequencyRule:
    return CallFrequencyRule(presumed_max_calls=None, presumed_days=7, after_conversation_days=None,
                             max_per_day=3, max_per_period=10, period_days=7, source=_ORG_CALLS)


def _record_opt_out(source: str) -> OptOutRule:
    return OptOutRule(channels=_MESSAGE_CHANNELS, notice_required=False, markers=_OPT_OUT_MARKERS,
                      source=source)

ALL_PARTY_CONSENT_STATES = frozenset(
    {"CA", "CT", "FL", "IL", "MD", "MA", "MT", "NH", "PA", "WA", "DE", "MI", "NV", "OR"}
)

# The 50 states, DC and the inhabited territories.
US_STATE_CODES = frozenset(
    """AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV
    NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC AS GU MP PR VI""".split()
)


def _flag(rule_id: str, flag: str, applies_to: str | None, source: str) -> FlagRule:
    return FlagRule(id=rule_id, flag=flag, refuse=True, applies_to=applies_to, source=source)


CN = Profile(
    jurisdiction="CN",
    country="CN",
    hours=HoursRule(start=time(8), end=time(22), source=_CN_HOURS),
    workplace=_flag("place.workplace", "workplace_contact_prohibited", "workplace", _CN_FLAG),
    cease=_flag("contact.cease", "cease_contact", None, _CN_FLAG),
    represented=_flag("contact.represented", "attorney_represented", None, _CN_FLAG),
    third_party=ThirdPartyRule(
        locating_only=True,
        disclose_debt=False,
        max_location_contacts_per_person=None,
        note="outcome third_party_only allowed for locating only; no debt details disclosed",
        source=_CN_THIRD,
    ),
    frequency=FrequencyRule(max_per_day=1, max_per_period=3, period_days=7, source=_FREQ),
    team_size=TeamSizeRule(home=2, workplace=1, source=_CN_TEAM),
    consent_entry=ConsentEntryRule(
        entry_needs_consent=True, photo_inside_needs_consent=True, source=_CN_CONSENT
    ),
    recording=RecordingConsentRule(
        all_party=False,
        all_party_states=frozenset(),
        source="RULES.md: record the consent state",
    ),
    retention=RetentionRule(years=2, internet_lender_years=5, source=_CN_RETENTION),
    call_frequency=_org_calls(),
    opt_out=_record_opt_out("RULES.md: record an opt-out and stop the channel"),
    notice=NoticeRule(first=True, visit_after_days=None, receipt_business_days=0,
                      source="seed: 书面通知 after the first missed payment, before calls and visits",
                      templates=("overdue",), respond_days=_ORG_RESPOND_DAYS, respond_source=_ORG_RESPOND),
)

# The federal profile. Without a state the recording rule is all-party: a rule that cannot
# be evaluated refuses. ``profile_for("US-XX")`` settles it per state.
US = Profile(
    jurisdiction="US",
    country="US",
    hours=HoursRule(start=time(8), end=time(21), source="FDCPA §805(a)(1); 12 CFR 1006.6(b)(1) [P]"),
    workplace=_flag(
        "place.workplace", "workplace_contact_prohibited", "workplace", "FDCPA §805(a)(3) [P]"
    ),
    cease=_flag("contact.cease", "cease_contact", None, "FDCPA §805(c) [P]"),
    represented=_flag(
        "contact.represented", "attorney_represented", None, "FDCPA §805(a)(2) [P]"
    ),
    third_party=ThirdPartyRule(
        locating_only=True,
        disclose_debt=False,
        max_location_contacts_per_person=1,
        note="location information only, once per person",
        source="FDCPA §804; 12 CFR 1006.10 [P]",
    ),
    frequency=FrequencyRule(max_per_day=1, max_per_period=3, period_days=7, source=_US_FREQ),
    team_size=TeamSizeRule(home=1, workplace=1, source="RULES.md: 1 collector"),
    consent_entry=ConsentEntryRule(
        entry_needs_consent=True,
        photo_inside_needs_consent=True,
        source="intrusion upon seclusion, Restatement (Second) of Torts §652B [S]",
    ),
    recording=RecordingConsentRule(
        all_party=True,
        all_party_states=ALL_PARTY_CONSENT_STATES,
        source=(
            "state all-party-consent laws: CA, CT, FL, IL, MD, MA, MT, NH, PA, WA; "
            "DE, MI, NV, OR treated as all-party (RULES.md)"
        ),
    ),
    retention=RetentionRule(
        years=3, internet_lender_years=None, source="12 CFR 1006.100 (after last activity) [P]"
    ),
    call_frequency=CallFrequencyRule(
        presumed_max_calls=7, presumed_days=7, after_conversation_days=7, max_per_day=None,
        max_per_period=None, period_days=7, source=_US_CALLS,
    ),
    opt_out=OptOutRule(
        channels=_MESSAGE_CHANNELS, notice_required=True, markers=_OPT_OUT_MARKERS,
        source="12 CFR 1006.6(d)(4)(i), 1006.6(e) [P]: a clear and conspicuous way to opt out "
        "in every electronic communication; honour the opt-out",
    ),
    notice=NoticeRule(
        first=True, visit_after_days=30, receipt_business_days=5,
        source="12 CFR 1006.34(a), (b)(5) [P]: validation notice; the validation period ends 30 days "
        "after receipt, presumed 5 days (excluding public holidays, Saturdays and Sundays) after "
        "mailing; the plan sends it first and plans no visit inside the period",
        templates=("validation", "overdue"), holiday_calendar="US", validation_period_days=30,
    ),
)

IN = Profile(
    jurisdiction="IN",
    country="IN",
    hours=HoursRule(start=time(8), end=time(19), source=_IN_SRC),
    workplace=_flag(
        "place.workplace", "workplace_contact_prohibited", "workplace", "RULES.md: IN follows the case flag"
    ),
    cease=_flag("contact.cease", "cease_contact", None, "RULES.md: IN follows the case flag"),
    represented=_flag(
        "contact.represented", "attorney_represented", None, "RULES.md: IN follows the case flag"
    ),
    third_party=ThirdPartyRule(
        locating_only=True,
        disclose_debt=False,
        max_location_contacts_per_person=None,
        note="no intrusion on family or referees",
        source=f"{_IN_SRC}",
    ),
    frequency=FrequencyRule(max_per_day=1, max_per_period=3, period_days=7, source=_FREQ),
    team_size=TeamSizeRule(home=1, workplace=1, source="RULES.md: 1 collector"),
    consent_entry=ConsentEntryRule(
        entry_needs_consent=False,
        photo_inside_needs_consent=False,
        source="RULES.md: no rule stated for IN",
    ),
    recording=RecordingConsentRule(
        all_party=False, all_party_states=frozenset(), source="RULES.md: record the consent state"
    ),
    retention=RetentionRule(
        years=None, internet_lender_years=None, source="RULES.md: organisation setting"
    ),
    call_frequency=_org_calls(),
    opt_out=_record_opt_out("RULES.md: record and honour an opt-out"),
    notice=NoticeRule(first=True, visit_after_days=None, receipt_business_days=0,
                      source=f"{_IN_SRC}: notice before recovery action",
                      templates=("overdue",), respond_days=_ORG_RESPOND_DAYS, respond_source=_ORG_RESPOND),
)


def profile_for(jurisdiction: str) -> Profile:
    """The profile of a case's ``jurisdiction``: ``CN``, ``IN`` or ``US-XX``.

    Matching is exact (upper case, no spaces) so that what is stored on a case is canonical.
    """
    if jurisdiction == "CN":
        return CN
    if jurisdiction == "IN":
        return IN
    if isinstance(jurisdiction, str) and jurisdiction.startswith("US-"):
        state = jurisdiction[3:]
        if state in US_STATE_CODES:
            return dataclasses.replace(
                US,
                jurisdiction=jurisdiction,
                recording=dataclasses.replace(
                    US.recording, all_party=state in ALL_PARTY_CONSENT_STATES
                ),
            )
        raise UnknownJurisdiction(
            f"unknown US state or territory code {state!r} in jurisdiction {jurisdiction!r}"
        )
    if jurisdiction == "US":
        raise UnknownJurisdiction("jurisdiction 'US' needs a state: use 'US-XX', e.g. 'US-NY'")
    raise UnknownJurisdiction(
        f"unknown jurisdiction {jurisdiction!r}: expected 'CN', 'IN' or 'US-XX'"
    )


def tighten(profile: Profile, overrides: Mapping[str, Mapping[str, Any]]) -> Profile:
    """Apply an organisation's settings, which may only make rules stricter.

    ``overrides`` maps a rule id to field values, e.g.
    ``{"hours.local": {"start": time(9)}, "frequency.visits": {"max_per_period": 2}}``.
    Equal values are accepted; a looser value raises :class:`LooseningError` naming the rule.
    """
    changes: dict[str, Any] = {}
    for rule_id, values in overrides.items():
        if rule_id not in _ATTR_BY_RULE:
            raise ProfileError(f"unknown rule id {rule_id!r}", rule_id)
        rule = profile.rule(rule_id)
        fields = {f.name: f for f in dataclasses.fields(rule)}
        for name, new in values.items():
            f = fields.get(name)
            direction = f.metadata.get("tighter") if f is not None else None
            if direction is None:
                raise ProfileError(f"{rule_id}: {name!r} is not an adjustable setting", rule_id)
            _check_tighter(rule_id, name, direction, getattr(rule, name), new)
        changes[_ATTR_BY_RULE[rule_id]] = dataclasses.replace(rule, **values)
    return dataclasses.replace(
        profile, **changes, overridden=profile.overridden | frozenset(overrides)
    )


def _check_tighter(rule_id: str, name: str, direction: str, old: Any, new: Any) -> None:
    """Raise unless ``new`` is at least as strict as ``old`` in ``direction``."""
    if direction in (_LATER, _EARLIER):
        if not isinstance(new, time) or new.tzinfo is not None:
            raise ProfileError(f"{rule_id}: {name} must be a naive datetime.time", rule_id)
        loose = new < old if direction == _LATER else new > old
    elif direction == _ON:
        if not isinstance(new, bool):
            raise ProfileError(f"{rule_id}: {name} must be true or false", rule_id)
        loose = old and not new
    else:
        if new is None:
            # None means "no cap" / "no floor": looser than any number.
            loose = old is not None
        else:
            if isinstance(new, bool) or not isinstance(new, int):
                raise ProfileError(f"{rule_id}: {name} must be a whole number", rule_id)
            # From None (no cap / no floor) any number is a tightening.
            loose = old is not None and (new < old if direction == _HIGHER else new > old)
    if loose:
        raise LooseningError(
            f"{rule_id}: {name} {_show(new)} is looser than {_show(old)}; an organisation may "
            f"only tighten a rule",
            rule_id,
        )


def _show(value: Any) -> str:
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return "none" if value is None else str(value)
