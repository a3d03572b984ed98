"""Scheduling and check-in rules, evaluated in the local time of the address."""

from datetime import datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest

from jurisdictions.profiles import CN, IN, profile_for, tighten
from jurisdictions.rules import (
    ScheduleRequest,
    Violation,
    check_recording_consent,
    evaluate_schedule,
    moment_is_lawful,
    window_violation,
)

UTC = timezone.utc
SHANGHAI = (31.2304, 121.4737)
NEW_YORK = (40.7128, -74.0060)
MUMBAI = (19.0760, 72.8777)
LOS_ANGELES = (34.0522, -118.2437)
SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
IST = ZoneInfo("Asia/Kolkata")
US_NY = profile_for("US-NY")


def request(start, end, place=SHANGHAI, kind="home", **flags):
    lat, lon = place
    flags.setdefault("has_second_collector", True)
    return ScheduleRequest(start, end, kind, lat, lon, **flags)


def rules_of(violations):
    return [v.rule for v in violations]


# --- hours.local: windows --------------------------------------------------------------

@pytest.mark.parametrize(
    "profile, place, start, end, expected",
    [
        # Shanghai, CN 08:00–22:00
        (CN, SHANGHAI, datetime(2026, 5, 4, 8, 0, tzinfo=SH), datetime(2026, 5, 4, 9, 0, tzinfo=SH), None),
        (CN, SHANGHAI, datetime(2026, 5, 4, 21, 0, tzinfo=SH), datetime(2026, 5, 4, 22, 0, tzinfo=SH), None),
        (CN, SHANGHAI, datetime(2026, 5, 4, 21, 0, tzinfo=SH), datetime(2026, 5, 4, 22, 0, 1, tzinfo=SH), "extends past"),
        (CN, SHANGHAI, datetime(2026, 5, 4, 21, 30, tzinfo=SH), datetime(2026, 5, 4, 22, 30, tzinfo=SH),
         "window 2026-05-04 21:30–22:30 Asia/Shanghai extends past lawful hours 08:00–22:00"),
        (CN, SHANGHAI, datetime(2026, 5, 4, 7, 59, tzinfo=SH), datetime(2026, 5, 4, 9, 0, tzinfo=SH), "starts before"),
        (CN, SHANGHAI, datetime(2026, 5, 4, 21, 0, tzinfo=SH), datetime(2026, 5, 5, 9, 0, tzinfo=SH), "extends past"),
        (CN, SHANGHAI, datetime(2026, 5, 4, 7, 0, tzinfo=SH), datetime(2026, 5, 4, 23, 0, tzinfo=SH), "lies outside"),
        # the same instants given in UTC: the local time of the address decides
        (CN, SHANGHAI, datetime(2026, 5, 4, 0, 0, tzinfo=UTC), datetime(2026, 5, 4, 1, 0, tzinfo=UTC), None),
        (CN, SHANGHAI, datetime(2026, 5, 3, 23, 30, tzinfo=UTC), datetime(2026, 5, 4, 0, 30, tzinfo=UTC), "starts before"),
        # Mumbai, IN 08:00–19:00
        (IN, MUMBAI, datetime(2026, 5, 4, 18, 0, tzinfo=IST), datetime(2026, 5, 4, 19, 0, tzinfo=IST), None),
        (IN, MUMBAI, datetime(2026, 5, 4, 18, 0, tzinfo=IST), datetime(2026, 5, 4, 19, 1, tzinfo=IST), "extends past"),
        (IN, MUMBAI, datetime(2026, 5, 4, 19, 0, tzinfo=IST), datetime(2026, 5, 4, 19, 30, tzinfo=IST), "extends past"),
        # New York, US 08:00–21:00, spring-forward Sunday 2026-03-08 (02:00 EST -> 03:00 EDT)
        (US_NY, NEW_YORK, datetime(2026, 3, 8, 8, 0, tzinfo=NY), datetime(2026, 3, 8, 9, 0, tzinfo=NY), None),
        (US_NY, NEW_YORK, datetime(2026, 3, 8, 12, 0, tzinfo=UTC), datetime(2026, 3, 8, 13, 0, tzinfo=UTC), None),
        (US_NY, NEW_YORK, datetime(2026, 3, 8, 11, 30, tzinfo=UTC), datetime(2026, 3, 8, 12, 30, tzinfo=UTC),
         "window 2026-03-08 07:30–08:30 America/New_York starts before lawful hours 08:00–21:00"),
        # a week earlier 12:00Z was still 07:00 EST
        (US_NY, NEW_YORK, datetime(2026, 3, 1, 12, 0, tzinfo=UTC), datetime(2026, 3, 1, 13, 0, tzinfo=UTC), "starts before"),
        (US_NY, NEW_YORK, datetime(2026, 3, 8, 1, 30, tzinfo=NY), datetime(2026, 3, 8, 8, 30, tzinfo=NY), "(EST→EDT, clocks change)"),
        (US_NY, NEW_YORK, datetime(2026, 3, 8, 20, 0, tzinfo=NY), datetime(2026, 3, 8, 21, 0, tzinfo=NY), None),
        # fall-back night 2026-11-01 (02:00 EDT -> 01:00 EST)
        (US_NY, NEW_YORK, datetime(2026, 10, 31, 20, 0, tzinfo=NY), datetime(2026, 10, 31, 21, 0, tzinfo=NY), None),
        (US_NY, NEW_YORK, datetime(2026, 10, 31, 20, 30, tzinfo=NY), datetime(2026, 11, 1, 9, 0, tzinfo=NY),
         "window 2026-10-31 20:30–2026-11-01 09:00 America/New_York (EDT→EST, clocks change) extends past"),
        (US_NY, NEW_YORK, datetime(2026, 11, 1, 1, 30, fold=0, tzinfo=NY),
         datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NY), "starts before"),
        (US_NY, NEW_YORK, datetime(2026, 11, 1, 12, 30, tzinfo=UTC), datetime(2026, 11, 1, 13, 30, tzinfo=UTC),
         "window 2026-11-01 07:30–08:30 America/New_York starts before"),
        (US_NY, NEW_YORK, datetime(2026, 11, 1, 13, 0, tzinfo=UTC), datetime(2026, 11, 1, 14, 0, tzinfo=UTC), None),
        (US_NY, NEW_YORK, datetime(2026, 10, 31, 12, 30, tzinfo=UTC), datetime(2026, 10, 31, 13, 30, tzinfo=UTC), None),
        # a two-day window cannot avoid a night
        (CN, SHANGHAI, datetime(2026, 5, 4, 9, 0, tzinfo=SH), datetime(2026, 5, 6, 9, 0, tzinfo=SH), "extends past"),
    ],
)
def test_hours_of_a_window(profile, place, start, end, expected):
    violations = [v for v in evaluate_schedule(request(start, end, place), profile) if v.rule == "hours.local"]
    if expected is None:
        assert violations == []
    else:
        assert len(violations) == 1
        assert expected in violations[0].detail


