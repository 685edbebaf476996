"""The customer's money actions on the portal: deposit, pay an invoice, cards, billing address, payout request.

Authority is the link token, checked by `access` (kind, expiry, single use); the actor is `CUSTOMER`.
A payment follows the pending → gateway → outcome pattern of the agents' paths: the card is tokenised
outside any transaction, the link is checked and a new card kept under the link's lock, the pending sale is
committed with its key, the gateway is called, and the outcome recorded; only an approved payment completes
the link, so a declined card leaves it usable. Messages are for the customer: they never show a gateway's
or the blocklist's words.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from agentdesk.config import Settings
from agentdesk.db.models import (
    Address,
    Customer,
    Invoice,
    InvoiceLine,
    Link,
    Order,
    PaymentInstrument,
    PayoutRequest,
    Transaction,
    Website,
)
from agentdesk.db.store import Store, get_row
from agentdesk.domain import limits
from agentdesk.domain.enums import (
    InstrumentMethod,
    InstrumentStatus,
    InvoiceStatusSets,
    LinkKind,
    OrderKind,
    TransactionStatus,
    TransactionType,
)
from agentdesk.domain.errors import Conflict, InvalidInput
from agentdesk.domain.formatting import format_expiry, instrument_label
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import CUSTOMER
from agentdesk.domain.validation import AddressInput, CardInput, check_addresses, check_card
from agentdesk.services.billing import invoices as billing_invoices
from agentdesk.services.billing.paid import order_product
from agentdesk.services.links.access import LinkUnavailable, LinkUsed, OpenLink, complete, link_for_update, peek_link
from agentdesk.services.money import instruments, payments
from agentdesk.services.money.gateways import gateway_name
from agentdesk.services.money.payout_requests import PayoutRequestInfo, info_of
from agentdesk.services.risk import blocklist
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

DEPOSIT = frozenset({LinkKind.DEPOSIT})
PAY_INVOICE = frozenset({LinkKind.PAY_INVOICE})
PAYOUT = frozenset({LinkKind.PAYOUT})
PORTAL = frozenset({LinkKind.PORTAL})
CARD_PAGES = frozenset({LinkKind.ADD_CARD, LinkKind.PORTAL})

ALREADY_PAID = "This invoice is already paid."
CANNOT_TAKE = "We cannot take this payment online. Nothing was charged; please contact us."
DECLINED = "Your card was declined. Nothing was charged; you can try another card."
NOT_PROCESSED = "The payment could not be processed just now. Nothing was charged; please try again."
PENDING = "Your payment is being confirmed with the bank; please do not pay again."


@dataclass(frozen=True)
class CardEntry:
    """A card as the customer typed it on the hosted page; never stored, only tokenised."""

    number: str
    expiry: str
    """MM/YY"""
    name: str | None = None


@dataclass(frozen=True)
class CardView:
    id: int
    label: str
    """"Visa •••• 4242"."""
    expiry: str | None
    is_default: bool


@dataclass(frozen=True)
class DepositPage:
    first_name: str
    website_name: str
    currency: str
    amounts: list[int]
    custom_amount: bool
    minimum: int | None
    maximum: int | None
    cards: list[CardView]
    redirect_url: str | None


@dataclass(frozen=True)
class InvoicePage:
    number: str
    currency: str
    lines: list[tuple[str, int]]
    total: int
    amount_due: int
    due_on: date | None
    status: str
    cards: list[CardView]
    redirect_url: str | None


@dataclass(frozen=True)
class PayoutPage:
    currency: str
    minimum: int
    maximum: int
    methods: list[CardView]
    redirect_url: str | None


@dataclass(frozen=True)
class PortalOverview:
    first_name: str
    website_name: str
    subscriptions: list[tuple[str, str, str, date | None, int, str]]
    """(order number, product, status, next bill date, amount, currency)"""
    invoices: list[tuple[str, str, int, int, str, date]]
    """(number, status, total, amount due, currency, issued date)"""
    cards: list[CardView]
    billing_address: dict[str, Any] = field(default_factory=dict)
    """line1, line2, city, region, postal_code, country of the primary address; empty when none."""
    redirect_url: str | None = None


@dataclass(frozen=True)
class PaymentOutcome:
    approved: bool
    message: str
    amount: int
    currency: str
    transaction_id: int | None


# --- shared pieces -----------------------------------------------------------------------------------------------


def _card_view(instrument: PaymentInstrument) -> CardView:
    expiry = (format_expiry(instrument.exp_month, instrument.exp_year)
              if instrument.exp_month and instrument.exp_year else None)
    return CardView(instrument.id, instrument_label(instrument.method, instrument.brand, instrument.last4), expiry,
                    instrument.is_primary)


def _active_cards(session: Session, customer_id: int) -> list[PaymentInstrument]:
    return list(session.exec(
        select(PaymentInstrument).where(PaymentInstrument.customer_id == customer_id,
                                        PaymentInstrument.status == InstrumentStatus.ACTIVE,
                                        PaymentInstrument.method == InstrumentMethod.CARD,
                                        col(PaymentInstrument.gateway_token).is_not(None))
        .order_by(col(PaymentInstrument.is_primary).desc(), col(PaymentInstrument.id))
    ).all())


def card_views(session: Session, customer_id: int) -> list[CardView]:
    return [_card_view(i) for i in _active_cards(session, customer_id)]


def saved_card(session: Session, customer_id: int, instrument_id: int, field_name: str = "card") -> PaymentInstrument:
    """One of the customer's own active cards; anything else is the same answer (ids are not probed)."""
    instrument = (session.get(PaymentInstrument, instrument_id)
                  if isinstance(instrument_id, int) and limits.in_id_range(instrument_id) else None)
    if (instrument is None or instrument.customer_id != customer_id or instrument.status != InstrumentStatus.ACTIVE
            or instrument.method != InstrumentMethod.CARD or not instrument.gateway_token):
        raise InvalidInput(fields={field_name: "choose one of your saved cards"})
    return instrument


