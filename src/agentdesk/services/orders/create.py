"""Placing an order: the order, its items' own terms, coupons, the first invoice, then the payment.

One write transaction holds everything but the payment: the order (pending), its items
with a copy of their plans' terms and the agent's overrides, the coupon redemptions,
today's invoice, the ORDER_CREATED and NEW_PURCHASE events and the welcome email. It
re-prices the request and refuses when the total differs from what the agent confirmed.
The payment then follows the pending → gateway → outcome steps of
`invoices.collect_invoice`, which starts the order when it is paid; a decline leaves the
order pending with its open invoice and says the gateway's reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlmodel import Session

from agentdesk.config import Settings
from agentdesk.db.models import Invoice, Order, OrderItem, utcnow
from agentdesk.db.store import Store, get_row
from agentdesk.domain.enums import InvoiceLineKind, InvoiceStatus, JobKind, OrderStatus, TransactionStatus
from agentdesk.domain.errors import Conflict, InvalidInput
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import SYSTEM, Action, Actor, allowed, require
from agentdesk.services.billing import coupons as coupon_rules
from agentdesk.services.billing import invoices, paid
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.jobs import queue as jobs
from agentdesk.services.orders.preview import Quote, quote
from agentdesk.services.orders.requests import OrderRequest
from agentdesk.services.risk import blocklist
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

APPROVED = "approved"
DECLINED = "declined"
PENDING = "pending"
NOT_DUE = "not due"
NO_AUTOPAY = "no autopay"


@dataclass(frozen=True)
class OrderResult:
    order_number: str
    status: str
    """The order's status once the payment (if any) is recorded."""
    invoice_number: str | None
    transaction_id: int | None
    payment: str
    """approved, declined, pending (no answer yet), not due, or no autopay."""
    message: str
    total_today: int
    currency: str

    @property
    def ok(self) -> bool:
        return self.payment != DECLINED

    def to_dict(self) -> dict[str, Any]:
        return {"order": self.order_number, "status": self.status, "invoice": self.invoice_number,
                "transaction": self.transaction_id, "payment": self.payment, "message": self.message,
                "total_today": self.total_today, "currency": self.currency}


def _order_row(q: Quote, actor: Actor, now: datetime) -> Order:
    return Order(
        number=f"new-{uuid.uuid4().hex}", customer_id=q.customer_id, website_id=q.website_id, kind=q.kind,
        status=OrderStatus.PENDING, currency=q.currency, total=q.recurring_total, instrument_id=q.instrument_id,
        autopay=q.autopay, next_bill_date=q.next_bill_date, starts_on=q.starts_on, trial_ends_on=q.trial_ends_on,
        period_start=q.period_start, period_end=q.period_end, cycles_billed=q.cycles_billed, abandon_at=q.abandon_at,
        delinquency_days=q.delinquency_days, shipping_amount=q.shipping_amount,
        shipping_address_id=q.shipping_address_id, invoice_notes=q.notes, agent_id=actor.agent_id, created_at=now,
    )


def _item_rows(session: Session, q: Quote, order: Order) -> list[int]:
    rows = [
        OrderItem(order_id=order.id, plan_id=i.plan_id, quantity=i.quantity, unit_price=i.unit_price,
                  currency=i.currency, plan_name=i.plan_name, kind=i.kind, interval=i.interval,
                  interval_count=i.interval_count, cycles=i.cycles, trial_days=i.trial_days, trial_price=i.trial_price,
                  setup_fee=i.setup_fee, billing_timing=i.billing_timing, metered_unit_price=i.metered_unit_price,
                  invoice_issue_days=i.invoice_issue_days, invoice_due_days=i.invoice_due_days,
                  options=dict(i.options), customised=list(i.customised))
        for i in q.items
    ]
    session.add_all(rows)
    session.flush()
    return [row.id for row in rows]


def _first_invoice(session: Session, actor: Actor, q: Quote, order: Order, item_ids: list[int],
                   now: datetime) -> Invoice | None:
    if q.today is None:
        return None
    lines = [replace(line, ref=item_ids[line.ref] if line.plan_code is not None and isinstance(line.ref, int)
                     else None)
             for line in q.today.lines if line.kind is not InvoiceLineKind.CHARGE]
    invoice = invoices.issue_invoice(
        session, actor, customer_id=q.customer_id, order=order, cycle=1 if q.today.key == "cycle-1" else None,
        lines=lines, currency=q.currency, billing_key=f"order-{order.id}-{q.today.key}",
        period_start=q.period_start, period_end=q.period_end, issued_at=now, due_at=q.due_at, notes=q.notes, now=now,
    )
    if invoice is None or invoice.total != q.preview.total_today:
        raise Conflict("the total changed while the order was being placed; review the preview again")
    return invoice


