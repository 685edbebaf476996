"""Money added to an account or an order by hand: manual charges, usage, additional payments.

A manual charge waits on the account until the customer's next invoice bills it (`issue_invoice`
picks up unbilled charges), or is billed at once on its own invoice and collected. Usage is
recorded on an order's in-arrears item and billed at the end of its period by the engine. An
additional payment is an extra charge against a subscription, outside its invoices.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from agentdesk.config import Settings
from agentdesk.db.models import (
    AccountCharge,
    Customer,
    Order,
    OrderItem,
    PaymentInstrument,
    Plan,
    Product,
    Transaction,
    UsageRecord,
    Website,
    utcnow,
)
from agentdesk.db.store import Store, get_row
from agentdesk.domain import limits, pricing
from agentdesk.domain.enums import (
    BillingTiming,
    InstrumentStatus,
    InvoiceLineKind,
    OrderKind,
    OrderStatus,
    OrderStatusSets,
    TransactionStatus,
    TransactionType,
)
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound
from agentdesk.domain.formatting import instrument_label
from agentdesk.domain.money import currency_code, format_amount
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.text import text_problem
from agentdesk.domain.validation import clean_line
from agentdesk.services.billing import invoices
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.money import payments
from agentdesk.services.money.gateways import (
    gateway_name,
)
from agentdesk.services.money.payments import PaymentResult
from agentdesk.services.risk import blocklist
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

MAX_USAGE = 1_000_000_000
"""Most units one usage record may hold."""
USAGE_KEY = 100


def order_by_number(session: Session, number: str, *, lock: bool = False) -> Order:
    """An order by its number (`ORD-00000042`, any case); `NotFound` names what was asked for."""
    text = (number or "").strip().upper()
    order = None
    if text and text_problem(text, limit=limits.ORDER_NUMBER) is None:
        query = select(Order).where(Order.number == text)
        order = session.exec(query.with_for_update() if lock else query).first()
    if order is None:
        raise NotFound(f"no order {number!r}")
    return order


def _check_amount(amount: int, currency: str) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise InvalidInput(fields={"amount": "must be more than zero"})
    if amount > limits.AMOUNT_MAX:
        raise InvalidInput(fields={"amount": f"must be at most {format_amount(limits.AMOUNT_MAX, currency)}"})


def _description(text: str | None, limit: int) -> str:
    value = clean_line(text, "description", limit)
    if not value:
        raise InvalidInput(fields={"description": "say what the charge is for; it is printed on the invoice"})
    return value


# --- manual charges ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChargeResult:
    charge_id: int
    customer: str
    amount: int
    currency: str
    description: str
    order_number: str | None
    invoice_number: str | None
    """The invoice that bills it now; None: it waits for the customer's next invoice."""
    payment: str
    """"waiting for the next invoice", or the collection's status (approved, declined, pending, nothing_due…)."""
    transaction_id: int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"charge": self.charge_id, "customer": self.customer, "amount": self.amount,
                "currency": self.currency, "description": self.description, "order": self.order_number,
                "invoice": self.invoice_number, "payment": self.payment, "transaction": self.transaction_id,
                "message": self.message}


def _has_instrument(session: Session, customer_id: int) -> bool:
    return session.exec(
        select(PaymentInstrument.id).where(PaymentInstrument.customer_id == customer_id,
                                           PaymentInstrument.status == InstrumentStatus.ACTIVE,
                                           col(PaymentInstrument.gateway_token).is_not(None)).limit(1)
    ).first() is not None


def customer_currency(store: Store, actor: Actor, customer_ref: str | int) -> str:
    """The currency the customer pays in: a typed charge is parsed in it."""
    require(actor, Action.BILLING)
    with store.read() as session:
        return customer_by_ref(session, customer_ref).currency


