"""Affiliate commissions: one per paid invoice of a customer whose lead source names an affiliate.

The rate is the plan's own (`Plan.commission_rate_bp`, from the invoice's first order-item line),
else the policy default `affiliate_rate`; 0 means no commission. Finance and admins may move a
sale to another affiliate or change its commission, with a reason on the timeline.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from agentdesk.db.models import AffiliateCommission, Customer, Invoice, InvoiceLine, Order, OrderItem, Plan, Transaction
from agentdesk.domain import limits
from agentdesk.domain.permissions import SYSTEM
from agentdesk.domain.pricing import percent_of
from agentdesk.services.policy import service as policy
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event


def affiliate_of(customer: Customer) -> str | None:
    """The affiliate the customer's lead source names, if any."""
    value = (customer.lead_source or {}).get("affiliate")
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[: limits.AFFILIATE]


def _plan_rate(session: Session, invoice: Invoice) -> int | None:
    item_id = session.exec(
        select(InvoiceLine.order_item_id)
        .where(InvoiceLine.invoice_id == invoice.id, col(InvoiceLine.order_item_id).is_not(None))
        .order_by(col(InvoiceLine.id)).limit(1)
    ).first()
    if item_id is None and invoice.order_id is not None:
        item_id = session.exec(
            select(OrderItem.id).where(OrderItem.order_id == invoice.order_id).order_by(col(OrderItem.id)).limit(1)
        ).first()
    if item_id is None:
        return None
    return session.exec(
        select(Plan.commission_rate_bp).join(OrderItem, col(OrderItem.plan_id) == col(Plan.id))
        .where(OrderItem.id == item_id)
    ).first()


def commission_rate(session: Session, invoice: Invoice) -> int:
    """Basis points an affiliate earns on this invoice: its plan's rate, else the policy default."""
    rate = _plan_rate(session, invoice)
    return policy.affiliate_rate(session) if rate is None else rate


def _order_number(session: Session, order_id: int | None) -> str | None:
    if order_id is None:
        return None
    return session.exec(select(Order.number).where(Order.id == order_id)).first()


def record_commission(
    session: Session, invoice: Invoice, transaction: Transaction | None
) -> AffiliateCommission | None:
    """Record the affiliate's commission on a paid invoice, inside the caller's transaction.

    None when the customer names no affiliate, the rate is 0, or the invoice already has one."""
    customer = session.get(Customer, invoice.customer_id)
    if customer is None:
        return None
    affiliate = affiliate_of(customer)
    if affiliate is None:
        return None
    existing = session.exec(select(AffiliateCommission).where(AffiliateCommission.invoice_id == invoice.id)).first()
    if existing is not None:
        return None
    rate = commission_rate(session, invoice)
    if rate <= 0:
        return None
    base = invoice.total
    commission = AffiliateCommission(
        invoice_id=invoice.id, customer_id=invoice.customer_id, order_id=invoice.order_id,
        transaction_id=transaction.id if transaction is not None else None, affiliate=affiliate, rate_bp=rate,
        base_amount=base, amount=percent_of(base, rate), currency=invoice.currency,
    )
    session.add(commission)
    session.flush()
    record_event(
        session, SYSTEM, invoice.customer_id, EventType.COMMISSION_RECORDED,
        affiliate=affiliate, amount=commission.amount, currency=invoice.currency, invoice=invoice.number,
        rate_bp=rate, order=_order_number(session, invoice.order_id),
    )
    return commission
