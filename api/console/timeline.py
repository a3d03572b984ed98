"""A case's timeline as sentences a lawyer can read, in the reader's language.

The events keep ids (`visit_id`, `collector_id`, ...) so that they stay true when names change;
this module turns each one into a sentence: people by name, times in the address's local time
with UTC beside it, items as links. It is presentation only and pure: the caller looks up the
names, visits and evidence of the whole page in a few batched queries and passes them in
(`Facts`), with the reader's language (`Language`), so it runs without an app or a database.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_skeleton
from babel.lists import format_list
from babel.numbers import format_currency, format_decimal
from babel.support import NullTranslations, Translations
from markupsafe import Markup, escape

TRANSLATIONS = Path(__file__).resolve().parent.parent.parent / "translations"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
# Details never shown by the generic sentence: identity and account numbers stay masked.
_PERSONAL = re.compile(r"national|phone|card|account|iban|debtor|name|address|email", re.IGNORECASE)
# Keys of event details that name a person (looked up in one batch for the whole page).
PERSON_KEYS = ("collector_id", "second_collector_id", "previous_collector_id", "assigned_collector_id",
               "cancelled_by", "rescheduled_by")


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated when a sentence is made."""
    return message


class Event(Protocol):
    type: str
    at: datetime
    actor_id: str | None
    subject_id: str | None
    details: Mapping[str, Any]


@dataclass(frozen=True)
class Language:
    """The reader's locale and its catalog."""

    locale: Locale
    translations: NullTranslations

    @classmethod
    def load(cls, name: str | Locale) -> Language:
        locale = name if isinstance(name, Locale) else Locale.parse(name.replace("-", "_"))
        return cls(locale, _catalog(str(locale)))

    def _(self, message: str, **values: Any) -> Markup:
        """The message translated, with `values` escaped into it (Markup values stay as they are)."""
        text = escape(self.translations.gettext(message))
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> Markup:
        return escape(self.translations.ngettext(singular, plural, n)) % {"num": self.number(n), **values}

    def number(self, value: int | float | Decimal) -> str:
        return format_decimal(value, locale=self.locale)


@lru_cache(maxsize=8)
def _catalog(locale: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS), [locale])


@dataclass(frozen=True)
class VisitFacts:
    time_zone: str | None
    address_kind: str | None = None


