"""Affiliate commissions: one per paid invoice of a customer whose lead source names an affiliate.

The rate is the plan's own (`Plan.commission_rate_bp`, from the invoice's first order-item line),
else the policy default `affiliate_rate`; 0 means no commission. Finance and admins may move a
sale to another affiliate or change its commission, with a reason on the timeline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlmodel import Session, col, select

from agentdesk.db.models import (
    AffiliateCommission,
    Agent,
    Customer,
    Invoice,
    InvoiceLine,
    Order,
    OrderItem,
    Plan,
    Transaction,
    utcnow,
)
from agentdesk.db.store import Store
from agentdesk.domain import limits
from agentdesk.domain.enums import InvoiceStatus, TransactionStatus, TransactionType
from agentdesk.domain.errors import InvalidInput, NotFound
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import SYSTEM, Action, Actor, require
from agentdesk.domain.pricing import BASIS_POINTS, percent_of
from agentdesk.domain.text import text_problem
from agentdesk.domain.validation import clean_line
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


# --- reading ------------------------------------------------------------------------------


def parse_rate(text: str) -> int:
    """A percent as typed ("12.5", "12.5%", "10") → basis points; `InvalidInput` on the field "rate"."""
    raw = (text or "").strip().removesuffix("%").strip()
    match = re.fullmatch(r"([0-9]{1,3})(?:\.([0-9]{1,2}))?", raw)
    if match is None:
        raise InvalidInput(fields={"rate": f"expected a percent such as 10 or 12.5, got {text.strip()!r}"})
    rate = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if rate > BASIS_POINTS:
        raise InvalidInput(fields={"rate": "must be between 0% and 100%"})
    return rate


def describe_rate(rate_bp: int) -> str:
    """Basis points as a percent: 1000 → "10%", 1250 → "12.5%"."""
    whole, frac = divmod(rate_bp, 100)
    return f"{whole}%" if not frac else f"{whole}.{frac:02d}".rstrip("0") + "%"


@dataclass(frozen=True)
class CommissionInfo:
    """One sale's commission as listed for payout and shown on the order and the transaction."""

    id: int
    invoice_number: str
    order_number: str | None
    customer: str
    """The customer's public id."""
    transaction_id: int | None
    affiliate: str
    rate_bp: int
    base_amount: int
    amount: int
    currency: str
    created_at: datetime
    updated_at: datetime | None
    adjusted_by: str | None
    adjustment_reason: str | None

    @property
    def summary(self) -> str:
        """One line for the order and the transaction: who earns what."""
        text = (f"affiliate {self.affiliate}: commission {format_amount(self.amount, self.currency)} "
                f"({describe_rate(self.rate_bp)} of {format_amount(self.base_amount, self.currency)})")
        return text + (" · adjusted" if self.adjusted_by else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "invoice": self.invoice_number, "order": self.order_number, "customer": self.customer,
            "transaction": self.transaction_id, "affiliate": self.affiliate, "rate_bp": self.rate_bp,
            "base_amount": self.base_amount, "amount": self.amount, "currency": self.currency,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "adjusted_by": self.adjusted_by, "adjustment_reason": self.adjustment_reason,
        }


def _query() -> Any:
    """Commissions with the numbers they are shown with (rows for `_infos`)."""
    return (
        select(AffiliateCommission, Invoice.number, Order.number, Customer.external_id)
        .join(Invoice, col(Invoice.id) == col(AffiliateCommission.invoice_id))
        .join(Customer, col(Customer.id) == col(AffiliateCommission.customer_id))
        .outerjoin(Order, col(Order.id) == col(AffiliateCommission.order_id))
    )


