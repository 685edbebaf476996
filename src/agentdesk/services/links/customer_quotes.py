"""The customer's quote page: read the quote as it was priced, accept it (the order is placed exactly as
quoted, once) or decline it.

Authority is the quote link's token; the customer acts as `CUSTOMER`. Accepting runs the same steps as
an agent's `quotes.accept_quote` (`quotes.accept_as`): the quote is marked, the order placed, and the
decision written with the link completed in that last transaction. A payment quote's order is placed
with its invoice open and paid on this page with the card the customer enters or chooses (the invoice
payment path, as the customer: `invoices.collect_on_link`); without a card, or after a decline, the
order waits for that invoice and the quote is accepted when it is paid (`quotes.on_order_paid`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from agentdesk.config import Settings
from agentdesk.db.models import Invoice, Order, utcnow
from agentdesk.db.models import Quote as QuoteRow
from agentdesk.db.store import Store
from agentdesk.domain.enums import InvoiceStatus, LinkKind, QuoteAcceptance, QuoteStatus
from agentdesk.domain.errors import Conflict
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import CUSTOMER
from agentdesk.services.billing import invoices as billing_invoices
from agentdesk.services.links import customer_money as money
from agentdesk.services.links.access import LinkUnavailable, LinkUsed, complete, link_for_update, peek_link
from agentdesk.services.links.customer_money import CardEntry, CardView
from agentdesk.services.orders import quotes
from agentdesk.services.orders.quotes import QuoteOutcome

QUOTE_LINKS = frozenset({LinkKind.QUOTE})


@dataclass(frozen=True)
class QuoteLine:
    description: str
    quantity: int
    unit_price: int
    amount: int
    discount: int
    total: int


@dataclass(frozen=True)
class QuotePage:
    """Everything the printed quote shows, for the customer's page (amounts in minor units of `currency`)."""

    number: str
    status: str
    first_name: str
    website_name: str
    currency: str
    lines: list[QuoteLine]
    subtotal: int
    discount: int
    credit: int
    total: int
    """Due on acceptance."""
    coupons: list[tuple[str, int | None, str | None]]
    """(code, minor units off today or None, why it gives nothing today or None)"""
    upcoming: list[tuple[date, int]]
    """The bills that follow: (date, amount)."""
    expires_on: date
    issued_on: date | None
    accept_by: str
    """payment: accepted when the amount due is paid; customer: accepted when they say so."""
    terms: str | None
    signature_name: str | None
    redirect_url: str | None
    order_number: str | None
    """The order this quote placed (a payment quote whose invoice is still open)."""
    refusal: str | None
    """Why it can no longer be accepted or declined (expired, withdrawn, decided), in words for the customer."""
    waiting: str | None
    """A payment quote whose order is placed and waits for its invoice (it can still be paid here)."""
    cards: list[CardView]
    """The customer's saved cards, for paying a payment quote here."""

    @property
    def pay_here(self) -> bool:
        """Accepting takes a card: a payment quote with something due."""
        return self.accept_by == QuoteAcceptance.PAYMENT.value and self.total > 0

    @property
    def open(self) -> bool:
        return self.refusal is None

    @property
    def acceptance_note(self) -> str:
        if self.accept_by == QuoteAcceptance.PAYMENT.value:
            return ("Accepting places the order and we email you its invoice; the quote is accepted when the "
                    f"{format_amount(self.total, self.currency)} due is paid.")
        return "Accepting places the order; payment follows the order's terms."


@dataclass(frozen=True)
class QuoteDecision:
    message: str
    order_number: str | None
    redirect_url: str | None
    accepted: bool = False
    """The quote is accepted (a payment quote only once its invoice is paid)."""
    declined: bool = False
    """The card paid with on the page was declined: the order waits and the customer may try another card."""


def _quote_id(options: dict[str, Any]) -> int:
    value = options.get("quote_id")
    if not isinstance(value, int):
        raise LinkUnavailable()
    return value


