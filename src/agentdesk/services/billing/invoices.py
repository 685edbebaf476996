"""Invoices: issuing one (lines, coupons, credit drawn down), collecting it, reading and resending it.

`issue_invoice` runs inside the caller's transaction and is exactly-once per `billing_key`: a key
already billed writes nothing. `collect_invoice` follows the gateway pattern of refunds: a pending
transaction with an idempotency key is committed, the gateway is called outside any transaction, and
the outcome is recorded with its events in one transaction; `repair_pending_payments` re-sends the key
of a payment a crash or a timeout left pending.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, text, update
from sqlmodel import Session, col, select

from agentdesk.config import Settings
from agentdesk.db.models import (
    AccountCharge,
    Coupon,
    CouponRedemption,
    CreditApplication,
    CreditMemo,
    Customer,
    CustomerEmail,
    Invoice,
    InvoiceDiscount,
    InvoiceLine,
    Order,
    PaymentInstrument,
    TimelineEvent,
    Transaction,
    Website,
    table_of,
    utcnow,
)
from agentdesk.db.store import Store, get_row
from agentdesk.domain import limits, pricing
from agentdesk.domain.enums import (
    InstrumentStatus,
    InvoiceLineKind,
    InvoiceStatus,
    InvoiceStatusSets,
    JobKind,
    OrderKind,
    OrderStatus,
    TransactionStatus,
    TransactionType,
)
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound
from agentdesk.domain.formatting import instrument_label
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import CUSTOMER, SYSTEM, Action, Actor, require
from agentdesk.services.billing import coupons, paid
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.jobs import queue as jobs
from agentdesk.services.money import aggregates
from agentdesk.services.money.gateways import (
    CARD_REFUSED,
    GatewayError,
    GatewayResult,
    GatewayTimeout,
    gateway_for,
    gateway_name,
)
from agentdesk.services.policy import service as policy
from agentdesk.services.timeline import chain as timeline_chain
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import prefetch_unbound, record_event

log = logging.getLogger(__name__)

ITEM_KINDS = (InvoiceLineKind.ITEM, InvoiceLineKind.TRIAL, InvoiceLineKind.SETUP_FEE, InvoiceLineKind.USAGE)
"""Line kinds whose `ref` is the order item they bill."""
NOTHING_DUE = "nothing_due"
_EMAILS = "primary_emails"
"""session.info: customer id → primary email address, read for a whole batch at once (`prefetch_customers`)."""


def invoice_number(invoice_id: int) -> str:
    return f"INV-{invoice_id:08d}"


def customer_email(session: Session, customer_id: int) -> str | None:
    known: dict[int, str | None] | None = session.info.get(_EMAILS)
    if known is not None and customer_id in known:
        return known[customer_id]
    return session.exec(
        select(CustomerEmail.address).where(CustomerEmail.customer_id == customer_id, CustomerEmail.is_primary)
    ).first()


def customer_name(customer: Customer) -> str:
    return customer.organization or f"{customer.first_name} {customer.last_name}".strip()


# --- ids reserved for a batch ----------------------------------------------------------------

_RESERVED = "reserved_ids"
"""session.info: table name → ids reserved for rows this transaction adds, next first (`reserve_ids`)."""


def reserve_ids(session: Session, model: type[Invoice] | type[Transaction], n: int) -> None:
    """Reserve `n` ids of `model`'s table for rows this transaction will add, so a batch names its invoices
    and payments without a flush per row (one flush writes them all). PostgreSQL: drawn from the table's
    sequence in one query; SQLite: the ids after the highest, which no other writer can take while this
    write transaction holds the database (and none of this session's own rows takes without one: a row
    added when the reserve is used up empties it first, see `_reserved_id`)."""
    if n <= 0:
        return
    table = table_of(model)
    if session.get_bind().dialect.name == "postgresql":
        ids = list(session.execute(text(
            f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) FROM generate_series(1, :n)"),
            {"n": n}).scalars().all())
    else:
        session.flush()
        first = (session.execute(select(func.max(table.c.id))).scalar() or 0) + 1
        ids = list(range(first, first + n))
    ids.sort(reverse=True)
    session.info.setdefault(_RESERVED, {})[table.name] = ids


def _reserved_id(session: Session, model: type[Invoice] | type[Transaction]) -> int | None:
    """The next id reserved for `model` in this transaction, or None (the row gets its id at a flush)."""
    pool: dict[str, list[int]] = session.info.get(_RESERVED, {})
    ids = pool.get(table_of(model).name)
    if not ids:
        if ids is not None:
            # Used up: rows flushed without an id must come after every reserved one (SQLite numbers them
            # max + 1), so whatever was reserved is written first.
            del pool[table_of(model).name]
            session.flush()
        return None
    return int(ids.pop())


# --- issuing ---------------------------------------------------------------------------------


def _charge_lines(session: Session, customer_id: int, currency: str, order: Order | None, lines: list[pricing.Line],
                  include: bool) -> tuple[list[pricing.Line], list[AccountCharge]]:
    """The account charges this invoice bills: those the caller's CHARGE lines name (`ref` = charge id) and,
    when `include`, every other unbilled one in the currency (of no order, or of this order), as CHARGE lines."""
    named = {line.ref for line in lines if line.kind is InvoiceLineKind.CHARGE and isinstance(line.ref, int)}
    unbilled = (col(AccountCharge.customer_id) == customer_id) & (col(AccountCharge.currency) == currency) \
        & col(AccountCharge.invoice_id).is_(None)
    wanted: ColumnElement[bool] | None = col(AccountCharge.id).in_(named) if named else None
    if include:
        mine: ColumnElement[bool] = col(AccountCharge.order_id).is_(None)
        if order is not None:
            mine = mine | (col(AccountCharge.order_id) == order.id)
        wanted = mine if wanted is None else (wanted | mine)
    if wanted is None:
        return [], []
    charges = list(session.exec(select(AccountCharge).where(unbilled & wanted).order_by(col(AccountCharge.id))
                                .with_for_update()).all())
    extra = [pricing.Line(InvoiceLineKind.CHARGE, c.description, 1, c.amount, None, c.id)
             for c in charges if c.id not in named]
    return extra, charges


def _draw_credit(session: Session, customer_id: int, currency: str, wanted: int) -> list[tuple[CreditMemo, int]]:
    """Take up to `wanted` from the customer's credit memos in `currency`, oldest first, never below zero."""
    if wanted <= 0:
        return []
    memos = session.exec(
        select(CreditMemo).where(CreditMemo.customer_id == customer_id, CreditMemo.currency == currency,
                                 CreditMemo.remaining > 0)
        .order_by(col(CreditMemo.created_at), col(CreditMemo.id)).with_for_update()
    ).all()
    by_id = {m.id: m for m in memos}
    drawn = []
    for memo_id, amount in pricing.draw_credit([(m.id, m.remaining) for m in memos], wanted):
        taken = session.execute(
            update(CreditMemo).where(col(CreditMemo.id) == memo_id, col(CreditMemo.remaining) >= amount)
            .values(remaining=col(CreditMemo.remaining) - amount).execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("the customer's credit changed while the invoice was issued; try again")
        session.expire(by_id[memo_id], ["remaining"])
        drawn.append((by_id[memo_id], amount))
    return drawn


def issue_invoice(session: Session, actor: Actor, *, customer_id: int, order: Order | None, cycle: int | None,
                  lines: list[pricing.Line], currency: str, billing_key: str, period_start: date | None,
                  period_end: date | None, issued_at: datetime, due_at: datetime, notes: str | None = None,
                  include_account_charges: bool = True, now: datetime | None = None,
                  facts: BatchFacts | None = None) -> Invoice | None:
    """Issue the invoice for `billing_key` in the caller's transaction; None (nothing written) when that key
    was already billed.

    Lines' `ref`: an order item id for items, trials, setup fees and usage; an account charge id for
    CHARGE lines (that charge is then billed by this invoice). The customer's unbilled account charges in
    `currency` are added unless `include_account_charges` is False; open coupon redemptions discount the
    lines; credit memos pay what they can, oldest first.

    `facts` (from `batch_facts`, for many invoices in one transaction) spares the lookups it answers."""
    now = now or utcnow()
    if facts is not None:
        if billing_key in facts.billed_keys:
            return None
    elif session.exec(select(Invoice.id).where(Invoice.billing_key == billing_key)).first() is not None:
        return None
    lines = [replace(line, discounts=[]) for line in lines]
    if facts is None or customer_id in facts.with_charges or any(line.kind is InvoiceLineKind.CHARGE
                                                                  for line in lines):
        extra, charges = _charge_lines(session, customer_id, currency, order, lines, include_account_charges)
    else:
        extra, charges = [], []
    lines += extra
    redemptions = (coupons.applicable_redemptions(session, customer_id, order.id if order else None)
                   if facts is None or customer_id in facts.with_redemptions else [])
    available = 0
    if facts is None or customer_id in facts.with_credit:
        available = sum(m.remaining for m in session.exec(
            select(CreditMemo).where(CreditMemo.customer_id == customer_id, CreditMemo.currency == currency,
                                     CreditMemo.remaining > 0)).all())
    try:
        outcomes = pricing.apply_coupons(lines, [coupons.terms_for(c, currency) for _, c in redemptions])
        sums = pricing.totals(lines, available)
    except pricing.PricingError as exc:
        raise InvalidInput(fields={"amount": str(exc)}) from exc
    reserved = _reserved_id(session, Invoice)
    invoice = Invoice(
        number=invoice_number(reserved) if reserved else f"new-{uuid.uuid4().hex}", billing_key=billing_key,
        customer_id=customer_id,
        order_id=order.id if order else None, cycle=cycle, period_start=period_start, period_end=period_end,
        currency=currency, subtotal=sums.subtotal, discount=sums.discount, credit_applied=sums.credit,
        total=sums.total, status=InvoiceStatus.PAID if sums.total == 0 else InvoiceStatus.ISSUED,
        issued_at=issued_at, due_at=due_at, paid_at=now if sums.total == 0 else None, notes=notes, created_at=now,
    )
    if reserved is not None:
        invoice.id = reserved
    session.add(invoice)
    if reserved is None:
        session.flush()
        invoice.number = invoice_number(invoice.id)
    if facts is not None:
        facts.billed_keys.add(billing_key)
    order_number = order.number if order else None
    for line in lines:
        row = InvoiceLine(
            invoice_id=invoice.id,
            order_item_id=line.ref if line.kind in ITEM_KINDS and isinstance(line.ref, int) else None,
            kind=line.kind, description=line.description[:200],
            period_start=period_start if line.kind in ITEM_KINDS else None,
            period_end=period_end if line.kind in ITEM_KINDS else None,
            quantity=line.quantity, unit_price=line.unit_price, amount=line.amount, discount=line.discount,
            total=line.total,
        )
        session.add(row)
        if line.discounts:
            session.flush()
        for index, amount in line.discounts:
            session.add(InvoiceDiscount(invoice_line_id=row.id, redemption_id=redemptions[index][0].id, amount=amount))
    for charge in charges:
        charge.invoice_id = invoice.id
        session.add(charge)
    for (redemption, coupon), outcome in zip(redemptions, outcomes, strict=True):
        if outcome.discount > 0:
            coupons.mark_used(session, redemption, coupon, now)
    for memo, amount in _draw_credit(session, customer_id, currency, sums.credit):
        session.add(CreditApplication(credit_memo_id=memo.id, invoice_id=invoice.id, amount=amount, created_at=now))
        record_event(session, actor, customer_id, EventType.CREDIT_APPLIED, invoice=invoice.number, amount=amount,
                     currency=currency, order=order_number, credit_memo=memo.id)
    if reserved is None:
        session.flush()
    record_event(session, actor, customer_id, EventType.INVOICE_ISSUED, invoice=invoice.number, amount=invoice.total,
                 currency=currency, order=order_number, due=invoice.due_at.date().isoformat())
    if invoice.status is InvoiceStatus.ISSUED and order is not None and (not order.autopay or due_at > issued_at):
        _queue_invoice_email(session, invoice, f"email-invoice-{invoice.id}")
    return invoice


@dataclass
class BatchFacts:
    """What a few queries found for a batch of invoices issued in one transaction (`batch_facts`): the
    billing keys already used, and the customers that have unbilled account charges, open coupon
    redemptions or credit. Only those customers' invoices look them up."""
    billed_keys: set[str]
    with_charges: set[int]
    with_redemptions: set[int]
    with_credit: set[int]


def batch_facts(session: Session, customer_ids: list[int], billing_keys: list[str]) -> BatchFacts:
    ids = sorted(set(customer_ids))
    billed = set(session.exec(select(Invoice.billing_key).where(col(Invoice.billing_key).in_(billing_keys))).all()) \
        if billing_keys else set()
    charges = set(session.exec(select(AccountCharge.customer_id).where(
        col(AccountCharge.customer_id).in_(ids), col(AccountCharge.invoice_id).is_(None))).all())
    redemptions = set(session.exec(select(CouponRedemption.customer_id).where(
        col(CouponRedemption.customer_id).in_(ids), col(CouponRedemption.ended_at).is_(None))).all())
    credit = set(session.exec(select(CreditMemo.customer_id).where(
        col(CreditMemo.customer_id).in_(ids), CreditMemo.remaining > 0)).all())
    return BatchFacts({k for k in billed if k}, charges, redemptions, credit)


# --- emails ----------------------------------------------------------------------------------


def invoice_email(invoice: Invoice, lines: list[InvoiceLine], name: str) -> tuple[str, str]:
    """(subject, body) of the email that sends an invoice to its customer."""
    cur = invoice.currency
    rows = []
    for line in lines:
        row = f"  {line.description}: {line.quantity} × {format_amount(line.unit_price, cur)} = " \
              f"{format_amount(line.amount, cur)}"
        if line.discount:
            row += f" (discount {format_amount(line.discount, cur)})"
        rows.append(row)
    parts = [f"Hello {name},", "", f"Invoice {invoice.number}"
             + (f" for {invoice.period_start.isoformat()} to {invoice.period_end.isoformat()}"
                if invoice.period_start and invoice.period_end else "") + ":", *rows, "",
             f"Subtotal: {format_amount(invoice.subtotal, cur)}"]
    if invoice.discount:
        parts.append(f"Discounts: -{format_amount(invoice.discount, cur)}")
    if invoice.credit_applied:
        parts.append(f"Credit applied: -{format_amount(invoice.credit_applied, cur)}")
    parts.append(f"Total: {format_amount(invoice.total, cur)}")
    if invoice.amount_paid:
        parts.append(f"Paid: {format_amount(invoice.amount_paid, cur)}")
    if invoice.status in InvoiceStatusSets.OPEN:
        parts.append(f"Due: {invoice.due_at.date().isoformat()}")
    if invoice.notes:
        parts += ["", invoice.notes]
    subject = f"Invoice {invoice.number}: {format_amount(invoice.total, cur)}"
    return subject, "\n".join(parts) + "\n"


def _invoice_lines(session: Session, invoice_id: int) -> list[InvoiceLine]:
    return list(session.exec(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id)
                             .order_by(col(InvoiceLine.id))).all())


