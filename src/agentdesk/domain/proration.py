"""Proration by day count: what part of a period's price a number of its days is worth.

Amounts are integers in minor units of any currency (JPY has no decimals, KWD three: the arithmetic is
the same). A period is the days from its first day up to (not including) its end, so a month is 28 to 31
days and a leap year's February 29 counts. Fractions of a minor unit round half up, the way a person
would round on paper; a refund is then capped by what is left of the payment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from agentdesk.domain.errors import InvalidInput


def period_days(start: date, end: date) -> int:
    """Days in the period [start, end)."""
    if end <= start:
        raise InvalidInput(fields={"period": f"the period {start.isoformat()} to {end.isoformat()} has no days"})
    return (end - start).days


def unused_days(start: date, end: date, today: date) -> int:
    """Days of [start, end) not yet used on `today` (today counts as used once the period has begun):
    the whole period before it starts, none once it has ended."""
    total = period_days(start, end)
    if today < start:
        return total
    return max(0, min(total, (end - today).days))


def prorate(amount: int, days: int, total_days: int) -> int:
    """`amount` × days / total_days in minor units, rounded half up (never negative for a non-negative amount)."""
    if total_days <= 0:
        raise InvalidInput(fields={"period": "a period has at least one day"})
    if days < 0 or amount < 0:
        raise InvalidInput(fields={"amount": "proration takes a positive amount and day count"})
    return (2 * amount * days + total_days) // (2 * total_days)


def capped_refund(amount: int, days: int, total_days: int, paid: int, refunded: int) -> int:
    """The unused part of `amount` (days of total_days), never more than what the payment has left
    (`paid` minus what was already refunded, pending refunds included)."""
    return max(0, min(prorate(amount, days, total_days), paid - refunded))


@dataclass(frozen=True)
class Proration:
    """A mid-period change: credit for the unused days at the old price, charge for them at the new one."""

    days: int
    """Days left in the period."""
    total_days: int
    credit: int
    charge: int

    @property
    def net(self) -> int:
        """What the customer owes now (negative: what they are owed)."""
        return self.charge - self.credit


def change(old_amount: int, new_amount: int, start: date, end: date, today: date) -> Proration:
    """Switching from `old_amount` to `new_amount` per period on `today`, within the period [start, end)."""
    total = period_days(start, end)
    days = unused_days(start, end, today)
    return Proration(days, total, prorate(old_amount, days, total), prorate(new_amount, days, total))


def shift(amount: int, old_date: date, new_date: date, total_days: int) -> int:
    """Moving the next bill date from `old_date` to `new_date` with a period price `amount` over a period
    of `total_days`: positive — the charge for the days added; negative — the credit for the days removed."""
    delta = (new_date - old_date).days
    value = prorate(amount, abs(delta), total_days)
    return value if delta >= 0 else -value