def add_charge(
    store: Store,
    actor: Actor,
    settings: Settings,
    customer_ref: str | int,
    amount: int,
    currency: str,
    description: str,
    order_number: str | None = None,
    bill_now: bool = False,
    now: datetime | None = None,
) -> ChargeResult:
    """Add a charge to the customer's account: billed with their next invoice, or (`bill_now`) on an
    invoice of its own issued and collected at once."""
    require(actor, Action.BILLING)
    currency = currency_code(currency)
    _check_amount(amount, currency)
    text = _description(description, limits.LINE_DESCRIPTION)
    now = now or utcnow()
    if bill_now:
        with store.read() as session:
            customer_id = customer_by_ref(session, customer_ref).id
        blocklist.refuse_if_blocked(store, actor, customer_id, "payment")
    with store.write() as session:
        customer = customer_by_ref(session, customer_ref)
        if currency != customer.currency:
            raise InvalidInput(fields={"currency": f"this customer pays in {customer.currency}"})
        order = order_by_number(session, order_number) if order_number else None
        if order is not None and order.customer_id != customer.id:
            raise InvalidInput(fields={"order": f"{order.number} is another customer's order"})
        if order is not None and order.currency != currency:
            raise InvalidInput(fields={"currency": f"{order.number} is billed in {order.currency}"})
        if bill_now and not _has_instrument(session, customer.id):
            raise Conflict("the customer has no active payment instrument to charge now; add the charge without "
                           "billing it now and it is billed with their next invoice")
        charge = AccountCharge(customer_id=customer.id, order_id=None if bill_now or order is None else order.id,
                               amount=amount, currency=currency, description=text, agent_id=actor.agent_id,
                               created_at=now)
        session.add(charge)
        session.flush()
        invoice_number = invoice_id = None
        if bill_now:
            # The invoice bills this charge alone and belongs to no order (paying it neither renews nor
            # activates one); the charge is linked to its order once billed.
            invoice = invoices.issue_invoice(
                session, actor, customer_id=customer.id, order=None, cycle=None,
                lines=[pricing.Line(InvoiceLineKind.CHARGE, text, 1, amount, None, charge.id)], currency=currency,
                billing_key=f"charge-{charge.id}", period_start=None, period_end=None, issued_at=now, due_at=now,
                include_account_charges=False, now=now,
            )
            if invoice is not None:
                invoice_number, invoice_id = invoice.number, invoice.id
            if order is not None:
                charge.order_id = order.id
                session.add(charge)
        record_event(session, actor, customer.id, EventType.MANUAL_CHARGE, amount=amount, currency=currency,
                     description=text, order=order.number if order else None, invoice=invoice_number,
                     charge=charge.id)
        charge_id, external_id = charge.id, customer.external_id
        order_no = order.number if order else None
    result = ChargeResult(charge_id, external_id, amount, currency, text, order_no, invoice_number,
                          "waiting for the next invoice", None,
                          f"Added {format_amount(amount, currency)}; it is billed with the next invoice")
    if invoice_id is None:
        return result
    collected = invoices.collect_invoice(store, actor, settings, invoice_id, now=now)
    return ChargeResult(charge_id, external_id, amount, currency, text, order_no, invoice_number,
                        str(collected.status), collected.transaction_id,
                        f"Billed on {invoice_number}: {collected.message}")


# --- usage -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageInfo:
    id: int
    order_number: str
    item: str
    quantity: int
    used_on: date
    unit_price: int
    currency: str
    key: str | None
    recorded: bool
    """False when the key had been used already with the same usage: nothing new was written."""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "order": self.order_number, "item": self.item, "quantity": self.quantity,
                "on": self.used_on.isoformat(), "unit_price": self.unit_price, "currency": self.currency,
                "key": self.key, "recorded": self.recorded}


def _arrears_item(session: Session, order: Order) -> tuple[OrderItem, str]:
    """The order's first in-arrears item with a metered price, and its name as invoices print it."""
    row = session.exec(
        select(OrderItem, Plan.name, Product.name)
        .join(Plan, col(Plan.id) == col(OrderItem.plan_id))
        .join(Product, col(Product.id) == col(Plan.product_id))
        .where(OrderItem.order_id == order.id, OrderItem.billing_timing == BillingTiming.ARREARS,
               col(OrderItem.metered_unit_price).is_not(None))
        .order_by(col(OrderItem.id))
    ).first()
    if row is None:
        raise InvalidInput(fields={"order": f"{order.number} has no item billed in arrears with a metered price; "
                                            "usage is recorded only on such items"})
    item, plan_name, product_name = row
    return item, item.plan_name or plan_name or product_name