def _redirect(options: dict[str, Any]) -> str | None:
    value = options.get("redirect_url")
    return str(value) if value else None


@dataclass(frozen=True)
class NewCard:
    card: tuple[str, int, int]
    token: str
    fingerprint: str


def tokenised(store: Store, settings: Settings | None, website_code: str, entry: CardEntry) -> NewCard:
    problems: dict[str, str] = {}
    card = check_card(CardInput(entry.number or "", entry.expiry or ""), problems)
    if problems or card is None:
        raise InvalidInput(fields=problems or {"card.number": "enter the card number"})
    _, token, fingerprint = instruments.tokenize_card(store, settings, website_code, card)
    return NewCard(card, token, fingerprint)


def _has_default(session: Session, customer_id: int) -> bool:
    return session.exec(select(PaymentInstrument.id).where(PaymentInstrument.customer_id == customer_id,
                                                           PaymentInstrument.is_primary)).first() is not None


def keep_card(session: Session, customer_id: int, new: NewCard, make_default: bool) -> PaymentInstrument:
    instrument_id = instruments.store_card(session, CUSTOMER, customer_id, new.card, False, new.token,
                                           new.fingerprint, make_default or not _has_default(session, customer_id))
    return get_row(session, PaymentInstrument, instrument_id, "payment instrument")


def check_card_choice(card: CardEntry | None, instrument_id: int | None) -> None:
    if card is None and instrument_id is None:
        raise InvalidInput(fields={"card": "enter a card or choose one of your saved cards"})
    if card is not None and instrument_id is not None:
        raise InvalidInput(fields={"card": "enter a new card or choose a saved one, not both"})


def _blocked(store: Store, customer_id: int) -> bool:
    try:
        blocklist.refuse_if_blocked(store, CUSTOMER, customer_id, "payment")
    except blocklist.Blocked:
        return True
    return False


def _customer_message(status: str, label: str, amount: int, currency: str, what: str) -> tuple[bool, str]:
    if status == TransactionStatus.APPROVED:
        return True, f"Thank you: {format_amount(amount, currency, symbol=True)} was charged to {label} {what}."
    if status == TransactionStatus.PENDING:
        return False, PENDING
    if status == TransactionStatus.DECLINED:
        return False, DECLINED
    return False, NOT_PROCESSED


def _complete_after_payment(store: Store, token: str, kinds: frozenset[LinkKind], outcome: str,
                            result: dict[str, Any], append: str | None = None) -> None:
    """Complete the link once the money is taken. A link that ended meanwhile does not undo the payment."""
    try:
        with link_for_update(store, token, kinds) as (session, link):
            merged = dict(result)
            if append is not None:
                merged[append] = [*list(link.result.get(append, [])), *list(result.get(append, []))]
            complete(session, link, outcome, merged)
    except (LinkUnavailable, LinkUsed):
        pass