def _queue_invoice_email(session: Session, invoice: Invoice, key: str) -> str | None:
    to = customer_email(session, invoice.customer_id)
    if not to:
        return None
    customer = get_row(session, Customer, invoice.customer_id)
    subject, body = invoice_email(invoice, _invoice_lines(session, invoice.id), customer_name(customer))
    jobs.enqueue(session, JobKind.EMAIL, key, {"to": to, "subject": subject, "body": body,
                                               "customer_id": invoice.customer_id},
                 customer_id=invoice.customer_id, max_attempts=5)
    return to


def _queue_simple_email(session: Session, customer_id: int, key: str, subject: str, body: str,
                        transaction_id: int | None = None) -> None:
    to = customer_email(session, customer_id)
    if not to:
        return
    payload: dict[str, Any] = {"to": to, "subject": subject, "body": body, "customer_id": customer_id}
    if transaction_id is not None:
        payload["transaction"] = transaction_id
    jobs.enqueue(session, JobKind.EMAIL, key, payload, customer_id=customer_id, max_attempts=5)


# --- collecting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectResult:
    status: str
    """A `TransactionStatus` value, or "nothing_due"."""
    invoice_number: str
    transaction_id: int | None
    amount: int
    currency: str
    message: str
    needs_customer: bool = False
    """The card's bank wants the customer to authenticate the payment: not a plain decline, no dunning
    retry; the customer pays on a pay-invoice link (`link` when one was queued)."""
    link: int | None = None

    @property
    def ok(self) -> bool:
        return self.status in (TransactionStatus.APPROVED, NOTHING_DUE)

    def to_dict(self) -> dict[str, Any]:
        data = {"status": str(self.status), "invoice": self.invoice_number, "transaction": self.transaction_id,
                "amount": self.amount, "currency": self.currency, "message": self.message}
        if self.needs_customer:
            data.update(needs_customer=True, link=self.link)
        return data