def record_usage(
    store: Store,
    actor: Actor,
    order_number: str,
    quantity: int,
    used_on: date | None = None,
    key: str | None = None,
    now: datetime | None = None,
) -> UsageInfo:
    """Record units used on an order's in-arrears item; billed with the period they fall in.

    `key` makes a retried call record once: the same key with the same usage returns the first
    record, with different usage it is refused."""
    require(actor, Action.BILLING)
    now = now or utcnow()
    used_on = used_on or now.date()
    problems: dict[str, str] = {}
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 < quantity <= MAX_USAGE:
        problems["quantity"] = f"must be a whole number from 1 to {MAX_USAGE:,}"
    if used_on > now.date() + timedelta(days=1):
        problems["on"] = "usage cannot be recorded for a day that has not come yet"
    clean_key = clean_line(key, "key", USAGE_KEY) if key is not None else None
    if key is not None and not clean_key:
        problems["key"] = "must not be empty"
    if problems:
        raise InvalidInput(fields=problems)
    with store.write() as session:
        order = order_by_number(session, order_number, lock=True)
        item, name = _arrears_item(session, order)
        if clean_key is not None:
            existing = session.exec(select(UsageRecord).where(UsageRecord.idempotency_key == clean_key)).first()
            if existing is not None:
                if (existing.order_item_id, existing.quantity, existing.used_on) != (item.id, quantity, used_on):
                    raise Conflict(f"usage key {clean_key!r} was already used for different usage")
                return UsageInfo(existing.id, order.number, name, existing.quantity, existing.used_on,
                                 item.metered_unit_price or 0, item.currency, clean_key, recorded=False)
        if order.status not in OrderStatusSets.OPEN:
            raise InvalidInput(fields={"order": f"{order.number} is {order.status}; usage is recorded on running "
                                                "subscriptions"})
        start = order.starts_on or order.created_at.date()
        if used_on < start:
            raise InvalidInput(fields={"on": f"{order.number} starts on {start.isoformat()}"})
        record = UsageRecord(order_item_id=item.id, quantity=quantity, used_on=used_on, idempotency_key=clean_key,
                             agent_id=actor.agent_id, created_at=now)
        session.add(record)
        session.flush()
        record_event(session, actor, order.customer_id, EventType.USAGE_RECORDED, product=name,
                     order=order.number, quantity=quantity, on=used_on.isoformat())
        return UsageInfo(record.id, order.number, name, quantity, used_on, item.metered_unit_price or 0,
                         item.currency, clean_key, recorded=True)


# --- additional payment ------------------------------------------------------------------


def _instrument(session: Session, order: Order) -> PaymentInstrument:
    """The order's instrument while active, else the customer's primary active one."""
    if order.instrument_id is not None:
        chosen = session.get(PaymentInstrument, order.instrument_id)
        if chosen is not None and chosen.status == InstrumentStatus.ACTIVE and chosen.gateway_token:
            return chosen
    instrument = session.exec(
        select(PaymentInstrument)
        .where(PaymentInstrument.customer_id == order.customer_id,
               PaymentInstrument.status == InstrumentStatus.ACTIVE)
        .order_by(col(PaymentInstrument.is_primary).desc(), col(PaymentInstrument.id))
    ).first()
    if instrument is None or not instrument.gateway_token:
        raise Conflict("the customer has no active payment instrument to charge")
    return instrument


def additional_payment(
    store: Store,
    actor: Actor,
    settings: Settings,
    order_number: str,
    amount: int,
    description: str | None = None,
) -> PaymentResult:
    """Charge an extra amount against a subscription, outside its invoices (pending → gateway → outcome)."""
    require(actor, Action.BILLING)
    text = clean_line(description, "description", limits.DESCRIPTION)
    with store.read() as session:
        order = order_by_number(session, order_number)
        customer_id, currency = order.customer_id, order.currency
    _check_amount(amount, currency)
    blocklist.refuse_if_blocked(store, actor, customer_id, "payment")
    with store.write(unrecorded="a pending payment; its outcome is recorded on the timeline") as session:
        order = order_by_number(session, order_number, lock=True)
        if order.kind != OrderKind.SUBSCRIPTION:
            raise InvalidInput(fields={"order": f"{order.number} is not a subscription"})
        if order.status in (OrderStatus.ABANDONED, OrderStatus.PENDING):
            raise InvalidInput(fields={"order": f"{order.number} is {order.status}"})
        instrument = _instrument(session, order)
        customer = get_row(session, Customer, order.customer_id, "customer")
        website = get_row(session, Website, customer.website_id)
        key = f"order-payment-{order.id}-{uuid.uuid4().hex}"
        txn = Transaction(customer_id=order.customer_id, order_id=order.id, instrument_id=instrument.id,
                          type=TransactionType.SALE, status=TransactionStatus.PENDING, amount=amount,
                          currency=currency,
                          gateway=instrument.sticky_gateway or gateway_name(session, website, settings),
                          idempotency_key=key, description=text, agent_id=actor.agent_id)
        session.add(txn)
        session.flush()
        txn_id, chosen_gateway, token, number = txn.id, txn.gateway, instrument.gateway_token, order.number
        label = instrument_label(instrument.method, instrument.brand, instrument.last4)
    assert token is not None
    return payments.charge_pending_sale(store, actor, settings, txn_id, chosen_gateway, token, label, text, number)
