"""Business days and the notice periods held in the profiles: the one computation the case plan
and the written notices share."""
from datetime import date

import pytest

from jurisdictions.business_days import add_business_days, is_business_day
from jurisdictions.profiles import CN, IN, US, profile_for, tighten


@pytest.mark.parametrize("day, calendar, business, why", [
    (date(2026, 11, 26), "US", False, "Thanksgiving"),
    (date(2026, 11, 28), "US", False, "Saturday"),
    (date(2027, 6, 18), "US", False, "Juneteenth observed (June 19 is a Saturday)"),
    (date(2026, 11, 27), "US", True, "the Friday after Thanksgiving is no federal holiday"),
    (date(2026, 12, 24), "US", True, "nor is Christmas Eve"),
    (date(2026, 11, 26), None, True, "no calendar: only weekends are off"),
    (date(2026, 11, 29), None, False, "no calendar: Sunday"),
])
def test_business_day(day, calendar, business, why):
    assert is_business_day(day, calendar) is business


@pytest.mark.parametrize("start, n, calendar, expected", [
    (date(2026, 11, 20), 5, "US", date(2026, 11, 30)),   # Thanksgiving and a weekend
    (date(2026, 11, 20), 5, None, date(2026, 11, 27)),   # weekends only
    (date(2026, 12, 5), 5, "US", date(2026, 12, 11)),    # from a Saturday
    (date(2026, 12, 5), 0, "US", date(2026, 12, 5)),     # nothing to count
])
def test_add_business_days(start, n, calendar, expected):
    assert add_business_days(start, n, calendar) == expected


def test_an_unknown_calendar_is_refused_not_ignored():
    with pytest.raises(ValueError, match="calendar"):
        is_business_day(date(2026, 12, 7), "XX")


@pytest.mark.parametrize("profile, templates, validation, respond", [
    (profile_for("US-NY"), ("validation", "overdue"), 30, None),
    (CN, ("overdue",), None, 14),
    (IN, ("overdue",), None, 14),
])
def test_which_notices_and_periods_each_profile_holds(profile, templates, validation, respond):
    rule = profile.notice
    assert rule.templates == templates
    assert rule.validation_period_days == validation
    assert rule.respond_days == respond
    assert rule.source
    if respond is not None:   # a reply period no law sets is marked as the organisation's own
        assert rule.respond_source.startswith("organisation default")


@pytest.mark.parametrize("profile, mailed, receipt, validation_end, respond_by", [
    (US, date(2026, 11, 20), date(2026, 11, 30), date(2026, 12, 30), None),
    (US, date(2026, 1, 30), date(2026, 2, 6), date(2026, 3, 8), None),
    (CN, date(2026, 1, 30), date(2026, 1, 30), None, date(2026, 2, 13)),
    (IN, date(2026, 12, 24), date(2026, 12, 24), None, date(2027, 1, 7)),
])
def test_notice_dates_from_the_profile(profile, mailed, receipt, validation_end, respond_by):
    assert profile.notice.presumed_receipt(mailed) == receipt
    assert profile.notice.validation_end(mailed) == validation_end
    assert profile.notice.respond_by(mailed) == respond_by


def test_an_organisation_may_lengthen_the_reply_period_but_not_shorten_it():
    assert tighten(CN, {"notice.validation": {"respond_days": 21}}).notice.respond_days == 21
    with pytest.raises(Exception, match="looser"):
        tighten(CN, {"notice.validation": {"respond_days": 7}})


def test_the_organisation_setting_reaches_the_printed_reply_date():
    from jurisdictions.organisation import organisation_profile
    rule = organisation_profile("IN", {"notice.validation": {"respond_days": 21}}).notice
    assert rule.respond_by(date(2026, 12, 24)) == date(2027, 1, 14)
