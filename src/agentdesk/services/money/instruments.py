"""Payment instruments on a customer: add a card (tokenised; the number is never kept) or another
method, choose the primary, allow or forbid backup use, update the expiry, deactivate.

Each change is recorded on the timeline; the search index follows the cards' last fours.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from agentdesk.config import Settings
from agentdesk.db import search_index
from agentdesk.db.models import PaymentInstrument, Website
from agentdesk.db.store import Store, get_row
from agentdesk.domain import limits
from agentdesk.domain.enums import InstrumentMethod, InstrumentStatus
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound
from agentdesk.domain.formatting import format_expiry, instrument_label
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.validation import AddressInput, CardInput, card_brand, check_addresses, check_card
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.money.gateways import GatewayError, gateway_for, gateway_name
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event


def label_of(i: PaymentInstrument) -> str:
    """The instrument's name on the timeline (without the expiry, which can change)."""
    return instrument_label(i.method, i.brand, i.last4)


def tokenize_card(store: Store, settings: Settings | None, website_code: str | None,
                  card: tuple[str, int, int]) -> tuple[str, str, str]:
    """(gateway name, token, fingerprint) from the website's gateway, outside any transaction."""
    with store.read() as session:
        query = select(Website).where(Website.code == website_code) if website_code else select(Website)
        website = session.exec(query.order_by(col(Website.id))).first()
        if website is None:
            raise InvalidInput(fields={"website": f"no website {website_code!r}"})
        name = gateway_name(session, website, settings)
    digits, month, year = card
    try:
        token, fingerprint = gateway_for(store, name, settings).tokenize_card(digits, month, year)
    except GatewayError as exc:
        raise InvalidInput(fields={"card.number": f"the gateway refused the card: {exc}"}) from exc
    return name, token, kept_fingerprint(store, digits, fingerprint)


def kept_fingerprint(store: Store, digits: str, fingerprint: str) -> str:
    """The fingerprint to keep. When Stripe answers without one, its gateway falls back to an unkeyed digest
    of the number, which anyone could recompute by trying the middle digits: that one is keyed first."""
    if fingerprint == hashlib.sha256(f"stripe-card:{digits}".encode()).hexdigest()[:32]:
        return store.key.card_fingerprint(fingerprint)
    return fingerprint


def store_card(session: Session, actor: Actor, customer_id: int, card: tuple[str, int, int], allow_backup: bool,
               token: str, fingerprint: str, primary: bool) -> int:
    """Keep a tokenised card in the caller's transaction; returns the new instrument's id."""
    digits, month, year = card
    if primary:
        session.exec(update(PaymentInstrument).where(col(PaymentInstrument.customer_id) == customer_id)
                     .values(is_primary=False))
    instrument = PaymentInstrument(customer_id=customer_id, method=InstrumentMethod.CARD, brand=card_brand(digits),
                                   last4=digits[-4:], bin=digits[:6], exp_month=month, exp_year=year,
                                   fingerprint=fingerprint, is_primary=primary, allow_backup=allow_backup,
                                   gateway_token=token)
    session.add(instrument)
    session.flush()
    record_event(session, actor, customer_id, EventType.NEW_PAYMENT_METHOD, instrument=label_of(instrument))
    search_index.refresh(session, [customer_id])
    return instrument.id


def add_card(store: Store, actor: Actor, settings: Settings, customer: str | int, number: str, expiry: str,
             allow_backup: bool = False, primary: bool = False) -> int:
    require(actor, Action.EDIT_CUSTOMERS)
    problems: dict[str, str] = {}
    card = check_card(CardInput(number, expiry, allow_backup), problems)
    if problems or card is None:
        raise InvalidInput(fields=problems or {"card.number": "enter the card number"})
    with store.read() as session:
        row = customer_by_ref(session, customer)
        website = get_row(session, Website, row.website_id).code
    _, token, fingerprint = tokenize_card(store, settings, website, card)
    with store.write() as session:
        row = customer_by_ref(session, customer)
        return store_card(session, actor, row.id, card, allow_backup, token, fingerprint,
                          primary or not _has_primary(session, row.id))