class MorningFallBack(tzinfo):
    """A made-up zone whose clocks go back an hour at 08:30 local on 2026-06-01."""

    CHANGE = datetime(2026, 6, 1, 7, 30)  # UTC

    def utcoffset(self, dt):
        wall = dt.replace(tzinfo=None, fold=0)
        if wall < datetime(2026, 6, 1, 7, 30):
            return timedelta(hours=1)
        if wall >= datetime(2026, 6, 1, 8, 30):
            return timedelta(0)
        return timedelta(0) if dt.fold else timedelta(hours=1)

    def dst(self, dt):
        return timedelta(0)

    def tzname(self, dt):
        return "XST" if self.utcoffset(dt) else "XWT"

    def fromutc(self, dt):
        utc = dt.replace(tzinfo=None)
        if utc < self.CHANGE:
            return (utc + timedelta(hours=1)).replace(tzinfo=self)
        fold = int(datetime(2026, 6, 1, 7, 30) <= utc < datetime(2026, 6, 1, 8, 30))
        return utc.replace(tzinfo=self, fold=fold)


def test_a_clock_change_inside_a_window_is_judged_instant_by_instant():
    zone = MorningFallBack()
    # 08:15 local (+1) to 08:00 local (+0): both ends look lawful, but 07:30–08:00 lies inside.
    start = datetime(2026, 6, 1, 7, 15, tzinfo=UTC)
    end = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    violation = window_violation(start, end, zone, CN.hours)
    assert violation == Violation(
        "hours.local",
        "window 2026-06-01 08:15–08:00 MorningFallBack (XST→XWT, clocks change) falls before "
        "lawful hours 08:00–22:00",
    )
    # After the repeated hour the same length of window is lawful.
    assert window_violation(end, end + timedelta(minutes=45), zone, CN.hours) is None