def _welcome(session: Session, q: Quote, order: Order, invoice: Invoice | None) -> None:
    to = invoices.customer_email(session, q.customer_id)
    if not to:
        return
    customer = customer_by_ref(session, q.customer_id)
    rows = [f"  {item.label}: {item.quantity} × {format_amount(item.unit_price, q.currency)}" for item in q.items]
    parts = [f"Hello {invoices.customer_name(customer)},", "", f"Thank you for your order {order.number}:", *rows, ""]
    for code, value in q.preview.coupons:
        parts.append(f"Coupon {code}: " + (f"{format_amount(value, q.currency)} off today." if isinstance(value, int)
                                           else f"applies to later bills ({value})."))
    if invoice is not None:
        parts.append(f"Charged today: {format_amount(invoice.total, q.currency)} (invoice {invoice.number}).")
    else:
        parts.append("Nothing is charged today.")
    if q.trial_ends_on is not None:
        parts.append(f"Your trial ends on {q.trial_ends_on.isoformat()}.")
    if q.preview.upcoming:
        bill = q.preview.upcoming[0]
        parts.append(f"Next bill: {format_amount(bill.amount, q.currency)} on {bill.date.isoformat()}.")
    jobs.enqueue(session, JobKind.EMAIL, f"email-welcome-{order.id}",
                 {"to": to, "subject": f"Welcome: your order {order.number}", "body": "\n".join(parts) + "\n",
                  "customer_id": q.customer_id, "order": order.number},
                 customer_id=q.customer_id, max_attempts=5)


def _customer_id(store: Store, ref: str | int) -> int:
    with store.read() as session:
        return customer_by_ref(session, ref).id


def create_order(store: Store, actor: Actor, settings: Settings, request: OrderRequest, *, expected_total: int,
                 now: datetime | None = None) -> OrderResult:
    """Place the order the agent previewed; `expected_total` is the total today they confirmed."""
    require(actor, Action.CREATE_ORDERS)
    return place_order(store, actor, settings, request, expected_total=expected_total, now=now)


def place_order(store: Store, actor: Actor, settings: Settings, request: OrderRequest, *, expected_total: int,
                now: datetime | None = None, within: Callable[[Session, Order], None] | None = None) -> OrderResult:
    """`create_order` without the permission check, for callers that checked their own authority (a quote
    accepted on its link by the customer). `within(session, order)` runs in the order's transaction."""
    now = now or utcnow()
    blocklist.refuse_if_blocked(store, actor, _customer_id(store, request.customer_ref), "purchase")
    with store.write() as session:
        q = quote(session, request, now)
        if q.preview.total_today != expected_total:
            raise Conflict(f"the total changed to {format_amount(q.preview.total_today, q.currency)}; review the "
                           "preview again")
        if q.preview.due_now and q.autopay and q.instrument_id is None:
            raise InvalidInput(fields={"instrument": "the customer has no active payment instrument: add one, or "
                                                     "turn autopay off to send the invoice"})
        order = _order_row(q, actor, now)
        session.add(order)
        session.flush()
        order.number = f"ORD-{order.id:08d}"
        if within is not None:
            within(session, order)
        item_ids = _item_rows(session, q, order)
        for coupon in q.coupons:
            coupon_rules.redeem(session, actor, coupon, q.customer_id, order.id, now)
        invoice = _first_invoice(session, actor, q, order, item_ids, now)
        if invoice is None:
            order.status = OrderStatus.ACTIVE
            order.abandon_at = None
        elif invoice.status is InvoiceStatus.PAID:
            paid.on_invoice_paid(session, actor, invoice, None, now)
        session.add(order)
        session.flush()
        product = paid.order_product(session, order)
        record_event(session, actor, q.customer_id, EventType.ORDER_CREATED, order=order.number, kind=q.kind.value,
                     amount=order.total, currency=q.currency, invoice=invoice.number if invoice else None,
                     status=order.status.value)
        record_event(session, actor, q.customer_id, EventType.NEW_PURCHASE, product=product, order=order.number,
                     amount=q.preview.total_today, currency=q.currency,
                     discount=", ".join(c.code for c in q.coupons) or None,
                     invoice=invoice.number if invoice else None)
        _welcome(session, q, order, invoice)
        number, order_id, status = order.number, order.id, order.status
        invoice_id = invoice.id if invoice else None
        invoice_number = invoice.number if invoice else None
        owed = invoice is not None and invoice.status is InvoiceStatus.ISSUED and invoice.total > 0
    total = format_amount(q.preview.total_today, q.currency)
    if not owed:
        started = "completed" if status is OrderStatus.COMPLETED else "started"
        return OrderResult(number, status.value, invoice_number, None, NOT_DUE,
                           f"Order {number} {started}; nothing to pay today", q.preview.total_today, q.currency)
    if not q.autopay:
        return OrderResult(number, status.value, invoice_number, None, NO_AUTOPAY,
                           f"Order {number} placed; invoice {invoice_number} for {total} was sent to the customer "
                           "and the order starts when it is paid", q.preview.total_today, q.currency)
    payer = actor if allowed(actor, Action.BILLING) else SYSTEM
    assert invoice_id is not None
    collected = invoices.collect_invoice(store, payer, settings, invoice_id, now=now)
    with store.read() as session:
        status = get_row(session, Order, order_id).status
    if collected.status == TransactionStatus.APPROVED:
        payment, message = APPROVED, f"Order {number} placed: {collected.message}"
    elif collected.status == TransactionStatus.PENDING:
        payment, message = PENDING, f"Order {number} placed; {collected.message}"
    elif collected.status == invoices.NOTHING_DUE:
        payment, message = NOT_DUE, f"Order {number} placed; {collected.message}"
    else:
        payment = DECLINED
        message = (f"Order {number} placed but not paid — {collected.message}. It stays pending until invoice "
                   f"{invoice_number} is paid")
    return OrderResult(number, status.value, invoice_number, collected.transaction_id, payment, message,
                       q.preview.total_today, q.currency)
