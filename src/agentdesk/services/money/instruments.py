"""Payment instruments on a customer: add a card (tokenised; the number is never kept) or another
method, choose the primary, allow or forbid backup use, update the expiry, deactivate.

Each change is recorded on the timeline; the search index follows the cards' last fours.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlmodel import Session

from agentdesk.db import search_index
from agentdesk.db.models import PaymentInstrument
from agentdesk.domain.enums import InstrumentMethod, InstrumentStatus
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.validation import CardInput, card_brand, check_card
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event


def label_of(i: PaymentInstrument) -> str:
    if i.method == InstrumentMethod.CARD:
        return f"{i.brand or 'Card'} •••• {i.last4 or '????'}"
    return f"{i.method.replace('_', ' ')}" + (f" •••• {i.last4}" if i.last4 else "")


def tokenize_card(store, settings, website_code: str | None, card: tuple[str, int, int]) -> tuple[str, str, str]:
    """(gateway name, token, fingerprint) from the website's gateway, outside any transaction."""
    from agentdesk.db.models import Website
    from agentdesk.services.money.gateways import GatewayError, gateway_for
    from agentdesk.services.money.payments import gateway_name

    with store.read() as session:
        website = session.execute(select(Website).where(Website.code == website_code)).scalar_one_or_none() \
            if website_code else session.execute(select(Website).order_by(Website.id)).scalars().first()
        if website is None:
            raise InvalidInput(fields={"website": f"no website {website_code!r}"})
        name = gateway_name(settings, website)
    digits, month, year = card
    try:
        token, fingerprint = gateway_for(store, name, settings).tokenize_card(digits, month, year)
    except GatewayError as exc:
        raise InvalidInput(fields={"card.number": f"the gateway refused the card: {exc}"}) from exc
    return name, token, fingerprint


def store_card(session: Session, actor: Actor, customer_id: int, card: tuple[str, int, int], allow_backup: bool,
               token: str, fingerprint: str, primary: bool) -> PaymentInstrument:
    digits, month, year = card
    if primary:
        session.execute(update(PaymentInstrument).where(PaymentInstrument.customer_id == customer_id)
                        .values(is_primary=False))
    instrument = PaymentInstrument(customer_id=customer_id, method=InstrumentMethod.CARD, brand=card_brand(digits), last4=digits[-4:],
                                   bin=digits[:6], exp_month=month, exp_year=year, fingerprint=fingerprint,
                                   is_primary=primary, allow_backup=allow_backup, gateway_token=token)
    session.add(instrument)
    session.flush()
    record_event(session, actor, customer_id, EventType.NEW_PAYMENT_METHOD, instrument=label_of(instrument))
    search_index.refresh(session, [customer_id])
    return instrument


def add_card(store, actor: Actor, settings, customer: str | int, number: str, expiry: str,
             allow_backup: bool = False, primary: bool = False) -> int:
    require(actor, Action.EDIT_CUSTOMERS)
    problems: dict[str, str] = {}
    card = check_card(CardInput(number, expiry, allow_backup), problems)
    if problems or card is None:
        raise InvalidInput(fields=problems or {"card.number": "enter the card number"})
    with store.read() as session:
        row = customer_by_ref(session, customer)
        from agentdesk.db.models import Website

        website = session.get(Website, row.website_id).code
    _, token, fingerprint = tokenize_card(store, settings, website, card)
    with store.write() as session:
        row = customer_by_ref(session, customer)
        has_primary = session.execute(select(PaymentInstrument.id).where(
            PaymentInstrument.customer_id == row.id, PaymentInstrument.is_primary)).first()
        return store_card(session, actor, row.id, card, allow_backup, token, fingerprint,
                          primary or not has_primary).id


def _instrument(session: Session, instrument_id: int) -> PaymentInstrument:
    instrument = session.get(PaymentInstrument, instrument_id)
    if instrument is None:
        raise NotFound(f"no payment instrument {instrument_id}")
    return instrument


def _edited(session, actor, instrument: PaymentInstrument, what: str, old, new) -> None:
    record_event(session, actor, instrument.customer_id, EventType.CUSTOMER_EDITED,
                 changes={f"{label_of(instrument)} {what}": {"from": old, "to": new}})


