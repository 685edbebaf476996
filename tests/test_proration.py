"""Proration by day count: month lengths, leap years, currencies without and with three decimals."""

from __future__ import annotations

from datetime import date

import pytest

from agentdesk.domain import proration
from agentdesk.domain.errors import InvalidInput


@pytest.mark.parametrize(("start", "end", "days"), [
    (date(2027, 1, 1), date(2027, 2, 1), 31),
    (date(2027, 2, 1), date(2027, 3, 1), 28),
    (date(2028, 2, 1), date(2028, 3, 1), 29),
    (date(2027, 4, 1), date(2027, 5, 1), 30),
    (date(2028, 1, 1), date(2029, 1, 1), 366),
    (date(2027, 1, 1), date(2028, 1, 1), 365),
])
def test_period_days_follow_the_calendar(start, end, days):
    assert proration.period_days(start, end) == days


def test_unused_days_before_during_and_after_the_period():
    start, end = date(2027, 2, 1), date(2027, 3, 1)
    assert proration.unused_days(start, end, date(2027, 1, 20)) == 28
    assert proration.unused_days(start, end, start) == 28
    assert proration.unused_days(start, end, date(2027, 2, 15)) == 14
    assert proration.unused_days(start, end, date(2027, 2, 28)) == 1
    assert proration.unused_days(start, end, end) == 0
    assert proration.unused_days(start, end, date(2027, 4, 1)) == 0


def test_half_of_february_is_worth_more_than_half_of_january():
    # 14 days left of 28 in February, 14 of 31 in January.
    feb = proration.change(3_000, 0, date(2027, 2, 1), date(2027, 3, 1), date(2027, 2, 15))
    jan = proration.change(3_000, 0, date(2027, 1, 1), date(2027, 2, 1), date(2027, 1, 18))
    assert (feb.days, feb.total_days, feb.credit) == (14, 28, 1_500)
    assert (jan.days, jan.total_days, jan.credit) == (14, 31, 1_355)  # 1354.8 rounds up


def test_leap_february_counts_its_29th():
    leap = proration.change(2_900, 5_800, date(2028, 2, 1), date(2028, 3, 1), date(2028, 2, 29))
    assert (leap.days, leap.total_days) == (1, 29)
    assert (leap.credit, leap.charge, leap.net) == (100, 200, 100)


def test_jpy_has_no_minor_units_and_rounds_half_up():
    # ¥1,000 a 30-day month, 1 day left: 33.33 → 33; 15 days: 500; ¥1,001 over 2 days of 4 → 500.5 → 501.
    assert proration.prorate(1_000, 1, 30) == 33
    assert proration.prorate(1_000, 15, 30) == 500
    assert proration.prorate(1_001, 2, 4) == 501


def test_kwd_three_decimals_keeps_fils():
    # 12.345 KWD = 12345 fils; 10 days of 31: 3982.26 fils → 3982 (3.982 KWD).
    assert proration.prorate(12_345, 10, 31) == 3_982
    upgrade = proration.change(12_345, 20_000, date(2027, 1, 1), date(2027, 2, 1), date(2027, 1, 22))
    assert (upgrade.days, upgrade.credit, upgrade.charge, upgrade.net) == (10, 3_982, 6_452, 2_470)


def test_a_refund_never_exceeds_what_the_payment_has_left():
    assert proration.capped_refund(3_100, 30, 31, paid=3_100, refunded=0) == 3_000
    assert proration.capped_refund(3_100, 30, 31, paid=3_100, refunded=500) == 2_600
    assert proration.capped_refund(3_100, 31, 31, paid=2_000, refunded=0) == 2_000
    assert proration.capped_refund(3_100, 31, 31, paid=2_000, refunded=2_000) == 0


def test_moving_the_bill_date_charges_added_days_and_credits_removed_ones():
    assert proration.shift(3_100, date(2027, 2, 1), date(2027, 2, 11), 31) == 1_000
    assert proration.shift(3_100, date(2027, 2, 11), date(2027, 2, 1), 31) == -1_000
    assert proration.shift(2_800, date(2027, 3, 1), date(2027, 3, 1), 28) == 0


def test_nonsense_is_refused():
    with pytest.raises(InvalidInput):
        proration.period_days(date(2027, 3, 1), date(2027, 3, 1))
    with pytest.raises(InvalidInput):
        proration.prorate(-1, 1, 30)
    with pytest.raises(InvalidInput):
        proration.prorate(100, 1, 0)
