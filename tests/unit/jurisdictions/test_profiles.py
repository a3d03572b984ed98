"""Jurisdiction profiles: data from RULES.md, lookup by jurisdiction, tighten-only overrides."""

import dataclasses
from datetime import time

import pytest

from jurisdictions.profiles import (
    ALL_PARTY_CONSENT_STATES,
    CN,
    IN,
    RULE_IDS,
    US,
    LooseningError,
    ProfileError,
    UnknownJurisdiction,
    profile_for,
    tighten,
)

PROFILES = {"CN": CN, "US": US, "IN": IN}


@pytest.mark.parametrize("profile", [CN, US, IN], ids=["CN", "US", "IN"])
def test_every_rule_is_present_with_its_id_and_a_source(profile):
    assert [rule.id for rule in profile.rules] == list(RULE_IDS)
    for rule_id in RULE_IDS:
        rule = profile.rule(rule_id)
        assert rule.id == rule_id
        assert rule.source.strip()


@pytest.mark.parametrize(
    "profile, rule_id, cited",
    [
        (CN, "hours.local", "GB/T 45251-2025"),
        (CN, "hours.local", "China Banking Association"),
        (CN, "contact.third_party", "2011 Measures Art. 68"),
        (CN, "consent.entry", "Civil Code Arts. 1033, 1019"),
        (CN, "retention.records", "NIFA 2018"),
        (US, "hours.local", "FDCPA §805(a)(1)"),
        (US, "hours.local", "12 CFR 1006.6(b)(1)"),
        (US, "place.workplace", "§805(a)(3)"),
        (US, "contact.cease", "§805(c)"),
        (US, "contact.represented", "§805(a)(2)"),
        (US, "contact.third_party", "1006.10"),
        (US, "frequency.visits", "1006.14(b)"),
        (US, "consent.entry", "§652B"),
        (US, "retention.records", "12 CFR 1006.100"),
        (IN, "hours.local", "RBI/2022-23/108"),
    ],
)
def test_sources_cite_rules_md(profile, rule_id, cited):
    assert cited in profile.rule(rule_id).source


@pytest.mark.parametrize(
    "profile, start, end, home_team, retention_years, third_party_cap, entry_consent",
    [
        (CN, time(8), time(22), 2, 2, None, True),
        (US, time(8), time(21), 1, 3, 1, True),
        (IN, time(8), time(19), 1, None, None, False),
    ],
    ids=["CN", "US", "IN"],
)
def test_profile_values(
    profile, start, end, home_team, retention_years, third_party_cap, entry_consent
):
    assert (profile.hours.start, profile.hours.end) == (start, end)
    assert profile.team_size.home == home_team
    assert profile.team_size.workplace == 1
    assert profile.retention.years == retention_years
    assert profile.third_party.max_location_contacts_per_person == third_party_cap
    assert profile.third_party.locating_only and not profile.third_party.disclose_debt
    assert profile.consent_entry.entry_needs_consent is entry_consent
    assert (profile.frequency.max_per_day, profile.frequency.max_per_period) == (1, 3)
    assert profile.frequency.period_days == 7
    for rule in (profile.workplace, profile.cease, profile.represented):
        assert rule.refuse
    assert profile.workplace.applies_to == "workplace"
    assert profile.cease.applies_to is None and profile.represented.applies_to is None


def test_cn_internet_lenders_keep_records_five_years():
    assert CN.retention.internet_lender_years == 5


@pytest.mark.parametrize(
    "jurisdiction, expected",
    [("CN", CN), ("IN", IN)],
)
def test_profile_for_countries(jurisdiction, expected):
    assert profile_for(jurisdiction) is expected


@pytest.mark.parametrize(
    "state, all_party",
    [(s, True) for s in sorted(ALL_PARTY_CONSENT_STATES)]
    + [("NY", False), ("TX", False), ("DC", False), ("PR", False), ("GA", False)],
)
def test_profile_for_us_states_sets_recording_consent(state, all_party):
    profile = profile_for(f"US-{state}")
    assert profile.jurisdiction == f"US-{state}"
    assert profile.recording.all_party is all_party
    assert profile.hours == US.hours


def test_all_party_list_is_the_one_in_rules_md():
    assert ALL_PARTY_CONSENT_STATES == {
        "CA", "CT", "FL", "IL", "MD", "MA", "MT", "NH", "PA", "WA", "DE", "MI", "NV", "OR",
    }


def test_federal_profile_without_a_state_refuses_recording_without_consent():
    assert US.recording.all_party is True


