"""Test setup for invoices and coupons: plans, orders written directly (the order service is tested apart),
customers with sandbox cards, and readers of what the store holds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from agentdesk.db.models import (
    Coupon,
    Customer,
    Invoice,
    InvoiceLine,
    Job,
    Order,
    OrderItem,
    Plan,
    Product,
    TimelineEvent,
)
from agentdesk.domain.enums import (
    CouponDuration,
    CouponKind,
    InvoiceLineKind,
    OrderKind,
    OrderStatus,
    PlanInterval,
    PlanKind,
)
from agentdesk.domain.pricing import Line
from agentdesk.domain.validation import ContactInput
from agentdesk.services.billing import invoices
from agentdesk.services.customers import records as customers
from agentdesk.services.money import instruments

from ..conftest import customer_input

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
APPROVE, DECLINE, TIMEOUT = "4242424242424242", "4000000000000002", "4000000000000119"


def add_customer(store, admin, settings, external_id: str = "C-1", cards: tuple[str, ...] = (APPROVE,),
                 backup: bool = False, email: str | None = None) -> int:
    """A customer with sandbox cards (the first primary; the others allowed for backup use when `backup`);
    `email` "" gives one without an email."""
    address = f"{external_id.lower()}@example.com" if email is None else email
    draft = customer_input(external_id=external_id, emails=[ContactInput(address)] if address else [])
    customers.create_customer(store, admin, draft)
    for n, number in enumerate(cards):
        instruments.add_card(store, admin, settings, external_id, number, "12/30", allow_backup=backup and n > 0,
                             primary=n == 0)
    with store.read() as s:
        return s.execute(select(Customer.id).where(Customer.external_id == external_id)).scalar_one()


def add_plan(store, code: str, price: int, currency: str = "USD", name: str | None = None) -> None:
    with store.write() as s:
        product = Product(sku=f"SKU-{code}", name=name or f"Product {code}")
        s.add(product)
        s.flush()
        s.add(Plan(product_id=product.id, code=code, name=name or f"Plan {code}", price=price, currency=currency,
                   interval=PlanInterval.MONTH))


def add_order(store, customer_id: int, items: list[tuple[str, int, int]], *, currency: str = "USD",
              kind: OrderKind = OrderKind.SUBSCRIPTION, status: OrderStatus = OrderStatus.ACTIVE,
              instrument_id: int | None = None, autopay: bool = True) -> int:
    """An order with items (plan code, quantity, unit price), written as the order service would."""
    with store.write(unrecorded="test setup") as s:
        website_id = s.get(Customer, customer_id).website_id
        order = Order(number=f"tmp-{customer_id}-{len(items)}-{datetime.now().timestamp()}", customer_id=customer_id,
                      website_id=website_id, kind=kind, status=status, currency=currency,
                      total=sum(q * p for _, q, p in items), instrument_id=instrument_id, autopay=autopay,
                      abandon_at=NOW + timedelta(days=7) if status is OrderStatus.PENDING else None)
        s.add(order)
        s.flush()
        order.number = f"ORD-{order.id:08d}"
        for code, quantity, unit_price in items:
            plan = s.execute(select(Plan).where(Plan.code == code)).scalar_one()
            s.add(OrderItem(order_id=order.id, plan_id=plan.id, quantity=quantity, unit_price=unit_price,
                            currency=currency, kind=PlanKind.ONE_TIME if kind is OrderKind.ONE_TIME else
                            PlanKind.SUBSCRIPTION))
        return order.id


def order_lines(store, order_id: int) -> list[Line]:
    with store.read() as s:
        rows = s.execute(select(OrderItem, Plan).join(Plan, Plan.id == OrderItem.plan_id)
                         .where(OrderItem.order_id == order_id).order_by(OrderItem.id)).all()
        return [Line(InvoiceLineKind.ITEM, plan.name, item.quantity, item.unit_price, plan.code, item.id)
                for item, plan in rows]


def issue(store, actor, order_id: int, *, cycle: int = 1, extra: list[Line] | None = None, key: str | None = None,
          due: datetime = NOW, **options: Any) -> Invoice | None:
    """Issue the order's invoice for `cycle` (its items, plus `extra` lines) in one write transaction."""
    lines = order_lines(store, order_id) + list(extra or [])
    with store.write() as s:
        order = s.get(Order, order_id)
        return invoices.issue_invoice(
            s, actor, customer_id=order.customer_id, order=order, cycle=cycle, lines=lines, currency=order.currency,
            billing_key=key or f"order-{order_id}-cycle-{cycle}", period_start=date(2027, 3, 1),
            period_end=date(2027, 4, 1), issued_at=NOW, due_at=due, now=NOW, **options)


def add_coupon(store, code: str, *, percent_bp: int | None = None, amounts: dict[str, int] | None = None,
               duration: CouponDuration = CouponDuration.FOREVER, cycles: int | None = None,
               plans: list[str] | None = None, minimum: dict[str, int] | None = None,
               expires_at: datetime | None = None, max_redemptions: int | None = None) -> None:
    with store.write() as s:
        s.add(Coupon(code=code, kind=CouponKind.PERCENT if percent_bp is not None else CouponKind.FIXED,
                     percent_bp=percent_bp, amounts=amounts or {}, duration=duration, duration_cycles=cycles,
                     plan_codes=plans or [], minimum=minimum or {}, expires_at=expires_at,
                     max_redemptions=max_redemptions))


def rows(store, model, *where) -> list:
    with store.read() as s:
        return list(s.execute(select(model).where(*where).order_by(model.id)).scalars())


def count(store, model, *where) -> int:
    with store.read() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def event_types(store, customer_id: int) -> list[str]:
    return [e.type for e in rows(store, TimelineEvent, TimelineEvent.customer_id == customer_id)]


def events_of(store, customer_id: int, kind: str) -> list[dict]:
    return [e.attributes for e in rows(store, TimelineEvent, TimelineEvent.customer_id == customer_id,
                                       TimelineEvent.type == kind)]


def invoice_row(store, invoice_id: int) -> Invoice:
    with store.read() as s:
        return s.get(Invoice, invoice_id)


def lines_of(store, invoice_id: int) -> list[InvoiceLine]:
    return rows(store, InvoiceLine, InvoiceLine.invoice_id == invoice_id)


def email_jobs(store, customer_id: int) -> list[dict]:
    return [j.payload for j in rows(store, Job, Job.customer_id == customer_id)]