@dataclass(frozen=True)
class _Attempt:
    transaction_id: int
    invoice_id: int
    key: str
    amount: int
    currency: str
    gateway: str
    token: str
    instrument_id: int
    label: str


def _lock_invoice(session: Session, invoice_id: int) -> Invoice:
    invoice = session.exec(select(Invoice).where(Invoice.id == invoice_id).with_for_update()).one_or_none()
    if invoice is None:
        raise NotFound(f"no invoice {invoice_id}")
    return invoice


def _usable(instrument: PaymentInstrument | None, customer_id: int) -> bool:
    return (instrument is not None and instrument.customer_id == customer_id
            and instrument.status == InstrumentStatus.ACTIVE and bool(instrument.gateway_token))


def _instruments(session: Session, invoice: Invoice, instrument_id: int | None,
                 active_by_customer: dict[int, list[PaymentInstrument]] | None = None) -> list[PaymentInstrument]:
    """The instrument to charge first, then the customer's other active instruments allowed for backup use."""
    first: PaymentInstrument | None = None
    if instrument_id is not None:
        first = session.get(PaymentInstrument, instrument_id)
        if not _usable(first, invoice.customer_id):
            raise InvalidInput(fields={"instrument": f"payment instrument {instrument_id} is not an active instrument "
                                                     "of this customer"})
    if active_by_customer is not None:
        active = active_by_customer.get(invoice.customer_id, [])
    else:
        active = list(session.exec(
            select(PaymentInstrument).where(PaymentInstrument.customer_id == invoice.customer_id,
                                            PaymentInstrument.status == InstrumentStatus.ACTIVE,
                                            col(PaymentInstrument.gateway_token).is_not(None))
            .order_by(col(PaymentInstrument.is_primary).desc(), col(PaymentInstrument.id))
        ).all())
    if first is None and invoice.order_id is not None:
        order = session.get(Order, invoice.order_id)
        if order is not None and order.instrument_id is not None:
            candidate = next((i for i in active if i.id == order.instrument_id), None) \
                or session.get(PaymentInstrument, order.instrument_id)
            first = candidate if _usable(candidate, invoice.customer_id) else None
    if first is None:
        first = active[0] if active else None
    if first is None:
        return []
    return [first] + [i for i in active if i.id != first.id and i.allow_backup]