# --- deposit -----------------------------------------------------------------------------------------------------


def _deposit_terms(options: dict[str, Any]) -> tuple[str, list[int], bool, int | None, int | None]:
    minimum, maximum = options.get("minimum"), options.get("maximum")
    return (str(options.get("currency") or ""), [int(a) for a in options.get("amounts") or []],
            bool(options.get("custom_amount")), int(minimum) if minimum is not None else None,
            int(maximum) if maximum is not None else None)


def _check_deposit_amount(options: dict[str, Any], amount: int) -> None:
    currency, amounts, custom, minimum, maximum = _deposit_terms(options)
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise InvalidInput(fields={"amount": "choose an amount"})
    if amount in amounts:
        return
    if not custom:
        raise InvalidInput(fields={"amount": "choose one of the amounts offered"})
    low, high = minimum or 1, min(maximum or limits.AMOUNT_MAX, limits.AMOUNT_MAX)
    if not low <= amount <= high:
        raise InvalidInput(fields={"amount": f"enter an amount from {format_amount(low, currency, symbol=True)} "
                                             f"to {format_amount(high, currency, symbol=True)}"})


def deposit_page(store: Store, token: str) -> DepositPage:
    link = peek_link(store, token, DEPOSIT)
    currency, amounts, custom, minimum, maximum = _deposit_terms(link.options)
    with store.read() as session:
        cards = card_views(session, link.customer_id)
    return DepositPage(link.first_name, link.website_name, currency or link.currency, amounts, custom, minimum,
                       maximum, cards, _redirect(link.options))


def make_deposit(store: Store, settings: Settings, token: str, amount: int, card: CardEntry | None,
                 instrument_id: int | None) -> PaymentOutcome:
    """Charge `amount` (one of the link's amounts, or a custom one within its limits) to a new or saved card."""
    opened = peek_link(store, token, DEPOSIT)
    _check_deposit_amount(opened.options, amount)
    check_card_choice(card, instrument_id)
    currency = str(opened.options.get("currency") or opened.currency)
    new = tokenised(store, settings, opened.website_code, card) if card is not None else None
    if _blocked(store, opened.customer_id):
        return PaymentOutcome(False, CANNOT_TAKE, amount, currency, None)
    with link_for_update(store, token, DEPOSIT) as (session, link):
        _check_deposit_amount(link.options, amount)
        instrument = (keep_card(session, link.customer_id, new, False) if new is not None
                      else saved_card(session, link.customer_id, instrument_id or 0))
        chosen = instrument.id, instrument.gateway_token or "", _card_view(instrument).label, instrument.sticky_gateway
        link_id = link.id
    description = f"Deposit (link {link_id})"
    with store.write(unrecorded="a pending deposit; its outcome is recorded on the timeline") as session:
        customer = get_row(session, Customer, opened.customer_id)
        txn = Transaction(customer_id=customer.id, instrument_id=chosen[0], type=TransactionType.SALE,
                          status=TransactionStatus.PENDING, amount=amount, currency=currency,
                          gateway=chosen[3] or gateway_name(session, get_row(session, Website, customer.website_id),
                                                            settings),
                          idempotency_key=f"sale-{uuid.uuid4().hex}", description=description)
        session.add(txn)
        session.flush()
        txn_id, gateway = txn.id, txn.gateway
    result = payments.charge_pending_sale(store, CUSTOMER, settings, txn_id, gateway, chosen[1], chosen[2],
                                          description)
    approved, message = _customer_message(result.status, chosen[2], amount, currency, "as a deposit")
    if approved:
        _complete_after_payment(store, token, DEPOSIT, f"deposit of {format_amount(amount, currency)} approved",
                                {"transactions": [txn_id]}, append="transactions")
    return PaymentOutcome(approved, message, amount, currency, txn_id)


# --- pay an invoice ----------------------------------------------------------------------------------------------


def _link_invoice(session: Session, link: OpenLink | Link) -> Invoice:
    invoice_id = link.options.get("invoice_id")
    invoice = session.get(Invoice, int(invoice_id)) if isinstance(invoice_id, int) else None
    if invoice is None or invoice.customer_id != link.customer_id:
        raise LinkUnavailable()
    return invoice


def _open_due(invoice: Invoice) -> int:
    return invoice.total - invoice.amount_paid if invoice.status in InvoiceStatusSets.OPEN else 0