def _redirect(link_options: dict[str, Any], row: QuoteRow) -> str | None:
    url = link_options.get("redirect_url")
    return url if isinstance(url, str) and url else row.redirect_url


def _own_quote(session: Session, quote_id: int, customer_id: int, lock: bool = False) -> QuoteRow:
    row = quotes.locked_quote(session, quote_id) if lock else session.get(QuoteRow, quote_id)
    if row is None or row.customer_id != customer_id:
        raise LinkUnavailable()
    return row


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def quote_page(store: Store, token: str, now: datetime | None = None) -> QuotePage:
    """The quote behind a quote link, as it was priced; `refusal` says when it can no longer be decided."""
    now = now or utcnow()
    link = peek_link(store, token, QUOTE_LINKS, now)
    with store.read() as session:
        row = _own_quote(session, _quote_id(link.options), link.customer_id)
        order = session.get(Order, row.order_id) if row.order_id is not None else None
        refusal = quotes.customer_refusal(row, now)
        waiting = _waiting_words(session, row, order) if order is not None else None
        priced = dict(row.priced)
        return QuotePage(
            number=row.number, status=row.status.value, first_name=link.first_name, website_name=link.website_name,
            currency=row.currency,
            lines=[QuoteLine(str(x["description"]), int(x["quantity"]), int(x["unit_price"]), int(x["amount"]),
                             int(x.get("discount") or 0), int(x["total"])) for x in priced.get("lines", [])],
            subtotal=int(priced.get("subtotal", 0)), discount=int(priced.get("discount", 0)),
            credit=int(priced.get("credit", 0)), total=row.total,
            coupons=[(str(c["code"]), c.get("discount"), c.get("skipped")) for c in priced.get("coupons", [])],
            upcoming=[(_date(b["date"]), int(b["amount"])) for b in priced.get("upcoming", [])],
            expires_on=row.expires_on, issued_on=row.issued_at.date() if row.issued_at else None,
            accept_by=row.accept_by.value, terms=row.terms, signature_name=row.signature_name,
            redirect_url=_redirect(link.options, row), order_number=order.number if order else None,
            refusal=refusal, waiting=waiting, cards=money.card_views(session, link.customer_id),
        )


def _waiting_words(session: Session, row: QuoteRow, order: Order) -> str | None:
    """An issued quote whose order was placed and waits for its invoice's payment."""
    if row.status is not QuoteStatus.ISSUED:
        return None
    invoice = session.exec(select(Invoice).where(
        Invoice.order_id == order.id, col(Invoice.status).in_([InvoiceStatus.ISSUED, InvoiceStatus.PAST_DUE]))
        .order_by(col(Invoice.id))).first()
    if invoice is None:
        return None
    return (f"Order {order.number} is placed and waits for the payment of invoice {invoice.number} "
            f"({format_amount(invoice.total - invoice.amount_paid, invoice.currency)}); we emailed it to you, and you "
            "can pay it here.")


def _finish_on_link(store: Store, token: str, now: datetime) -> quotes.Finish:
    """The acceptance's last write inside the link's transaction, completing the link with it. Should the
    link have ended meanwhile (revoked, expired in those seconds) the decision is still written: the order
    exists and the quote must say so."""

    def finish(settle: Callable[[Session], QuoteOutcome]) -> QuoteOutcome:
        try:
            with link_for_update(store, token, QUOTE_LINKS, now) as (session, link):
                outcome = settle(session)
                words = (f"quote {outcome.quote.number} accepted: order {outcome.quote.order}" if outcome.accepted
                         else f"quote {outcome.quote.number}: order {outcome.quote.order} placed, awaiting payment")
                complete(session, link, words, {"quote": outcome.quote.number, "order": outcome.quote.order},
                         now=now)
                return outcome
        except (LinkUnavailable, LinkUsed):
            with store.write(unrecorded="a quote waiting for its order's payment: the order's events say what "
                                        "happened") as session:
                return settle(session)

    return finish