@dataclass(frozen=True)
class Facts:
    """What the page looked up for its events: people's names, visits, evidence, the case's zone.

    `link(kind, id)` gives the console address of an item ("visit", "evidence", "packet"), or
    None where the reader has no page for it."""

    people: Mapping[str, str] = field(default_factory=dict)
    visits: Mapping[str, VisitFacts] = field(default_factory=dict)
    evidence: Mapping[str, str] = field(default_factory=dict)
    zone: str | None = None
    link: Callable[[str, str], str | None] = lambda kind, id_: None


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: when (local, then UTC) and what, as a sentence."""

    at: datetime
    local: str
    utc: str
    sentence: Markup


def people_in(events: Iterable[Event]) -> set[str]:
    """Every person an event names (actor, collectors), for one lookup of their names."""
    ids: set[str] = set()
    for event in events:
        if event.actor_id:
            ids.add(event.actor_id)
        for key in PERSON_KEYS:
            value = (event.details or {}).get(key)
            if isinstance(value, str) and value:
                ids.add(value)
    return ids


def visits_in(events: Iterable[Event]) -> set[str]:
    return {v for e in events for v in (_visit_id(e),) if v}


# --- times -------------------------------------------------------------------------------------

def as_utc(moment: datetime | str | None) -> datetime | None:
    """An aware UTC datetime from a stored value (naive values are UTC, strings ISO 8601)."""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(moment, datetime):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def zone_named(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


class Clock:
    """Moments and windows in a place's local time first, UTC beside it, in the reader's language."""

    def __init__(self, language: Language):
        self.language = language
        self.locale = language.locale

    def _day(self, moment: datetime) -> str:
        return format_skeleton("yMMMd", moment, locale=self.locale)

    def _time(self, moment: datetime, seconds: bool = False) -> str:
        return format_datetime(moment, "HH:mm:ss" if seconds else "HH:mm", locale=self.locale)

    def _span(self, start: datetime, end: datetime, *, day_of: date | None) -> str:
        """"Dec 8, 2026 10:00–11:00"; the day is left out when it is `day_of`, and repeated for the
        end when the window runs past midnight."""
        first = "" if start.date() == day_of else self._day(start) + " "
        if end.date() == start.date():
            return f"{first}{self._time(start)}–{self._time(end)}"
        return f"{first}{self._time(start)} – {self._day(end)} {self._time(end)}"

    def window(self, start: datetime | str | None, end: datetime | str | None, zone_name: str | None) -> str:
        start, end = as_utc(start), as_utc(end)
        if start is None or end is None:
            return self.language._("an unknown time")
        zone = zone_named(zone_name)
        utc_text = self._span(start, end, day_of=None)
        if zone is None:
            return f"{utc_text} UTC"
        local_start, local_end = start.astimezone(zone), end.astimezone(zone)
        local_text = self._span(local_start, local_end, day_of=None)
        utc_text = self._span(start, end, day_of=local_start.date())
        return self.language._("%(local)s %(zone)s (%(utc)s UTC)", local=local_text, zone=zone_name,
                                   utc=utc_text)

    def moment(self, moment: datetime | str | None, zone_name: str | None, *,
               seconds: bool = False) -> tuple[str, str]:
        """(local text with the zone's name, UTC text); the UTC day is repeated only when it differs."""
        at = as_utc(moment)
        if at is None:
            return self.language._("an unknown time"), ""
        zone = zone_named(zone_name)
        utc_full = f"{self._day(at)} {self._time(at, seconds)} UTC"
        if zone is None:
            return utc_full, ""
        local = at.astimezone(zone)
        utc_text = f"{self._time(at, seconds)} UTC" if local.date() == at.date() else utc_full
        return f"{self._day(local)} {self._time(local, seconds)} {zone_name}", utc_text

    def day(self, value: str | date | None) -> str:
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value[:10])
            except ValueError:
                return value if not _UUID.search(value) else ""
        if not isinstance(value, date):
            return self.language._("an unknown date")
        return format_date(value, "medium", locale=self.locale)


# --- words -------------------------------------------------------------------------------------

THE_VISIT, A_VISIT = N_("Visit"), N_("visit")
ANY_ADDRESS, ANY_EVIDENCE = N_("an address of the case"), N_("Evidence item")
ADDRESSES = {"home": N_("the home address"), "workplace": N_("the workplace address")}
OUTCOMES = {
    "met_debtor": N_("met the debtor"), "not_home": N_("the debtor was not at home"),
    "refused": N_("the debtor refused to talk"), "third_party_only": N_("met a third party only"),
    "promise_to_pay": N_("the debtor promised to pay"), "payment_received": N_("payment received"),
    "address_invalid": N_("the address is invalid"),
}
EVIDENCE_KINDS = {"photo": N_("Photo"), "audio": N_("Audio recording"), "document": N_("Document"),
                  "note": N_("Note")}
CASE_FIELDS = {
    "status": N_("status"), "amount_overdue": N_("amount overdue"), "days_past_due": N_("days past due"),
    "jurisdiction": N_("jurisdiction"), "assigned_collector_id": N_("assigned collector"),
    "currency": N_("currency"), "flags.cease_contact": N_("cease-contact flag"),
    "flags.attorney_represented": N_("attorney-represented flag"),
    "flags.workplace_contact_prohibited": N_("no-workplace-contact flag"), "debtor.name": N_("debtor's name"),
    "debtor.national_id": N_("debtor's national id"), "debtor.phone": N_("debtor's phone"),
    "addresses": N_("addresses"),
}


def _list(items: list, language: Language) -> Markup:
    """"a, b and c" in the reader's language; the items are escaped, the joining words are Babel's."""
    return Markup(format_list([str(escape(item)) for item in items], locale=language.locale))


