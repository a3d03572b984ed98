"""Contact rules as tables: hours in the debtor's local time, flags on every channel, opt-out,
Reg F's call frequency and the organisation's caps — pure, no app or database."""

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from jurisdictions.contact_rules import CHANNELS, ContactRequest, PastContact, evaluate_contact
from jurisdictions.profiles import CN, IN, profile_for, tighten

UTC = timezone.utc
SHANGHAI = (31.2304, 121.4737)
NEW_YORK = (40.7128, -74.0060)
LOS_ANGELES = (34.0522, -118.2437)
MUMBAI = (19.0760, 72.8777)
SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
IST = ZoneInfo("Asia/Kolkata")
US_NY = profile_for("US-NY")
US_CA = profile_for("US-CA")


def rules_of(violations):
    return [v.rule for v in violations]


def call(at, outcome="no_answer", direction="outbound"):
    return PastContact("call", direction, at, outcome)


def ask(profile, at, channel="call", places=(SHANGHAI,), **kw):
    return evaluate_contact(ContactRequest(channel=channel, at=at, places=places, **kw), profile)


# --- hours.local: half-open, local, per jurisdiction, at the edges -----------------------------

@pytest.mark.parametrize(
    "profile, place, at, lawful",
    [
        (CN, SHANGHAI, datetime(2026, 5, 4, 7, 59, tzinfo=SH), False),
        (CN, SHANGHAI, datetime(2026, 5, 4, 8, 0, tzinfo=SH), True),
        (CN, SHANGHAI, datetime(2026, 5, 4, 21, 59, tzinfo=SH), True),
        (CN, SHANGHAI, datetime(2026, 5, 4, 22, 0, tzinfo=SH), False),
        # the same instant written in UTC: the debtor's local time decides (13:59Z = 21:59 CST)
        (CN, SHANGHAI, datetime(2026, 5, 4, 13, 59, tzinfo=UTC), True),
        (CN, SHANGHAI, datetime(2026, 5, 4, 14, 0, tzinfo=UTC), False),
        (IN, MUMBAI, datetime(2026, 5, 4, 18, 59, tzinfo=IST), True),
        (IN, MUMBAI, datetime(2026, 5, 4, 19, 0, tzinfo=IST), False),
        (IN, MUMBAI, datetime(2026, 5, 4, 8, 0, tzinfo=IST), True),
        (US_NY, NEW_YORK, datetime(2026, 5, 4, 20, 59, tzinfo=NY), True),
        (US_NY, NEW_YORK, datetime(2026, 5, 4, 21, 0, tzinfo=NY), False),
        (US_NY, NEW_YORK, datetime(2026, 5, 4, 7, 59, tzinfo=NY), False),
        # DST: 2026-03-08 spring forward; 08:00 EDT is 12:00Z, while 08:00 EST would be 13:00Z
        (US_NY, NEW_YORK, datetime(2026, 3, 8, 12, 0, tzinfo=UTC), True),
        (US_NY, NEW_YORK, datetime(2026, 3, 8, 11, 59, tzinfo=UTC), False),
        # 2026-11-01 fall back: 20:59 EST is 01:59Z the next day, 21:00 EST is 02:00Z
        (US_NY, NEW_YORK, datetime(2026, 11, 2, 1, 59, tzinfo=UTC), True),
        (US_NY, NEW_YORK, datetime(2026, 11, 2, 2, 0, tzinfo=UTC), False),
    ],
)
@pytest.mark.parametrize("channel", ["call", "sms", "email"])
def test_lawful_hours_for_calls_and_messages_are_half_open_in_the_debtors_local_time(profile, place, at, lawful,
                                                                                    channel):
    text = "Reply STOP to opt out" if channel != "call" else None
    violations = ask(profile, at, channel, places=(place,), text=text)
    assert ("hours.local" not in rules_of(violations)) is lawful, violations


def test_a_letter_is_not_judged_by_the_hour():
    assert ask(CN, datetime(2026, 5, 4, 23, 30, tzinfo=SH), "letter") == []


def test_a_debtor_known_in_two_zones_is_called_only_when_lawful_in_both():
    # 08:30 in New York is 05:30 in Los Angeles
    at = datetime(2026, 5, 4, 8, 30, tzinfo=NY)
    assert ask(US_NY, at, places=(NEW_YORK,)) == []
    violations = ask(US_NY, at, places=(NEW_YORK, LOS_ANGELES))
    assert rules_of(violations) == ["hours.local"]
    assert "America/Los_Angeles" in violations[0].detail


