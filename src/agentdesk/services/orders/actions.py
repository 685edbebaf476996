"""Order actions on the order screen: cancel an order, resend its welcome email.

Cancelling is for an order nothing has been delivered of: a pending order (its open invoices are
voided), or a one-time order that was paid but not shipped (its payments are taken back through the
refund service — a void while unsettled, else a refund — and its pending fulfillments cancelled).
A running subscription is cancelled through the subscription actions instead, which offer the refund
choices. The order is cancelled in one transaction with its events and email; the money goes back
afterwards, each payment by the refund service's own pending → gateway → outcome steps.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from agentdesk.config import Settings
from agentdesk.db.models import Customer, Fulfillment, Invoice, Job, Order, Transaction, utcnow
from agentdesk.db.store import Store
from agentdesk.domain import limits
from agentdesk.domain.enums import (
    FulfillmentStatus,
    InvoiceStatus,
    InvoiceStatusSets,
    JobKind,
    OrderKind,
    OrderStatus,
    RefundOutcome,
    TransactionStatus,
    TransactionStatusSets,
    TransactionTypeSets,
)
from agentdesk.domain.errors import Conflict
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.validation import clean_block
from agentdesk.services.billing import invoices, paid
from agentdesk.services.jobs import queue as jobs
from agentdesk.services.money import refunds
from agentdesk.services.orders import fulfillments
from agentdesk.services.orders.read import order_by_number
from agentdesk.services.policy import service as policy
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event


@dataclass(frozen=True)
class CancelResult:
    order: str
    status: str
    voided_invoices: list[str]
    fulfillments_cancelled: list[int]
    refunds: list[refunds.RefundResult]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"order": self.order, "status": self.status, "voided_invoices": list(self.voided_invoices),
                "fulfillments_cancelled": list(self.fulfillments_cancelled),
                "refunds": [{"transaction": r.transaction_id, "kind": r.kind.value if r.kind else None,
                             "status": r.status.value, "amount": r.amount, "currency": r.currency,
                             "message": r.message} for r in self.refunds],
                "message": self.message}


def _lock_order(session: Session, number: str) -> Order:
    order = order_by_number(session, number)
    return session.exec(select(Order).where(Order.id == order.id).with_for_update()).one()


def _paid_back(session: Session, order: Order) -> list[Transaction]:
    """The order's payments that still hold money to take back."""
    return list(session.exec(
        select(Transaction).where(Transaction.order_id == order.id,
                                  col(Transaction.type).in_(TransactionTypeSets.MONEY_IN),
                                  col(Transaction.status).in_(TransactionStatusSets.REFUNDABLE))
        .order_by(col(Transaction.id))
    ).all())


def _payment_in_flight(session: Session, order: Order) -> bool:
    return session.exec(
        select(func.count()).select_from(Transaction)
        .where(Transaction.order_id == order.id, Transaction.status == TransactionStatus.PENDING)
    ).one() > 0


def _refusal(session: Session, order: Order) -> str | None:
    """Why the order cannot be cancelled here, or None."""
    status = OrderStatus(order.status)
    if status in (OrderStatus.CANCELLED, OrderStatus.ABANDONED):
        return f"{order.number} is {status.value} already"
    if status is OrderStatus.PENDING:
        return None
    if order.kind is not OrderKind.ONE_TIME:
        return (f"{order.number} is a running subscription: cancel it with the subscription actions "
                "(agentdesk subscriptions cancel), which offer the refund choices")
    if status is not OrderStatus.COMPLETED:
        return f"{order.number} is {status.value}; it cannot be cancelled"
    sent = session.exec(
        select(func.count()).select_from(Fulfillment)
        .where(Fulfillment.order_id == order.id,
               col(Fulfillment.status).in_((FulfillmentStatus.SHIPPED, FulfillmentStatus.DELIVERED)))
    ).one()
    if sent:
        return (f"{order.number} has been shipped; it can no longer be cancelled — refund it instead "
                "(refund order), or reship")
    return None


def _cancel_email(session: Session, order: Order, paid_amount: int) -> None:
    to = invoices.customer_email(session, order.customer_id)
    if not to:
        return
    customer = session.get(Customer, order.customer_id)
    assert customer is not None
    lines = [f"Hello {invoices.customer_name(customer)},", "", f"Your order {order.number} is cancelled."]
    if paid_amount:
        lines.append(f"The {format_amount(paid_amount, order.currency)} you paid is being returned to you; a "
                     "confirmation follows once it is done.")
    else:
        lines.append("Nothing was charged for it.")
    jobs.enqueue(session, JobKind.EMAIL, f"email-order-cancelled-{order.id}",
                 {"to": to, "subject": f"Your order {order.number} is cancelled", "body": "\n".join(lines) + "\n",
                  "customer_id": order.customer_id, "order": order.number},
                 customer_id=order.customer_id, max_attempts=5)


