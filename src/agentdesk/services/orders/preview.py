"""Pricing an order before it exists: what is charged today, and the next two bills.

`quote` does the work for both the preview (which writes nothing) and `create_order`
(which re-prices inside its own transaction and refuses when the total the agent
confirmed has changed). The arithmetic is domain/pricing.py and domain/periods.py.

Rules:
- every item is in the customer's currency; one order is one-time or a subscription, and the
  subscription items of an order share one interval and one trial;
- the first invoice carries the setup fees and shipping; a subscription starting today bills its
  in-advance items for the first period now (cycle 1) and its in-arrears items at the end of it;
- a trial charges only its trial price today (with setup fees and shipping; nothing at all when they
  are all 0), and cycle 1 is billed when the trial ends;
- a start date in the future charges nothing today; cycle 1 is billed on that date.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from agentdesk.db.models import (
    AccountCharge,
    Address,
    Coupon,
    CreditMemo,
    Customer,
    PaymentInstrument,
    Plan,
    Product,
    Website,
    utcnow,
)
from agentdesk.db.store import Store, get_row
from agentdesk.domain import limits, periods, pricing
from agentdesk.domain.enums import BillingTiming, InstrumentStatus, InvoiceLineKind, OrderKind, PlanInterval, PlanKind
from agentdesk.domain.errors import InvalidInput, NotFound
from agentdesk.domain.money import currency_code
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.text import text_problem
from agentdesk.domain.validation import clean_block, clean_line
from agentdesk.services.billing import coupons as coupon_rules
from agentdesk.services.catalog import service as catalog
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.orders.requests import ItemRequest, OrderRequest

MAX_QUANTITY = 10_000
MAX_DAYS = 3_650
"""The longest trial, abandon, delinquency or invoice shift in days: ten years."""
MAX_CYCLES = 1_000

# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewLine:
    kind: str
    description: str
    quantity: int
    unit_price: int
    amount: int
    discount: int
    total: int

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "description": self.description, "quantity": self.quantity,
                "unit_price": self.unit_price, "amount": self.amount, "discount": self.discount, "total": self.total}


@dataclass(frozen=True)
class UpcomingCharge:
    date: date
    amount: int

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.date.isoformat(), "amount": self.amount}


@dataclass(frozen=True)
class OrderPreview:
    currency: str
    lines: list[PreviewLine]
    subtotal: int
    discount: int
    credit: int
    total_today: int
    due_now: bool
    """True when today's invoice leaves something to pay (the payment is taken now with autopay)."""
    first_bill_date: date
    upcoming: list[UpcomingCharge]
    warnings: list[str]
    coupons: list[tuple[str, int | str]]
    """(code, minor units off today) or (code, why it gives nothing today)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency, "lines": [line.to_dict() for line in self.lines], "subtotal": self.subtotal,
            "discount": self.discount, "credit": self.credit, "total_today": self.total_today,
            "due_now": self.due_now, "first_bill_date": self.first_bill_date.isoformat(),
            "upcoming": [u.to_dict() for u in self.upcoming], "warnings": list(self.warnings),
            "coupons": [{"code": code, "discount": value} if isinstance(value, int) else
                        {"code": code, "skipped": value} for code, value in self.coupons],
        }


# --- terms of each item ----------------------------------------------------------------------

TERMS = ("unit_price", "cycles", "interval", "interval_count", "plan_name", "currency", "kind", "trial_days",
         "trial_price", "setup_fee", "billing_timing", "invoice_issue_days", "invoice_due_days",
         "metered_unit_price")
"""The terms an item copies from its plan, in the order `customised` lists them."""


@dataclass
class ItemTerms:
    """One item's terms: the plan's, with the agent's overrides; what the order item stores."""

    plan_id: int
    plan_code: str
    plan_label: str
    """The product and plan name, for invoice lines when no name override is given."""
    product_name: str
    requires_shipping: bool
    quantity: int
    unit_price: int
    currency: str
    plan_name: str | None
    kind: PlanKind
    interval: PlanInterval
    interval_count: int
    cycles: int | None
    trial_days: int
    trial_price: int
    setup_fee: int
    billing_timing: BillingTiming
    metered_unit_price: int | None
    invoice_issue_days: int
    invoice_due_days: int
    options: dict[str, str]
    customised: list[str]

    @property
    def label(self) -> str:
        return self.plan_name or self.plan_label

    @property
    def recurring(self) -> bool:
        return self.kind is not PlanKind.ONE_TIME


