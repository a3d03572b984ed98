"""The dates a written notice prints, computed from its mailing date (pure: no database, no app).

US validation period, 12 CFR 1006.34(b)(5): the validation period starts when the collector
provides the validation information and ends 30 days after the consumer receives it; "for
purposes of determining the end of the validation period, the debt collector may assume that a
consumer receives the validation information on any date that is at least five days (excluding
legal public holidays identified in 5 U.S.C. 6103(a), Saturdays, and Sundays) after the debt
collector provides it." (RULES.md, `notice.validation` [P]; the counting described the same way
at accountsrecovery.net, 2023-05-26, "Class Action Accuses Collector of Using Incorrect
Itemization, Validation Dates in MVN".)

So: count five days after the mailing date, skipping Saturdays, Sundays and federal legal public
holidays; that day is the assumed receipt; the period ends 30 calendar days later. The end date
is not moved off a weekend: the rule counts calendar days from receipt. Holidays come from the
`holidays` library's US federal calendar, including the days a holiday is observed on when it
falls on a weekend: skipping an observed Friday or Monday too can only lengthen the period, which
the rule allows ("at least five days"), never shorten it.

The counting itself lives with the jurisdiction profiles (`jurisdictions.business_days`, the
US profile's `notice` rule), which the case plan reads as well; these are the US notice's names
for it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from jurisdictions.profiles import US

_US = US.notice


def assumed_receipt(mailed: date) -> date:
    """The day the consumer is assumed to receive a notice mailed on ``mailed`` (1006.34(b)(5))."""
    return _US.presumed_receipt(mailed)


def validation_period_end(mailed: date) -> date:
    """The last day of the validation period for a US notice mailed on ``mailed``."""
    end = _US.validation_end(mailed)
    assert end is not None   # the US profile has a validation period
    return end


class ItemizationError(ValueError):
    """The itemized amounts do not add up to the amount the case says is owed now."""


@dataclass(frozen=True)
class Itemization:
    """Reg F's itemization (1006.34(c)(2)(vi)-(viii)): what was owed on the itemization date, what
    was added and taken off since, and what is owed now."""

    date: date
    amount: Decimal
    interest: Decimal = Decimal("0.00")
    fees: Decimal = Decimal("0.00")
    payments: Decimal = Decimal("0.00")

    @property
    def total(self) -> Decimal:
        return (self.amount + self.interest + self.fees - self.payments).quantize(Decimal("0.01"))

    def check(self, owed_now: Decimal, mailed: date) -> None:
        """Refuse an itemization that does not add up to ``owed_now``, has negative parts, or is
        dated after the notice is mailed."""
        parts = {"amount": self.amount, "interest": self.interest, "fees": self.fees, "payments": self.payments}
        negative = [name for name, value in parts.items() if value < 0]
        if negative:
            raise ItemizationError(f"itemized amounts cannot be negative: {', '.join(negative)}")
        if self.date > mailed:
            raise ItemizationError(f"the itemization date {self.date} is after the mailing date {mailed}")
        if self.total != owed_now.quantize(Decimal("0.01")):
            raise ItemizationError(f"the itemization adds up to {self.total}, but the case says {owed_now:.2f} "
                                   f"is owed now")
