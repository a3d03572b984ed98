"""Business days for counting notice periods (pure: no database, no app).

A notice's presumed receipt is counted in business days after mailing; which days are not
business days is the jurisdiction's holiday calendar. ``US``: Saturdays, Sundays and the legal
public holidays of 5 U.S.C. 6103(a) (12 CFR 1006.34(b)(5) names that list), taken from the
`holidays` library's US federal calendar including the day a holiday is observed on when it
falls on a weekend: skipping an observed Friday or Monday as well can only lengthen the
period, which the rule allows ("at least five days"), never shorten it. ``None``: weekends only.
Both the case plan and the written notices count with these functions, so the two never disagree.
"""
from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays

CALENDARS = ("US",)


@lru_cache(maxsize=64)
def _holidays(calendar: str, year: int) -> frozenset[date]:
    if calendar not in CALENDARS:
        raise ValueError(f"unknown holiday calendar {calendar!r}")
    return frozenset(holidays.country_holidays(calendar, years=year, observed=True))


def is_business_day(day: date, calendar: str | None = "US") -> bool:
    """Neither a Saturday, a Sunday nor a holiday of ``calendar`` (or the day it is observed on)."""
    return day.weekday() < 5 and (calendar is None or day not in _holidays(calendar, day.year))


def add_business_days(day: date, n: int, calendar: str | None = "US") -> date:
    """The ``n``-th business day after ``day`` (``day`` itself does not count)."""
    counted = 0
    while counted < n:
        day += timedelta(days=1)
        if is_business_day(day, calendar):
            counted += 1
    return day