@pytest.mark.parametrize("places", [(), ((None, None),), ((91.0, 0.0),)])
@pytest.mark.parametrize("channel", ["call", "sms", "email"])
def test_an_unknown_time_zone_refuses_with_the_reason(places, channel):
    violations = ask(CN, datetime(2026, 5, 4, 12, 0, tzinfo=SH), channel, places=places, text="退订回复TD")
    assert rules_of(violations) == ["hours.local"]
    assert "time zone cannot be known" in violations[0].detail


def test_one_address_without_coordinates_does_not_hide_a_known_zone():
    at = datetime(2026, 5, 4, 12, 0, tzinfo=SH)
    assert ask(CN, at, places=((None, None), SHANGHAI)) == []


# --- cease, represented: every channel ------------------------------------------------------------

@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("profile, place, zone", [(CN, SHANGHAI, SH), (US_NY, NEW_YORK, NY), (IN, MUMBAI, IST)])
@pytest.mark.parametrize("flag, rule", [("cease_contact", "contact.cease"),
                                        ("attorney_represented", "contact.represented")])
def test_cease_and_represented_refuse_every_channel(channel, profile, place, zone, flag, rule):
    at = datetime(2026, 5, 4, 12, 0, tzinfo=zone)
    text = "Reply STOP to opt out" if channel in ("sms", "email") else None
    assert ask(profile, at, channel, places=(place,), text=text) == []
    violations = ask(profile, at, channel, places=(place,), text=text, **{flag: True})
    assert rules_of(violations) == [rule]


def test_every_violated_rule_is_listed_at_once():
    at = datetime(2026, 5, 4, 23, 0, tzinfo=NY)
    violations = ask(US_NY, at, "sms", places=(NEW_YORK,), cease_contact=True, attorney_represented=True,
                     opted_out={"sms"}, text="Pay now")
    assert rules_of(violations) == ["hours.local", "contact.cease", "contact.represented", "contact.opt_out",
                                    "contact.opt_out"]


def test_a_debtor_who_calls_in_is_always_recorded():
    at = datetime(2026, 5, 4, 23, 0, tzinfo=SH)
    assert ask(CN, at, direction="inbound", cease_contact=True) == []


# --- contact.opt_out ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "profile, place, zone, text, refused",
    [
        (US_NY, NEW_YORK, NY, "Your payment is overdue. Reply STOP to opt out.", False),
        (US_NY, NEW_YORK, NY, "Your payment is overdue. To unsubscribe from e-mail, click here.", False),
        (US_NY, NEW_YORK, NY, "Your payment is overdue.", True),
        (CN, SHANGHAI, SH, "您的账户已逾期。", False),  # CN records and honours; no notice required
        (IN, MUMBAI, IST, "Your payment is overdue.", False),
    ],
)
@pytest.mark.parametrize("channel", ["sms", "email"])
def test_us_messages_must_carry_a_way_to_opt_out(profile, place, zone, text, refused, channel):
    violations = ask(profile, datetime(2026, 5, 4, 12, 0, tzinfo=zone), channel, places=(place,), text=text)
    assert ("contact.opt_out" in rules_of(violations)) is refused


@pytest.mark.parametrize("profile, place, zone", [(CN, SHANGHAI, SH), (US_NY, NEW_YORK, NY), (IN, MUMBAI, IST)])
def test_an_opted_out_channel_is_closed_and_only_that_one(profile, place, zone):
    at = datetime(2026, 5, 4, 12, 0, tzinfo=zone)
    assert rules_of(ask(profile, at, "sms", places=(place,), opted_out={"sms"})) == ["contact.opt_out"]
    assert ask(profile, at, "email", places=(place,), opted_out={"sms"}) == []
    assert ask(profile, at, "call", places=(place,), opted_out={"sms"}) == []


# --- frequency.calls: Reg F 7-in-7 ---------------------------------------------------------------

def _seven_calls(first_day, zone, hour=12):
    return tuple(call(datetime(2026, 5, first_day + i, hour, 0, tzinfo=zone)) for i in range(7))


