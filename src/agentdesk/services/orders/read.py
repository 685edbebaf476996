"""Reading orders: a customer's list, and one order with its items' terms, coupons, invoices and payments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from agentdesk.db.models import (
    Address,
    Agent,
    Coupon,
    CouponRedemption,
    Customer,
    Invoice,
    Order,
    OrderItem,
    PaymentInstrument,
    Plan,
    Product,
    Transaction,
    Website,
)
from agentdesk.db.store import Store
from agentdesk.domain import limits, periods
from agentdesk.domain.enums import BillingTiming, PlanInterval, PlanKind
from agentdesk.domain.errors import NotFound
from agentdesk.domain.formatting import instrument_label
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.text import text_problem
from agentdesk.services.billing import affiliates
from agentdesk.services.customers.lookup import customer_by_ref


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class OrderSummary:
    number: str
    kind: str
    status: str
    product: str
    currency: str
    total: int
    """One period's (or the one-time) price before discounts."""
    created_at: datetime
    next_bill_date: date | None
    autopay: bool
    in_credit_control: bool

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "kind": self.kind, "status": self.status, "product": self.product,
                "currency": self.currency, "total": self.total, "created_at": self.created_at.isoformat(),
                "next_bill_date": _iso(self.next_bill_date), "autopay": self.autopay,
                "in_credit_control": self.in_credit_control}


@dataclass(frozen=True)
class OrderItemInfo:
    plan_code: str
    name: str
    """What invoices print: the name override, else product — plan."""
    quantity: int
    unit_price: int
    amount: int
    currency: str
    kind: str
    interval: str
    interval_count: int
    cycles: int | None
    trial_days: int
    trial_price: int
    setup_fee: int
    billing_timing: str
    metered_unit_price: int | None
    invoice_issue_days: int
    invoice_due_days: int
    options: dict[str, str]
    customised: list[str]

    @property
    def recurrence(self) -> str:
        if self.kind == PlanKind.ONE_TIME:
            return "once"
        every = periods.describe_interval(PlanInterval(self.interval), self.interval_count)
        return every + (f", {self.cycles} cycles" if self.cycles else ", until cancelled")

    def to_dict(self) -> dict[str, Any]:
        return {"plan": self.plan_code, "name": self.name, "quantity": self.quantity, "unit_price": self.unit_price,
                "amount": self.amount, "currency": self.currency, "kind": self.kind, "interval": self.interval,
                "interval_count": self.interval_count, "cycles": self.cycles, "trial_days": self.trial_days,
                "trial_price": self.trial_price, "setup_fee": self.setup_fee, "billing_timing": self.billing_timing,
                "metered_unit_price": self.metered_unit_price, "invoice_issue_days": self.invoice_issue_days,
                "invoice_due_days": self.invoice_due_days, "options": dict(self.options),
                "customised": list(self.customised)}


@dataclass(frozen=True)
class OrderCouponInfo:
    code: str
    scope: str
    cycles_applied: int
    ended: bool

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "scope": self.scope, "cycles_applied": self.cycles_applied, "ended": self.ended}


@dataclass(frozen=True)
class OrderInvoiceInfo:
    number: str
    cycle: int | None
    status: str
    total: int
    amount_paid: int
    currency: str
    period_start: date | None
    period_end: date | None
    issued_at: datetime
    due_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "cycle": self.cycle, "status": self.status, "total": self.total,
                "amount_paid": self.amount_paid, "currency": self.currency,
                "period_start": _iso(self.period_start), "period_end": _iso(self.period_end),
                "issued_at": self.issued_at.isoformat(), "due_at": self.due_at.isoformat()}


@dataclass(frozen=True)
class OrderPaymentInfo:
    id: int
    type: str
    status: str
    amount: int
    currency: str
    invoice: str | None
    created_at: datetime
    message: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "status": self.status, "amount": self.amount,
                "currency": self.currency, "invoice": self.invoice, "created_at": self.created_at.isoformat(),
                "message": self.message}


@dataclass(frozen=True)
class OrderDetail:
    summary: OrderSummary
    customer: str
    """The customer's public id."""
    customer_name: str
    website: str
    instrument: str | None
    starts_on: date | None
    trial_ends_on: date | None
    period_start: date | None
    period_end: date | None
    cycles_billed: int
    shipping_amount: int
    shipping_country: str | None
    abandon_at: datetime | None
    delinquency_days: int | None
    notes: str | None
    agent: str | None
    items: list[OrderItemInfo]
    coupons: list[OrderCouponInfo]
    invoices: list[OrderInvoiceInfo]
    transactions: list[OrderPaymentInfo]
    commissions: list[affiliates.CommissionInfo]

    @property
    def number(self) -> str:
        return self.summary.number

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary.to_dict(), "customer": self.customer, "customer_name": self.customer_name,
            "website": self.website, "instrument": self.instrument, "starts_on": _iso(self.starts_on),
            "trial_ends_on": _iso(self.trial_ends_on), "period_start": _iso(self.period_start),
            "period_end": _iso(self.period_end), "cycles_billed": self.cycles_billed,
            "shipping_amount": self.shipping_amount, "shipping_country": self.shipping_country,
            "abandon_at": _iso(self.abandon_at), "delinquency_days": self.delinquency_days, "notes": self.notes,
            "agent": self.agent, "items": [i.to_dict() for i in self.items],
            "coupons": [c.to_dict() for c in self.coupons], "invoices": [i.to_dict() for i in self.invoices],
            "transactions": [t.to_dict() for t in self.transactions],
            "commissions": [c.to_dict() for c in self.commissions],
        }