# --- hours.local: check-in moments -------------------------------------------------------

@pytest.mark.parametrize(
    "profile, place, at, lawful",
    [
        (CN, SHANGHAI, datetime(2026, 5, 4, 21, 59, tzinfo=SH), True),
        (CN, SHANGHAI, datetime(2026, 5, 4, 21, 59, 59, 999999, tzinfo=SH), True),
        (CN, SHANGHAI, datetime(2026, 5, 4, 22, 0, tzinfo=SH), False),
        (CN, SHANGHAI, datetime(2026, 5, 4, 7, 59, tzinfo=SH), False),
        (CN, SHANGHAI, datetime(2026, 5, 4, 8, 0, tzinfo=SH), True),
        (CN, SHANGHAI, datetime(2026, 5, 4, 13, 59, tzinfo=UTC), True),  # 21:59 in Shanghai
        (CN, SHANGHAI, datetime(2026, 5, 4, 14, 0, tzinfo=UTC), False),  # 22:00 in Shanghai
        (IN, MUMBAI, datetime(2026, 5, 4, 18, 59, tzinfo=IST), True),
        (IN, MUMBAI, datetime(2026, 5, 4, 19, 0, tzinfo=IST), False),
        (IN, MUMBAI, datetime(2026, 5, 4, 19, 1, tzinfo=IST), False),
        (IN, MUMBAI, datetime(2026, 5, 4, 13, 30, tzinfo=UTC), False),  # 19:00 IST
        (US_NY, NEW_YORK, datetime(2026, 3, 8, 12, 0, tzinfo=UTC), True),  # 08:00 EDT
        (US_NY, NEW_YORK, datetime(2026, 3, 8, 11, 59, tzinfo=UTC), False),  # 07:59 EDT
        (US_NY, NEW_YORK, datetime(2026, 3, 7, 12, 59, tzinfo=UTC), False),  # 07:59 EST, day before
        (US_NY, NEW_YORK, datetime(2026, 3, 7, 13, 0, tzinfo=UTC), True),  # 08:00 EST
        (US_NY, NEW_YORK, datetime(2026, 11, 1, 1, 30, fold=0, tzinfo=NY), False),
        (US_NY, NEW_YORK, datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NY), False),
        (US_NY, NEW_YORK, datetime(2026, 11, 1, 12, 59, tzinfo=UTC), False),  # 07:59 EST
        (US_NY, NEW_YORK, datetime(2026, 11, 1, 13, 0, tzinfo=UTC), True),  # 08:00 EST
        (US_NY, NEW_YORK, datetime(2026, 11, 2, 1, 59, tzinfo=UTC), True),  # 20:59 EST
        (US_NY, NEW_YORK, datetime(2026, 11, 2, 2, 0, tzinfo=UTC), False),  # 21:00 EST
        (US_NY, NEW_YORK, datetime(2026, 10, 31, 12, 30, tzinfo=UTC), True),  # 08:30 EDT
    ],
)
def test_moment_is_lawful(profile, place, at, lawful):
    violation = moment_is_lawful(at, *place, profile)
    if lawful:
        assert violation is None
    else:
        assert violation is not None and violation.rule == "hours.local"
        assert "outside lawful hours" in violation.detail


def test_moment_detail_names_local_time_and_zone():
    violation = moment_is_lawful(datetime(2026, 5, 4, 14, 0, tzinfo=UTC), *SHANGHAI, CN)
    assert violation == Violation(
        "hours.local", "2026-05-04 22:00 Asia/Shanghai (CST) is outside lawful hours 08:00–22:00"
    )