def test_an_eighth_call_within_seven_consecutive_days_is_refused_in_the_us():
    history = _seven_calls(4, NY)  # 4..10 May, one a day
    violations = ask(US_NY, datetime(2026, 5, 10, 15, 0, tzinfo=NY), places=(NEW_YORK,), history=history)
    assert rules_of(violations) == ["frequency.calls"]
    assert "8 calls" in violations[0].detail and "2026-05-04 to 2026-05-10" in violations[0].detail
    # the next day the first call has left every window of seven days holding it
    assert ask(US_NY, datetime(2026, 5, 11, 12, 0, tzinfo=NY), places=(NEW_YORK,), history=history) == []


def test_seven_days_are_the_debtors_local_days_across_midnight_utc():
    # seven calls at 20:30 New York time = 00:30Z the next UTC day; the eighth on the 11th at 09:00
    # local: in New York local days the first call (4 May) is outside 5..11 May — lawful — while
    # UTC days would have put all eight within 5..11 May.
    history = tuple(call(datetime(2026, 5, 4 + i, 20, 30, tzinfo=NY)) for i in range(7))
    assert ask(US_NY, datetime(2026, 5, 11, 9, 0, tzinfo=NY), places=(NEW_YORK,), history=history) == []
    assert rules_of(ask(US_NY, datetime(2026, 5, 10, 9, 0, tzinfo=NY), places=(NEW_YORK,), history=history)) == [
        "frequency.calls"]


def test_seven_days_across_time_zones_follow_the_debtor_not_the_collector():
    # the same instants judged for a debtor in Los Angeles: 20:30 New York = 17:30 Los Angeles
    history = tuple(call(datetime(2026, 5, 4 + i, 20, 30, tzinfo=NY)) for i in range(7))
    at = datetime(2026, 5, 11, 12, 0, tzinfo=LA)
    assert ask(US_CA, at, places=(LOS_ANGELES,), history=history) == []
    assert rules_of(ask(US_CA, datetime(2026, 5, 10, 12, 0, tzinfo=LA), places=(LOS_ANGELES,),
                        history=history)) == ["frequency.calls"]


def test_seven_days_across_a_dst_change_are_seven_calendar_days():
    # 2026-03-08 spring forward in New York: the week 2..8 March is 167 hours long
    history = tuple(call(datetime(2026, 3, 2 + i, 9, 0, tzinfo=NY)) for i in range(7))
    assert rules_of(ask(US_NY, datetime(2026, 3, 8, 20, 59, tzinfo=NY), places=(NEW_YORK,),
                        history=history)) == ["frequency.calls"]
    assert ask(US_NY, datetime(2026, 3, 9, 8, 0, tzinfo=NY), places=(NEW_YORK,), history=history) == []


def test_inbound_calls_do_not_count_towards_seven_in_seven():
    history = tuple(call(datetime(2026, 5, 4 + i, 12, 0, tzinfo=NY), direction="inbound", outcome="voicemail")
                    for i in range(7))
    assert ask(US_NY, datetime(2026, 5, 10, 15, 0, tzinfo=NY), places=(NEW_YORK,), history=history) == []


# --- frequency.calls: after a telephone conversation ----------------------------------------------

@pytest.mark.parametrize(
    "at, refused",
    [
        (datetime(2026, 5, 4, 10, 31, tzinfo=NY), True),  # one minute after the conversation ended
        (datetime(2026, 5, 10, 20, 59, tzinfo=NY), True),  # the seventh day, counting the conversation's
        (datetime(2026, 5, 11, 8, 0, tzinfo=NY), False),  # the eighth day
    ],
)
def test_no_call_within_seven_days_after_a_conversation(at, refused):
    history = (call(datetime(2026, 5, 4, 10, 25, tzinfo=NY), outcome="spoke_debtor"),)
    violations = ask(US_NY, at, places=(NEW_YORK,), history=history)
    assert (rules_of(violations) == ["frequency.calls"]) is refused
    if refused:
        assert "2026-05-04" in violations[0].detail and "2026-05-10" in violations[0].detail


def test_a_conversation_when_the_debtor_called_in_also_opens_the_quiet_week():
    history = (call(datetime(2026, 5, 4, 10, 0, tzinfo=NY), outcome="spoke_debtor", direction="inbound"),)
    assert rules_of(ask(US_NY, datetime(2026, 5, 5, 10, 0, tzinfo=NY), places=(NEW_YORK,),
                        history=history)) == ["frequency.calls"]


def test_an_sms_after_a_conversation_is_not_a_call():
    history = (call(datetime(2026, 5, 4, 10, 0, tzinfo=NY), outcome="spoke_debtor"),)
    assert ask(US_NY, datetime(2026, 5, 5, 10, 0, tzinfo=NY), "sms", places=(NEW_YORK,), history=history,
               text="Reply STOP to opt out") == []