def _items(session: Session, order_ids: list[int]) -> dict[int, list[tuple[OrderItem, Plan, Product]]]:
    rows = session.exec(
        select(OrderItem, Plan, Product)
        .join(Plan, col(Plan.id) == col(OrderItem.plan_id))
        .join(Product, col(Product.id) == col(Plan.product_id))
        .where(col(OrderItem.order_id).in_(order_ids))
        .order_by(col(OrderItem.id))
    ).all()
    found: dict[int, list[tuple[OrderItem, Plan, Product]]] = {}
    for item, plan, product in rows:
        found.setdefault(item.order_id, []).append((item, plan, product))
    return found


def _name(item: OrderItem, plan: Plan, product: Product) -> str:
    return item.plan_name or f"{product.name} — {plan.name}"


def _summary(order: Order, items: list[tuple[OrderItem, Plan, Product]]) -> OrderSummary:
    product = ""
    if items:
        product = _name(*items[0]) + (f" +{len(items) - 1} more" if len(items) > 1 else "")
    return OrderSummary(order.number, order.kind.value, order.status.value, product, order.currency, order.total,
                        order.created_at, order.next_bill_date, order.autopay, order.in_credit_control)


def list_orders(store: Store, actor: Actor, customer_ref: str | int) -> list[OrderSummary]:
    """The customer's orders, newest first."""
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        customer = customer_by_ref(session, customer_ref)
        orders = session.exec(select(Order).where(Order.customer_id == customer.id)
                              .order_by(col(Order.created_at).desc(), col(Order.id).desc())).all()
        items = _items(session, [o.id for o in orders])
        return [_summary(order, items.get(order.id, [])) for order in orders]


def order_by_number(session: Session, number: str) -> Order:
    text = (number or "").strip()
    order = None
    if text and text_problem(text, limit=limits.ORDER_NUMBER) is None:
        order = session.exec(select(Order).where(Order.number == text.upper())).one_or_none()
    if order is None:
        raise NotFound(f"no order {text!r}")
    return order


def _item_info(item: OrderItem, plan: Plan, product: Product) -> OrderItemInfo:
    return OrderItemInfo(
        plan.code, _name(item, plan, product), item.quantity, item.unit_price, item.quantity * item.unit_price,
        item.currency, PlanKind(item.kind).value, PlanInterval(item.interval).value, item.interval_count, item.cycles,
        item.trial_days, item.trial_price, item.setup_fee, BillingTiming(item.billing_timing).value,
        item.metered_unit_price, item.invoice_issue_days, item.invoice_due_days, dict(item.options or {}),
        list(item.customised or []),
    )


def order_detail(store: Store, actor: Actor, number: str) -> OrderDetail:
    """One order by its number ("ORD-00000042")."""
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        order = order_by_number(session, number)
        customer = session.get(Customer, order.customer_id)
        assert customer is not None
        website = session.get(Website, order.website_id)
        items = _items(session, [order.id]).get(order.id, [])
        instrument = session.get(PaymentInstrument, order.instrument_id) if order.instrument_id else None
        address = session.get(Address, order.shipping_address_id) if order.shipping_address_id else None
        agent = session.get(Agent, order.agent_id) if order.agent_id else None
        coupons = session.exec(
            select(CouponRedemption, Coupon).join(Coupon, col(Coupon.id) == col(CouponRedemption.coupon_id))
            .where(CouponRedemption.order_id == order.id).order_by(col(CouponRedemption.id))
        ).all()
        invoices = session.exec(select(Invoice).where(Invoice.order_id == order.id).order_by(col(Invoice.id))).all()
        numbers = {i.id: i.number for i in invoices}
        payments = session.exec(select(Transaction).where(Transaction.order_id == order.id)
                                .order_by(col(Transaction.id))).all()
        return OrderDetail(
            summary=_summary(order, items),
            customer=customer.external_id,
            customer_name=customer.organization or f"{customer.first_name} {customer.last_name}".strip(),
            website=website.code if website else "",
            instrument=instrument_label(instrument.method, instrument.brand, instrument.last4) if instrument else None,
            starts_on=order.starts_on, trial_ends_on=order.trial_ends_on, period_start=order.period_start,
            period_end=order.period_end, cycles_billed=order.cycles_billed, shipping_amount=order.shipping_amount,
            shipping_country=address.country if address else None, abandon_at=order.abandon_at,
            delinquency_days=order.delinquency_days, notes=order.invoice_notes,
            agent=agent.login if agent else None,
            items=[_item_info(*row) for row in items],
            coupons=[OrderCouponInfo(c.code, "order", r.cycles_applied, r.ended_at is not None) for r, c in coupons],
            invoices=[OrderInvoiceInfo(i.number, i.cycle, i.status.value, i.total, i.amount_paid, i.currency,
                                       i.period_start, i.period_end, i.issued_at, i.due_at) for i in invoices],
            transactions=[OrderPaymentInfo(t.id, t.type.value, t.status.value, t.amount, t.currency,
                                           numbers.get(t.invoice_id) if t.invoice_id else None, t.created_at,
                                           t.error) for t in payments],
            commissions=affiliates.commission_for_order(session, order.id),
        )