def _refuse_closed(invoice: Invoice) -> None:
    if _open_due(invoice) <= 0:
        raise Conflict(ALREADY_PAID if invoice.paid_at is not None or invoice.status.value == "paid"
                       else "This invoice can no longer be paid online; please contact us.")


def pay_invoice_page(store: Store, token: str) -> InvoicePage:
    link = peek_link(store, token, PAY_INVOICE)
    with store.read() as session:
        invoice = _link_invoice(session, link)
        lines = [(line.description, line.total) for line in session.exec(
            select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id).order_by(col(InvoiceLine.id))).all()]
        return InvoicePage(invoice.number, invoice.currency, lines, invoice.total, _open_due(invoice),
                           invoice.due_at.date() if invoice.due_at else None, invoice.status.value,
                           card_views(session, link.customer_id), _redirect(link.options))


def pay_invoice(store: Store, settings: Settings, token: str, card: CardEntry | None,
                instrument_id: int | None) -> PaymentOutcome:
    """Pay what the link's invoice still owes through the invoice payment path, on the chosen card only."""
    opened = peek_link(store, token, PAY_INVOICE)
    with store.read() as session:
        invoice = _link_invoice(session, opened)
        _refuse_closed(invoice)
        due, currency = _open_due(invoice), invoice.currency
    check_card_choice(card, instrument_id)
    new = tokenised(store, settings, opened.website_code, card) if card is not None else None
    if _blocked(store, opened.customer_id):
        return PaymentOutcome(False, CANNOT_TAKE, due, currency, None)
    with link_for_update(store, token, PAY_INVOICE) as (session, link):
        invoice = _link_invoice(session, link)
        _refuse_closed(invoice)
        instrument = (keep_card(session, link.customer_id, new, False) if new is not None
                      else saved_card(session, link.customer_id, instrument_id or 0))
        chosen_id, label, invoice_id, number = instrument.id, _card_view(instrument).label, invoice.id, invoice.number
    result = billing_invoices.collect_on_link(store, settings, invoice_id, chosen_id)
    if result.status == billing_invoices.NOTHING_DUE:
        raise Conflict(ALREADY_PAID)
    approved, message = _customer_message(result.status, label, result.amount, result.currency, f"for {number}")
    if approved:
        _complete_after_payment(store, token, PAY_INVOICE, f"invoice {number} paid",
                                {"invoice": number, "transaction": result.transaction_id})
    return PaymentOutcome(approved, message, result.amount, result.currency, result.transaction_id)


# --- cards and billing address -----------------------------------------------------------------------------------


def add_card(store: Store, settings: Settings, token: str, card: CardEntry, make_default: bool) -> CardView:
    """Keep a new card (the default when asked, or when the customer has none). Completes an add-card link;
    a billing-portal link stays open."""
    opened = peek_link(store, token, CARD_PAGES)
    new = tokenised(store, settings, opened.website_code, card)
    with link_for_update(store, token, CARD_PAGES) as (session, link):
        instrument = keep_card(session, link.customer_id, new, make_default)
        view = _card_view(instrument)
        if link.kind == LinkKind.ADD_CARD:
            complete(session, link, f"card {view.label} added", {"instrument": instrument.id})
        return view


def set_default_card(store: Store, token: str, instrument_id: int) -> None:
    with link_for_update(store, token, PORTAL) as (session, link):
        instrument = saved_card(session, link.customer_id, instrument_id)
        if instrument.is_primary:
            return
        old = session.exec(select(PaymentInstrument).where(PaymentInstrument.customer_id == link.customer_id,
                                                           PaymentInstrument.is_primary)).first()
        session.execute(update(PaymentInstrument).where(col(PaymentInstrument.customer_id) == link.customer_id)
                        .values(is_primary=False).execution_options(synchronize_session=False))
        session.execute(update(PaymentInstrument).where(col(PaymentInstrument.id) == instrument.id)
                        .values(is_primary=True).execution_options(synchronize_session=False))
        change: dict[str, Any] = {"from": instruments.label_of(old) if old else "none",
                                  "to": instruments.label_of(instrument)}
        record_event(session, CUSTOMER, link.customer_id, EventType.PAYMENT_METHOD_CHANGED, **change)


ADDRESS_FIELDS = ("line1", "line2", "city", "region", "postal_code", "country")