def plan_by_code(session: Session, code: str) -> tuple[Plan, Product]:
    """The active plan named `code` with its product (NotFound when missing or inactive)."""
    text = (code or "").strip()
    if not text or text_problem(text, limit=limits.PLAN_CODE) is not None:
        raise NotFound(f"no plan {text[: limits.PLAN_CODE]!r}")
    plan = catalog.plan_by_code(session, text)
    return plan, get_row(session, Product, plan.product_id)


def _amount(value: object, field_name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limits.AMOUNT_MAX:
        raise InvalidInput(fields={field_name: "must be a whole number of minor units from 0 up"})
    return value


def _whole(value: object, field_name: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(fields={field_name: f"must be a whole number from {low} to {high}"})
    return value


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _enum(kind: type[StrEnum], value: object, field_name: str) -> Any:
    if value is None:
        return None
    try:
        return kind(str(value))
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidInput(fields={field_name: f"{value!r} is not one of: {allowed}"}) from None


def _options(product: Product, chosen: dict[str, str], where: str, warnings: list[str]) -> dict[str, str]:
    offered: dict[str, list[str]] = {str(k): [str(v) for v in vs] for k, vs in (product.options or {}).items()}
    picked: dict[str, str] = {}
    for name, value in (chosen or {}).items():
        if name not in offered:
            raise InvalidInput(fields={f"{where}.options": f"{product.name} has no option {name!r}"})
        if value not in offered[name]:
            raise InvalidInput(fields={f"{where}.options": f"{name} is one of: {', '.join(offered[name])}"})
        picked[name] = value
    for name, values in offered.items():
        if name not in picked and values:
            picked[name] = values[0]
            warnings.append(f"{product.name}: {name} {values[0]} (the first choice; none was given)")
    return picked


def item_terms(plan: Plan, product: Product, item: ItemRequest, currency: str, index: int,
               warnings: list[str]) -> ItemTerms:
    """The plan's terms with the item's overrides, checked; `customised` names those that differ."""
    where = f"items[{index}]"
    quantity = _whole(item.quantity, f"{where}.quantity", 1, MAX_QUANTITY)
    given = item.overrides.given()
    o: dict[str, Any] = {
        "unit_price": _amount(given.get("unit_price"), f"{where}.unit_price"),
        "cycles": _whole(given.get("cycles"), f"{where}.cycles", 0, MAX_CYCLES),
        "interval": _enum(PlanInterval, given.get("interval"), f"{where}.interval"),
        "interval_count": _whole(given.get("interval_count"), f"{where}.interval_count", 1, 3650),
        "plan_name": clean_line(_text(given.get("plan_name")), f"{where}.plan_name", limits.NAME),
        "currency": None,
        "kind": _enum(PlanKind, given.get("kind"), f"{where}.kind"),
        "trial_days": _whole(given.get("trial_days"), f"{where}.trial_days", 0, MAX_DAYS),
        "trial_price": _amount(given.get("trial_price"), f"{where}.trial_price"),
        "setup_fee": _amount(given.get("setup_fee"), f"{where}.setup_fee"),
        "billing_timing": _enum(BillingTiming, given.get("billing_timing"), f"{where}.billing_timing"),
        "invoice_issue_days": _whole(given.get("invoice_issue_days"), f"{where}.invoice_issue_days", 0,
                                     MAX_DAYS),
        "invoice_due_days": _whole(given.get("invoice_due_days"), f"{where}.invoice_due_days", 0,
                                   MAX_DAYS),
        "metered_unit_price": _amount(given.get("metered_unit_price"), f"{where}.metered_unit_price"),
    }
    if "currency" in given:
        try:
            o["currency"] = currency_code(str(given["currency"]))
        except InvalidInput:
            raise InvalidInput(fields={f"{where}.currency": f"{given['currency']!r} is not a currency code"}) from None
    if "cycles" in given:
        o["cycles"] = o["cycles"] or None
    base: dict[str, Any] = {
        "unit_price": plan.price, "cycles": plan.cycles, "interval": plan.interval,
        "interval_count": plan.interval_count, "plan_name": None, "currency": plan.currency, "kind": plan.kind,
        "trial_days": plan.trial_days, "trial_price": plan.trial_price, "setup_fee": plan.setup_fee,
        "billing_timing": plan.billing_timing, "invoice_issue_days": plan.invoice_issue_days,
        "invoice_due_days": plan.invoice_due_days, "metered_unit_price": plan.metered_unit_price,
    }
    terms = dict(base)
    for name in TERMS:
        if name in given:
            terms[name] = o[name]
    customised = [name for name in TERMS if name in given and terms[name] != base[name]]
    if terms["plan_name"] == plan.name:
        terms["plan_name"] = None
        customised = [name for name in customised if name != "plan_name"]
    kind: PlanKind = terms["kind"]
    if kind is PlanKind.ONE_TIME:
        terms.update(interval=PlanInterval.ONE_TIME, interval_count=1, cycles=None, trial_days=0, trial_price=0)
    elif terms["interval"] is PlanInterval.ONE_TIME:
        raise InvalidInput(fields={f"{where}.interval": "say how often this subscription bills (day, week, month "
                                                        "or year)"})
    else:
        periods.check_interval(terms["interval"], terms["interval_count"], f"{where}.interval_count")
    if kind is PlanKind.TRIAL_ONLY and terms["trial_days"] < 1:
        raise InvalidInput(fields={f"{where}.trial_days": "a trial-only item needs a trial of at least one day"})
    if terms["currency"] != currency:
        raise InvalidInput(fields={f"{where}.currency": f"{plan.code} is priced in {terms['currency']}; this "
                                                        f"customer pays in {currency}"})
    if terms["billing_timing"] is BillingTiming.ARREARS and kind is not PlanKind.SUBSCRIPTION:
        raise InvalidInput(fields={f"{where}.billing_timing": "only a subscription can be billed in arrears"})
    return ItemTerms(
        plan_id=plan.id, plan_code=plan.code, plan_label=f"{product.name} — {plan.name}", product_name=product.name,
        requires_shipping=product.requires_shipping, quantity=quantity or 1,
        options=_options(product, item.options, where, warnings), customised=customised, **terms,
    )


# --- the quote -------------------------------------------------------------------------------


@dataclass
class Bill:
    """One invoice in the schedule: its date, key and lines (`ref` is the item's index)."""

    on: date
    lines: list[pricing.Line]
    key: str | None = None
    """"cycle-1" or "initial" for today's invoice ("order-<id>-" is put before it); None for later bills."""


@dataclass
class Quote:
    """Everything `create_order` writes, and the preview the agent saw."""

    customer_id: int
    customer_ref: str
    website_id: int
    currency: str
    kind: OrderKind
    items: list[ItemTerms]
    coupons: list[Coupon]
    instrument_id: int | None
    autopay: bool
    shipping_amount: int
    shipping_address_id: int | None
    starts_on: date
    trial_ends_on: date | None
    period_start: date | None
    period_end: date | None
    next_bill_date: date | None
    cycles_billed: int
    today: Bill | None
    due_at: datetime
    abandon_at: datetime | None
    delinquency_days: int | None
    notes: str | None
    preview: OrderPreview
    recurring_total: int
    warnings: list[str] = field(default_factory=list)


def _shipping(session: Session, request: OrderRequest, customer: Customer, currency: str,
              needs: list[str]) -> tuple[int, int | None, str | None]:
    """(amount, address id, country) of the order's shipping."""
    choice = request.shipping
    if choice.mode not in ("none", "catalog", "manual"):
        raise InvalidInput(fields={"shipping": "choose none, catalog or manual"})
    if choice.mode == "none":
        if needs:
            raise InvalidInput(fields={"shipping": f"{', '.join(needs)} must be shipped: choose an address "
                                                   "and the catalog rate or an amount"})
        return 0, None, None
    if choice.address_id is not None:
        address = session.get(Address, choice.address_id) if limits.in_id_range(choice.address_id) else None
        if address is None or address.customer_id != customer.id:
            raise InvalidInput(fields={"shipping.address": f"address {choice.address_id} is not this customer's"})
    else:
        address = session.exec(select(Address).where(Address.customer_id == customer.id)
                               .order_by(col(Address.is_primary).desc(), col(Address.id))).first()
        if address is None:
            raise InvalidInput(fields={"shipping.address": "the customer has no address to ship to"})
    if choice.mode == "manual":
        amount = _amount(choice.amount, "shipping.amount")
        if amount is None:
            raise InvalidInput(fields={"shipping.amount": "enter the shipping amount"})
        return amount, address.id, address.country
    rate = catalog.shipping_rate(session, address.country, currency)
    if rate is None:
        raise InvalidInput(fields={"shipping": f"the catalog has no shipping rate to {address.country} in {currency}; "
                                               "enter an amount"})
    return rate, address.id, address.country


def _instrument(session: Session, customer_id: int, instrument_id: int | None) -> PaymentInstrument | None:
    if instrument_id is not None:
        chosen = session.get(PaymentInstrument, instrument_id) if limits.in_id_range(instrument_id) else None
        if (chosen is None or chosen.customer_id != customer_id or chosen.status != InstrumentStatus.ACTIVE
                or not chosen.gateway_token):
            raise InvalidInput(fields={"instrument": f"payment instrument {instrument_id} is not an active "
                                                     "instrument of this customer"})
        return chosen
    return session.exec(
        select(PaymentInstrument)
        .where(PaymentInstrument.customer_id == customer_id, PaymentInstrument.status == InstrumentStatus.ACTIVE,
               col(PaymentInstrument.gateway_token).is_not(None))
        .order_by(col(PaymentInstrument.is_primary).desc(), col(PaymentInstrument.id))
    ).first()


def _item_lines(items: list[ItemTerms], cycle: int, *, advance: bool, arrears: bool) -> list[pricing.Line]:
    """The items billed for `cycle` (1 = the first period) that are still running."""
    lines = []
    for index, item in enumerate(items):
        if item.cycles is not None and cycle > item.cycles:
            continue
        timing_ok = advance if item.billing_timing is BillingTiming.ADVANCE else arrears
        if timing_ok:
            lines.append(pricing.Line(InvoiceLineKind.ITEM, item.label, item.quantity, item.unit_price,
                                      item.plan_code, index))
    return lines


def _first_lines(items: list[ItemTerms], shipping: int, country: str | None) -> list[pricing.Line]:
    """Setup fees and shipping: what only the first invoice carries."""
    lines = [pricing.Line(InvoiceLineKind.SETUP_FEE, f"{item.label} — setup fee", 1, item.setup_fee, item.plan_code,
                          index) for index, item in enumerate(items) if item.setup_fee > 0]
    if shipping > 0:
        lines.append(pricing.Line(InvoiceLineKind.SHIPPING, f"Shipping to {country}", 1, shipping))
    return lines


@dataclass
class _CouponUse:
    terms: pricing.CouponTerms
    left: int | None
    """Invoices it may still discount (None: forever)."""


def _uses(coupon: Coupon, applied: int = 0) -> int | None:
    limit = coupon_rules.cycle_limit(coupon)
    return None if limit is None else max(0, limit - applied)


def _price(lines: list[pricing.Line], uses: list[_CouponUse], credit: int) -> tuple[pricing.Totals,
                                                                                    list[pricing.CouponOutcome]]:
    """Discount `lines` with the coupons that have uses left (spending one each that gives something)."""
    live = [use for use in uses if use.left is None or use.left > 0]
    outcomes = pricing.apply_coupons(lines, [use.terms for use in live])
    for use, outcome in zip(live, outcomes, strict=True):
        if outcome.discount > 0 and use.left is not None:
            use.left -= 1
    try:
        return pricing.totals(lines, credit), outcomes
    except pricing.PricingError as exc:
        raise InvalidInput(fields={"amount": str(exc)}) from exc


def _after(start: date, items: list[ItemTerms], anchor: int | None) -> date:
    first = items[0]
    return periods.add_interval(start, first.interval, first.interval_count, anchor)


def _anchor(boundary: date, trial_ends: date | None, starts: date) -> int:
    """The day of the month periods keep after `boundary`, as the billing engine reads it: the trial's end or
    the start day when `boundary` is that day (or that day clamped to a short month), else its own day."""
    last = calendar.monthrange(boundary.year, boundary.month)[1]
    for candidate in (trial_ends, starts):
        if candidate is not None and (candidate.day == boundary.day or (boundary.day == last and candidate.day > last)):
            return candidate.day
    return boundary.day


def _check_days(value: int | None, name: str) -> int | None:
    return _whole(value, name, 1, MAX_DAYS)


def quote(session: Session, request: OrderRequest, now: datetime) -> Quote:
    """Price `request` as of `now` from the store (reads only)."""
    today = now.date()
    warnings: list[str] = []
    customer = customer_by_ref(session, request.customer_ref)
    currency = customer.currency
    if request.website_code:
        website = session.exec(select(Website).where(Website.code == request.website_code.strip())).first()
        if website is None:
            raise InvalidInput(fields={"website": f"no website {request.website_code!r}"})
        website_id = website.id
    else:
        website_id = customer.website_id
    if not request.items:
        raise InvalidInput(fields={"items": "add at least one item"})
    if len(request.items) > 50:
        raise InvalidInput(fields={"items": "at most 50 items in one order"})
    items = []
    for index, item in enumerate(request.items):
        plan, product = plan_by_code(session, item.plan_code)
        items.append(item_terms(plan, product, item, currency, index, warnings))

    recurring = [item for item in items if item.recurring]
    if recurring and len(recurring) != len(items):
        raise InvalidInput(fields={"items": "one-time and subscription items go in separate orders"})
    kind = OrderKind.SUBSCRIPTION if recurring else OrderKind.ONE_TIME
    if recurring:
        if len({(i.interval, i.interval_count) for i in items}) > 1:
            raise InvalidInput(fields={"items": "the subscription items of one order bill on one period; use "
                                                "separate orders for different periods"})
        if len({i.trial_days for i in items}) > 1:
            raise InvalidInput(fields={"items": "the items of one order share one trial; use separate orders for "
                                                "different trials"})
        if len({i.kind for i in items}) > 1:
            raise InvalidInput(fields={"items": "trial-only and subscription items go in separate orders"})

    start = request.start_on or today
    if start < today:
        raise InvalidInput(fields={"start": "the start date cannot be in the past"})
    if kind is OrderKind.ONE_TIME and start > today:
        raise InvalidInput(fields={"start": "a one-time order is charged when it is placed; a start date is for "
                                            "subscriptions"})
    if request.renew_on is not None and kind is OrderKind.ONE_TIME:
        raise InvalidInput(fields={"renew": "a one-time order does not renew"})
    abandon = _check_days(request.abandon_after_days, "abandon_after_days")
    delinquency = _check_days(request.delinquency_days, "delinquency_days")
    notes = clean_block(request.notes, "notes", limits.INVOICE_NOTES) or None

    shipping, address_id, country = _shipping(session, request, customer, currency,
                                               sorted({i.product_name for i in items if i.requires_shipping}))
    codes = [c.strip().upper() for c in request.coupons if c and c.strip()]
    if len(set(codes)) != len(codes):
        raise InvalidInput(fields={"coupon": "each coupon can be given once"})
    plan_codes = [i.plan_code for i in items]
    chosen = [coupon_rules.check_coupon(session, code, currency=currency, plan_codes=plan_codes, now=now)
              for code in codes]
    uses = [_CouponUse(coupon_rules.terms_for(c, currency), _uses(c)) for c in chosen]
    held = {c.id for c in chosen}
    for redemption, coupon in coupon_rules.applicable_redemptions(session, customer.id, None):
        if coupon.id in held:
            raise InvalidInput(fields={"coupon": f"coupon {coupon.code} is already on this customer's account"})
        uses.append(_CouponUse(coupon_rules.terms_for(coupon, currency), _uses(coupon, redemption.cycles_applied)))
    credit = session.exec(select(func.coalesce(func.sum(CreditMemo.remaining), 0)).where(
        CreditMemo.customer_id == customer.id, CreditMemo.currency == currency, CreditMemo.remaining > 0)).one()

    # The schedule: today's invoice (if any), then the next two bills, on the dates the billing engine
    # uses (services/billing/engine.py): period ends keep their anchor day, and in-advance invoices are
    # issued `invoice_issue_days` early (in-arrears ones as much later).
    first = _first_lines(items, shipping, country)
    trial_days = items[0].trial_days if recurring else 0
    shift = max((i.invoice_issue_days for i in items), default=0)
    in_advance = any(i.billing_timing is BillingTiming.ADVANCE for i in items)

    def billed_on(boundary: date, previous: date) -> date:
        if in_advance:
            return max(boundary - timedelta(days=shift), previous + timedelta(days=1))
        return boundary + timedelta(days=shift)

    def advance(cycle: int) -> list[pricing.Line]:
        return _item_lines(items, cycle, advance=True, arrears=False)

    def arrears(cycle: int) -> list[pricing.Line]:
        return _item_lines(items, cycle, advance=False, arrears=True) if cycle >= 1 else []

    today_bill: Bill | None = None
    later: list[Bill] = []
    trial_ends = period_start = period_end = next_bill = None
    cycles_billed = 0
    if kind is OrderKind.ONE_TIME:
        today_bill = Bill(today, _item_lines(items, 1, advance=True, arrears=True) + first, "cycle-1")
        cycles_billed = 1
    elif trial_days:
        if request.renew_on is not None:
            raise InvalidInput(fields={"renew": "with a trial, the first renewal is the day the trial ends"})
        trial_ends = start + timedelta(days=trial_days)
        trial = [pricing.Line(InvoiceLineKind.TRIAL, f"{i.label} — {trial_days}-day trial", i.quantity, i.trial_price,
                              i.plan_code, n) for n, i in enumerate(items) if i.trial_price > 0]
        if start > today and trial:
            raise InvalidInput(fields={"start": "a paid trial starts today; leave the start date empty"})
        if start == today and any(line.amount > 0 for line in trial + first):
            today_bill = Bill(today, trial + first, "initial")
            first = []
        period_start, period_end, next_bill = start, trial_ends, trial_ends
        if items[0].kind is PlanKind.SUBSCRIPTION:
            after = _after(trial_ends, items, _anchor(trial_ends, trial_ends, start))
            later = [Bill(trial_ends, advance(1) + first), Bill(billed_on(after, trial_ends), advance(2) + arrears(1))]
    else:
        first_end = _after(start, items, None)
        if request.renew_on is not None and not start < request.renew_on <= first_end:
            raise InvalidInput(fields={"renew": "the first renewal must fall after the start and within one period"})
        period_start, period_end = start, request.renew_on or first_end
        after = _after(period_end, items, _anchor(period_end, None, start))
        if start == today and (advance(1) or any(line.amount > 0 for line in first)):
            today_bill = Bill(today, advance(1) + first, "cycle-1" if advance(1) else "initial")
            cycles_billed = 1 if advance(1) else 0
            first = []
        if start > today and advance(1):
            next_bill = start
            later = [Bill(start, advance(1) + first), Bill(billed_on(period_end, start), advance(2) + arrears(1))]
        else:
            next_bill = billed_on(period_end, start)
            n = cycles_billed + 1
            later = [Bill(next_bill, advance(n) + arrears(n - cycles_billed) + first),
                     Bill(billed_on(after, period_end), advance(n + 1) + arrears(n + 1 - cycles_billed))]
    if today_bill is not None:
        today_bill.lines += [
            pricing.Line(InvoiceLineKind.CHARGE, charge.description, 1, charge.amount, None, None)
            for charge in session.exec(select(AccountCharge).where(
                AccountCharge.customer_id == customer.id, AccountCharge.currency == currency,
                col(AccountCharge.invoice_id).is_(None), col(AccountCharge.order_id).is_(None))
                .order_by(col(AccountCharge.id)))
        ]

    # Prices with coupons and credit, in order.
    lines_today: list[PreviewLine] = []
    outcome_today: list[tuple[str, int | str]] = [(code, "nothing is charged today") for code in codes]
    sums = pricing.Totals(0, 0, 0, 0)
    left = int(credit)
    if today_bill is not None:
        sums, outcomes = _price(today_bill.lines, uses, left)
        left -= sums.credit
        lines_today = [PreviewLine(line.kind.value, line.description, line.quantity, line.unit_price, line.amount,
                                   line.discount, line.total) for line in today_bill.lines]
        by_code = {o.code: o for o in outcomes}
        outcome_today = [(code, by_code[code].discount if by_code[code].discount > 0
                          else by_code[code].skipped or "it gives nothing on today's invoice") for code in codes]
    upcoming = []
    for bill in later:
        if not bill.lines:
            continue
        later_sums, _ = _price(bill.lines, uses, left)
        left -= later_sums.credit
        upcoming.append(UpcomingCharge(bill.on, later_sums.total))
    instrument = _instrument(session, customer.id, request.instrument_id)
    due_now = today_bill is not None and sums.total > 0
    if due_now and request.autopay and instrument is None:
        warnings.append("the customer has no active payment instrument: the invoice will stay open until paid")
    if due_now and not request.autopay:
        warnings.append("autopay is off: the invoice is sent to the customer and the order starts once it is paid")
    for code, value in outcome_today:
        if isinstance(value, str) and today_bill is not None:
            warnings.append(f"coupon {code} gives nothing today: {value}")
    preview = OrderPreview(
        currency=currency, lines=lines_today, subtotal=sums.subtotal, discount=sums.discount, credit=sums.credit,
        total_today=sums.total, due_now=due_now,
        first_bill_date=today if today_bill is not None else (later[0].on if later else next_bill or start),
        upcoming=upcoming[:2], warnings=warnings, coupons=outcome_today,
    )
    return Quote(
        customer_id=customer.id, customer_ref=customer.external_id, website_id=website_id, currency=currency,
        kind=kind, items=items, coupons=chosen, instrument_id=instrument.id if instrument else None,
        autopay=request.autopay, shipping_amount=shipping, shipping_address_id=address_id, starts_on=start,
        trial_ends_on=trial_ends, period_start=period_start, period_end=period_end,
        next_bill_date=next_bill if kind is OrderKind.SUBSCRIPTION else None, cycles_billed=cycles_billed,
        today=today_bill, due_at=now + timedelta(days=max(i.invoice_due_days for i in items)),
        abandon_at=now + timedelta(days=abandon) if abandon else None, delinquency_days=delinquency, notes=notes,
        preview=preview, recurring_total=sum(pricing.line_amount(i.quantity, i.unit_price) for i in items),
        warnings=warnings,
    )


def preview_order(store: Store, actor: Actor, request: OrderRequest, now: datetime | None = None) -> OrderPreview:
    """What the order would charge today and at its next two bills; writes nothing."""
    require(actor, Action.CREATE_ORDERS)
    with store.read() as session:
        return quote(session, request, now or utcnow()).preview


def order_context(store: Store, actor: Actor, customer_ref: str | int, plan_code: str) -> tuple[str, bool]:
    """(the customer's currency, whether the plan's product is shipped): what a form needs before pricing."""
    require(actor, Action.CREATE_ORDERS)
    with store.read() as session:
        currency = customer_by_ref(session, customer_ref).currency
        _, product = plan_by_code(session, plan_code)
        return currency, product.requires_shipping