@pytest.mark.parametrize(
    "jurisdiction",
    ["US", "US-", "US-XX", "US-ZZ", "us-ny", "US-ny", "US-NYC", " CN", "cn", "FR", "", "USNY"],
)
def test_profile_for_rejects_unknown_jurisdictions(jurisdiction):
    with pytest.raises(UnknownJurisdiction) as info:
        profile_for(jurisdiction)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "base, rule_id, values, check",
    [
        (CN, "hours.local", {"start": time(9), "end": time(20)}, lambda p: p.hours.label() == "09:00–20:00"),
        (US, "hours.local", {"end": time(20, 30)}, lambda p: p.hours.end == time(20, 30)),
        (IN, "hours.local", {"start": time(8)}, lambda p: p.hours.start == time(8)),
        (CN, "frequency.visits", {"max_per_period": 2}, lambda p: p.frequency.max_per_period == 2),
        (US, "frequency.visits", {"max_per_day": 0}, lambda p: p.frequency.max_per_day == 0),
        (IN, "frequency.visits", {"period_days": 14}, lambda p: p.frequency.period_days == 14),
        (US, "team.size", {"home": 2}, lambda p: p.team_size.home == 2),
        (CN, "team.size", {"workplace": 2}, lambda p: p.team_size.workplace == 2),
        (US, "retention.records", {"years": 7}, lambda p: p.retention.years == 7),
        (IN, "retention.records", {"years": 5}, lambda p: p.retention.years == 5),
        (IN, "consent.entry", {"entry_needs_consent": True}, lambda p: p.consent_entry.entry_needs_consent),
        (profile_for("US-NY"), "recording.consent", {"all_party": True}, lambda p: p.recording.all_party),
        (CN, "contact.third_party", {"max_location_contacts_per_person": 1},
         lambda p: p.third_party.max_location_contacts_per_person == 1),
    ],
)
def test_tighten_accepts_stricter_settings(base, rule_id, values, check):
    tightened = tighten(base, {rule_id: values})
    assert check(tightened)
    assert rule_id in tightened.overridden
    assert tightened.rule(rule_id).source == base.rule(rule_id).source
    untouched = [r for r in RULE_IDS if r != rule_id]
    assert all(tightened.rule(r) == base.rule(r) for r in untouched)


@pytest.mark.parametrize(
    "base, rule_id, values",
    [
        (CN, "hours.local", {"end": time(22, 1)}),
        (CN, "hours.local", {"start": time(7, 59)}),
        (US, "hours.local", {"end": time(22)}),
        (IN, "hours.local", {"end": time(19, 1)}),
        (CN, "frequency.visits", {"max_per_day": 2}),
        (US, "frequency.visits", {"max_per_period": 4}),
        (IN, "frequency.visits", {"period_days": 6}),
        (CN, "team.size", {"home": 1}),
        (CN, "retention.records", {"years": 1}),
        (US, "retention.records", {"years": None}),
        (CN, "retention.records", {"internet_lender_years": 4}),
        (US, "contact.cease", {"refuse": False}),
        (CN, "place.workplace", {"refuse": False}),
        (US, "contact.represented", {"refuse": False}),
        (profile_for("US-CA"), "recording.consent", {"all_party": False}),
        (US, "contact.third_party", {"max_location_contacts_per_person": None}),
        (US, "contact.third_party", {"max_location_contacts_per_person": 2}),
        (CN, "consent.entry", {"photo_inside_needs_consent": False}),
    ],
)
def test_tighten_refuses_to_loosen_and_names_the_rule(base, rule_id, values):
    with pytest.raises(LooseningError) as info:
        tighten(base, {rule_id: values})
    assert info.value.rule == rule_id
    assert rule_id in str(info.value)


def _looser(direction, value):
    return {
        "later": lambda v: time(v.hour - 1, v.minute),
        "earlier": lambda v: time(v.hour + 1, v.minute),
        "higher": lambda v: None if v is None else v - 1,
        "lower": lambda v: None if v is None else v + 1,
        "on": lambda v: False,
    }[direction](value)


def _adjustable():
    for name, profile in PROFILES.items():
        for rule in profile.rules:
            for f in dataclasses.fields(rule):
                if "tighter" in f.metadata:
                    yield pytest.param(
                        profile, rule.id, f.name, f.metadata["tighter"], id=f"{name}-{rule.id}-{f.name}"
                    )


@pytest.mark.parametrize("profile, rule_id, name, direction", list(_adjustable()))
def test_tighten_accepts_restating_the_current_value(profile, rule_id, name, direction):
    current = getattr(profile.rule(rule_id), name)
    assert getattr(tighten(profile, {rule_id: {name: current}}).rule(rule_id), name) == current


def _loosenable():
    for param in _adjustable():
        profile, rule_id, name, direction = param.values
        current = getattr(profile.rule(rule_id), name)
        if current is None or (direction == "on" and current is False):
            continue  # no floor, cap or requirement to loosen
        yield param


@pytest.mark.parametrize("profile, rule_id, name, direction", list(_loosenable()))
def test_tighten_never_loosens_any_adjustable_setting(profile, rule_id, name, direction):
    looser = _looser(direction, getattr(profile.rule(rule_id), name))
    with pytest.raises(LooseningError) as info:
        tighten(profile, {rule_id: {name: looser}})
    assert info.value.rule == rule_id


def test_tighten_leaves_the_original_profile_alone():
    tighten(CN, {"hours.local": {"start": time(10)}})
    assert CN.hours.start == time(8)
    assert CN.overridden == frozenset()


@pytest.mark.parametrize(
    "overrides, rule",
    [
        ({"hours.nightly": {"start": time(9)}}, "hours.nightly"),
        ({"hours.local": {"source": "our policy"}}, "hours.local"),
        ({"hours.local": {"id": "x"}}, "hours.local"),
        ({"hours.local": {"start": time(21), "end": time(20)}}, "hours.local"),
        ({"team.size": {"home": 3}}, "team.size"),
        ({"frequency.visits": {"max_per_day": -1}}, "frequency.visits"),
        ({"frequency.visits": {"max_per_day": 0.5}}, "frequency.visits"),
        ({"hours.local": {"start": "09:00"}}, "hours.local"),
        ({"contact.cease": {"refuse": 1}}, "contact.cease"),
    ],
)
def test_tighten_rejects_malformed_overrides(overrides, rule):
    with pytest.raises(ProfileError) as info:
        tighten(CN, overrides)
    assert info.value.rule == rule


def test_profiles_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        CN.hours.start = time(6)  # type: ignore[misc]