def active_instruments(session: Session, customer_ids: list[int]) -> dict[int, list[PaymentInstrument]]:
    """Each customer's active instruments (primary first), for a batch of collections: one query."""
    found: dict[int, list[PaymentInstrument]] = {}
    for instrument in session.exec(
            select(PaymentInstrument).where(col(PaymentInstrument.customer_id).in_(sorted(set(customer_ids))),
                                            PaymentInstrument.status == InstrumentStatus.ACTIVE,
                                            col(PaymentInstrument.gateway_token).is_not(None))
            .order_by(col(PaymentInstrument.customer_id), col(PaymentInstrument.is_primary).desc(),
                      col(PaymentInstrument.id))).all():
        found.setdefault(instrument.customer_id, []).append(instrument)
    return found


def prefetch_customers(session: Session, customer_ids: list[int]) -> None:
    """Load a batch's customers and their primary email addresses into the session (two queries), so each
    invoice's receipt and website lookups need none of their own."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    # The session's identity map holds rows weakly: keep them for the transaction.
    customers = session.exec(select(Customer).where(col(Customer.id).in_(ids))).all()
    session.info.setdefault("batch_rows", []).extend(customers)
    emails: dict[int, str | None] = session.info.setdefault(_EMAILS, {})
    emails.update(dict.fromkeys(ids))
    emails.update(dict(session.exec(select(CustomerEmail.customer_id, CustomerEmail.address).where(
        col(CustomerEmail.customer_id).in_(ids), CustomerEmail.is_primary)).all()))


def _gateway_of(session: Session, settings: Settings, website_id: int) -> str:
    """The website's gateway, read once per transaction."""
    names: dict[int, str] = session.info.setdefault("gateway_by_website", {})
    if website_id not in names:
        names[website_id] = gateway_name(session, get_row(session, Website, website_id), settings)
    return names[website_id]


def _start(session: Session, actor: Actor, settings: Settings, invoice: Invoice, instrument: PaymentInstrument,
           key: str) -> _Attempt:
    amount = invoice.total - invoice.amount_paid
    reserved = _reserved_id(session, Transaction)
    txn = Transaction(customer_id=invoice.customer_id, order_id=invoice.order_id, invoice_id=invoice.id,
                      instrument_id=instrument.id, type=TransactionType.SALE, status=TransactionStatus.PENDING,
                      amount=amount, currency=invoice.currency,
                      gateway=instrument.sticky_gateway or _gateway_of(
                          session, settings, get_row(session, Customer, invoice.customer_id).website_id),
                      idempotency_key=key, description=f"Invoice {invoice.number}", agent_id=actor.agent_id)
    if reserved is not None:
        txn.id = reserved
    session.add(txn)
    if reserved is None:
        session.flush()
    return _Attempt(txn.id, invoice.id, key, amount, invoice.currency, txn.gateway, instrument.gateway_token or "",
                    instrument.id, instrument_label(instrument.method, instrument.brand, instrument.last4))


def _resume(session: Session, txn: Transaction) -> _Attempt:
    instrument = get_row(session, PaymentInstrument, txn.instrument_id, "payment instrument")
    return _Attempt(txn.id, txn.invoice_id or 0, txn.idempotency_key or "", txn.amount, txn.currency, txn.gateway,
                    instrument.gateway_token or "", instrument.id,
                    instrument_label(instrument.method, instrument.brand, instrument.last4))


def _result(invoice: Invoice, txn: Transaction | None, message: str) -> CollectResult:
    status = txn.status.value if txn is not None else TransactionStatus.FAILED.value
    return CollectResult(status, invoice.number, txn.id if txn else None,
                         txn.amount if txn else invoice.total - invoice.amount_paid, invoice.currency, message)


def _call(store: Store, settings: Settings, attempt: _Attempt) -> tuple[GatewayResult | None, str | None]:
    """The gateway's answer, or (None, error); GatewayTimeout propagates (the payment stays pending)."""
    try:
        gateway = gateway_for(store, attempt.gateway, settings)
        return gateway.sale(amount=attempt.amount, currency=attempt.currency, token=attempt.token,
                            idempotency_key=attempt.key), None
    except GatewayTimeout:
        raise
    except GatewayError as exc:
        return None, str(exc)


def _approve(session: Session, actor: Actor, invoice: Invoice, txn: Transaction, result: GatewayResult,
             label: str, now: datetime, sales: list[aggregates.Sale] | None = None) -> CollectResult:
    """`sales`: where a batch collects the aggregate updates, to make them together after all its
    bookkeeping (`aggregates.record_sales`)."""
    txn.status = TransactionStatus.APPROVED
    txn.gateway_ref = result.reference
    txn.processed_at = now
    if result.settled:
        txn.settled, txn.settled_at = True, now
    session.add(txn)
    sale = aggregates.Sale(txn.customer_id, txn.amount, txn.currency, now, result.settled)
    if sales is None:
        aggregates.record_sales(session, [sale])
    else:
        sales.append(sale)
    invoice.amount_paid += txn.amount
    invoice.status = InvoiceStatus.PAID
    invoice.paid_at = now
    invoice.next_attempt_at = None
    session.add(invoice)
    order = session.get(Order, invoice.order_id) if invoice.order_id else None
    record_event(session, actor, invoice.customer_id, EventType.INVOICE_PAID, invoice=invoice.number,
                 amount=txn.amount, currency=txn.currency, order=order.number if order else None, transaction=txn.id)
    amount = format_amount(txn.amount, txn.currency)
    _queue_simple_email(session, invoice.customer_id, f"email-receipt-{invoice.id}", f"Receipt for {invoice.number}",
                        f"Hello,\n\nThank you: we received {amount} for invoice {invoice.number}"
                        + (f" (order {order.number})" if order else "")
                        + f", charged to {label}.\nReference: transaction {txn.id}.\n", txn.id)
    paid.on_invoice_paid(session, actor, invoice, txn, now)
    return CollectResult(TransactionStatus.APPROVED.value, invoice.number, txn.id, txn.amount, txn.currency,
                         f"Charged {amount} to {label} for {invoice.number}")