def set_primary(store, actor: Actor, instrument_id: int) -> None:
    require(actor, Action.EDIT_CUSTOMERS)
    with store.write() as session:
        instrument = _instrument(session, instrument_id)
        if instrument.status != InstrumentStatus.ACTIVE:
            raise Conflict("an inactive instrument cannot be primary")
        if instrument.is_primary:
            return
        old = session.execute(select(PaymentInstrument).where(PaymentInstrument.customer_id == instrument.customer_id,
                                                              PaymentInstrument.is_primary)).scalars().first()
        if old is not None:
            old.is_primary = False
            session.add(old)
            session.flush()
        instrument.is_primary = True
        session.add(instrument)
        record_event(session, actor, instrument.customer_id, EventType.PAYMENT_METHOD_CHANGED,
                     **{"from": label_of(old) if old else "none", "to": label_of(instrument)})


def set_backup(store, actor: Actor, instrument_id: int, allowed: bool) -> None:
    require(actor, Action.EDIT_CUSTOMERS)
    with store.write() as session:
        instrument = _instrument(session, instrument_id)
        if instrument.allow_backup != allowed:
            _edited(session, actor, instrument, "backup allowed", instrument.allow_backup, allowed)
            instrument.allow_backup = allowed
            session.add(instrument)


def update_expiry(store, actor: Actor, instrument_id: int, expiry: str) -> None:
    require(actor, Action.EDIT_CUSTOMERS)
    with store.write() as session:
        instrument = _instrument(session, instrument_id)
        if instrument.method != InstrumentMethod.CARD:
            raise Conflict("only cards have an expiry")
        problems: dict[str, str] = {}
        card = check_card(CardInput("4242424242424242", expiry), problems)
        if card is None:
            raise InvalidInput(fields={"expiry": problems.get("card.expiry", "write the expiry as MM/YY")})
        old = f"{instrument.exp_month:02d}/{instrument.exp_year}" if instrument.exp_month else None
        instrument.exp_month, instrument.exp_year = card[1], card[2]
        if instrument.status == InstrumentStatus.EXPIRED:
            instrument.status = InstrumentStatus.ACTIVE
        session.add(instrument)
        _edited(session, actor, instrument, "expiry", old, f"{card[1]:02d}/{card[2]}")


def deactivate(store, actor: Actor, instrument_id: int) -> None:
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
        successor = session.execute(select(PaymentInstrument).where(
            PaymentInstrument.customer_id == instrument.customer_id, PaymentInstrument.status == InstrumentStatus.ACTIVE)
            .order_by(PaymentInstrument.allow_backup.desc(), PaymentInstrument.id)).scalars().first()
        if successor is not None and not session.execute(select(PaymentInstrument.id).where(
                PaymentInstrument.customer_id == instrument.customer_id, PaymentInstrument.is_primary)).first():
            successor.is_primary = True
            session.add(successor)


OTHER_METHODS = tuple(m.value for m in InstrumentMethod if m is not InstrumentMethod.CARD)


def add_other_method(store, actor: Actor, customer: str | int, method: str, reference: str = "") -> int:
    """A bank account, PayPal or other method; `reference` is its last four (or a short label), never a full number."""
    require(actor, Action.EDIT_CUSTOMERS)
    method = (method or "").strip().lower()
    if method not in OTHER_METHODS:
        raise InvalidInput(fields={"method": f"one of: {', '.join(OTHER_METHODS)}"})
    reference = "".join(reference.split())
    if reference and not (reference.isdigit() and len(reference) == 4):
        raise InvalidInput(fields={"reference": "give only the last four digits"})
    with store.write() as session:
        row = customer_by_ref(session, customer)
        has_primary = session.execute(select(PaymentInstrument.id).where(
            PaymentInstrument.customer_id == row.id, PaymentInstrument.is_primary)).first()
        instrument = PaymentInstrument(customer_id=row.id, method=InstrumentMethod(method), last4=reference or None,
                                       is_primary=not has_primary)
        session.add(instrument)
        session.flush()
        record_event(session, actor, row.id, EventType.NEW_PAYMENT_METHOD, instrument=label_of(instrument))
        return instrument.id


def set_sticky_gateway(store, actor: Actor, instrument_id: int, gateway: str | None) -> None:
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


def set_billing_address(store, actor: Actor, instrument_id: int, line1: str, city: str, country: str,
                        postal_code: str | None = None) -> None:
    from agentdesk.domain.validation import AddressInput, check_addresses

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