def _then(*parts: Markup) -> Markup:
    """Sentences one after another: a space between them, none after a full-width stop (Chinese)."""
    told = Markup("")
    for part in parts:
        if not part:
            continue
        told += part if not told or told.endswith(("。", "）", "：")) else Markup(" ") + part
    return told


def _humane(code: str) -> str:
    """A code as words ("legal_hold_set" -> "legal hold set"), for codes this module does not know."""
    return re.sub(r"[._\s]+", " ", code).strip()


# --- the sentences -----------------------------------------------------------------------------

@dataclass
class _Scene:
    """One event being told: its details, the page's facts and the helpers for words and links."""

    event: Event
    facts: Facts
    lang: Language
    clock: Clock
    promises: Mapping[str, Mapping[str, Any]]

    @property
    def details(self) -> Mapping[str, Any]:
        return self.event.details or {}

    def person(self, user_id: str | None) -> str:
        if not user_id:
            return self.lang._("the system")
        return self.facts.people.get(user_id) or self.lang._("a former user")

    def actor(self) -> str:
        return self.person(self.event.actor_id)

    def people(self, *ids: str | None) -> str:
        return _list([self.person(i) for i in ids if i], self.lang)

    def link(self, kind: str, item_id: str | None, label: str) -> Markup:
        url = self.facts.link(kind, item_id) if item_id else None
        return Markup('<a href="%s">%s</a>') % (url, label) if url else escape(label)

    def visit(self, label: str = THE_VISIT) -> Markup:
        return self.link("visit", _visit_id(self.event), self.lang._(label))

    def zone(self) -> str | None:
        if self.event.type in _CONTACT_EVENTS and isinstance(self.details.get("time_zone"), str):
            return self.details["time_zone"]  # the debtor's zone the contact was judged in
        visit = self.facts.visits.get(_visit_id(self.event) or self.event.subject_id or "")
        return (visit.time_zone if visit else None) or self.facts.zone

    def address(self) -> str:
        visit = self.facts.visits.get(_visit_id(self.event) or "")
        kind = self.details.get("address_kind") or (visit.address_kind if visit else None)
        return self.lang._(ADDRESSES.get(kind, ANY_ADDRESS))

    def evidence(self, item_id: str | None, kind: str | None = None) -> Markup:
        kind = kind or self.facts.evidence.get(item_id or "")
        return self.link("evidence", item_id, self.lang._(EVIDENCE_KINDS.get(kind, ANY_EVIDENCE)))

    def packet(self) -> Markup:
        version = self.details.get("version")
        label = self.lang._("Packet v%(version)s", version=version) if version else self.lang._("Packet")
        return self.link("packet", self.details.get("packet_id") or self.event.subject_id, label)

    def money(self, amount: Any, currency: Any) -> str:
        try:
            value = Decimal(str(amount))
        except (InvalidOperation, ValueError):
            return self.lang._("an unknown amount")
        if isinstance(currency, str) and len(currency) == 3:
            return format_currency(value, currency, locale=self.lang.locale)
        return self.lang.number(value)

    def promise(self) -> str:
        """"a promise of ¥500.00 due Dec 10, 2026", from the promise_made event of the same page."""
        made = self.promises.get(self.details.get("promise_id") or "")
        due = self.details.get("due_date") or (made or {}).get("due_date")
        if made and due:
            return self.lang._("the promise to pay %(amount)s by %(due)s",
                                   amount=self.money(made.get("amount"), made.get("currency")),
                                   due=self.clock.day(due))
        if due:
            return self.lang._("the promise to pay by %(due)s", due=self.clock.day(due))
        return self.lang._("a promise to pay")


def _visit_id(event: Event) -> str | None:
    details = event.details or {}
    value = details.get("visit_id")
    if isinstance(value, str) and value:
        return value
    if event.type.startswith("visit") and event.subject_id:
        return event.subject_id
    return None


