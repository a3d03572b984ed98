"""The generated case plan, without app or database: the notice first, no visit inside the notice
period, the period's end across weekends and month ends."""
from datetime import date

import pytest

from contacts.plan import default_plan, notice_period_end
from jurisdictions.profiles import CN, IN, profile_for

US_NY = profile_for("US-NY")


@pytest.mark.parametrize("mailed, period_end, why", [
    (date(2026, 12, 7), date(2027, 1, 13), "Monday: receipt Mon 14 Dec"),
    (date(2026, 12, 5), date(2027, 1, 10), "Saturday: the weekend does not count, receipt Fri 11 Dec"),
    (date(2026, 1, 28), date(2026, 3, 6), "across a month end: receipt 4 Feb"),
    (date(2026, 11, 20), date(2026, 12, 30), "Thanksgiving skipped as the notice skips it: receipt 30 Nov"),
    (date(2026, 12, 24), date(2027, 2, 3), "Christmas and New Year's Day: receipt 4 Jan"),
])
def test_the_plans_notice_period_counts_receipt_as_the_notice_prints_it(mailed, period_end, why):
    assert notice_period_end(mailed, US_NY) == period_end
    assert period_end == US_NY.notice.validation_end(mailed)   # one computation for plan and notice


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