@pytest.mark.parametrize("lat, lon", [(None, None), (31.2, None), (None, 121.4), (float("nan"), 121.4), (95.0, 10.0)])
def test_moment_without_usable_coordinates_is_refused(lat, lon):
    violation = moment_is_lawful(datetime(2026, 5, 4, 4, 0, tzinfo=UTC), lat, lon, CN)
    assert violation is not None and violation.rule == "hours.local"
    assert "time zone is unknown" in violation.detail


def test_moment_must_be_aware():
    with pytest.raises(ValueError):
        moment_is_lawful(datetime(2026, 5, 4, 12, 0), *SHANGHAI, CN)


# --- a request without coordinates -------------------------------------------------------

@pytest.mark.parametrize("profile", [CN, US_NY, IN], ids=["CN", "US-NY", "IN"])
def test_address_without_coordinates_is_refused_saying_why(profile):
    req = ScheduleRequest(
        datetime(2026, 5, 4, 10, 0, tzinfo=UTC),
        datetime(2026, 5, 4, 11, 0, tzinfo=UTC),
        "home",
        None,
        None,
        has_second_collector=True,
    )
    violations = evaluate_schedule(req, profile)
    assert rules_of(violations) == ["hours.local"]
    assert "no coordinates" in violations[0].detail
    assert "time zone is unknown" in violations[0].detail
    assert "cannot be checked either" in violations[0].detail


# --- flags: place.workplace, contact.cease, contact.represented --------------------------

LAWFUL = {
    "CN": (CN, SHANGHAI, datetime(2026, 5, 4, 10, 0, tzinfo=SH)),
    "US-NY": (US_NY, NEW_YORK, datetime(2026, 5, 4, 10, 0, tzinfo=NY)),
    "US-CA": (profile_for("US-CA"), LOS_ANGELES, datetime(2026, 5, 4, 10, 0, tzinfo=ZoneInfo("America/Los_Angeles"))),
    "IN": (IN, MUMBAI, datetime(2026, 5, 4, 10, 0, tzinfo=IST)),
}


@pytest.mark.parametrize("jurisdiction", list(LAWFUL))
@pytest.mark.parametrize(
    "kind, flags, expected",
    [
        ("home", {}, []),
        ("workplace", {}, []),
        ("workplace", {"workplace_contact_prohibited": True}, ["place.workplace"]),
        ("home", {"workplace_contact_prohibited": True}, []),
        ("home", {"cease_contact": True}, ["contact.cease"]),
        ("workplace", {"cease_contact": True}, ["contact.cease"]),
        ("home", {"attorney_represented": True}, ["contact.represented"]),
        (
            "workplace",
            {"workplace_contact_prohibited": True, "cease_contact": True, "attorney_represented": True},
            ["place.workplace", "contact.cease", "contact.represented"],
        ),
    ],
)
def test_case_flags(jurisdiction, kind, flags, expected):
    profile, place, start = LAWFUL[jurisdiction]
    req = request(start, start + timedelta(hours=1), place, kind, **flags)
    assert rules_of(evaluate_schedule(req, profile)) == expected


def test_us_cease_contact_detail():
    profile, place, start = LAWFUL["US-NY"]
    [violation] = evaluate_schedule(request(start, start + timedelta(hours=1), place, cease_contact=True), profile)
    assert violation.rule == "contact.cease"
    assert "cease-contact request" in violation.detail


def test_workplace_prohibited_detail():
    profile, place, start = LAWFUL["CN"]
    [violation] = evaluate_schedule(
        request(start, start + timedelta(hours=1), place, "workplace", workplace_contact_prohibited=True), profile
    )
    assert violation.rule == "place.workplace"
    assert "workplace" in violation.detail


# --- team.size ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "jurisdiction, kind, second, expected",
    [
        ("CN", "home", False, ["team.size"]),
        ("CN", "home", True, []),
        ("CN", "workplace", False, []),
        ("US-NY", "home", False, []),
        ("US-CA", "home", False, []),
        ("IN", "home", False, []),
        ("IN", "workplace", False, []),
    ],
)
def test_team_size(jurisdiction, kind, second, expected):
    profile, place, start = LAWFUL[jurisdiction]
    req = request(start, start + timedelta(hours=1), place, kind, has_second_collector=second)
    assert rules_of(evaluate_schedule(req, profile)) == expected