def _case_opened(s: _Scene) -> Markup:
    return s.lang._("Case %(reference)s opened by %(actor)s, jurisdiction %(jurisdiction)s.",
                    reference=s.details.get("reference") or "—", actor=s.actor(),
                    jurisdiction=s.details.get("jurisdiction") or "—")


def _case_updated(s: _Scene) -> Markup:
    changed = [c for c in s.details.get("changed") or [] if isinstance(c, str)]
    names = [s.lang._(CASE_FIELDS[c]) if c in CASE_FIELDS else _humane(c) for c in changed]
    if not names:
        return s.lang._("Case updated by %(actor)s.", actor=s.actor())
    return s.lang._("Case updated by %(actor)s: %(fields)s changed.", actor=s.actor(),
                    fields=_list(names, s.lang))


def _collectors(s: _Scene, first_key: str = "collector_id", second_key: str = "second_collector_id") -> Markup:
    first, second = s.details.get(first_key), s.details.get(second_key)
    if first and second:
        return s.lang._("collectors %(names)s", names=s.people(first, second))
    if first:
        return s.lang._("collector %(name)s", name=s.person(first))
    return Markup("")


def _visit_scheduled(s: _Scene) -> Markup:
    window = s.clock.window(s.details.get("window_start"), s.details.get("window_end"), s.zone())
    who = _collectors(s)
    if who:
        return s.lang._("%(visit)s scheduled by %(actor)s at %(address)s for %(window)s, %(collectors)s.",
                        visit=s.visit(), actor=s.actor(), address=s.address(), window=window, collectors=who)
    return s.lang._("%(visit)s scheduled by %(actor)s at %(address)s for %(window)s.",
                    visit=s.visit(), actor=s.actor(), address=s.address(), window=window)


def _visit_checked_in(s: _Scene) -> Markup:
    inside, distance = s.details.get("within_geofence"), s.details.get("distance_m")
    if isinstance(distance, (int, float)) and inside is not None:
        where = (s.lang._("inside the geofence, %(metres)s m from the address", metres=s.lang.number(round(distance)))
                 if inside else
                 s.lang._("outside the geofence, %(metres)s m from the address", metres=s.lang.number(round(distance))))
    else:
        where = s.lang._("position not judged")
    parts = [s.lang._("Check-in by %(actor)s at %(address)s (%(visit)s), %(where)s.", actor=s.actor(),
                      address=s.address(), visit=s.visit(A_VISIT), where=where)]
    if s.details.get("outside_window"):
        parts.append(s.lang._("Outside the visit window."))
    if s.details.get("impossible_travel"):
        parts.append(s.lang._("Impossible travel from the collector's other check-ins."))
    return _then(*parts)


def _visit_checked_out(s: _Scene) -> Markup:
    outcome = s.details.get("outcome")
    if not outcome:
        return s.lang._("Check-out by %(actor)s (%(visit)s).", actor=s.actor(), visit=s.visit(A_VISIT))
    said = s.lang._(OUTCOMES[outcome]) if outcome in OUTCOMES else _humane(str(outcome))
    return s.lang._("Check-out by %(actor)s (%(visit)s): %(outcome)s.", actor=s.actor(),
                    visit=s.visit(A_VISIT), outcome=said)


def _previous_window(details: Mapping[str, Any]) -> tuple[Any, Any]:
    """The window a reschedule moved the visit from (visits.services.reschedule_visit)."""
    return details.get("previous_window_start"), details.get("previous_window_end")


def _reason(s: _Scene) -> Markup:
    reason = s.details.get("reason")
    if not isinstance(reason, str) or not reason:
        return Markup("")
    return s.lang._("Reason: %(reason)s", reason=reason)


def _visit_cancelled(s: _Scene) -> Markup:
    start, end = _previous_window(s.details)
    start, end = start or s.details.get("window_start"), end or s.details.get("window_end")
    if start and end:
        sentence = s.lang._("%(visit)s for %(window)s cancelled by %(actor)s.", visit=s.visit(),
                            window=s.clock.window(start, end, s.zone()), actor=s.actor())
    else:
        sentence = s.lang._("%(visit)s cancelled by %(actor)s.", visit=s.visit(), actor=s.actor())
    return _then(sentence, _reason(s))


