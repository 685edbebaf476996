"""Quotes: an order offered to a customer at a price, accepted once into that order.

A quote keeps the order request as data (items with their overrides, coupons, shipping,
start) and the preview it was priced at. States: draft → issued → accepted, rejected,
expired (past its last day, by the worker) or recalled (withdrawn by the merchant; a draft
can be recalled too).

Accepting places the order through `create_order` with the quote's total as the expected
total, so the order is exactly what was quoted or is refused with the reason. It happens
once however many agents accept at once: the first marks the quote (`accepting_at`, by a
conditional update on the locked row) and the others are told it is under way, or get the
order once it is accepted. With payment acceptance the quote is accepted only when the
order's first payment is approved (or nothing is due); a decline leaves the quote issued
with its order waiting for payment, and accepting again pays that order's open invoice
instead of placing another one.

Customers accept or reject on their quote link (`services/links/customer_quotes.py`, through
`accept_as` and `reject_by_customer`); agents can still record either on the customer's behalf. An
acceptance that crashed half-way (marked more than `STALE_CLAIM` ago) can be claimed again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlmodel import Session, col, select

from agentdesk.config import Settings
from agentdesk.db.models import Agent, Customer, Invoice, Order, PaymentInstrument, Website, utcnow
from agentdesk.db.models import Quote as QuoteRow
from agentdesk.db.store import Store, get_row
from agentdesk.domain import limits
from agentdesk.domain.enums import (
    BillingTiming,
    InstrumentStatus,
    InvoiceStatus,
    JobKind,
    LinkKind,
    OrderStatus,
    PlanInterval,
    PlanKind,
    QuoteAcceptance,
    QuoteStatus,
)
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound, ServiceError
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import CUSTOMER, SYSTEM, Action, Actor, allowed, require
from agentdesk.domain.validation import clean_block, clean_line
from agentdesk.services.billing import invoices
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.jobs import queue as jobs
from agentdesk.services.links.requests import LinkRequest, request_link
from agentdesk.services.orders import create
from agentdesk.services.orders.preview import quote
from agentdesk.services.orders.requests import ItemOverrides, ItemRequest, OrderRequest, ShippingChoice
from agentdesk.services.policy import service as policy
from agentdesk.services.risk import blocklist
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

EXPIRE_BATCH = 500
CANNOT_ACCEPT_ONLINE = "We cannot accept this quote online. Nothing was ordered or charged; please contact us."


def quote_number(quote_id: int) -> str:
    return f"QUO-{quote_id:08d}"


# --- the request as data ---------------------------------------------------------------------

_ENUM_TERMS = {"interval": PlanInterval, "kind": PlanKind, "billing_timing": BillingTiming}


def request_to_data(request: OrderRequest, customer_id: int) -> dict[str, Any]:
    """The request as JSON, naming the customer by row id (their merchant id may change)."""
    return {
        "customer_id": customer_id,
        "items": [{"plan_code": i.plan_code, "quantity": i.quantity, "options": dict(i.options),
                   "overrides": {k: (v.value if hasattr(v, "value") else v) for k, v in i.overrides.given().items()}}
                  for i in request.items],
        "website_code": request.website_code,
        "coupons": list(request.coupons),
        "instrument_id": request.instrument_id,
        "autopay": request.autopay,
        "shipping": {"mode": request.shipping.mode, "amount": request.shipping.amount,
                     "address_id": request.shipping.address_id},
        "start_on": request.start_on.isoformat() if request.start_on else None,
        "renew_on": request.renew_on.isoformat() if request.renew_on else None,
        "abandon_after_days": request.abandon_after_days,
        "delinquency_days": request.delinquency_days,
        "notes": request.notes,
    }


def request_from_data(data: dict[str, Any]) -> OrderRequest:
    items = []
    for item in data["items"]:
        given: dict[str, Any] = {k: (_ENUM_TERMS[k](v) if k in _ENUM_TERMS else v)
                                 for k, v in item.get("overrides", {}).items()}
        items.append(ItemRequest(item["plan_code"], item.get("quantity", 1), dict(item.get("options", {})),
                                 ItemOverrides(**given)))
    shipping = data.get("shipping") or {}
    return OrderRequest(
        int(data["customer_id"]), items, website_code=data.get("website_code"), coupons=list(data.get("coupons", [])),
        instrument_id=data.get("instrument_id"), autopay=bool(data.get("autopay", True)),
        shipping=ShippingChoice(shipping.get("mode", "none"), shipping.get("amount"), shipping.get("address_id")),
        start_on=date.fromisoformat(data["start_on"]) if data.get("start_on") else None,
        renew_on=date.fromisoformat(data["renew_on"]) if data.get("renew_on") else None,
        abandon_after_days=data.get("abandon_after_days"), delinquency_days=data.get("delinquency_days"),
        notes=data.get("notes"),
    )


# --- results ---------------------------------------------------------------------------------


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class QuoteSummary:
    number: str
    customer: str
    status: str
    currency: str
    total: int
    """What the customer pays today when accepting (the preview's total at quoting)."""
    expires_on: date
    accept_by: str
    order: str | None
    created_at: datetime
    issued_at: datetime | None
    decided_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "customer": self.customer, "status": self.status, "currency": self.currency,
                "total": self.total, "expires_on": self.expires_on.isoformat(), "accept_by": self.accept_by,
                "order": self.order, "created_at": self.created_at.isoformat(), "issued_at": _iso(self.issued_at),
                "decided_at": _iso(self.decided_at)}