def _has_primary(session: Session, customer_id: int) -> bool:
    return session.exec(select(PaymentInstrument.id).where(
        PaymentInstrument.customer_id == customer_id, PaymentInstrument.is_primary)).first() is not None


def _instrument(session: Session, instrument_id: int) -> PaymentInstrument:
    if not limits.in_id_range(instrument_id):
        raise NotFound(f"no payment instrument {instrument_id}")
    return get_row(session, PaymentInstrument, instrument_id, "payment instrument")


def _edited(session: Session, actor: Actor, instrument: PaymentInstrument, what: str, old: object,
            new: object) -> None:
    record_event(session, actor, instrument.customer_id, EventType.CUSTOMER_EDITED,
                 changes={f"{label_of(instrument)} {what}": {"from": old, "to": new}})


def set_primary(store: Store, actor: Actor, instrument_id: int) -> None:
    require(actor, Action.EDIT_CUSTOMERS)
    with store.write() as session:
        instrument = _instrument(session, instrument_id)
        if instrument.status != InstrumentStatus.ACTIVE:
            raise Conflict("an inactive instrument cannot be primary")
        if instrument.is_primary:
            return
        old = session.exec(select(PaymentInstrument).where(PaymentInstrument.customer_id == instrument.customer_id,
                                                           PaymentInstrument.is_primary)).first()
        if old is not None:
            old.is_primary = False
            session.add(old)
            session.flush()
        instrument.is_primary = True
        session.add(instrument)
        change: dict[str, Any] = {"from": label_of(old) if old else "none", "to": label_of(instrument)}
        record_event(session, actor, instrument.customer_id, EventType.PAYMENT_METHOD_CHANGED, **change)


def set_backup(store: Store, actor: Actor, instrument_id: int, allowed: bool) -> None:
    require(actor, Action.EDIT_CUSTOMERS)
    with store.write() as session:
        instrument = _instrument(session, instrument_id)
        if instrument.allow_backup != allowed:
            _edited(session, actor, instrument, "backup allowed", instrument.allow_backup, allowed)
            instrument.allow_backup = allowed
            session.add(instrument)


def update_expiry(store: Store, actor: Actor, instrument_id: int, expiry: str) -> None:
    require(actor, Action.EDIT_CUSTOMERS)
    with store.write() as session:
        instrument = _instrument(session, instrument_id)
        if instrument.method != InstrumentMethod.CARD:
            raise Conflict("only cards have an expiry")
        problems: dict[str, str] = {}
        card = check_card(CardInput("4242424242424242", expiry), problems)
        if card is None:
            raise InvalidInput(fields={"expiry": problems.get("card.expiry", "write the expiry as MM/YY")})
        old = (format_expiry(instrument.exp_month, instrument.exp_year)
               if instrument.exp_month and instrument.exp_year else None)
        instrument.exp_month, instrument.exp_year = card[1], card[2]
        if instrument.status == InstrumentStatus.EXPIRED:
            instrument.status = InstrumentStatus.ACTIVE
        session.add(instrument)
        _edited(session, actor, instrument, "expiry", old, format_expiry(card[1], card[2]))


def deactivate(store: Store, actor: Actor, instrument_id: int) -> None:
    require(actor, Action.EDIT_CUSTOMERS)
    with store.write() as session:
        instrument = _instrument(session, instrument_id)
        if instrument.status == InstrumentStatus.INACTIVE:
            raise Conflict("this instrument is already inactive")
        _edited(session, actor, instrument, "status", instrument.status.value, InstrumentStatus.INACTIVE.value)
        instrument.status = InstrumentStatus.INACTIVE
        instrument.is_primary = False
        instrument.allow_backup = False
        session.add(instrument)
        session.flush()
        successor = session.exec(
            select(PaymentInstrument)
            .where(PaymentInstrument.customer_id == instrument.customer_id,
                   PaymentInstrument.status == InstrumentStatus.ACTIVE)
            .order_by(col(PaymentInstrument.allow_backup).desc(), col(PaymentInstrument.id))
        ).first()
        if successor is not None and not _has_primary(session, instrument.customer_id):
            successor.is_primary = True
            session.add(successor)


