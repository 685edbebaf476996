"""Invoice arithmetic: lines, coupon discounts, credit drawn down, totals — integers only.

Every amount is minor units of one currency. A line's amount is quantity × unit
price. Coupons discount the lines they are eligible for (items, trials, setup
fees and usage of the plans they name; never shipping or manual charges), in
the order given, each on what earlier coupons left of a line, so a line never
goes below zero and a coupon applies to a line at most once. Credit is drawn
after discounts and never takes the total below zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentdesk.domain.enums import CouponKind, InvoiceLineKind
from agentdesk.domain.limits import AMOUNT_MAX

BASIS_POINTS = 10_000
"""100 % in basis points."""

DISCOUNTABLE = (InvoiceLineKind.ITEM, InvoiceLineKind.TRIAL, InvoiceLineKind.SETUP_FEE, InvoiceLineKind.USAGE)


class PricingError(ValueError):
    """An amount that cannot be billed (too large for a money column)."""


def percent_of(amount: int, basis_points: int) -> int:
    """`basis_points`/10000 of `amount`, rounded half up (to the nearest minor unit)."""
    return (amount * basis_points + BASIS_POINTS // 2) // BASIS_POINTS


def line_amount(quantity: int, unit_price: int) -> int:
    amount = quantity * unit_price
    if amount > AMOUNT_MAX:
        raise PricingError(f"{quantity} × {unit_price} is more than one line can bill")
    return amount


@dataclass
class Line:
    """One invoice line before it is stored. `plan_code` is None for shipping and manual charges."""

    kind: InvoiceLineKind
    description: str
    quantity: int
    unit_price: int
    plan_code: str | None = None
    ref: object = None
    """The caller's handle (an order item id, a charge id…), carried through untouched."""
    discounts: list[tuple[int, int]] = field(default_factory=list)
    """(coupon index, minor units) applied to this line."""

    @property
    def amount(self) -> int:
        return line_amount(self.quantity, self.unit_price)

    @property
    def discount(self) -> int:
        return sum(amount for _, amount in self.discounts)

    @property
    def total(self) -> int:
        return self.amount - self.discount


@dataclass(frozen=True)
class CouponTerms:
    """What pricing needs of a coupon: its value in the invoice's currency and its restrictions."""

    code: str
    kind: CouponKind
    percent_bp: int | None = None
    amount: int | None = None
    """Minor units off, for a fixed coupon, in the invoice's currency."""
    plan_codes: tuple[str, ...] = ()
    minimum: int = 0
    """What the eligible lines must add up to before the coupon applies."""

    def eligible(self, line: Line) -> bool:
        if line.kind not in DISCOUNTABLE or line.plan_code is None:
            return False
        return not self.plan_codes or line.plan_code in self.plan_codes


@dataclass(frozen=True)
class CouponOutcome:
    code: str
    discount: int
    skipped: str | None = None
    """Why the coupon gave nothing on this invoice, in words, or None."""


def _spread(total: int, weights: list[int]) -> list[int]:
    """Split `total` across `weights` proportionally, exact to the minor unit (largest remainder)."""
    whole = sum(weights)
    if whole <= 0 or total <= 0:
        return [0] * len(weights)
    shares = [total * w // whole for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in remainders[: total - sum(shares)]:
        shares[i] += 1
    return shares


def apply_coupons(lines: list[Line], coupons: list[CouponTerms]) -> list[CouponOutcome]:
    """Discount `lines` in place with each coupon in turn; say what each one gave."""
    outcomes = []
    for index, coupon in enumerate(coupons):
        targets = [line for line in lines if coupon.eligible(line) and line.total > 0]
        base = sum(line.total for line in targets)
        if not targets:
            outcomes.append(CouponOutcome(coupon.code, 0, "no line of this invoice is eligible"))
            continue
        if base < coupon.minimum:
            outcomes.append(CouponOutcome(coupon.code, 0, "the invoice does not reach the coupon's minimum"))
            continue
        if coupon.kind is CouponKind.PERCENT:
            shares = [percent_of(line.total, coupon.percent_bp or 0) for line in targets]
        else:
            shares = _spread(min(coupon.amount or 0, base), [line.total for line in targets])
        given = 0
        for line, share in zip(targets, shares, strict=True):
            share = min(share, line.total)
            if share > 0:
                line.discounts.append((index, share))
                given += share
        outcomes.append(CouponOutcome(coupon.code, given))
    return outcomes


@dataclass(frozen=True)
class Totals:
    subtotal: int
    discount: int
    credit: int
    total: int


def totals(lines: list[Line], available_credit: int = 0) -> Totals:
    """Subtotal, discounts, the credit drawn (at most what is left after discounts) and what is owed."""
    subtotal = sum(line.amount for line in lines)
    discount = sum(line.discount for line in lines)
    after = subtotal - discount
    credit = max(0, min(available_credit, after))
    if subtotal > AMOUNT_MAX:
        raise PricingError("the invoice adds up to more than one invoice can bill")
    return Totals(subtotal, discount, credit, after - credit)


def draw_credit(memos: list[tuple[int, int]], amount: int) -> list[tuple[int, int]]:
    """Take `amount` from credit memos given as (id, remaining), oldest first: [(memo id, drawn)]."""
    drawn = []
    for memo_id, remaining in memos:
        if amount <= 0:
            break
        take = min(remaining, amount)
        if take > 0:
            drawn.append((memo_id, take))
            amount -= take
    return drawn
