"""The invoice arithmetic and billing periods of domain/pricing.py and domain/periods.py."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentdesk.domain.enums import CouponKind, InvoiceLineKind, PlanInterval
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.money import format_amount
from agentdesk.domain.periods import add_interval, add_months, describe_interval
from agentdesk.domain.pricing import (
    CouponTerms,
    Line,
    PricingError,
    apply_coupons,
    draw_credit,
    percent_of,
    totals,
)


def item(unit: int, quantity: int = 1, plan: str = "basic", kind: InvoiceLineKind = InvoiceLineKind.ITEM) -> Line:
    return Line(kind, f"{plan} × {quantity}", quantity, unit, plan_code=plan)


def test_line_amount_is_quantity_times_unit_price():
    assert item(899, 3).amount == 2697
    with pytest.raises(PricingError):
        _ = item(10**15, 10).amount


def test_percent_rounds_half_up_to_the_minor_unit():
    assert percent_of(999, 1500) == 150  # 149.85
    assert percent_of(1, 5000) == 1  # 0.5 rounds up
    assert percent_of(3, 3333) == 1
    assert percent_of(2500, 10_000) == 2500


def test_percent_coupon_discounts_each_eligible_line():
    lines = [item(1000, 2), item(500, plan="premium"),
             Line(InvoiceLineKind.SHIPPING, "Shipping", 1, 700)]
    outcome = apply_coupons(lines, [CouponTerms("TEN", CouponKind.PERCENT, percent_bp=1000)])
    assert [line.discount for line in lines] == [200, 50, 0]
    assert outcome[0].discount == 250
    assert totals(lines).total == 2000 + 500 + 700 - 250


def test_fixed_coupon_spreads_exactly_and_never_below_zero():
    lines = [item(333), item(333, plan="premium"), item(334, plan="gold")]
    apply_coupons(lines, [CouponTerms("FIVE", CouponKind.FIXED, amount=500)])
    assert sum(line.discount for line in lines) == 500
    assert all(line.total >= 0 for line in lines)
    lines = [item(300)]
    outcome = apply_coupons(lines, [CouponTerms("BIG", CouponKind.FIXED, amount=5000)])
    assert lines[0].total == 0 and outcome[0].discount == 300


def test_coupons_stack_on_what_is_left_and_apply_once_per_line():
    lines = [item(1000)]
    apply_coupons(lines, [CouponTerms("HALF", CouponKind.PERCENT, percent_bp=5000),
                          CouponTerms("HALF", CouponKind.PERCENT, percent_bp=5000)])
    assert [amount for _, amount in lines[0].discounts] == [500, 250]
    assert len({index for index, _ in lines[0].discounts}) == 2


def test_restricted_coupon_and_minimum():
    lines = [item(1000, plan="basic"), item(2000, plan="premium")]
    outcome = apply_coupons(lines, [CouponTerms("PREM", CouponKind.PERCENT, percent_bp=1000,
                                                plan_codes=("premium",))])
    assert [line.discount for line in lines] == [0, 200] and outcome[0].skipped is None
    lines = [item(1000)]
    outcome = apply_coupons(lines, [CouponTerms("MIN", CouponKind.FIXED, amount=100, minimum=5000)])
    assert lines[0].discount == 0 and outcome[0].skipped and "minimum" in outcome[0].skipped


def test_credit_is_drawn_after_discounts_and_never_below_zero():
    lines = [item(1000)]
    apply_coupons(lines, [CouponTerms("TEN", CouponKind.PERCENT, percent_bp=1000)])
    result = totals(lines, available_credit=5000)
    assert (result.subtotal, result.discount, result.credit, result.total) == (1000, 100, 900, 0)
    assert draw_credit([(1, 300), (2, 1000)], 900) == [(1, 300), (2, 600)]
    assert draw_credit([(1, 300)], 900) == [(1, 300)]


@pytest.mark.parametrize(("currency", "unit", "shown"), [("JPY", 1200, "3,600 JPY"), ("KWD", 1250, "3.750 KWD"),
                                                         ("USD", 1200, "36.00 USD")])
def test_currencies_with_zero_and_three_decimals(currency, unit, shown):
    lines = [item(unit, 3)]
    apply_coupons(lines, [CouponTerms("THIRD", CouponKind.PERCENT, percent_bp=3333)])
    assert format_amount(lines[0].amount, currency) == shown
    assert lines[0].discount == percent_of(unit * 3, 3333)


@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=6),
       st.integers(min_value=0, max_value=10**10))
def test_fixed_discount_never_exceeds_lines_or_coupon(units, off):
    lines = [item(u, plan=f"p{i}") for i, u in enumerate(units)]
    apply_coupons(lines, [CouponTerms("X", CouponKind.FIXED, amount=off)])
    assert sum(line.discount for line in lines) == min(off, sum(units))
    assert all(line.total >= 0 for line in lines)


def test_months_keep_the_anchor_day():
    assert add_interval(date(2027, 1, 31), PlanInterval.MONTH) == date(2027, 2, 28)
    assert add_months(date(2027, 2, 28), 1, anchor_day=31) == date(2027, 3, 31)
    assert add_interval(date(2028, 1, 31), PlanInterval.MONTH) == date(2028, 2, 29)
    assert add_interval(date(2028, 2, 29), PlanInterval.YEAR) == date(2029, 2, 28)
    assert add_interval(date(2027, 11, 30), PlanInterval.MONTH, 3) == date(2028, 2, 29)
    assert add_interval(date(2027, 1, 1), PlanInterval.WEEK, 2) == date(2027, 1, 15)
    assert add_interval(date(2027, 12, 31), PlanInterval.DAY, 1) == date(2028, 1, 1)
    with pytest.raises(InvalidInput):
        add_interval(date(2027, 1, 1), PlanInterval.ONE_TIME)


def test_interval_words():
    assert describe_interval(PlanInterval.MONTH, 1) == "monthly"
    assert describe_interval(PlanInterval.MONTH, 3) == "every 3 months"
    assert describe_interval(PlanInterval.ONE_TIME, 1) == "once"