def _visit_rescheduled(s: _Scene) -> Markup:
    window = s.clock.window(s.details.get("window_start"), s.details.get("window_end"), s.zone())
    start, end = _previous_window(s.details)
    if start and end:
        sentence = s.lang._("%(visit)s rescheduled by %(actor)s from %(previous)s to %(window)s.",
                            visit=s.visit(), actor=s.actor(), previous=s.clock.window(start, end, s.zone()),
                            window=window)
    else:
        sentence = s.lang._("%(visit)s rescheduled by %(actor)s to %(window)s.", visit=s.visit(), actor=s.actor(),
                            window=window)
    return _then(sentence, _reason(s))


def _promise_made(s: _Scene) -> Markup:
    sentence = s.lang._("Promise to pay %(amount)s by %(due)s, recorded by %(actor)s.",
                        amount=s.money(s.details.get("amount"), s.details.get("currency")),
                        due=s.clock.day(s.details.get("due_date")), actor=s.actor())
    if _visit_id(s.event) or s.event.subject_id:
        sentence = _then(sentence, s.lang._("Made during a %(visit)s.", visit=s.link(
            "visit", s.event.subject_id, s.lang._(A_VISIT))))
    return sentence


def _promise_kept(s: _Scene) -> Markup:
    return s.lang._("Payment recorded by %(actor)s: %(promise)s was kept.", actor=s.actor(), promise=s.promise())


def _promise_broken(s: _Scene) -> Markup:
    return s.lang._("No payment by the due date: %(promise)s was broken.", promise=s.promise())


def _evidence_sealed(s: _Scene) -> Markup:
    item = s.evidence(s.details.get("evidence_id") or s.event.subject_id, s.details.get("kind"))
    original = s.details.get("derived_from")
    size = s.details.get("size")
    if original:
        sentence = s.lang._("%(item)s sealed by %(actor)s: a redacted copy of %(original)s.", item=item,
                            actor=s.actor(), original=s.evidence(original))
    else:
        sentence = s.lang._("%(item)s sealed by %(actor)s.", item=item, actor=s.actor())
    if isinstance(size, int) and size >= 0:
        sentence = _then(sentence, s.lang.ngettext("%(num)s byte.", "%(num)s bytes.", size))
    return sentence


def _legal_hold(on: bool) -> Callable[[_Scene], Markup]:
    def told(s: _Scene) -> Markup:
        item = s.evidence(s.details.get("evidence_id") or s.event.subject_id)
        if on:
            return s.lang._("Legal hold placed on %(item)s by %(actor)s.", item=item, actor=s.actor())
        return s.lang._("Legal hold on %(item)s released by %(actor)s.", item=item, actor=s.actor())
    return told


def _language_name(s: _Scene, code: Any) -> str:
    if not isinstance(code, str) or not code:
        return "—"
    try:
        return Locale.parse(code.replace("-", "_")).get_display_name(s.lang.locale) or code
    except (UnknownLocaleError, ValueError):
        return code


def _packet_requested(s: _Scene) -> Markup:
    sentence = s.lang._("%(packet)s requested by %(actor)s, in %(language)s.", packet=s.packet(), actor=s.actor(),
                        language=_language_name(s, s.details.get("language")))
    overrides = s.details.get("consent_overrides") or []
    if overrides:
        sentence = _then(sentence, s.lang.ngettext("Consent overridden for %(num)s item.",
                                                   "Consent overridden for %(num)s items.", len(overrides)))
    return sentence


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _packet_built(s: _Scene) -> Markup:
    d = s.details
    counts = [s.lang.ngettext("%(num)s exhibit", "%(num)s exhibits", _count(d.get("exhibits"))),
              s.lang.ngettext("%(num)s page", "%(num)s pages", _count(d.get("pages"))),
              s.lang.ngettext("%(num)s volume", "%(num)s volumes", _count(d.get("volumes")))]
    if _count(d.get("withheld")):
        counts.append(s.lang.ngettext("%(num)s item withheld", "%(num)s items withheld", _count(d.get("withheld"))))
    return s.lang._("%(packet)s built: %(counts)s.", packet=s.packet(),
                    counts=_list(counts, s.lang))