def _fail(session: Session, actor: Actor, invoice: Invoice, txn: Transaction | None, message: str,
          now: datetime) -> CollectResult:
    """The collection attempt failed on every instrument: failure events, the dunning schedule, an email."""
    order = session.get(Order, invoice.order_id) if invoice.order_id else None
    amount = txn.amount if txn else invoice.total - invoice.amount_paid
    money: dict[str, Any] = {"invoice": invoice.number, "amount": amount, "currency": invoice.currency,
                             "transaction": txn.id if txn else None, "message": message[:500]}
    if order is not None and order.kind is OrderKind.SUBSCRIPTION and order.status is OrderStatus.ACTIVE:
        product = paid.order_product(session, order)
        if invoice.attempts <= 1:
            record_event(session, actor, order.customer_id, EventType.SUBSCRIPTION_BILLING_FAILED, product=product,
                         order=order.number, **money)
        else:
            record_event(session, actor, order.customer_id, EventType.BILLING_RESUBMISSION_FAILED, product=product,
                         order=order.number, attempt=invoice.attempts, **money)
        if not order.in_credit_control:
            order.in_credit_control = True
            order.updated_at = now
            session.add(order)
            record_event(session, actor, order.customer_id, EventType.CREDIT_CONTROL_ENTERED, order=order.number,
                         invoice=invoice.number)
        schedule = policy.dunning_schedule(session)
        invoice.next_attempt_at = (invoice.due_at + timedelta(days=schedule[invoice.attempts - 1])
                                   if 1 <= invoice.attempts <= len(schedule) else None)
    else:
        record_event(session, actor, invoice.customer_id, EventType.PAYMENT_FAILED,
                     order=order.number if order else None, **money)
        invoice.next_attempt_at = None
    session.add(invoice)
    _queue_simple_email(
        session, invoice.customer_id, f"email-payment-failed-{invoice.id}-{invoice.attempts}",
        f"Payment failed for {invoice.number}",
        f"Hello,\n\nWe could not collect {format_amount(amount, invoice.currency)} for invoice {invoice.number}"
        + (f" (order {order.number})" if order else "") + f": {message}.\n"
        + (f"We will try again on {invoice.next_attempt_at.date().isoformat()}. " if invoice.next_attempt_at else "")
        + "Please update your payment method or contact us.\n",
        txn.id if txn else None)
    return _result(invoice, txn, f"Payment {txn.status.value if txn else 'failed'}: {message}")


def _outcome(store: Store, actor: Actor, settings: Settings | None, attempt: _Attempt, result: GatewayResult | None,
             error: str | None, now: datetime, final: bool) -> CollectResult | None:
    """Record one attempt's answer. A decline with `final` False (a backup instrument comes next) is recorded
    on the transaction only, and None is returned; the collection's outcome event binds it later."""
    approved = result is not None and result.approved
    unrecorded = None if approved or final else "a declined attempt; the backup instrument's outcome event records it"
    with store.write(unrecorded=unrecorded) as session:
        txn = session.exec(select(Transaction).where(Transaction.id == attempt.transaction_id)
                           .with_for_update()).one()
        invoice = _lock_invoice(session, attempt.invoice_id)
        return _record_outcome(session, actor, settings, attempt, txn, invoice, result, error, now, final)


def _record_outcome(session: Session, actor: Actor, settings: Settings | None, attempt: _Attempt, txn: Transaction,
                    invoice: Invoice, result: GatewayResult | None, error: str | None, now: datetime, final: bool,
                    sales: list[aggregates.Sale] | None = None) -> CollectResult | None:
    """`_outcome` in the caller's transaction, the transaction and invoice rows locked by the caller."""
    if txn.status != TransactionStatus.PENDING:
        return _result(invoice, txn, f"The payment of {invoice.number} was already {txn.status.value}")
    aggregates.lock_customers(session, [txn.customer_id])
    if result is not None and result.approved:
        return _approve(session, actor, invoice, txn, result, attempt.label, now, sales)
    message = (result.message if result else error) or "declined"
    txn.status = (TransactionStatus.DECLINED if result is not None and result.outcome in CARD_REFUSED
                  else TransactionStatus.FAILED)
    txn.error = message[:500]
    txn.processed_at = now
    session.add(txn)
    if not final:
        return None
    if result is not None and result.needs_customer:
        return _needs_customer(session, actor, settings, invoice, txn, message, now)
    return _fail(session, actor, invoice, txn, message, now)


def _needs_customer(session: Session, actor: Actor, settings: Settings | None, invoice: Invoice, txn: Transaction,
                    message: str, now: datetime) -> CollectResult:
    """The card's bank asks the customer to authenticate: no card of theirs can be charged without them, so
    this is no decline. No retry is scheduled and the order stays out of credit control. A renewal or dunning
    attempt (the system's) sends the customer a pay-invoice link when there is a portal address to make one;
    an agent is told to send one. The timeline says which."""
    from agentdesk.services.links.requests import pay_invoice_link

    order = session.get(Order, invoice.order_id) if invoice.order_id else None
    invoice.next_attempt_at = None
    session.add(invoice)
    link_id: int | None = None
    if actor != SYSTEM or settings is None:
        next_step = "send the customer a pay-invoice link"
    else:
        link_id, next_step = pay_invoice_link(session, SYSTEM, settings, invoice, now)
    record_event(session, actor, invoice.customer_id, EventType.PAYMENT_NEEDS_AUTHENTICATION, amount=txn.amount,
                 currency=txn.currency, invoice=invoice.number, order=order.number if order else None,
                 transaction=txn.id, message=message[:500], link=link_id, next_step=next_step)
    return CollectResult(txn.status.value, invoice.number, txn.id, txn.amount, txn.currency,
                         f"{invoice.number} needs the customer to authenticate the payment; {next_step}",
                         needs_customer=True, link=link_id)


def _pending_message(invoice_number: str) -> str:
    return (f"No answer from the gateway yet for {invoice_number}; the payment will be confirmed or cancelled, "
            "never charged twice")


def collect_invoice(store: Store, actor: Actor, settings: Settings, invoice_id: int, *, attempt_key: str | None = None,
                    instrument_id: int | None = None, now: datetime | None = None) -> CollectResult:
    """Charge what the invoice still owes: its order's instrument (or `instrument_id`, or the customer's
    primary), then backup instruments; records the outcome, the receipt or the dunning step."""
    require(actor, Action.BILLING)
    now = now or utcnow()
    with store.write(unrecorded="a pending invoice payment; its outcome is recorded on the timeline") as session:
        invoice = _lock_invoice(session, invoice_id)
        started = start_collection(session, actor, settings, invoice, now, attempt_key=attempt_key,
                                   instrument_id=instrument_id)
    if isinstance(started, CollectResult):
        return started
    return _collect(store, actor, settings, started, now)