@dataclass(frozen=True)
class QuoteDetail:
    summary: QuoteSummary
    customer_name: str
    website: str
    agent: str | None
    terms: str | None
    redirect_url: str | None
    signature_name: str | None
    priced: dict[str, Any]
    """The preview at quoting (`OrderPreview.to_dict()`): lines, subtotal, discount, credit, coupons, next bills."""
    request: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary.to_dict(), "customer_name": self.customer_name, "website": self.website,
                "agent": self.agent, "terms": self.terms, "redirect_url": self.redirect_url,
                "signature_name": self.signature_name, "priced": self.priced, "request": self.request}


@dataclass(frozen=True)
class QuoteOutcome:
    quote: QuoteSummary
    message: str
    payment: str | None = None
    """Acceptance only: the order's payment (approved, declined, pending, not due, no autopay)."""

    @property
    def accepted(self) -> bool:
        return self.quote.status == QuoteStatus.ACCEPTED

    def to_dict(self) -> dict[str, Any]:
        return {**self.quote.to_dict(), "message": self.message, "payment": self.payment}


def _summary(session: Session, row: QuoteRow) -> QuoteSummary:
    customer = session.get(Customer, row.customer_id)
    order = session.get(Order, row.order_id) if row.order_id is not None else None
    return QuoteSummary(row.number, customer.external_id if customer else "", row.status.value, row.currency,
                        row.total, row.expires_on, row.accept_by.value, order.number if order else None,
                        row.created_at, row.issued_at, row.decided_at)


def _detail(session: Session, row: QuoteRow) -> QuoteDetail:
    customer = get_row(session, Customer, row.customer_id)
    website = session.get(Website, row.website_id)
    agent = session.get(Agent, row.agent_id) if row.agent_id is not None else None
    return QuoteDetail(_summary(session, row), invoices.customer_name(customer), website.code if website else "",
                       agent.login if agent else None, row.terms, row.redirect_url, row.signature_name,
                       dict(row.priced), dict(row.request))


# --- reading ---------------------------------------------------------------------------------


def _row(session: Session, number: str, lock: bool = False) -> QuoteRow:
    text = str(number).strip().upper()
    if len(text) > limits.ORDER_NUMBER:
        raise NotFound(f"no quote {number}")
    query = select(QuoteRow).where(QuoteRow.number == text)
    if lock and session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()
    row = session.exec(query).one_or_none()
    if row is None:
        raise NotFound(f"no quote {number}")
    return row