def accept_quote_link(store: Store, settings: Settings, token: str, card: CardEntry | None = None,
                      instrument_id: int | None = None, now: datetime | None = None) -> QuoteDecision:
    """The customer accepts: the order is placed exactly as quoted, once however often they press the button.

    A payment quote with something due is paid here when the customer enters a card (kept on their account)
    or chooses a saved one; without either its order waits for the invoice we email them. A declined card
    leaves the order waiting and the link open, so they can try another card."""
    now = now or utcnow()
    link = peek_link(store, token, QUOTE_LINKS, now)
    with store.read() as session:
        row = _own_quote(session, _quote_id(link.options), link.customer_id)
        number, redirect, status = row.number, _redirect(link.options, row), row.status
        by_payment = row.accept_by is QuoteAcceptance.PAYMENT
        refusal = quotes.customer_refusal(row, now)
    if refusal is not None and status is not QuoteStatus.ACCEPTED:
        raise Conflict(refusal)
    pay = None
    if by_payment and (card is not None or instrument_id is not None):
        chosen = _chosen_card(store, settings, token, link.website_code, card, instrument_id, now)

        def pay(invoice_id: int) -> billing_invoices.CollectResult:
            return billing_invoices.collect_on_link(store, settings, invoice_id, chosen, now=now)

    outcome = quotes.accept_as(store, CUSTOMER, settings, number, now, by_customer=True, pay=pay,
                               finish=_finish_on_link(store, token, now))
    paid_here = pay is not None
    declined = paid_here and not outcome.accepted and outcome.payment != "pending"
    return QuoteDecision(_customer_words(outcome, paid_here), outcome.quote.order, redirect, outcome.accepted,
                         declined)


def _chosen_card(store: Store, settings: Settings, token: str, website_code: str, card: CardEntry | None,
                 instrument_id: int | None, now: datetime) -> int:
    """The card to pay with: a new one entered on the page (tokenised through the website's gateway and
    kept on the customer's account) or one of their saved cards."""
    money.check_card_choice(card, instrument_id)
    if card is not None:
        new = money.tokenised(store, settings, website_code, card)
        with link_for_update(store, token, QUOTE_LINKS, now) as (session, link):
            return money.keep_card(session, link.customer_id, new, False).id
    assert instrument_id is not None
    opened = peek_link(store, token, QUOTE_LINKS, now)
    with store.read() as session:
        return money.saved_card(session, opened.customer_id, instrument_id).id


def _customer_words(outcome: QuoteOutcome, paid_here: bool) -> str:
    q = outcome.quote
    if outcome.accepted:
        return f"Thank you: you accepted quote {q.number} and your order {q.order} is placed."
    if q.accept_by == QuoteAcceptance.PAYMENT.value and paid_here:
        if outcome.payment == "pending":
            return (f"Your order {q.order} is placed and your payment is being processed; quote {q.number} is "
                    "accepted when it is approved.")
        return (f"Your order {q.order} is placed but the payment did not go through. Try another card, or pay "
                f"the invoice we email you; quote {q.number} is accepted when it is paid.")
    if q.accept_by == QuoteAcceptance.PAYMENT.value:
        return (f"Your order {q.order} is placed. Please pay the invoice we email you "
                f"({format_amount(q.total, q.currency)}), or pay it here with a card; quote {q.number} is "
                "accepted when it is paid.")
    return f"Quote {q.number}: {outcome.message}"


def reject_quote_link(store: Store, token: str, reason: str | None, now: datetime | None = None) -> QuoteDecision:
    """The customer declines the quote (QUOTE_REJECTED by "customer"); the link is completed with it."""
    now = now or utcnow()
    with link_for_update(store, token, QUOTE_LINKS, now) as (session, link):
        row = _own_quote(session, _quote_id(link.options), link.customer_id, lock=True)
        outcome = quotes.reject_by_customer(session, row, reason, now)
        complete(session, link, f"quote {row.number} declined", {"quote": row.number}, now=now)
        return QuoteDecision(f"You declined quote {outcome.quote.number}. Thank you for letting us know.", None,
                             _redirect(link.options, row))