def test_team_size_tightened_by_an_organisation():
    profile, place, start = LAWFUL["US-NY"]
    strict = tighten(profile, {"team.size": {"home": 2}})
    req = request(start, start + timedelta(hours=1), place, has_second_collector=False)
    [violation] = evaluate_schedule(req, strict)
    assert violation == Violation("team.size", "a home visit under US-NY needs 2 collectors; name a second collector")


# --- frequency.visits --------------------------------------------------------------------

def ny(day, hour, minute=0, month=5):
    return datetime(2026, month, day, hour, minute, tzinfo=NY)


@pytest.mark.parametrize(
    "profile, new_start, others, expected",
    [
        # same local day in New York although the UTC dates differ (20:00 EDT = 00:00Z next day)
        (US_NY, ny(1, 20), [ny(1, 8)], ["per day"]),
        # different local days although the UTC date is the same (May 2)
        (US_NY, ny(2, 9), [ny(1, 20)], []),
        (US_NY, ny(2, 9), [ny(1, 23, 59)], []),
        (US_NY, ny(2, 9), [ny(2, 0, 0)], ["per day"]),
        # a case's visits in the past week
        (US_NY, ny(7, 10), [ny(1, 10), ny(3, 10), ny(5, 10)], ["per 7 days"]),
        (US_NY, ny(8, 10), [ny(1, 10), ny(3, 10), ny(5, 10)], []),
        # 23:30 EDT on May 1 is May 2 in UTC but still May 1 locally: outside May 2–8
        (US_NY, ny(8, 10), [ny(1, 23, 30), ny(3, 10), ny(5, 10)], []),
        (US_NY, ny(8, 10), [ny(2, 0, 30), ny(3, 10), ny(5, 10)], ["per 7 days"]),
        # future visits count too: the period may lie after the new one
        (US_NY, ny(1, 10), [ny(3, 10), ny(5, 10), ny(7, 10)], ["per 7 days"]),
        (US_NY, ny(1, 10), [ny(3, 10), ny(5, 10), ny(8, 10)], []),
        (US_NY, ny(5, 10), [ny(5, 9), ny(3, 10), ny(4, 10)], ["per day", "per 7 days"]),
        # Shanghai: local midnight is 16:00Z
        (CN, datetime(2026, 5, 2, 8, 30, tzinfo=SH), [datetime(2026, 5, 1, 21, 0, tzinfo=SH)], []),
        (CN, datetime(2026, 5, 2, 8, 30, tzinfo=SH), [datetime(2026, 5, 1, 16, 0, tzinfo=UTC)], ["per day"]),
        (CN, datetime(2026, 5, 2, 8, 30, tzinfo=SH), [datetime(2026, 5, 1, 15, 59, tzinfo=UTC)], []),
        (IN, datetime(2026, 5, 2, 9, 0, tzinfo=IST), [datetime(2026, 5, 1, 18, 30, tzinfo=UTC)], ["per day"]),
        (IN, datetime(2026, 5, 2, 9, 0, tzinfo=IST), [datetime(2026, 5, 1, 18, 29, tzinfo=UTC)], []),
        # an organisation's tighter cap
        (tighten(US_NY, {"frequency.visits": {"max_per_period": 2}}), ny(7, 10), [ny(1, 10), ny(3, 10)], ["per 7 days"]),
        (tighten(US_NY, {"frequency.visits": {"max_per_period": 2}}), ny(8, 10), [ny(1, 10), ny(3, 10)], []),
    ],
)
def test_frequency(profile, new_start, others, expected):
    place = {"CN": SHANGHAI, "IN": MUMBAI}.get(profile.jurisdiction, NEW_YORK)
    req = request(new_start, new_start + timedelta(minutes=30), place, other_visits=tuple(others))
    found = [v for v in evaluate_schedule(req, profile) if v.rule == "frequency.visits"]
    assert [next(k for k in ("per day", "per 7 days") if k in v.detail) for v in found] == expected