def _infos(session: Session, rows: Any) -> list[CommissionInfo]:
    rows = list(rows)
    agent_ids = {row[0].adjusted_by for row in rows if row[0].adjusted_by is not None}
    logins = dict(session.exec(select(Agent.id, Agent.login).where(col(Agent.id).in_(agent_ids))).all()) \
        if agent_ids else {}
    out = []
    for c, invoice_number, order_number, customer in rows:
        out.append(CommissionInfo(
            id=c.id, invoice_number=invoice_number, order_number=order_number, customer=customer,
            transaction_id=c.transaction_id, affiliate=c.affiliate, rate_bp=c.rate_bp, base_amount=c.base_amount,
            amount=c.amount, currency=c.currency, created_at=c.created_at, updated_at=c.updated_at,
            adjusted_by=logins.get(c.adjusted_by) if c.adjusted_by is not None else None,
            adjustment_reason=c.adjustment_reason,
        ))
    return out


def _clean_affiliate(text: str | None) -> str:
    value = clean_line(text, "affiliate", limits.AFFILIATE)
    if not value:
        raise InvalidInput(fields={"affiliate": "name the affiliate"})
    return value


def list_commissions(
    store: Store, actor: Actor, affiliate: str | None = None, since: date | None = None
) -> list[CommissionInfo]:
    """Commissions for payout, oldest first: one affiliate's (exact name) and/or those recorded since a day."""
    require(actor, Action.ADJUST_COMMISSIONS)
    query = _query()
    if affiliate is not None:
        query = query.where(AffiliateCommission.affiliate == _clean_affiliate(affiliate))
    if since is not None:
        start = datetime.combine(since, time.min, tzinfo=UTC)
        query = query.where(col(AffiliateCommission.created_at) >= start)
    with store.read() as session:
        return _infos(session, session.exec(
            query.order_by(col(AffiliateCommission.created_at), col(AffiliateCommission.id))).all())


def commission_for_order(session: Session, order_id: int) -> list[CommissionInfo]:
    """The commissions on an order's paid invoices, oldest first (empty when no affiliate earned any)."""
    return _infos(session, session.exec(
        _query().where(AffiliateCommission.order_id == order_id).order_by(col(AffiliateCommission.id))
    ).all())


def commission_for_transaction(session: Session, transaction_id: int) -> CommissionInfo | None:
    """The commission on the sale this transaction paid, if any."""
    infos = _infos(session, session.exec(
        _query().where(AffiliateCommission.transaction_id == transaction_id).limit(1)).all())
    return infos[0] if infos else None


def commission_notes(session: Session, customer_id: int) -> dict[int, str]:
    """Transaction id → its commission line, for every commission of one customer (one query)."""
    rows = session.exec(
        _query().where(AffiliateCommission.customer_id == customer_id,
                       col(AffiliateCommission.transaction_id).is_not(None))
    ).all()
    return {info.transaction_id: info.summary for info in _infos(session, rows) if info.transaction_id is not None}


# --- adjusting ----------------------------------------------------------------------------


def _invoice(session: Session, number: str) -> Invoice:
    text = (number or "").strip().upper()
    invoice = None
    if text and text_problem(text, limit=limits.INVOICE_NUMBER) is None:
        invoice = session.exec(select(Invoice).where(Invoice.number == text).with_for_update()).first()
    if invoice is None:
        raise NotFound(f"no invoice {number!r}")
    return invoice


def invoice_currency(store: Store, actor: Actor, invoice_number: str) -> str:
    """The currency of an invoice's amounts, so a typed commission can be parsed before it is adjusted."""
    require(actor, Action.ADJUST_COMMISSIONS)
    with store.read() as session:
        text = (invoice_number or "").strip().upper()
        currency = None
        if text and text_problem(text, limit=limits.INVOICE_NUMBER) is None:
            currency = session.exec(select(Invoice.currency).where(Invoice.number == text)).first()
        if currency is None:
            raise NotFound(f"no invoice {invoice_number!r}")
        return currency


def _paying_transaction(session: Session, invoice_id: int) -> int | None:
    return session.exec(
        select(Transaction.id)
        .where(Transaction.invoice_id == invoice_id, Transaction.type == TransactionType.SALE,
               Transaction.status == TransactionStatus.APPROVED)
        .order_by(col(Transaction.id).desc())
    ).first()