def test_a_missed_call_is_not_a_conversation():
    history = (call(datetime(2026, 5, 4, 10, 0, tzinfo=NY), outcome="voicemail"),)
    assert ask(US_NY, datetime(2026, 5, 4, 10, 1, tzinfo=NY), places=(NEW_YORK,), history=history) == []


def test_cn_and_in_have_no_quiet_week_after_a_conversation():
    history = (call(datetime(2026, 5, 4, 10, 0, tzinfo=SH), outcome="spoke_debtor"),)
    assert ask(CN, datetime(2026, 5, 4, 10, 1, tzinfo=SH), history=history) == []


# --- frequency.calls: organisation caps (CN, IN) --------------------------------------------------

@pytest.mark.parametrize("profile, place, zone", [(CN, SHANGHAI, SH), (IN, MUMBAI, IST)])
def test_organisation_caps_per_local_day_and_per_seven_days(profile, place, zone):
    three_today = tuple(call(datetime(2026, 5, 4, h, 0, tzinfo=zone)) for h in (9, 10, 11))
    violations = ask(profile, datetime(2026, 5, 4, 15, 0, tzinfo=zone), places=(place,), history=three_today)
    assert rules_of(violations) == ["frequency.calls"] and "4 calls on local day 2026-05-04" in violations[0].detail
    # just after local midnight is a new day
    assert ask(profile, datetime(2026, 5, 5, 8, 0, tzinfo=zone), places=(place,), history=three_today) == []
    ten_in_week = tuple(call(datetime(2026, 5, 4 + i // 2, 9 + i % 2, 0, tzinfo=zone)) for i in range(10))
    violations = ask(profile, datetime(2026, 5, 9, 15, 0, tzinfo=zone), places=(place,), history=ten_in_week)
    assert rules_of(violations) == ["frequency.calls"] and "11 calls" in violations[0].detail
    assert ask(profile, datetime(2026, 5, 11, 9, 0, tzinfo=zone), places=(place,), history=ten_in_week) == []


def test_an_organisation_may_tighten_the_call_caps_but_not_loosen_them():
    tight = tighten(CN, {"frequency.calls": {"max_per_day": 1}})
    history = (call(datetime(2026, 5, 4, 9, 0, tzinfo=SH)),)
    assert rules_of(ask(tight, datetime(2026, 5, 4, 15, 0, tzinfo=SH), history=history)) == ["frequency.calls"]
    assert ask(CN, datetime(2026, 5, 4, 15, 0, tzinfo=SH), history=history) == []
    with pytest.raises(ValueError, match="looser"):
        tighten(CN, {"frequency.calls": {"max_per_day": 4}})
    with pytest.raises(ValueError, match="looser"):
        tighten(US_NY, {"frequency.calls": {"after_conversation_days": 3}})
    # a US organisation may add its own daily cap below the law's presumption
    us = tighten(US_NY, {"frequency.calls": {"max_per_day": 2}})
    two = tuple(call(datetime(2026, 5, 4, h, 0, tzinfo=NY)) for h in (9, 10))
    assert rules_of(ask(us, datetime(2026, 5, 4, 15, 0, tzinfo=NY), places=(NEW_YORK,), history=two)) == [
        "frequency.calls"]


def test_an_organisation_may_tighten_the_hours_of_calls_with_the_visit_hours():
    tight = tighten(CN, {"hours.local": {"start": time(9)}})
    assert rules_of(ask(tight, datetime(2026, 5, 4, 8, 30, tzinfo=SH))) == ["hours.local"]


def test_every_profile_cites_the_sources_of_its_contact_rules():
    for profile in (CN, IN, US_NY):
        assert profile.call_frequency.source and profile.opt_out.source
    assert "1006.14(b)(2)" in US_NY.call_frequency.source
    assert "1006.6" in US_NY.opt_out.source


def test_a_call_logged_later_is_judged_at_its_own_time():
    later = datetime(2026, 5, 4, 12, 0, tzinfo=NY) + timedelta(days=30)
    history = (call(later, outcome="spoke_debtor"),)
    # a conversation after the call being judged does not make it unlawful
    assert ask(US_NY, datetime(2026, 5, 4, 12, 0, tzinfo=NY), places=(NEW_YORK,), history=history) == []


# --- contact.third_party: US once per person unless asked; CN and IN for locating -------------

T0 = datetime(2026, 5, 4, 14, 0, tzinfo=NY)   # a Monday afternoon in New York: lawful hours


def third(at, outcome="spoke_third_party", direction="outbound", key="k-aunt", requested=False, channel="call"):
    return PastContact(channel, direction, at, outcome, "third_party", key, requested)


@pytest.mark.parametrize("profile, place, history, key, refused, why", [
    (US_NY, NEW_YORK, (), "k-aunt", False, "the first contact with this person"),
    (US_NY, NEW_YORK, (third(T0 - timedelta(days=3)),), "k-aunt", True, "reached once already"),
    (US_NY, NEW_YORK, (third(T0 - timedelta(days=300)),), "k-aunt", True, "once means once, not once a week"),
    (US_NY, NEW_YORK, (third(T0 - timedelta(days=3)),), "k-neighbour", False, "another person"),
    (US_NY, NEW_YORK, (third(T0 - timedelta(days=3), outcome="no_answer"),), "k-aunt", False,
     "an unanswered call reached nobody"),
    (US_NY, NEW_YORK, (third(T0 - timedelta(days=3), outcome="voicemail"),), "k-aunt", True,
     "a message left is a communication"),
    (US_NY, NEW_YORK, (third(T0 - timedelta(days=3), outcome="returned", channel="letter"),), "k-aunt", False,
     "a returned letter reached nobody"),
    (US_NY, NEW_YORK, (third(T0 - timedelta(days=3)), third(T0 - timedelta(days=1), direction="inbound")),
     "k-aunt", False, "the person called back: asked to be contacted"),
    (US_NY, NEW_YORK, (third(T0 - timedelta(days=3), requested=True),), "k-aunt", False,
     "the person asked to be called again on that call"),
    (US_NY, NEW_YORK, (third(T0 - timedelta(days=3), requested=True), third(T0 - timedelta(days=2))), "k-aunt",
     True, "asked once, called back once: that was the one more"),
    (US_NY, NEW_YORK, (third(T0 + timedelta(minutes=5)),), "k-aunt", False, "a later contact does not count"),
    (US_NY, NEW_YORK, (), None, True, "without the person's number the contacts cannot be counted"),
    (CN, SHANGHAI, (third(datetime(2026, 5, 1, 10, tzinfo=SH)),) * 3, None, False, "CN: no per-person cap"),
    (IN, MUMBAI, (third(datetime(2026, 5, 1, 10, tzinfo=IST)),) * 3, None, False, "IN: no per-person cap"),
])
def test_third_party_contacts(profile, place, history, key, refused, why):
    at = T0 if profile is US_NY else datetime(2026, 5, 4, 10, tzinfo=SH if profile is CN else IST)
    found = ask(profile, at, places=(place,), history=history, party="third_party", third_party_key=key)
    assert ("contact.third_party" in rules_of(found)) is refused, why
    assert all(v.rule == "contact.third_party" for v in found)


def test_a_third_party_contact_is_refused_with_every_rule_like_any_other():
    found = ask(US_NY, datetime(2026, 5, 4, 21, 30, tzinfo=NY), places=(NEW_YORK,), channel="sms", text="Hi",
                party="third_party", third_party_key="k-aunt", cease_contact=True, attorney_represented=True,
                history=(third(T0 - timedelta(days=3)),))
    assert rules_of(found) == ["hours.local", "contact.cease", "contact.represented", "contact.opt_out",
                               "contact.third_party"]
    assert "once" in found[-1].detail and "2026-05-01" in found[-1].detail


def test_calls_to_a_third_party_do_not_count_against_the_debtors_seven_in_seven():
    history = tuple(third(T0 - timedelta(days=1, minutes=i), key=f"k{i}") for i in range(7))
    assert ask(US_NY, T0, places=(NEW_YORK,), history=history) == []
    debtor_calls = tuple(call(T0 - timedelta(days=1, minutes=i)) for i in range(7))
    assert rules_of(ask(US_NY, T0, places=(NEW_YORK,), history=debtor_calls)) == ["frequency.calls"]


def test_a_third_partys_conversation_does_not_start_the_debtors_quiet_period():
    history = (third(T0 - timedelta(hours=2)),)
    assert ask(US_NY, T0, places=(NEW_YORK,), history=history) == []


def test_an_unknown_party_is_refused():
    with pytest.raises(ValueError, match="party"):
        ContactRequest(channel="call", at=T0, party="neighbour")