def test_frequency_detail_names_local_day_and_zone():
    req = request(ny(1, 20), ny(1, 20, 30), NEW_YORK, other_visits=(ny(1, 8),))
    [violation] = evaluate_schedule(req, US_NY)
    assert violation.detail == (
        "2 visits on local day 2026-05-01 (America/New_York) would exceed the limit of 1 per day"
    )


def test_period_detail_names_the_days():
    req = request(ny(7, 10), ny(7, 11), NEW_YORK, other_visits=(ny(1, 10), ny(3, 10), ny(5, 10)))
    [violation] = evaluate_schedule(req, US_NY)
    assert violation.detail == (
        "4 visits in the 7 local days 2026-05-01 to 2026-05-07 (America/New_York) would exceed "
        "the limit of 3 per 7 days"
    )


# --- everything at once ------------------------------------------------------------------

def test_all_violations_are_returned_at_once_in_rule_order():
    start = datetime(2026, 5, 4, 21, 30, tzinfo=SH)
    req = ScheduleRequest(
        start,
        start + timedelta(hours=1),
        "home",
        *SHANGHAI,
        cease_contact=True,
        attorney_represented=True,
        workplace_contact_prohibited=True,
        has_second_collector=False,
        other_visits=(datetime(2026, 5, 4, 9, 0, tzinfo=SH),),
    )
    assert rules_of(evaluate_schedule(req, CN)) == [
        "hours.local",
        "contact.cease",
        "contact.represented",
        "frequency.visits",
        "team.size",
    ]


def test_tightened_hours_are_enforced():
    strict = tighten(CN, {"hours.local": {"start": time(9), "end": time(20)}})
    start = datetime(2026, 5, 4, 19, 30, tzinfo=SH)
    [violation] = evaluate_schedule(request(start, start + timedelta(hours=1)), strict)
    assert violation.detail == "window 2026-05-04 19:30–20:30 Asia/Shanghai extends past lawful hours 09:00–20:00"


# --- request validation ------------------------------------------------------------------

@pytest.mark.parametrize(
    "kwargs",
    [
        {"window_start": datetime(2026, 5, 4, 10, 0)},
        {"window_end": datetime(2026, 5, 4, 11, 0)},
        {"window_end": datetime(2026, 5, 4, 10, 0, tzinfo=UTC)},
        {"window_end": datetime(2026, 5, 4, 9, 0, tzinfo=UTC)},
        {"address_kind": "office"},
        {"other_visits": (datetime(2026, 5, 3, 10, 0),)},
    ],
)
def test_malformed_requests_raise(kwargs):
    base = {
        "window_start": datetime(2026, 5, 4, 10, 0, tzinfo=UTC),
        "window_end": datetime(2026, 5, 4, 11, 0, tzinfo=UTC),
        "address_kind": "home",
        "lat": SHANGHAI[0],
        "lon": SHANGHAI[1],
    }
    with pytest.raises(ValueError):
        ScheduleRequest(**{**base, **kwargs})


def test_other_visits_are_kept_as_a_tuple():
    req = ScheduleRequest(
        datetime(2026, 5, 4, 10, 0, tzinfo=UTC), datetime(2026, 5, 4, 11, 0, tzinfo=UTC), "home", 1.0, 1.0,
        other_visits=[datetime(2026, 5, 3, 10, 0, tzinfo=UTC)],
    )
    assert isinstance(req.other_visits, tuple)


# --- recording.consent -------------------------------------------------------------------

@pytest.mark.parametrize(
    "jurisdiction, consent, refused",
    [
        ("US-CA", "granted", False),
        ("US-CA", "not_asked", True),
        ("US-CA", "refused", True),
        ("US-DE", "not_asked", True),
        ("US-OR", "refused", True),
        ("US-NY", "not_asked", False),
        ("US-TX", "refused", False),
        ("CN", "not_asked", False),
        ("IN", "refused", False),
    ],
)
def test_recording_consent(jurisdiction, consent, refused):
    violation = check_recording_consent(profile_for(jurisdiction), consent)
    if refused:
        assert violation is not None and violation.rule == "recording.consent"
        assert jurisdiction in violation.detail
    else:
        assert violation is None


def test_recording_consent_rejects_unknown_states():
    with pytest.raises(ValueError):
        check_recording_consent(CN, "maybe")