def list_quotes(store: Store, actor: Actor, customer_ref: str | int) -> list[QuoteSummary]:
    """The customer's quotes, newest first."""
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        customer = customer_by_ref(session, customer_ref)
        rows = session.exec(select(QuoteRow).where(QuoteRow.customer_id == customer.id)
                            .order_by(col(QuoteRow.id).desc())).all()
        return [_summary(session, row) for row in rows]


def quote_detail(store: Store, actor: Actor, number: str) -> QuoteDetail:
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        return _detail(session, _row(session, number))


# --- creating --------------------------------------------------------------------------------


def _redirect(url: str | None) -> str | None:
    text = clean_line(url, "redirect_url", limits.REDIRECT_URL)
    if text is None:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname or " " in text:
        raise InvalidInput(fields={"redirect_url": "give a web address starting with https://"})
    return text


def _event_base(row: QuoteRow) -> dict[str, Any]:
    return {"quote": row.number, "amount": row.total, "currency": row.currency}


def create_quote(store: Store, actor: Actor, request: OrderRequest, *, expires_on: date,
                 accept_by: QuoteAcceptance | str, terms: str | None = None, redirect_url: str | None = None,
                 signature_name: str | None = None, now: datetime | None = None) -> QuoteDetail:
    """A draft quote for the request, priced now by the same rules as an order's preview."""
    require(actor, Action.CREATE_ORDERS)
    now = now or utcnow()
    try:
        acceptance = QuoteAcceptance(accept_by)
    except ValueError:
        raise InvalidInput(fields={"accept_by": "choose payment or customer"}) from None
    if expires_on < now.date():
        raise InvalidInput(fields={"expires": f"{expires_on.isoformat()} has passed: give a later day"})
    terms_text = clean_block(terms, "terms", limits.QUOTE_TERMS) or None
    url = _redirect(redirect_url)
    signatory = clean_line(signature_name, "signature", limits.NAME)
    with store.write() as session:
        priced = quote(session, request, now)
        row = QuoteRow(number=f"new-{uuid.uuid4().hex}", customer_id=priced.customer_id,
                       website_id=priced.website_id, status=QuoteStatus.DRAFT,
                       request=request_to_data(request, priced.customer_id), priced=priced.preview.to_dict(),
                       currency=priced.currency, total=priced.preview.total_today, expires_on=expires_on,
                       accept_by=acceptance, terms=terms_text, redirect_url=url, signature_name=signatory,
                       agent_id=actor.agent_id, created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        row.number = quote_number(row.id)
        session.add(row)
        record_event(session, actor, row.customer_id, EventType.QUOTE_CREATED, **_event_base(row),
                     expires_on=expires_on.isoformat(), accept_by=acceptance.value)
        return _detail(session, row)


# --- issuing, recalling, rejecting -----------------------------------------------------------


def _expired(row: QuoteRow, now: datetime) -> bool:
    return row.expires_on < now.date()


def _email_body(session: Session, row: QuoteRow) -> tuple[str, str]:
    customer = get_row(session, Customer, row.customer_id)
    cur = row.currency
    parts = [f"Hello {invoices.customer_name(customer)},", "", f"Here is your quote {row.number}:"]
    for line in row.priced.get("lines", []):
        parts.append(f"  {line['description']}: {line['quantity']} × {format_amount(line['unit_price'], cur)}"
                     f" = {format_amount(line['amount'], cur)}"
                     + (f" (discount {format_amount(line['discount'], cur)})" if line.get("discount") else ""))
    parts.append(f"Total due on acceptance: {format_amount(row.total, cur)}")
    for bill in row.priced.get("upcoming", []):
        parts.append(f"Then {format_amount(bill['amount'], cur)} on {bill['date']}")
    parts.append(f"Valid until {row.expires_on.isoformat()}.")
    parts.append("It is accepted when you pay the amount due." if row.accept_by is QuoteAcceptance.PAYMENT
                 else "Tell us you accept it and we place the order.")
    if row.terms:
        parts += ["", "Terms:", row.terms]
    return f"Your quote {row.number}", "\n".join(parts) + "\n"


def _summary_of(store: Store, quote_id: int) -> QuoteSummary:
    with store.read() as session:
        return _summary(session, get_row(session, QuoteRow, quote_id))


def issue_quote(store: Store, actor: Actor, number: str, now: datetime | None = None,
                settings: Settings | None = None) -> QuoteOutcome:
    """Send a draft to the customer (an email job with its summary when they have an address).

    With `settings` (the CLI and console pass theirs), a portal address in policy and the customer's email,
    an accept-quote link is requested right after (its own transaction, LINK_REQUESTED): the worker
    generates it and emails it, so the customer can accept or decline online. A link that cannot be
    requested leaves the quote issued and the message says why."""
    require(actor, Action.CREATE_ORDERS)
    now = now or utcnow()
    with store.write() as session:
        row = _row(session, number, lock=True)
        if row.status is not QuoteStatus.DRAFT:
            raise Conflict(f"quote {row.number} is {row.status.value}: only a draft can be issued")
        if _expired(row, now):
            raise Conflict(f"quote {row.number} expired on {row.expires_on.isoformat()}: make a new one")
        row.status, row.issued_at, row.updated_at = QuoteStatus.ISSUED, now, now
        session.add(row)
        to = invoices.customer_email(session, row.customer_id)
        online = settings is not None and bool(to) and policy.portal_base_url(session) is not None
        if to:
            subject, body = _email_body(session, row)
            if online:
                body += "\nWe are sending you a separate email with a link to accept or decline it online.\n"
            jobs.enqueue(session, JobKind.EMAIL, f"email-quote-{row.id}-issued",
                         {"to": to, "subject": subject, "body": body, "customer_id": row.customer_id,
                          "quote": row.number}, customer_id=row.customer_id, max_attempts=5)
        record_event(session, actor, row.customer_id, EventType.QUOTE_ISSUED, **_event_base(row),
                     expires_on=row.expires_on.isoformat(), to=to or None)
        message = (f"Quote {row.number} issued and emailed to {to}" if to
                   else f"Quote {row.number} issued; the customer has no email address: give them the printed quote")
        summary, customer_id = _summary(session, row), row.customer_id
    if online and settings is not None:
        message += _accept_link(store, actor, settings, customer_id, summary.number, now)
    return QuoteOutcome(summary, message)


def _accept_link(store: Store, actor: Actor, settings: Settings, customer_id: int, number: str,
                 now: datetime) -> str:
    try:
        link = request_link(store, actor, settings, customer_id,
                            LinkRequest(kind=LinkKind.QUOTE, quote=number, email=True), now=now)
    except ServiceError as exc:
        return f"; no acceptance link was sent ({exc})"
    return f"; an acceptance link (link {link.id}) is queued for {link.email_to}"


def _decide(store: Store, actor: Actor, number: str, status: QuoteStatus, allowed_from: tuple[QuoteStatus, ...],
            event: EventType, reason: str | None, now: datetime | None) -> QuoteOutcome:
    require(actor, Action.CREATE_ORDERS)
    now = now or utcnow()
    why = clean_line(reason, "reason", limits.REASON)
    with store.write() as session:
        row = _row(session, number, lock=True)
        if row.status not in allowed_from:
            raise Conflict(f"quote {row.number} is {row.status.value}: only "
                           f"{' or '.join(s.value for s in allowed_from)} quotes can be {status.value}")
        if _busy(row, now):
            raise Conflict(f"quote {row.number} is being accepted; try again in a moment")
        return _decided(session, actor, row, status, event, why, now)


def _decided(session: Session, actor: Actor, row: QuoteRow, status: QuoteStatus, event: EventType,
             why: str | None, now: datetime) -> QuoteOutcome:
    row.status, row.decided_at, row.updated_at, row.accepting_at = status, now, now, None
    session.add(row)
    record_event(session, actor, row.customer_id, event, **_event_base(row), reason=why)
    return QuoteOutcome(_summary(session, row), f"Quote {row.number} {status.value}")


def locked_quote(session: Session, quote_id: int) -> QuoteRow:
    """The quote row under its lock (PostgreSQL; SQLite's write transaction already excludes writers)."""
    query = select(QuoteRow).where(QuoteRow.id == quote_id)
    if session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()
    row = session.exec(query).one_or_none()
    if row is None:
        raise NotFound(f"no quote {quote_id}")
    return row


def reject_by_customer(session: Session, row: QuoteRow, reason: str | None, now: datetime) -> QuoteOutcome:
    """The customer declines the quote on its link, in the link's transaction (the row locked by the caller);
    a refusal in the customer's words when the quote is no longer open."""
    why = clean_line(reason, "reason", limits.REASON)
    refusal = customer_refusal(row, now)
    if refusal is not None:
        raise Conflict(refusal)
    return _decided(session, CUSTOMER, row, QuoteStatus.REJECTED, EventType.QUOTE_REJECTED, why, now)


def recall_quote(store: Store, actor: Actor, number: str, reason: str | None = None,
                 now: datetime | None = None) -> QuoteOutcome:
    """The merchant withdraws a draft or issued quote."""
    return _decide(store, actor, number, QuoteStatus.RECALLED, (QuoteStatus.DRAFT, QuoteStatus.ISSUED),
                   EventType.QUOTE_RECALLED, reason, now)


def reject_quote(store: Store, actor: Actor, number: str, reason: str | None = None,
                 now: datetime | None = None) -> QuoteOutcome:
    """The customer declines an issued quote (recorded by an agent on their behalf)."""
    return _decide(store, actor, number, QuoteStatus.REJECTED, (QuoteStatus.ISSUED,), EventType.QUOTE_REJECTED,
                   reason, now)


# --- accepting -------------------------------------------------------------------------------

STALE_CLAIM = timedelta(minutes=10)
"""An acceptance marked longer ago than this crashed half-way: it may be claimed again (its order, if
one was placed, is linked to the quote in the order's own transaction, so none is placed twice)."""


@dataclass(frozen=True)
class _Claim:
    quote_id: int
    number: str
    customer_id: int
    request: OrderRequest
    total: int
    currency: str
    accept_by: QuoteAcceptance
    order_id: int | None
    claimed_at: datetime


def _primary_instrument(session: Session, customer_id: int) -> int | None:
    return session.exec(
        select(PaymentInstrument.id)
        .where(PaymentInstrument.customer_id == customer_id, PaymentInstrument.status == InstrumentStatus.ACTIVE,
               col(PaymentInstrument.gateway_token).is_not(None))
        .order_by(col(PaymentInstrument.is_primary).desc(), col(PaymentInstrument.id))).first()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _busy(row: QuoteRow, now: datetime) -> bool:
    """An acceptance of this quote is under way (marked less than `STALE_CLAIM` ago)."""
    return row.accepting_at is not None and _aware(row.accepting_at) > now - STALE_CLAIM


def customer_refusal(row: QuoteRow, now: datetime) -> str | None:
    """Why the customer cannot decide on this quote now, in words for them; None when they can."""
    if row.status is QuoteStatus.ACCEPTED:
        return f"You accepted quote {row.number} on {_day(row.decided_at)}."
    if row.status is QuoteStatus.REJECTED:
        return f"You declined quote {row.number} on {_day(row.decided_at)}."
    if row.status is QuoteStatus.RECALLED:
        return f"Quote {row.number} was withdrawn. Ask us for a new quote."
    if row.status is QuoteStatus.EXPIRED or (row.status is QuoteStatus.ISSUED and _expired(row, now)):
        return f"Quote {row.number} expired on {row.expires_on.isoformat()}. Ask us for a new quote."
    if row.status is not QuoteStatus.ISSUED:
        return f"Quote {row.number} is not open for a decision. Ask us for a new quote."
    if _busy(row, now):
        return f"Quote {row.number} is being accepted right now; reload this page in a moment."
    return None


def _day(value: datetime | None) -> str:
    return value.date().isoformat() if value is not None else "an earlier day"


def _claim(store: Store, number: str, now: datetime, by_customer: bool = False) -> _Claim | QuoteOutcome:
    """Mark the quote as being accepted, or say why not (an accepted quote answers with its order)."""
    with store.write() as session:
        row = _row(session, number, lock=True)
        if row.status is QuoteStatus.ACCEPTED:
            summary = _summary(session, row)
            return QuoteOutcome(summary, f"Quote {row.number} was already accepted: order {summary.order}")
        if by_customer and (refusal := customer_refusal(row, now)) is not None:
            raise Conflict(refusal)
        if row.status is not QuoteStatus.ISSUED:
            raise Conflict(f"quote {row.number} is {row.status.value}: only an issued quote can be accepted")
        if _expired(row, now):
            raise Conflict(f"quote {row.number} expired on {row.expires_on.isoformat()} and cannot be accepted")
        busy = (f"quote {row.number} is being accepted right now; try again in a moment" if by_customer
                else f"quote {row.number} is being accepted by another agent; try again in a moment")
        if _busy(row, now):
            raise Conflict(busy)
        free = col(QuoteRow.accepting_at).is_(None) | (col(QuoteRow.accepting_at) <= now - STALE_CLAIM)
        claimed = session.exec(
            update(QuoteRow).where(col(QuoteRow.id) == row.id, col(QuoteRow.status) == QuoteStatus.ISSUED, free)
            .values(accepting_at=now).execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            raise Conflict(busy)
        session.refresh(row)
        request = request_from_data(row.request)
        if row.accept_by is QuoteAcceptance.PAYMENT:
            request = _with_autopay(request, not by_customer)
        elif (request.autopay and request.instrument_id is None
              and _primary_instrument(session, row.customer_id) is None):
            request = _with_autopay(request, False)
        return _Claim(row.id, row.number, row.customer_id, request, row.total, row.currency, row.accept_by,
                      row.order_id, now)


def _with_autopay(request: OrderRequest, autopay: bool) -> OrderRequest:
    return replace(request, autopay=autopay)


def _release(store: Store, claim: _Claim) -> None:
    """Undo our mark (only ours: a later claimer's mark stays)."""
    with store.write() as session:
        session.exec(update(QuoteRow).where(col(QuoteRow.id) == claim.quote_id,
                                            col(QuoteRow.accepting_at) == claim.claimed_at)
                     .values(accepting_at=None).execution_options(synchronize_session=False))


Collector = Callable[[int], "invoices.CollectResult"]
"""Collects what an invoice (by id) still owes: the agent's way (primary instrument, then backups) or the
customer's (the one card they chose on the page)."""


def _waiting_order(store: Store, order_id: int, collect: Collector | None) -> tuple[str, str, str] | None:
    """(order number, payment, message) for the order this quote already placed (a declined payment, a
    payment quote waiting for its invoice, or an acceptance that crashed after placing it), its open
    invoice collected now when `collect` is given; None when it was abandoned or cancelled since (a new
    order is placed)."""
    with store.read() as session:
        order = get_row(session, Order, order_id)
        number, status = order.number, order.status
        invoice = session.exec(select(Invoice).where(
            Invoice.order_id == order_id, col(Invoice.status).in_([InvoiceStatus.ISSUED, InvoiceStatus.PAST_DUE]))
            .order_by(col(Invoice.id))).first()
        invoice_id = invoice.id if invoice is not None else None
        invoice_number = invoice.number if invoice is not None else None
        due = (invoice.total - invoice.amount_paid, invoice.currency) if invoice is not None else (0, "")
    if status in (OrderStatus.ABANDONED, OrderStatus.CANCELLED):
        return None
    if invoice_id is None:
        if status is OrderStatus.PENDING:
            return number, create.PENDING, f"Order {number} is still waiting for its payment"
        return number, create.APPROVED, f"Order {number} is paid"
    if collect is None:
        return number, create.NO_AUTOPAY, (f"Order {number} waits for the payment of invoice {invoice_number} "
                                           f"({format_amount(*due)})")
    collected = collect(invoice_id)
    if collected.status == invoices.NOTHING_DUE:
        return number, create.NOT_DUE, f"Order {number}: {collected.message}"
    if collected.status == "approved":
        return number, create.APPROVED, f"Order {number}: {collected.message}"
    if collected.status == "pending":
        return number, create.PENDING, f"Order {number}: {collected.message}"
    return number, create.DECLINED, f"Order {number} not paid — {collected.message}"


def accept_quote(store: Store, actor: Actor, settings: Settings, number: str,
                 now: datetime | None = None) -> QuoteOutcome:
    """Record the customer's acceptance: place the order exactly as quoted, once."""
    require(actor, Action.CREATE_ORDERS)
    return accept_as(store, actor, settings, number, now or utcnow())


Finish = Callable[[Callable[[Session], QuoteOutcome]], QuoteOutcome]
"""Runs the last step of an acceptance that accepts the quote, in a write transaction of the caller's choosing."""


def accept_as(store: Store, actor: Actor, settings: Settings, number: str, now: datetime, *,
              by_customer: bool = False, pay: Collector | None = None, finish: Finish | None = None) -> QuoteOutcome:
    """The acceptance itself, for a caller that checked its authority: `accept_quote` (an agent) or the
    customer on their quote link (`by_customer`: refusals in their words; a payment quote's order is placed
    with its invoice open and paid with `pay`, the card they chose, else left for them to pay). `finish`
    runs the last write when it accepts the quote (the link's transaction), else a plain one."""
    claim = _claim(store, number, now, by_customer)
    if isinstance(claim, QuoteOutcome):
        return claim

    def agent_collect(invoice_id: int) -> invoices.CollectResult:
        with store.read() as session:
            instrument_id = _primary_instrument(session, claim.customer_id)
        payer = actor if allowed(actor, Action.BILLING) else SYSTEM
        return invoices.collect_invoice(store, payer, settings, invoice_id, instrument_id=instrument_id, now=now)

    collect = pay if by_customer else agent_collect
    try:
        placed = None
        if claim.order_id is not None:
            placed = _waiting_order(store, claim.order_id, collect)
        if placed is None:

            def link_order(session: Session, order: Order) -> None:
                session.exec(update(QuoteRow).where(col(QuoteRow.id) == claim.quote_id)
                             .values(order_id=order.id).execution_options(synchronize_session=False))

            try:
                result = create.place_order(store, actor, settings, claim.request, expected_total=claim.total,
                                            now=now, within=link_order)
            except blocklist.Blocked as exc:
                if by_customer:  # the customer is not told what matched the blocklist
                    raise Conflict(CANNOT_ACCEPT_ONLINE) from exc
                raise
            except Conflict as exc:
                raise Conflict(f"quote {claim.number} no longer holds at "
                               f"{format_amount(claim.total, claim.currency)} ({exc}); "
                               + ("ask us for a new quote" if by_customer else "recall it and make a new quote")
                               ) from exc
            placed = (result.order_number, result.payment, result.message)
            if by_customer and pay is not None and result.payment == create.NO_AUTOPAY:
                with store.read() as session:
                    order_id = session.exec(select(Order.id).where(Order.number == result.order_number)).one()
                placed = _waiting_order(store, order_id, pay) or placed
    except BaseException:
        _release(store, claim)
        raise
    order_number, payment, message = placed
    paid = payment in (create.APPROVED, create.NOT_DUE)
    accepts = claim.accept_by is QuoteAcceptance.CUSTOMER or paid

    def settle(session: Session) -> QuoteOutcome:
        row = session.exec(select(QuoteRow).where(QuoteRow.id == claim.quote_id)).one()
        order = session.exec(select(Order).where(Order.number == order_number)).one()
        row.order_id, row.accepting_at, row.updated_at = order.id, None, now
        if accepts and row.status is QuoteStatus.ISSUED:
            row.status, row.decided_at = QuoteStatus.ACCEPTED, now
            record_event(session, actor, row.customer_id, EventType.QUOTE_ACCEPTED, **_event_base(row),
                         order=order.number, accept_by=claim.accept_by.value)
        session.add(row)
        session.flush()
        summary = _summary(session, row)
        if row.status is QuoteStatus.ACCEPTED:
            return QuoteOutcome(summary, f"Quote {claim.number} accepted: {message}", payment)
        return QuoteOutcome(summary, f"Quote {claim.number} stays issued: it is accepted when the payment is "
                                     f"approved. {message}", payment)

    if accepts and finish is not None:
        return finish(settle)
    with store.write(unrecorded="a quote waiting for its order's payment: the order's events say what happened"
                     ) as session:
        return settle(session)


def on_order_paid(session: Session, actor: Actor, order: Order, now: datetime) -> None:
    """In the transaction of an order's first payment: a payment quote that placed this order and waits for
    that payment (no acceptance under way) is accepted now (QUOTE_ACCEPTED)."""
    row = session.exec(select(QuoteRow).where(QuoteRow.order_id == order.id, QuoteRow.status == QuoteStatus.ISSUED,
                                              QuoteRow.accept_by == QuoteAcceptance.PAYMENT,
                                              col(QuoteRow.accepting_at).is_(None))).first()
    if row is None:
        return
    row.status, row.decided_at, row.updated_at = QuoteStatus.ACCEPTED, now, now
    session.add(row)
    record_event(session, actor, row.customer_id, EventType.QUOTE_ACCEPTED, **_event_base(row), order=order.number,
                 accept_by=row.accept_by.value)


# --- the worker ------------------------------------------------------------------------------


def expire_quotes(store: Store, now: datetime | None = None) -> int:
    """Issued quotes past their last day become expired (QUOTE_EXPIRED); returns how many.

    Run by every `run_due` (the worker and the console's drain): a read first, so that a store with
    nothing to expire takes no write lock."""
    now = now or utcnow()
    today = now.date()
    with store.read() as session:
        due = session.exec(select(QuoteRow.id).where(QuoteRow.status == QuoteStatus.ISSUED,
                                                     col(QuoteRow.expires_on) < today).limit(1)).first()
    if due is None:
        return 0
    expired = 0
    after = 0
    while True:
        with store.write() as session:
            free = col(QuoteRow.accepting_at).is_(None) | (col(QuoteRow.accepting_at) <= now - STALE_CLAIM)
            query = (select(QuoteRow).where(QuoteRow.status == QuoteStatus.ISSUED, col(QuoteRow.expires_on) < today,
                                            free, col(QuoteRow.id) > after)
                     .order_by(col(QuoteRow.id)).limit(EXPIRE_BATCH))
            if session.get_bind().dialect.name != "sqlite":
                query = query.with_for_update(skip_locked=True)
            rows = session.exec(query).all()
            for row in rows:
                row.status, row.decided_at, row.updated_at = QuoteStatus.EXPIRED, now, now
                session.add(row)
                record_event(session, SYSTEM, row.customer_id, EventType.QUOTE_EXPIRED, **_event_base(row),
                             expires_on=row.expires_on.isoformat())
            expired += len(rows)
        if len(rows) < EXPIRE_BATCH:
            return expired
        after = rows[-1].id