def _packet_failed(s: _Scene) -> Markup:
    error = s.details.get("error")
    error = _UUID.sub("…", error) if isinstance(error, str) and error else s.lang._("no reason given")
    sentence = s.lang._("%(packet)s could not be built: %(error)s", packet=s.packet(), error=error)
    if s.details.get("evidence_id"):
        sentence = _then(sentence, s.lang._("(%(item)s)", item=s.evidence(s.details["evidence_id"])))
    return sentence


NOTICE_TEMPLATES = {"validation": N_("Validation notice"), "overdue": N_("Overdue notice")}


def _notice_issued(s: _Scene) -> Markup:
    """A written notice (legal_docs.notices): its PDF is the sealed item the link opens."""
    d = s.details
    notice = s.link("evidence", d.get("evidence_id"), s.lang._(NOTICE_TEMPLATES.get(d.get("kind"), N_("Notice"))))
    sentence = s.lang._("%(notice)s in %(language)s issued by %(actor)s, mailed %(mailed)s.", notice=notice,
                        language=_language_name(s, d.get("language")), actor=s.actor(),
                        mailed=s.clock.day(d.get("mailing_date")))
    if d.get("validation_end"):
        sentence = _then(sentence, s.lang._("The validation period ends %(day)s.",
                                            day=s.clock.day(d["validation_end"])))
    elif d.get("respond_by"):
        sentence = _then(sentence, s.lang._("Reply asked by %(day)s.", day=s.clock.day(d["respond_by"])))
    return sentence


CALL_OUTCOMES = {
    "no_answer": N_("no answer"), "voicemail": N_("voicemail left"), "wrong_party": N_("a wrong party answered"),
    "spoke_debtor": N_("spoke to the debtor"), "spoke_third_party": N_("spoke to a third party"),
    "refused": N_("the debtor refused to talk"),
}
MESSAGE_OUTCOMES = {"sent": N_("sent"), "delivered": N_("delivered"), "failed": N_("delivery failed"),
                    "returned": N_("returned to sender")}
_CONTACT_EVENTS = ("contact_recorded",)


def _contact_recorded(s: _Scene) -> Markup:
    d = s.details
    channel, inbound, outcome = d.get("channel"), d.get("direction") == "inbound", d.get("outcome")
    if channel == "call":
        said = s.lang._(CALL_OUTCOMES[outcome]) if outcome in CALL_OUTCOMES else _humane(str(outcome))
        if inbound:
            sentence = s.lang._("Call from the debtor, taken by %(actor)s: %(outcome)s.", actor=s.actor(), outcome=said)
        else:
            sentence = s.lang._("Call to the debtor by %(actor)s: %(outcome)s.", actor=s.actor(), outcome=said)
        duration = d.get("duration_s")
        if isinstance(duration, int) and not isinstance(duration, bool) and duration > 0:
            sentence = _then(sentence, s.lang.ngettext("%(num)s second.", "%(num)s seconds.", duration))
    else:
        said = s.lang._(MESSAGE_OUTCOMES[outcome]) if outcome in MESSAGE_OUTCOMES else _humane(str(outcome))
        if channel == "letter":
            how = s.lang._("by hand") if d.get("letter_method") == "hand" else s.lang._("by post")
            sentence = s.lang._("Letter sent %(how)s by %(actor)s: %(outcome)s.", how=how, actor=s.actor(),
                                outcome=said)
        else:
            what = s.lang._("SMS") if channel == "sms" else s.lang._("E-mail")
            if inbound:
                sentence = s.lang._("%(what)s from the debtor, recorded by %(actor)s.", what=what, actor=s.actor())
            else:
                sentence = s.lang._("%(what)s sent by %(actor)s: %(outcome)s.", what=what, actor=s.actor(),
                                    outcome=said)
        if isinstance(d.get("template"), str):
            sentence = _then(sentence, s.lang._("Template: %(template)s.", template=d["template"]))
        if isinstance(d.get("tracking"), str):
            sentence = _then(sentence, s.lang._("Tracking: %(tracking)s.", tracking=d["tracking"]))
        if d.get("opt_out"):
            sentence = _then(sentence, s.lang._("The debtor opted out of this channel."))
    if isinstance(d.get("text_sha256"), str):
        sentence = _then(sentence, s.lang._("Text sealed, SHA-256 %(digest)s…", digest=d["text_sha256"][:16]))
    return sentence


