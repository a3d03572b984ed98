"""The dates and sums a notice prints: Reg F's validation period (12 CFR 1006.34(b)(5)) counted
across weekends, federal holidays and month ends, and the itemization's arithmetic."""
from datetime import date
from decimal import Decimal

import pytest

from jurisdictions.business_days import is_business_day

from legal_docs.notice_dates import (
    Itemization,
    ItemizationError,
    assumed_receipt,
    validation_period_end,
)

# (mailed, assumed receipt, end of the validation period, why)
CASES = [
    (date(2026, 1, 5), date(2026, 1, 12), date(2026, 2, 11), "Monday: the weekend after counts nothing"),
    (date(2026, 1, 9), date(2026, 1, 16), date(2026, 2, 15), "Friday: skips the weekend; ends on a Sunday, not moved"),
    (date(2026, 1, 14), date(2026, 1, 22), date(2026, 2, 21), "Martin Luther King Jr. Day (Jan 19) skipped"),
    (date(2026, 1, 28), date(2026, 2, 4), date(2026, 3, 6), "across January's end; February has 28 days"),
    (date(2028, 1, 28), date(2028, 2, 4), date(2028, 3, 5), "leap year: February has 29 days"),
    (date(2026, 1, 30), date(2026, 2, 6), date(2026, 3, 8), "Friday at a month's end"),
    (date(2026, 7, 1), date(2026, 7, 9), date(2026, 8, 8), "Independence Day observed on Friday July 3"),
    (date(2026, 11, 20), date(2026, 11, 30), date(2026, 12, 30), "Thanksgiving (Nov 26) and a weekend"),
    (date(2026, 12, 21), date(2026, 12, 29), date(2027, 1, 28), "Christmas; into the next year"),
    (date(2026, 12, 24), date(2027, 1, 4), date(2027, 2, 3), "Christmas and New Year's Day, two weekends"),
    (date(2026, 3, 28), date(2026, 4, 3), date(2026, 5, 3), "mailed on a Saturday: counting starts Monday"),
    (date(2026, 10, 7), date(2026, 10, 15), date(2026, 11, 14), "Columbus Day (Oct 12)"),
]


@pytest.mark.parametrize("mailed,receipt,end,why", CASES, ids=[c[3] for c in CASES])
def test_validation_period_end(mailed, receipt, end, why):
    assert assumed_receipt(mailed) == receipt
    assert validation_period_end(mailed) == end


def test_receipt_never_lands_on_a_day_off_and_the_period_is_at_least_35_days():
    day = date(2026, 1, 1)
    while day.year < 2028:
        receipt = assumed_receipt(day)
        assert is_business_day(receipt, "US")
        assert (validation_period_end(day) - day).days >= 35
        day = date.fromordinal(day.toordinal() + 1)


ITEMIZATIONS = [
    (Itemization(date(2026, 9, 30), Decimal("1200.00"), Decimal("15.50"), Decimal("25.00"), Decimal("40.00")),
     Decimal("1200.50")),
    (Itemization(date(2026, 9, 30), Decimal("99.99")), Decimal("99.99")),
    (Itemization(date(2026, 9, 30), Decimal("100.00"), payments=Decimal("100.00")), Decimal("0.00")),
    (Itemization(date(2026, 9, 30), Decimal("0.10"), interest=Decimal("0.20")), Decimal("0.30")),
]


@pytest.mark.parametrize("itemization,total", ITEMIZATIONS)
def test_itemization_total(itemization, total):
    assert itemization.total == total
    itemization.check(total, date(2026, 11, 20))


@pytest.mark.parametrize("itemization,owed,mailed,message", [
    (Itemization(date(2026, 9, 30), Decimal("100.00")), Decimal("100.01"), date(2026, 11, 20), "adds up to 100.00"),
    (Itemization(date(2026, 9, 30), Decimal("100.00"), fees=Decimal("-1.00")), Decimal("99.00"),
     date(2026, 11, 20), "negative: fees"),
    (Itemization(date(2026, 11, 21), Decimal("100.00")), Decimal("100.00"), date(2026, 11, 20), "after the mailing"),
])
def test_itemization_refused(itemization, owed, mailed, message):
    with pytest.raises(ItemizationError, match=message):
        itemization.check(owed, mailed)