def collect_on_link(store: Store, settings: Settings, invoice_id: int, instrument_id: int,
                    now: datetime | None = None) -> CollectResult:
    """The customer paying an invoice on a pay-invoice link (the caller checked the link: that is the
    authority), as `CUSTOMER`: `collect_invoice` on the one card the customer chose, no backups."""
    now = now or utcnow()
    with store.write(unrecorded="a pending invoice payment; its outcome is recorded on the timeline") as session:
        invoice = _lock_invoice(session, invoice_id)
        started = _start_collection(session, CUSTOMER, settings, invoice, now, instrument_id=instrument_id)
    if isinstance(started, CollectResult):
        return started
    return _collect(store, CUSTOMER, settings, replace(started, plan=started.plan[:1]), now)


@dataclass(frozen=True)
class Started:
    """A collection whose first payment is pending (committed with its key): what the gateway call and the
    outcome need."""
    invoice_id: int
    number: str
    plan: list[tuple[int, str]]
    """(instrument id, idempotency key) to try in turn: the first instrument, then backups."""
    attempt: _Attempt


def start_collection(session: Session, actor: Actor, settings: Settings, invoice: Invoice, now: datetime, *,
                     attempt_key: str | None = None, instrument_id: int | None = None, fresh: bool = False,
                     active: dict[int, list[PaymentInstrument]] | None = None) -> Started | CollectResult:
    """The pending half of `collect_invoice` in the caller's transaction (the invoice locked by the caller):
    the pending payment on the first instrument, or the result when there is nothing to collect (or no
    instrument: then the failure is recorded). `fresh`: the invoice was issued in this transaction, so no
    payment of it can exist yet; `active`: the batch's `active_instruments`."""
    require(actor, Action.BILLING)
    return _start_collection(session, actor, settings, invoice, now, attempt_key=attempt_key,
                             instrument_id=instrument_id, fresh=fresh, active=active)


def _start_collection(session: Session, actor: Actor, settings: Settings, invoice: Invoice, now: datetime, *,
                      attempt_key: str | None = None, instrument_id: int | None = None, fresh: bool = False,
                      active: dict[int, list[PaymentInstrument]] | None = None) -> Started | CollectResult:
    due = invoice.total - invoice.amount_paid
    if invoice.status not in InvoiceStatusSets.OPEN or due <= 0:
        return CollectResult(NOTHING_DUE, invoice.number, None, 0, invoice.currency,
                             f"Nothing is due on {invoice.number} ({invoice.status.value})")
    key = attempt_key or f"invoice-{invoice.id}-attempt-{invoice.attempts + 1}"
    if not fresh:
        waiting = session.exec(select(Transaction).where(Transaction.invoice_id == invoice.id,
                                                         Transaction.status == TransactionStatus.PENDING)).first()
        if waiting is not None:
            return CollectResult(TransactionStatus.PENDING.value, invoice.number, waiting.id, waiting.amount,
                                 waiting.currency, _pending_message(invoice.number))
        earlier = session.exec(select(Transaction).where(Transaction.idempotency_key == key)).first()
        if earlier is not None:
            return _result(invoice, earlier, f"Attempt {key} was already {earlier.status.value}; nothing was charged "
                                             "again")
    instruments = _instruments(session, invoice, instrument_id, active)
    invoice.attempts += 1
    session.add(invoice)
    if not instruments:
        return _fail(session, actor, invoice, None, "the customer has no active payment instrument", now)
    plan = [(i.id, key if n == 0 else f"{key}-backup-{i.id}") for n, i in enumerate(instruments)]
    first = _start(session, actor, settings, invoice, instruments[0], plan[0][1])
    return Started(invoice.id, invoice.number, plan, first)


def _collect(store: Store, actor: Actor, settings: Settings, started: Started, now: datetime, start_at: int = 0,
             answer: tuple[GatewayResult | None, str | None] | None = None) -> CollectResult:
    """The gateway calls and outcomes of a started collection, from attempt `start_at` (whose gateway
    answer may be given already)."""
    attempt = started.attempt
    plan = started.plan
    for index in range(start_at, len(plan)):
        if index > start_at or (index > 0 and answer is None):
            with store.write(unrecorded="a pending payment on a backup instrument") as session:
                invoice = _lock_invoice(session, started.invoice_id)
                backup = get_row(session, PaymentInstrument, plan[index][0], "payment instrument")
                attempt = _start(session, actor, settings, invoice, backup, plan[index][1])
        if index == start_at and answer is not None:
            result, error = answer
        else:
            try:
                result, error = _call(store, settings, attempt)
            except GatewayTimeout:
                return CollectResult(TransactionStatus.PENDING.value, started.number, attempt.transaction_id,
                                     attempt.amount, attempt.currency, _pending_message(started.number))
        final = index == len(plan) - 1 or (result is not None and result.approved)
        outcome = _outcome(store, actor, settings, attempt, result, error, now, final)
        if outcome is not None:
            return outcome
    raise AssertionError("the last attempt is always final")


def collect_started(store: Store, actor: Actor, settings: Settings, started: list[Started], now: datetime
                    ) -> list[tuple[int, CollectResult | Exception]]:
    """Finish many started collections: each first attempt's gateway call (outside any transaction), then
    their outcomes together in one transaction (approvals and final declines); a decline with a backup
    instrument left goes on one collection at a time. Should the batch's transaction fail, each outcome is
    recorded in its own. Returns (invoice id, result or the error) for each."""
    done: list[tuple[int, CollectResult | Exception]] = []
    answered: list[tuple[Started, GatewayResult | None, str | None]] = []
    for item in started:
        try:
            result, error = _call(store, settings, item.attempt)
        except GatewayTimeout:
            done.append((item.invoice_id, CollectResult(
                TransactionStatus.PENDING.value, item.number, item.attempt.transaction_id, item.attempt.amount,
                item.attempt.currency, _pending_message(item.number))))
            continue
        except Exception as exc:
            done.append((item.invoice_id, exc))
            continue
        answered.append((item, result, error))
    together = [(s, r, e) for s, r, e in answered if (r is not None and r.approved) or len(s.plan) == 1]
    alone = [(s, r, e) for s, r, e in answered if not ((r is not None and r.approved) or len(s.plan) == 1)]
    if together:
        try:
            done += _record_together(store, actor, settings, together, now)
        except Exception:
            log.warning("recording %d payment outcomes together failed; recording each alone", len(together),
                        exc_info=True)
            alone = together + alone
    for item, result, error in alone:
        try:
            done.append((item.invoice_id, _collect(store, actor, settings, item, now, 0, (result, error))))
        except Exception as exc:
            done.append((item.invoice_id, exc))
    return done