def _plan_edited(s: _Scene) -> Markup:
    return s.lang._("Case plan edited by %(actor)s.", actor=s.actor())


TELLERS: dict[str, Callable[[_Scene], Markup]] = {
    "contact_recorded": _contact_recorded,
    "plan_edited": _plan_edited,
    "case_opened": _case_opened,
    "case_updated": _case_updated,
    "visit_scheduled": _visit_scheduled,
    "visit_checked_in": _visit_checked_in,
    "visit_checked_out": _visit_checked_out,
    "visit_cancelled": _visit_cancelled,
    "visit_rescheduled": _visit_rescheduled,
    "promise_made": _promise_made,
    "promise_kept": _promise_kept,
    "promise_broken": _promise_broken,
    "evidence_sealed": _evidence_sealed,
    "evidence_legal_hold_set": _legal_hold(True),
    "evidence_legal_hold_released": _legal_hold(False),
    "packet_requested": _packet_requested,
    "packet_built": _packet_built,
    "packet_failed": _packet_failed,
    "notice_issued": _notice_issued,
}


def _shown(value: Any, lang: Language) -> str | None:
    """A detail's value fit for a reader, or None: ids, empty values and structures are left out."""
    if value is None or value == "" or isinstance(value, (dict, list, tuple)):
        return None
    if isinstance(value, bool):
        return lang._("yes") if value else lang._("no")
    if isinstance(value, (int, float, Decimal)):
        return lang.number(value)
    text = str(value)
    return None if _UUID.search(text) else text


def _unknown(s: _Scene) -> Markup:
    """A type this module does not know yet: its name as words, who, and the readable details."""
    what = _humane(s.event.type).capitalize() or s.lang._("Event")
    facts = [f"{_humane(k)}: {v}" for k, raw in s.details.items()
             if not k.endswith("_id") and not _PERSONAL.search(k)
             for v in (_shown(raw, s.lang),) if v is not None]
    sentence = s.lang._("%(what)s, recorded by %(actor)s.", what=what, actor=s.actor())
    if facts:
        sentence = _then(sentence, escape("; ".join(facts)) + Markup("."))
    return sentence


def tell(event: Event, facts: Facts, language: Language, *,
         promises: Mapping[str, Mapping[str, Any]] | None = None) -> Entry:
    """One event as a timeline entry: when, in the place's time and UTC, and a sentence."""
    clock = Clock(language)
    scene = _Scene(event, facts, language, clock, promises or {})
    teller = TELLERS.get(event.type, _unknown)
    try:
        sentence = teller(scene)
    except (KeyError, TypeError, ValueError, AttributeError):  # details of an unexpected shape
        sentence = _unknown(scene)
    local, utc = clock.moment(event.at, scene.zone())
    return Entry(at=as_utc(event.at) or event.at, local=local, utc=utc, sentence=sentence)


def tell_all(events: Iterable[Event], facts: Facts, language: Language) -> list[Entry]:
    """The whole timeline; promises are described by the `promise_made` event of the same page."""
    events = list(events)
    promises = {e.details["promise_id"]: e.details for e in events
                if e.type == "promise_made" and isinstance((e.details or {}).get("promise_id"), str)}
    return [tell(e, facts, language, promises=promises) for e in events]
