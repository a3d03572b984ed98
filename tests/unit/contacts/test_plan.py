"""The generated case plan, without app or database: the notice first, no visit inside the notice
period, the period's end across weekends and month ends."""
from datetime import date

import pytest

from contacts.plan import add_business_days, default_plan, notice_period_end
from jurisdictions.profiles import CN, IN, profile_for

US_NY = profile_for("US-NY")


@pytest.mark.parametrize("mailed, received", [
    (date(2026, 12, 7), date(2026, 12, 14)),   # Monday -> the next Monday
    (date(2026, 12, 4), date(2026, 12, 11)),   # Friday -> the next Friday
    (date(2026, 12, 5), date(2026, 12, 11)),   # Saturday: the weekend does not count
    (date(2026, 1, 28), date(2026, 2, 4)),     # across a month end
])
def test_receipt_is_five_weekdays_after_mailing(mailed, received):
    assert add_business_days(mailed, 5) == received


def test_the_us_notice_period_ends_thirty_days_after_presumed_receipt():
    assert notice_period_end(date(2026, 1, 28), US_NY) == date(2026, 3, 6)  # receipt 4 Feb + 30 days
    assert notice_period_end(date(2026, 1, 28), CN) is None


@pytest.mark.parametrize("profile", [CN, IN, US_NY])
def test_the_plan_goes_notice_call_visit_legal(profile):
    plan = default_plan(date(2026, 12, 1), profile, notice_on=None)
    assert [a.kind for a in plan] == ["notice", "call", "visit", "legal_referral"]
    assert [a.due_on for a in plan] == sorted(a.due_on for a in plan)
    assert plan[0].due_on == date(2026, 12, 1)


def test_no_visit_is_planned_inside_the_us_notice_period():
    plan = default_plan(date(2026, 12, 1), US_NY, notice_on=date(2026, 12, 2))
    visit = next(a for a in plan if a.kind == "visit")
    # mailed Wed 2 Dec, received Wed 9 Dec, the period ends 8 Jan: no visit before 9 Jan
    assert visit.not_before == date(2027, 1, 9) and visit.due_on >= visit.not_before
    call = next(a for a in plan if a.kind == "call")
    assert call.not_before == date(2026, 12, 2) and call.due_on == date(2026, 12, 3)


def test_in_cn_the_visit_waits_only_for_the_notice():
    plan = default_plan(date(2026, 12, 1), CN, notice_on=date(2026, 12, 2))
    visit = next(a for a in plan if a.kind == "visit")
    assert visit.not_before == date(2026, 12, 2) and visit.due_on == date(2026, 12, 15)