def _record_together(store: Store, actor: Actor, settings: Settings,
                     answered: list[tuple[Started, GatewayResult | None, str | None]],
                     now: datetime) -> list[tuple[int, CollectResult | Exception]]:
    txn_ids = sorted(s.attempt.transaction_id for s, _, _ in answered)
    invoice_ids = sorted(s.invoice_id for s, _, _ in answered)
    done: list[tuple[int, CollectResult | Exception]] = []
    with store.write() as session:
        txns = {t.id: t for t in session.exec(select(Transaction).where(col(Transaction.id).in_(txn_ids))
                                              .order_by(col(Transaction.id)).with_for_update()).all()}
        invoices = {i.id: i for i in session.exec(select(Invoice).where(col(Invoice.id).in_(invoice_ids))
                                                  .order_by(col(Invoice.id)).with_for_update()).all()}
        customers = sorted({t.customer_id for t in txns.values()})
        aggregates.lock_customers(session, customers)
        order_ids = sorted({i.order_id for i in invoices.values() if i.order_id is not None})
        paid.lock_orders(session, order_ids)
        timeline_chain.prefetch_heads(session, customers)
        prefetch_unbound(session, customers)
        prefetch_customers(session, customers)
        jobs.prefetch_keys(session, [f"email-receipt-{i}" for i in invoice_ids])
        sales: list[aggregates.Sale] = []
        for item, result, error in answered:
            outcome = _record_outcome(session, actor, settings, item.attempt, txns[item.attempt.transaction_id],
                                      invoices[item.invoice_id], result, error, now, True, sales)
            assert outcome is not None
            done.append((item.invoice_id, outcome))
        aggregates.record_sales(session, sales)
    return done


def finish_pending(session: Session, settings: Settings, txn: Transaction, result: GatewayResult,
                   now: datetime) -> CollectResult:
    """What `repair_pending_payments` records for a pending invoice payment given the gateway's answer, in the
    caller's transaction (the payment's row locked by the caller): how a gateway's event about it is applied."""
    assert txn.invoice_id is not None
    invoice = _lock_invoice(session, txn.invoice_id)
    outcome = _record_outcome(session, SYSTEM, settings, _resume(session, txn), txn, invoice, result, None, now,
                              final=True)
    assert outcome is not None
    return outcome


def repair_pending_payments(store: Store, settings: Settings, older_than: timedelta = timedelta(0)) -> int:
    """Finish invoice payments left pending by a crash or a timeout by re-sending their key; how many finished."""
    cutoff = utcnow() - older_than
    with store.read() as session:
        rows = session.exec(select(Transaction).where(
            Transaction.status == TransactionStatus.PENDING, Transaction.type == TransactionType.SALE,
            col(Transaction.invoice_id).is_not(None), col(Transaction.idempotency_key).is_not(None),
            Transaction.created_at <= cutoff).order_by(col(Transaction.id))).all()
        attempts = [_resume(session, txn) for txn in rows if txn.instrument_id is not None]
    finished = 0
    for attempt in attempts:
        try:
            result, error = _call(store, settings, attempt)
        except GatewayTimeout:
            continue
        outcome = _outcome(store, SYSTEM, settings, attempt, result, error, utcnow(), final=True)
        finished += outcome is not None
    return finished


# --- reading ---------------------------------------------------------------------------------


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class InvoiceSummary:
    id: int
    number: str
    order_number: str | None
    cycle: int | None
    period_start: date | None
    period_end: date | None
    subtotal: int
    discount: int
    credit_applied: int
    total: int
    amount_paid: int
    currency: str
    status: str
    issued_at: datetime
    due_at: datetime
    paid_at: datetime | None
    next_attempt_at: datetime | None
    attempts: int

    @property
    def owed(self) -> int:
        return self.total - self.amount_paid if self.status in InvoiceStatusSets.OPEN else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number, "order": self.order_number, "cycle": self.cycle,
            "period_start": _iso(self.period_start), "period_end": _iso(self.period_end),
            "subtotal": self.subtotal, "discount": self.discount, "credit_applied": self.credit_applied,
            "total": self.total, "amount_paid": self.amount_paid, "currency": self.currency, "status": self.status,
            "issued_at": _iso(self.issued_at), "due_at": _iso(self.due_at), "paid_at": _iso(self.paid_at),
            "next_attempt_at": _iso(self.next_attempt_at), "attempts": self.attempts,
        }