OTHER_METHODS = tuple(m.value for m in InstrumentMethod if m is not InstrumentMethod.CARD)


def add_other_method(store: Store, actor: Actor, customer: str | int, method: str, reference: str = "") -> int:
    """A bank account, PayPal or other method; `reference` is its last four (or a short label), never a full number."""
    require(actor, Action.EDIT_CUSTOMERS)
    method = (method or "").strip().lower()
    if method not in OTHER_METHODS:
        raise InvalidInput(fields={"method": f"one of: {', '.join(OTHER_METHODS)}"})
    reference = "".join(reference.split())
    if reference and not (reference.isascii() and reference.isdigit() and len(reference) == 4):
        raise InvalidInput(fields={"reference": "give only the last four digits"})
    with store.write() as session:
        row = customer_by_ref(session, customer)
        instrument = PaymentInstrument(customer_id=row.id, method=InstrumentMethod(method), last4=reference or None,
                                       is_primary=not _has_primary(session, row.id))
        session.add(instrument)
        session.flush()
        record_event(session, actor, row.id, EventType.NEW_PAYMENT_METHOD, instrument=label_of(instrument))
        return instrument.id


def set_sticky_gateway(store: Store, actor: Actor, instrument_id: int, gateway: str | None) -> None:
    require(actor, Action.EDIT_CUSTOMERS)
    gateway = (gateway or "").strip().lower() or None
    if gateway not in (None, "sandbox", "stripe"):
        raise InvalidInput(fields={"gateway": "sandbox, stripe, or empty for the website's default"})
    with store.write() as session:
        instrument = _instrument(session, instrument_id)
        if instrument.sticky_gateway != gateway:
            _edited(session, actor, instrument, "sticky gateway", instrument.sticky_gateway, gateway)
            instrument.sticky_gateway = gateway
            session.add(instrument)


def set_billing_address(store: Store, actor: Actor, instrument_id: int, line1: str, city: str, country: str,
                        postal_code: str | None = None) -> None:
    require(actor, Action.EDIT_CUSTOMERS)
    problems: dict[str, str] = {}
    address = check_addresses([AddressInput(line1, city, country, postal_code=postal_code)], problems)[0]
    if problems:
        raise InvalidInput(fields={k.replace("addresses[0].", ""): v for k, v in problems.items()})
    value = {"line1": address.line1, "city": address.city, "country": address.country,
             "postal_code": address.postal_code}
    with store.write() as session:
        instrument = _instrument(session, instrument_id)
        old = dict(instrument.billing_address or {})
        if old != value:
            _edited(session, actor, instrument, "billing address", old or None, value)
            instrument.billing_address = value
            session.add(instrument)


def resolve_instrument(store: Store, actor: Actor, customer: str | int, ref: str) -> int:
    """The customer's active instrument named as an agent sees it: its last four digits (or 'card 4242').

    The number is refused when no active instrument, or more than one, ends with it."""
    require(actor, Action.VIEW_CUSTOMERS)
    digits = (ref or "").strip().lower().removeprefix("card").strip().removeprefix("ending").strip()
    if not (len(digits) == 4 and digits.isascii() and digits.isdigit()):
        raise InvalidInput(fields={"instrument": f"{ref!r}: give the last four digits of an active card, e.g. 4242"})
    with store.read() as session:
        owner = customer_by_ref(session, customer)
        active = list(session.exec(select(PaymentInstrument).where(
            PaymentInstrument.customer_id == owner.id, PaymentInstrument.status == InstrumentStatus.ACTIVE)))
        matches = [i for i in active if i.last4 == digits]
        if len(matches) == 1:
            return matches[0].id
        known = ", ".join(sorted({i.last4 for i in active if i.last4})) or "none"
        if not matches:
            raise NotFound(f"the customer has no active payment instrument ending {digits} (active: {known})")
        raise InvalidInput(fields={"instrument": f"{len(matches)} active instruments end with {digits}; "
                                                 "choose one in the console"})