def adjust_commission(
    store: Store,
    actor: Actor,
    invoice_number: str,
    *,
    affiliate: str | None = None,
    amount: int | None = None,
    rate_bp: int | None = None,
    reason: str,
) -> CommissionInfo:
    """Edit a sale's affiliate and/or its commission (finance and admins), with a reason on the timeline.

    A new rate without an amount recomputes the amount from the sale; an amount typed keeps it as typed.
    A paid invoice without a commission gets one when an affiliate is named."""
    require(actor, Action.ADJUST_COMMISSIONS)
    problems: dict[str, str] = {}
    why = clean_line(reason, "reason", limits.REASON)
    if not why:
        problems["reason"] = "say why the commission changes"
    name = _clean_affiliate(affiliate) if affiliate is not None else None
    if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool) or amount < 0
                               or amount > limits.AMOUNT_MAX):
        problems["amount"] = "must be a whole number of minor units, 0 or more"
    if rate_bp is not None and (not isinstance(rate_bp, int) or isinstance(rate_bp, bool)
                                or not 0 <= rate_bp <= BASIS_POINTS):
        problems["rate"] = "must be between 0% and 100%"
    if name is None and amount is None and rate_bp is None and not problems:
        problems["affiliate"] = "give a new affiliate, amount or rate"
    if problems:
        raise InvalidInput(fields=problems)
    with store.write() as session:
        invoice = _invoice(session, invoice_number)
        commission = session.exec(
            select(AffiliateCommission).where(AffiliateCommission.invoice_id == invoice.id).with_for_update()
        ).first()
        if commission is None:
            if invoice.status != InvoiceStatus.PAID:
                raise InvalidInput(fields={"invoice": f"{invoice.number} is {invoice.status}, not paid: "
                                                      "a commission is earned on a paid sale"})
            if name is None:
                raise InvalidInput(fields={"affiliate": f"{invoice.number} has no affiliate yet; name one"})
            start_rate = rate_bp if rate_bp is not None else commission_rate(session, invoice)
            commission = AffiliateCommission(
                invoice_id=invoice.id, customer_id=invoice.customer_id, order_id=invoice.order_id,
                transaction_id=_paying_transaction(session, invoice.id), affiliate=name, rate_bp=start_rate,
                base_amount=invoice.total, amount=percent_of(invoice.total, start_rate), currency=invoice.currency,
            )
            before: dict[str, object] = {"affiliate": None, "rate_bp": None, "amount": None}
        else:
            before = {"affiliate": commission.affiliate, "rate_bp": commission.rate_bp, "amount": commission.amount}
        if amount is not None and amount > commission.base_amount:
            raise InvalidInput(fields={"amount": (
                f"{format_amount(amount, commission.currency)} is more than the sale "
                f"({format_amount(commission.base_amount, commission.currency)})")})
        if name is not None:
            commission.affiliate = name
        if rate_bp is not None:
            commission.rate_bp = rate_bp
            if amount is None:
                commission.amount = percent_of(commission.base_amount, rate_bp)
        if amount is not None:
            commission.amount = amount
        after = {"affiliate": commission.affiliate, "rate_bp": commission.rate_bp, "amount": commission.amount}
        changes = {field: {"from": before[field], "to": after[field]} for field in after
                   if before[field] != after[field]}
        if not changes:
            raise InvalidInput(fields={"affiliate": "nothing changes: the commission already has these values"})
        commission.adjusted_by = actor.agent_id
        commission.adjustment_reason = why
        commission.updated_at = utcnow()
        session.add(commission)
        session.flush()
        record_event(session, actor, invoice.customer_id, EventType.COMMISSION_ADJUSTED,
                     invoice=invoice.number, changes=changes, reason=why)
        return _infos(session, session.exec(_query().where(AffiliateCommission.id == commission.id)).all())[0]