@dataclass(frozen=True)
class LineInfo:
    kind: str
    description: str
    period_start: date | None
    period_end: date | None
    quantity: int
    unit_price: int
    amount: int
    discount: int
    total: int
    discounts: list[tuple[str, int]]
    """(coupon code, minor units) given on this line."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "description": self.description, "period_start": _iso(self.period_start),
                "period_end": _iso(self.period_end), "quantity": self.quantity, "unit_price": self.unit_price,
                "amount": self.amount, "discount": self.discount, "total": self.total,
                "discounts": [{"coupon": code, "amount": amount} for code, amount in self.discounts]}


@dataclass(frozen=True)
class PaymentInfo:
    transaction_id: int
    status: str
    amount: int
    currency: str
    created_at: datetime
    instrument: str | None
    message: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"transaction": self.transaction_id, "status": self.status, "amount": self.amount,
                "currency": self.currency, "created_at": _iso(self.created_at), "instrument": self.instrument,
                "message": self.message}


@dataclass(frozen=True)
class CreditInfo:
    credit_memo_id: int
    amount: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"credit_memo": self.credit_memo_id, "amount": self.amount, "reason": self.reason}


@dataclass(frozen=True)
class InvoiceDetail(InvoiceSummary):
    customer_ref: str
    customer_name: str
    lines: list[LineInfo]
    payments: list[PaymentInfo]
    credits: list[CreditInfo]
    notes: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "customer": self.customer_ref, "customer_name": self.customer_name,
                "lines": [line.to_dict() for line in self.lines], "payments": [p.to_dict() for p in self.payments],
                "credits": [c.to_dict() for c in self.credits], "notes": self.notes}


def _summary_fields(invoice: Invoice, order_number: str | None) -> dict[str, Any]:
    return dict(
        id=invoice.id, number=invoice.number, order_number=order_number, cycle=invoice.cycle,
        period_start=invoice.period_start, period_end=invoice.period_end, subtotal=invoice.subtotal,
        discount=invoice.discount, credit_applied=invoice.credit_applied, total=invoice.total,
        amount_paid=invoice.amount_paid, currency=invoice.currency, status=invoice.status.value,
        issued_at=invoice.issued_at, due_at=invoice.due_at, paid_at=invoice.paid_at,
        next_attempt_at=invoice.next_attempt_at, attempts=invoice.attempts,
    )


def _summaries(session: Session, customer_id: int, statuses: tuple[InvoiceStatus, ...] | None) -> list[InvoiceSummary]:
    query = (select(Invoice, Order.number).outerjoin(Order, col(Order.id) == col(Invoice.order_id))
             .where(Invoice.customer_id == customer_id)
             .order_by(col(Invoice.issued_at).desc(), col(Invoice.id).desc()))
    if statuses is not None:
        query = query.where(col(Invoice.status).in_(statuses))
    return [InvoiceSummary(**_summary_fields(invoice, number)) for invoice, number in session.exec(query).all()]


def list_invoices(store: Store, actor: Actor, customer_ref: str | int,
                  status: InvoiceStatus | str | None = None) -> list[InvoiceSummary]:
    """The customer's invoices, newest first (only those in `status` when given)."""
    require(actor, Action.VIEW_CUSTOMERS)
    wanted = None
    if status is not None:
        try:
            wanted = (InvoiceStatus(str(status).strip().lower()),)
        except ValueError:
            raise InvalidInput(fields={"status": f"{status!r} is not an invoice status; use one of "
                                                 + ", ".join(s.value for s in InvoiceStatus)}) from None
    with store.read() as session:
        return _summaries(session, customer_by_ref(session, customer_ref).id, wanted)


def open_invoices(store: Store, actor: Actor, customer_ref: str | int) -> list[InvoiceSummary]:
    """The customer's invoices that still want paying (issued or past due), newest first."""
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        return _summaries(session, customer_by_ref(session, customer_ref).id, InvoiceStatusSets.OPEN)


def invoice_by_number(session: Session, number: str) -> Invoice:
    text = (number or "").strip().upper()
    invoice = (session.exec(select(Invoice).where(Invoice.number == text)).one_or_none()
               if text and len(text) <= limits.INVOICE_NUMBER and text.isprintable() else None)
    if invoice is None:
        raise NotFound(f"no invoice {number!r}")
    return invoice


def invoice_detail(store: Store, actor: Actor, number: str) -> InvoiceDetail:
    """An invoice with its lines (and the coupons on each), payments, credit applied and notes."""
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        invoice = invoice_by_number(session, number)
        customer = get_row(session, Customer, invoice.customer_id)
        order = session.get(Order, invoice.order_id) if invoice.order_id else None
        given: dict[int, list[tuple[str, int]]] = {}
        for line_id, code, amount in session.exec(
            select(InvoiceDiscount.invoice_line_id, Coupon.code, InvoiceDiscount.amount)
            .join(CouponRedemption, col(CouponRedemption.id) == col(InvoiceDiscount.redemption_id))
            .join(Coupon, col(Coupon.id) == col(CouponRedemption.coupon_id))
            .join(InvoiceLine, col(InvoiceLine.id) == col(InvoiceDiscount.invoice_line_id))
            .where(InvoiceLine.invoice_id == invoice.id).order_by(col(InvoiceDiscount.id))
        ).all():
            given.setdefault(line_id, []).append((code, amount))
        lines = [LineInfo(line.kind.value, line.description, line.period_start, line.period_end, line.quantity,
                          line.unit_price, line.amount, line.discount, line.total, given.get(line.id, []))
                 for line in _invoice_lines(session, invoice.id)]
        payments = []
        for txn, instrument in session.exec(
            select(Transaction, PaymentInstrument)
            .outerjoin(PaymentInstrument, col(PaymentInstrument.id) == col(Transaction.instrument_id))
            .where(Transaction.invoice_id == invoice.id).order_by(col(Transaction.id))
        ).all():
            label = instrument_label(instrument.method, instrument.brand, instrument.last4) if instrument else None
            payments.append(PaymentInfo(txn.id, txn.status.value, txn.amount, txn.currency, txn.created_at, label,
                                        txn.error))
        credits = [CreditInfo(app.credit_memo_id, app.amount, memo.reason) for app, memo in session.exec(
            select(CreditApplication, CreditMemo)
            .join(CreditMemo, col(CreditMemo.id) == col(CreditApplication.credit_memo_id))
            .where(CreditApplication.invoice_id == invoice.id).order_by(col(CreditApplication.id))
        ).all()]
        return InvoiceDetail(**_summary_fields(invoice, order.number if order else None),
                             customer_ref=customer.external_id, customer_name=customer_name(customer), lines=lines,
                             payments=payments, credits=credits, notes=invoice.notes)


def resend_invoice(store: Store, actor: Actor, number: str) -> str:
    """Email the invoice to its customer again (INVOICE_RESENT); the address it goes to."""
    require(actor, Action.BILLING)
    with store.write() as session:
        invoice = invoice_by_number(session, number)
        if invoice.status is InvoiceStatus.VOID:
            raise Conflict(f"invoice {invoice.number} is void; there is nothing to resend")
        sent = session.exec(select(func.count()).select_from(TimelineEvent).where(
            TimelineEvent.customer_id == invoice.customer_id,
            TimelineEvent.type == EventType.INVOICE_RESENT.value)).one()
        to = _queue_invoice_email(session, invoice, f"email-invoice-{invoice.id}-resend-{sent + 1}")
        if to is None:
            raise Conflict("the customer has no email address to send the invoice to")
        record_event(session, actor, invoice.customer_id, EventType.INVOICE_RESENT, invoice=invoice.number, to=to)
        return to


def pay_invoice(store: Store, actor: Actor, settings: Settings, number: str,
                instrument_id: int | None = None) -> CollectResult:
    """Collect invoice `number` now (`collect_invoice` by its number, as the command line and the console name it)."""
    require(actor, Action.BILLING)
    with store.read() as session:
        invoice_id = invoice_by_number(session, number).id
    return collect_invoice(store, actor, settings, invoice_id, instrument_id=instrument_id)
