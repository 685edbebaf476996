"""Money in and out besides refunds: collecting a payment, payouts and credit memos.

Gateway calls follow the same three steps as refunds: a pending record
committed first, the call outside any transaction, the outcome committed with
its timeline event.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from agentdesk.config import Settings
from agentdesk.db.models import CreditMemo, Order, PaymentInstrument, Transaction, Website, utcnow
from agentdesk.db.store import Store, get_row
from agentdesk.domain import limits
from agentdesk.domain.enums import InstrumentStatus, TransactionStatus, TransactionType
from agentdesk.domain.errors import Conflict, InvalidInput
from agentdesk.domain.formatting import instrument_label
from agentdesk.domain.money import currency_code, format_amount
from agentdesk.domain.permissions import SYSTEM, Action, Actor, require
from agentdesk.domain.validation import clean_line
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.money import aggregates
from agentdesk.services.money.gateways import (
    CARD_REFUSED,
    GatewayError,
    GatewayResult,
    GatewayTimeout,
    Outcome,
    gateway_for,
    gateway_name,
)
from agentdesk.services.policy import service as policy
from agentdesk.services.risk import blocklist
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

OUTSIDE = "outside"
REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{2,79}$")


@dataclass(frozen=True)
class PaymentResult:
    status: TransactionStatus
    transaction_id: int | None
    amount: int
    currency: str
    message: str

    @property
    def ok(self) -> bool:
        return self.status == TransactionStatus.APPROVED



def _customer_id(store: Store, ref: str | int) -> int:
    with store.read() as session:
        return customer_by_ref(session, ref).id


def _default_instrument(session: Session, customer_id: int) -> tuple[PaymentInstrument, str]:
    """The instrument to charge or pay out to, with its gateway token."""
    instrument = session.exec(
        select(PaymentInstrument)
        .where(PaymentInstrument.customer_id == customer_id, PaymentInstrument.status == InstrumentStatus.ACTIVE)
        .order_by(col(PaymentInstrument.is_primary).desc(), col(PaymentInstrument.id))
    ).first()
    if instrument is None or not instrument.gateway_token:
        raise Conflict("the customer has no active payment instrument to charge; record a payment made outside instead")
    return instrument, instrument.gateway_token


def _chosen_instrument(session: Session, customer_id: int, instrument_id: int) -> tuple[PaymentInstrument, str]:
    instrument = session.get(PaymentInstrument, instrument_id) if limits.in_id_range(instrument_id) else None
    if instrument is None or instrument.customer_id != customer_id:
        raise InvalidInput(fields={"instrument": f"the customer has no payment instrument {instrument_id}"})
    if instrument.status != InstrumentStatus.ACTIVE or not instrument.gateway_token:
        raise Conflict(f"{instrument_label(instrument.method, instrument.brand, instrument.last4)} is no longer "
                       "active and cannot be paid to")
    return instrument, instrument.gateway_token


def _check_amount(amount: int, currency: str) -> str:
    currency = currency_code(currency)
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise InvalidInput(fields={"amount": "must be a positive whole number of minor units"})
    if amount > limits.AMOUNT_MAX:
        raise InvalidInput(fields={"amount": f"must be at most {format_amount(limits.AMOUNT_MAX, currency)}"})
    return currency


def _description(text: str | None) -> str | None:
    return clean_line(text, "description", limits.DESCRIPTION)


def collect_payment(store: Store, actor: Actor, settings: Settings, customer_ref: str | int, amount: int, currency: str,
                    description: str | None = None, outside: bool = False) -> PaymentResult:
    """Charge the default instrument, or record a payment made outside (already settled)."""
    require(actor, Action.BILLING)
    currency = _check_amount(amount, currency)
    description = _description(description)
    blocklist.refuse_if_blocked(store, actor, _customer_id(store, customer_ref), "payment")
    with store.write(unrecorded="a pending payment; its outcome is recorded on the timeline") as session:
        customer = customer_by_ref(session, customer_ref)
        if currency != customer.currency:
            raise InvalidInput(fields={"currency": f"this customer pays in {customer.currency}"})
        key = f"sale-{uuid.uuid4().hex}"
        if outside:
            now = utcnow()
            txn = Transaction(customer_id=customer.id, type=TransactionType.SALE,
                              status=TransactionStatus.APPROVED, amount=amount, currency=currency, settled=True,
                              settled_at=now, gateway=OUTSIDE, idempotency_key=key, description=description,
                              agent_id=actor.agent_id, processed_at=now)
            session.add(txn)
            aggregates.record_sale(session, customer.id, amount, currency, now, settled=True)
            record_event(session, actor, customer.id, EventType.ADDITIONAL_PAYMENT, method="paid outside",
                         amount=amount, currency=currency, transaction=txn.id, description=description)
            return PaymentResult(TransactionStatus.APPROVED, txn.id, amount, currency,
                                 f"Recorded {format_amount(amount, currency)} paid outside")
        instrument, token = _default_instrument(session, customer.id)
        website = get_row(session, Website, customer.website_id)
        txn = Transaction(customer_id=customer.id, instrument_id=instrument.id, type=TransactionType.SALE,
                          status=TransactionStatus.PENDING, amount=amount, currency=currency,
                          gateway=instrument.sticky_gateway or gateway_name(session, website, settings),
                          idempotency_key=key,
                          description=description,
                          agent_id=actor.agent_id)
        session.add(txn)
        session.flush()
        txn_id, chosen_gateway = txn.id, txn.gateway
        label = instrument_label(instrument.method, instrument.brand, instrument.last4)
    return charge_pending_sale(store, actor, settings, txn_id, chosen_gateway, token, label, description)


def charge_pending_sale(store: Store, actor: Actor, settings: Settings, txn_id: int, gateway_name_: str, token: str,
                        label: str, description: str | None, order_number: str | None = None) -> PaymentResult:
    """Steps 2 and 3 of a sale already recorded as pending: the gateway call with its key, then the outcome."""
    with store.read() as session:
        txn = get_row(session, Transaction, txn_id)
        amount, currency, key = txn.amount, txn.currency, txn.idempotency_key
    assert key is not None
    result: GatewayResult | None = None
    error: str | None = None
    try:
        result = gateway_for(store, gateway_name_, settings).sale(amount=amount, currency=currency, token=token,
                                                                  idempotency_key=key)
    except GatewayTimeout:
        return PaymentResult(TransactionStatus.PENDING, txn_id, amount, currency,
                             "No answer from the gateway yet; the charge will be confirmed or cancelled, never doubled")
    except GatewayError as exc:
        error = str(exc)
    return record_sale_outcome(store, actor, txn_id, result, error, label, description, order_number)


def record_sale_outcome(store: Store, actor: Actor, txn_id: int, result: GatewayResult | None, error: str | None,
                        label: str, description: str | None, order_number: str | None = None) -> PaymentResult:
    """Step 3 of a sale outside invoices: what the gateway said, with its timeline event, in one transaction.
    A sale already recorded (a repair racing the original call) is left as it is."""
    with store.write() as session:
        txn = session.exec(select(Transaction).where(Transaction.id == txn_id).with_for_update()).one()
        return sale_outcome(session, actor, txn, result, error, label, description, order_number)


def sale_outcome(session: Session, actor: Actor, txn: Transaction, result: GatewayResult | None, error: str | None,
                 label: str, description: str | None, order_number: str | None = None) -> PaymentResult:
    """`record_sale_outcome` in the caller's transaction, the sale's row locked by the caller (also what a
    gateway's event about a sale left pending records, as the repair would)."""
    amount, currency, customer_id = txn.amount, txn.currency, txn.customer_id
    if txn.status != TransactionStatus.PENDING:
        return PaymentResult(txn.status, txn.id, amount, currency, f"Payment already {txn.status}")
    aggregates.lock_customers(session, [customer_id])
    txn.processed_at = utcnow()
    on = f" on {order_number}" if order_number else ""
    if result is not None and result.approved:
        txn.status = TransactionStatus.APPROVED
        txn.gateway_ref = result.reference
        if result.settled:
            txn.settled = True
            txn.settled_at = txn.processed_at
        session.add(txn)
        aggregates.record_sale(session, customer_id, amount, currency, txn.processed_at, settled=result.settled)
        record_event(session, actor, customer_id, EventType.ADDITIONAL_PAYMENT, method=label, amount=amount,
                     currency=currency, transaction=txn.id, description=description, order=order_number)
        return PaymentResult(TransactionStatus.APPROVED, txn.id, amount, currency,
                             f"Charged {format_amount(amount, currency)} to {label}{on}")
    message = (result.message if result else error) or "declined"
    txn.status = (TransactionStatus.DECLINED if result and result.outcome in CARD_REFUSED
                  else TransactionStatus.FAILED)
    txn.error = message[: limits.GATEWAY_MESSAGE]
    session.add(txn)
    record_event(session, actor, customer_id, EventType.PAYMENT_FAILED, amount=amount, currency=currency,
                 message=message, order=order_number, transaction=txn.id)
    return PaymentResult(txn.status, txn.id, amount, currency, f"Payment {txn.status}: {message}")


def sale_label(session: Session, txn: Transaction) -> tuple[str, str | None]:
    """(the instrument's label, the order's number) a sale's outcome is recorded with."""
    instrument = session.get(PaymentInstrument, txn.instrument_id) if txn.instrument_id else None
    label = instrument_label(instrument.method, instrument.brand, instrument.last4) if instrument else "card"
    order = session.get(Order, txn.order_id) if txn.order_id else None
    return label, order.number if order else None


def repair_pending_sales(store: Store, settings: Settings,
                         older_than: timedelta = timedelta(seconds=30)) -> list[PaymentResult]:
    """Finish payments outside invoices (collected or additional) left pending by a crash or a timeout:
    the same key is sent again, so the gateway answers once for both tries."""
    cutoff = utcnow() - older_than
    todo: list[tuple[int, str, str, str, str | None, str | None]] = []
    with store.read() as session:
        rows = session.exec(
            select(Transaction, PaymentInstrument, Order.number)
            .join(PaymentInstrument, col(PaymentInstrument.id) == Transaction.instrument_id)
            .outerjoin(Order, col(Order.id) == Transaction.order_id)
            .where(Transaction.status == TransactionStatus.PENDING, Transaction.type == TransactionType.SALE,
                   col(Transaction.invoice_id).is_(None), col(Transaction.idempotency_key).is_not(None),
                   Transaction.created_at <= cutoff)
            .order_by(col(Transaction.id))
        ).all()
        for txn, instrument, number in rows:
            if instrument.gateway_token:
                todo.append((txn.id, txn.gateway, instrument.gateway_token,
                             instrument_label(instrument.method, instrument.brand, instrument.last4),
                             txn.description, number))
    return [charge_pending_sale(store, SYSTEM, settings, txn_id, gateway, token, label, description, number)
            for txn_id, gateway, token, label, description, number in todo]


def send_payout(store: Store, actor: Actor, settings: Settings, customer_ref: str | int, amount: int, currency: str,
                request_id: str, instrument_id: int | None = None) -> PaymentResult:
    """Send money to the customer's default instrument, or to `instrument_id` (an active one of theirs).
    The request id makes it happen once, whatever is retried; a payout cannot be taken back."""
    require(actor, Action.PAYOUT)
    currency = _check_amount(amount, currency)
    request_id = (request_id or "").strip()
    if not REQUEST_ID.match(request_id):
        raise InvalidInput(fields={"request_id": "3 to 80 letters, digits, '_', '.', ':' or '-'"})
    key = f"payout-{request_id}"
    blocklist.refuse_if_blocked(store, actor, _customer_id(store, customer_ref), "payout")
    with store.write(unrecorded="a pending payout; its outcome is recorded on the timeline") as session:
        customer = customer_by_ref(session, customer_ref)
        existing = session.exec(select(Transaction).where(Transaction.idempotency_key == key)).one_or_none()
        if existing is not None:
            if existing.customer_id != customer.id or existing.amount != amount or existing.currency != currency:
                raise Conflict(f"request id {request_id!r} was already used for a different payout")
            if existing.status != TransactionStatus.PENDING:
                return PaymentResult(existing.status, existing.id, amount, currency,
                                     f"Payout {request_id} was already {existing.status}; nothing was sent again")
            txn_id, chosen_gateway = existing.id, existing.gateway
            instrument = get_row(session, PaymentInstrument, existing.instrument_id, "payment instrument")
            if not instrument.gateway_token:
                raise Conflict(f"the payment instrument of payout {request_id} can no longer be paid to")
            token = instrument.gateway_token
        else:
            policy.check_payout(session, amount, currency)
            instrument, token = (_default_instrument(session, customer.id) if instrument_id is None
                                 else _chosen_instrument(session, customer.id, instrument_id))
            website = get_row(session, Website, customer.website_id)
            chosen = gateway_name(session, website, settings)
            refusal = getattr(gateway_for(store, chosen, settings), "payout_refusal", None)
            if refusal:
                raise Conflict(refusal)
            txn = Transaction(customer_id=customer.id, instrument_id=instrument.id, type=TransactionType.CREDIT,
                              status=TransactionStatus.PENDING, amount=amount, currency=currency,
                              gateway=chosen, idempotency_key=key,
                              agent_id=actor.agent_id)
            session.add(txn)
            session.flush()
            txn_id, chosen_gateway = txn.id, txn.gateway
    gateway = gateway_for(store, chosen_gateway, settings)
    result: GatewayResult | None = None
    error: str | None = None
    try:
        result = gateway.payout(amount=amount, currency=currency, token=token, idempotency_key=key)
    except GatewayTimeout:
        return PaymentResult(TransactionStatus.PENDING, txn_id, amount, currency,
                             f"No answer yet; run the same payout again with request id {request_id} to confirm it "
                             "(it will not be paid twice)")
    except GatewayError as exc:
        error = str(exc)
    with store.write() as session:
        txn = session.exec(select(Transaction).where(Transaction.id == txn_id).with_for_update()).one()
        if txn.status != TransactionStatus.PENDING:
            return PaymentResult(txn.status, txn.id, amount, currency,
                                 f"Payout {request_id} was already {txn.status}; nothing was sent again")
        if result is not None and result.approved:
            txn.processed_at = utcnow()
            txn.status = TransactionStatus.APPROVED
            txn.gateway_ref = result.reference
            txn.settled = True
            txn.settled_at = txn.processed_at
            session.add(txn)
            record_event(session, actor, txn.customer_id, EventType.PAYOUT_SENT, amount=amount, currency=currency,
                         transaction=txn.id, request_id=request_id)
            return PaymentResult(TransactionStatus.APPROVED, txn.id, amount, currency,
                                 f"Paid out {format_amount(amount, currency)} (request {request_id})")
        message = (result.message if result else error) or "failed"
        if result is not None and result.outcome is Outcome.FAILED:
            return PaymentResult(TransactionStatus.FAILED, txn.id, amount, currency,
                                 f"Payout not sent yet: {message}. Run it again with the same request id.")
        txn.processed_at = utcnow()
        txn.status = TransactionStatus.DECLINED if result else TransactionStatus.FAILED
        txn.error = message[:500]
        session.add(txn)
        record_event(session, actor, txn.customer_id, EventType.PAYOUT_FAILED, amount=amount, currency=currency,
                     request_id=request_id, message=message)
        return PaymentResult(txn.status, txn.id, amount, currency, f"Payout {txn.status}: {message}")


@dataclass(frozen=True)
class CreditMemoInfo:
    id: int
    amount: int
    remaining: int
    currency: str
    reason: str


def create_credit_memo(store: Store, actor: Actor, customer_ref: str | int, amount: int, currency: str,
                       reason: str) -> CreditMemoInfo:
    require(actor, Action.BILLING)
    currency = _check_amount(amount, currency)
    reason = clean_line(reason or "", "reason", limits.REASON) or ""
    if not reason:
        raise InvalidInput(fields={"reason": "say why the customer gets this credit"})
    with store.write() as session:
        customer = customer_by_ref(session, customer_ref)
        memo = CreditMemo(customer_id=customer.id, amount=amount, remaining=amount, currency=currency, reason=reason,
                          agent_id=actor.agent_id)
        session.add(memo)
        session.flush()
        record_event(session, actor, customer.id, EventType.MANUAL_CREDIT, amount=amount, currency=currency,
                     reason=reason, credit_memo=memo.id)
        return CreditMemoInfo(memo.id, memo.amount, memo.remaining, memo.currency, memo.reason)


def available_credit(session: Session, customer_id: int) -> dict[str, int]:
    rows = session.exec(
        select(CreditMemo.currency, func.sum(CreditMemo.remaining)).where(CreditMemo.customer_id == customer_id)
        .group_by(col(CreditMemo.currency))
    ).all()
    return {currency: total for currency, total in rows if total}