def cancel_order(store: Store, actor: Actor, settings: Settings, number: str, reason: str | None = None,
                 now: datetime | None = None) -> CancelResult:
    """Cancel a pending order, or a paid one-time order not shipped yet (its payments refunded or voided)."""
    require(actor, Action.CREATE_ORDERS)
    text = clean_block(reason, "reason", limits.REASON) or None
    now = now or utcnow()
    with store.write() as session:
        order = _lock_order(session, number)
        why_not = _refusal(session, order)
        if why_not:
            raise Conflict(why_not)
        if _payment_in_flight(session, order):
            raise Conflict(f"a payment of {order.number} is waiting for the gateway's answer; try again once it "
                           "is recorded")
        payments = _paid_back(session, order) if order.status is not OrderStatus.PENDING else []
        if payments:
            require(actor, Action.REFUND)
            for txn in payments:
                policy.check_refund(session, actor, txn.amount, txn.currency)
        voided: list[str] = []
        for invoice in session.exec(select(Invoice).where(Invoice.order_id == order.id,
                                                          col(Invoice.status).in_(InvoiceStatusSets.OPEN))
                                    .order_by(col(Invoice.id)).with_for_update()).all():
            invoice.status = InvoiceStatus.VOID
            invoice.closed_at = now
            invoice.next_attempt_at = None
            session.add(invoice)
            voided.append(invoice.number)
            record_event(session, actor, order.customer_id, EventType.INVOICE_VOIDED, invoice=invoice.number,
                         amount=invoice.total, currency=invoice.currency, order=order.number,
                         reason=f"order {order.number} cancelled")
        cancelled: list[int] = []
        for row in session.exec(select(Fulfillment).where(Fulfillment.order_id == order.id,
                                                          Fulfillment.status == FulfillmentStatus.PENDING)
                                .order_by(col(Fulfillment.id)).with_for_update()).all():
            fulfillments.cancel_pending(session, actor, row, order, f"order {order.number} cancelled", now)
            cancelled.append(row.id)
        order.status = OrderStatus.CANCELLED
        order.cancelled_at = now
        order.abandon_at = None
        order.next_bill_date = None
        order.updated_at = now
        session.add(order)
        record_event(session, actor, order.customer_id, EventType.ORDER_CANCELLED, order=order.number, reason=text)
        paid_amount = sum(t.amount for t in payments)
        _cancel_email(session, order, paid_amount)
        order_number, currency = order.number, order.currency
        txn_ids = [t.id for t in payments]
        product = paid.order_product(session, order)
    results = [refunds.refund_transaction(store, actor, settings, txn_id, None, text or "order cancelled")
               for txn_id in txn_ids]
    message = f"Order {order_number} ({product}) cancelled"
    if voided:
        message += f"; invoice(s) {', '.join(voided)} voided"
    if cancelled:
        message += f"; fulfillment(s) {', '.join(map(str, cancelled))} cancelled"
    if results:
        back = sum(r.amount for r in results if r.status is RefundOutcome.APPROVED)
        message += f"; {format_amount(back, currency)} of {format_amount(paid_amount, currency)} returned"
        message += "".join(f"; {r.message}" for r in results if r.status is not RefundOutcome.APPROVED)
    return CancelResult(order_number, OrderStatus.CANCELLED.value, voided, cancelled, results, message)


def resend_welcome(store: Store, actor: Actor, number: str) -> str:
    """Queue the order's welcome email again (the runner records it as sent); returns where it goes."""
    require(actor, Action.CREATE_ORDERS)
    with store.write() as session:
        order = order_by_number(session, number)
        to = invoices.customer_email(session, order.customer_id)
        if not to:
            raise Conflict("the customer has no email address to send the welcome email to")
        first = session.exec(select(Job).where(Job.idempotency_key == f"email-welcome-{order.id}")).one_or_none()
        if first is not None:
            subject, body = str(first.payload["subject"]), str(first.payload["body"])
        else:
            customer = session.get(Customer, order.customer_id)
            assert customer is not None
            subject = f"Welcome: your order {order.number}"
            body = (f"Hello {invoices.customer_name(customer)},\n\nThank you for your order {order.number}: "
                    f"{paid.order_product(session, order)}.\n")
        jobs.enqueue(session, JobKind.EMAIL, f"email-welcome-{order.id}-again-{uuid.uuid4().hex}",
                     {"to": to, "subject": subject, "body": body, "customer_id": order.customer_id,
                      "order": order.number},
                     customer_id=order.customer_id, max_attempts=5)
        return to