def _address_dict(address: Address | None) -> dict[str, Any]:
    return {name: getattr(address, name) for name in ADDRESS_FIELDS} if address is not None else {}


def update_billing_address(store: Store, token: str, address: AddressInput) -> None:
    """Change the customer's primary address (one is made when they have none)."""
    problems: dict[str, str] = {}
    [clean] = check_addresses([address], problems)
    if problems:
        raise InvalidInput(fields={key.removeprefix("addresses[0]."): why for key, why in problems.items()})
    wanted = {name: getattr(clean, name) for name in ADDRESS_FIELDS}
    with link_for_update(store, token, PORTAL) as (session, link):
        row = session.exec(select(Address).where(Address.customer_id == link.customer_id)
                           .order_by(col(Address.is_primary).desc(), col(Address.id))).first()
        if row is None:
            row = Address(customer_id=link.customer_id, is_primary=True, **wanted)
            changed = [name for name in ADDRESS_FIELDS if wanted[name]]
        else:
            changed = [name for name in ADDRESS_FIELDS if getattr(row, name) != wanted[name]]
            if not changed and row.is_primary:
                return
            for name in ADDRESS_FIELDS:
                setattr(row, name, wanted[name])
            row.is_primary = True
        session.add(row)
        record_event(session, CUSTOMER, link.customer_id, EventType.ADDRESS_MODIFIED,
                     fields=changed or ["primary"])


def portal_overview(store: Store, token: str) -> PortalOverview:
    link = peek_link(store, token, PORTAL)
    with store.read() as session:
        orders = session.exec(select(Order).where(Order.customer_id == link.customer_id,
                                                  Order.kind == OrderKind.SUBSCRIPTION)
                              .order_by(col(Order.id).desc())).all()
        subscriptions = [(o.number, order_product(session, o), o.status.value, o.next_bill_date, o.total, o.currency)
                         for o in orders]
        invoices = [(i.number, i.status.value, i.total, _open_due(i), i.currency, i.issued_at.date())
                     for i in session.exec(select(Invoice).where(Invoice.customer_id == link.customer_id)
                                           .order_by(col(Invoice.issued_at).desc(), col(Invoice.id).desc())
                                           .limit(100)).all()]
        address = session.exec(select(Address).where(Address.customer_id == link.customer_id)
                               .order_by(col(Address.is_primary).desc(), col(Address.id))).first()
        return PortalOverview(link.first_name, link.website_name, subscriptions, invoices,
                              card_views(session, link.customer_id), _address_dict(address), _redirect(link.options))


# --- payout request ----------------------------------------------------------------------------------------------


def _payout_terms(options: dict[str, Any], fallback_currency: str) -> tuple[str, int, int]:
    return (str(options.get("currency") or fallback_currency), int(options.get("minimum") or 1),
            int(options.get("maximum") or 0))


def payout_page(store: Store, token: str) -> PayoutPage:
    link = peek_link(store, token, PAYOUT)
    currency, minimum, maximum = _payout_terms(link.options, link.currency)
    with store.read() as session:
        return PayoutPage(currency, minimum, maximum, card_views(session, link.customer_id), _redirect(link.options))


def request_payout(store: Store, token: str, amount: int, instrument_id: int) -> PayoutRequestInfo:
    """A pending payout request for an admin or finance to approve; completes the payout link."""
    with link_for_update(store, token, PAYOUT) as (session, link):
        currency, minimum, maximum = _payout_terms(link.options, get_row(session, Customer, link.customer_id).currency)
        if not isinstance(amount, int) or isinstance(amount, bool) or not minimum <= amount <= maximum:
            raise InvalidInput(fields={"amount": f"enter an amount from {format_amount(minimum, currency, symbol=True)}"
                                                 f" to {format_amount(maximum, currency, symbol=True)}"})
        instrument = saved_card(session, link.customer_id, instrument_id, "method")
        row = PayoutRequest(customer_id=link.customer_id, link_id=link.id, amount=amount, currency=currency,
                            instrument_id=instrument.id)
        session.add(row)
        session.flush()
        label = instruments.label_of(instrument)
        record_event(session, CUSTOMER, link.customer_id, EventType.PAYOUT_REQUESTED, request=row.id, amount=amount,
                     currency=currency, method=label, link=link.id)
        complete(session, link, f"payout of {format_amount(amount, currency)} to {label} requested",
                 {"payout_request": row.id})
        return info_of(session, row)
