"""Adding, editing and reading customers (with their contacts, money and timeline)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from typing import Any, TypeVar

from sqlmodel import Session, col, select

from agentdesk.config import Settings
from agentdesk.db import search_index
from agentdesk.db.models import (
    Address,
    Customer,
    CustomerEmail,
    CustomerPhone,
    Order,
    PaymentInstrument,
    Transaction,
    Website,
    utcnow,
)
from agentdesk.db.store import Store, get_row
from agentdesk.domain import limits
from agentdesk.domain.enums import (
    InstrumentMethod,
    InstrumentStatus,
    OrderKind,
    OrderStatus,
    TransactionStatus,
    TransactionStatusSets,
    TransactionType,
    TransactionTypeSets,
)
from agentdesk.domain.errors import Conflict, InvalidInput
from agentdesk.domain.formatting import format_utc, instrument_label
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.validation import (
    ContactInput,
    CustomerInput,
    ValidCustomer,
    check_date_of_birth,
    check_name,
    phone_digits,
    validated,
)
from agentdesk.services.billing.affiliates import commission_notes
from agentdesk.services.customers.extras import TaxIdInfo, tax_ids
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.customers.tags import tags_of
from agentdesk.services.money.instruments import store_card, tokenize_card
from agentdesk.services.money.payments import available_credit
from agentdesk.services.money.refunds import refund_retry_status
from agentdesk.services.risk.blocklist import entries_matching
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import TimelineEntry, events_for, record_event

EDITABLE_FIELDS = ("first_name", "last_name", "organization", "job_title", "date_of_birth", "website")
SEARCHED_FIELDS = {"first_name", "last_name", "organization"}


@dataclass(frozen=True)
class ContactView:
    id: int
    value: str
    primary: bool
    label: str | None = None


@dataclass(frozen=True)
class AddressView:
    id: int
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str | None
    country: str
    primary: bool


@dataclass(frozen=True)
class InstrumentView:
    id: int
    method: InstrumentMethod
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    fingerprint: str | None
    status: InstrumentStatus
    primary: bool
    allow_backup: bool
    sticky_gateway: str | None = None
    billing_address: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return instrument_label(self.method, self.brand, self.last4, self.exp_month, self.exp_year)


@dataclass(frozen=True)
class OrderView:
    id: int
    number: str
    kind: OrderKind
    status: OrderStatus
    total: int
    currency: str
    next_bill_date: date | None
    created_at: datetime
    in_credit_control: bool = False
    """A payment failed and the dunning schedule is retrying it."""


@dataclass(frozen=True)
class TransactionView:
    id: int
    type: TransactionType
    status: TransactionStatus
    amount: int
    currency: str
    settled: bool
    created_at: datetime
    parent_id: int | None
    order_number: str | None
    gateway: str
    gateway_ref: str | None
    error: str | None = None
    instrument: str | None = None
    note: str | None = None
    """What an agent should know at a glance, e.g. "refund retrying: attempt 2 of 3, next at …"."""


@dataclass(frozen=True)
class CustomerDetail:
    id: int
    external_id: str
    website: str
    first_name: str
    last_name: str
    organization: str | None
    job_title: str | None
    date_of_birth: date | None
    currency: str
    payment_count: int
    lifetime_value: int
    created_at: datetime
    updated_at: datetime
    emails: list[ContactView] = field(default_factory=list)
    phones: list[ContactView] = field(default_factory=list)
    addresses: list[AddressView] = field(default_factory=list)
    instruments: list[InstrumentView] = field(default_factory=list)
    orders: list[OrderView] = field(default_factory=list)
    transactions: list[TransactionView] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    available_credit: dict[str, int] = field(default_factory=dict)
    blocked: bool = False
    block_reasons: list[str] = field(default_factory=list)
    custom_fields: dict[str, str] = field(default_factory=dict)
    lead_source: dict[str, str] = field(default_factory=dict)
    tax_ids: list[TaxIdInfo] = field(default_factory=list)
    monthly_value: list[int] = field(default_factory=list)
    """Settled sales minus refunds per month, oldest first, for the last 12 months (customer's currency)."""
    """One line per active blocklist entry that matches the customer."""

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["timeline"] = [e.to_dict() for e in self.timeline]
        return _jsonable(data)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


# --- reading --------------------------------------------------------------------------



def _detail(session: Session, customer: Customer, timeline_limit: int) -> CustomerDetail:
    cid = customer.id
    website = session.get(Website, customer.website_id)
    emails = session.exec(
        select(CustomerEmail).where(CustomerEmail.customer_id == cid).order_by(col(CustomerEmail.id))
    ).all()
    phones = session.exec(
        select(CustomerPhone).where(CustomerPhone.customer_id == cid).order_by(col(CustomerPhone.id))
    ).all()
    addresses = session.exec(select(Address).where(Address.customer_id == cid).order_by(col(Address.id))).all()
    instruments = session.exec(
        select(PaymentInstrument).where(PaymentInstrument.customer_id == cid).order_by(col(PaymentInstrument.id))
    ).all()
    orders = session.exec(
        select(Order).where(Order.customer_id == cid).order_by(col(Order.created_at).desc(), col(Order.id).desc())
    ).all()
    numbers = {o.id: o.number for o in orders}
    labels = {i.id: InstrumentView(i.id, i.method, i.brand, i.last4, i.exp_month, i.exp_year, i.fingerprint, i.status,
                                   i.is_primary, i.allow_backup).label for i in instruments}
    transactions = session.exec(
        select(Transaction)
        .where(Transaction.customer_id == cid)
        .order_by(col(Transaction.created_at).desc(), col(Transaction.id).desc())
    ).all()
    commissions = commission_notes(session, cid)
    return CustomerDetail(
        id=cid,
        external_id=customer.external_id,
        website=website.code if website else "",
        first_name=customer.first_name,
        last_name=customer.last_name,
        organization=customer.organization,
        job_title=customer.job_title,
        date_of_birth=customer.date_of_birth,
        currency=customer.currency,
        payment_count=customer.payment_count,
        lifetime_value=customer.lifetime_value,
        created_at=customer.created_at,
        updated_at=customer.updated_at,
        emails=[ContactView(e.id, e.address, e.is_primary) for e in emails],
        phones=[ContactView(p.id, p.number, p.is_primary, p.label) for p in phones],
        addresses=[
            AddressView(a.id, a.line1, a.line2, a.city, a.region, a.postal_code, a.country, a.is_primary)
            for a in addresses
        ],
        instruments=[
            InstrumentView(
                i.id, i.method, i.brand, i.last4, i.exp_month, i.exp_year, i.fingerprint, i.status,
                i.is_primary, i.allow_backup, i.sticky_gateway, dict(i.billing_address or {}),
            )
            for i in instruments
        ],
        orders=[
            OrderView(o.id, o.number, o.kind, o.status, o.total, o.currency, o.next_bill_date, o.created_at,
                      o.in_credit_control)
            for o in orders
        ],
        transactions=[
            TransactionView(
                t.id, t.type, t.status, t.amount, t.currency, t.settled, t.created_at, t.parent_id,
                numbers.get(t.order_id) if t.order_id else None, t.gateway, t.gateway_ref, t.error,
                labels.get(t.instrument_id) if t.instrument_id else None,
                _transaction_note(session, t) or commissions.get(t.id),
            )
            for t in transactions
        ],
        timeline=events_for(session, cid, timeline_limit),
        tags=tags_of(session, cid),
        available_credit=available_credit(session, cid),
        blocked=customer.blocked,
        custom_fields=dict(customer.custom_fields or {}),
        lead_source=dict(customer.lead_source or {}),
        tax_ids=tax_ids(session, cid),
        monthly_value=monthly_value(transactions, customer.currency),
        block_reasons=[f"{e.kind} {e.value}" + (f": {e.reason}" if e.reason else "")
                       for e in entries_matching(session, customer)],
    )


def monthly_value(transactions: Sequence[Transaction], currency: str, months: int = 12,
                  today: date | None = None) -> list[int]:
    """Settled sales and captures minus refunds, per calendar month, the last `months` ending this month."""
    today = today or utcnow().date()
    keys = []
    year, month = today.year, today.month
    for _ in range(months):
        keys.append((year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    keys.reverse()
    totals = dict.fromkeys(keys, 0)
    for t in transactions:
        if t.currency != currency:
            continue
        when = (getattr(t, "settled_at", None) or t.created_at).date()
        key = (when.year, when.month)
        if key not in totals:
            continue
        if (t.type in TransactionTypeSets.MONEY_IN and t.settled
                and t.status in TransactionStatusSets.SUCCESSFUL_SALE):
            totals[key] += t.amount
        elif t.type == TransactionType.REFUND and t.status == TransactionStatus.APPROVED:
            totals[key] -= t.amount
    return [totals[k] for k in keys]


def _transaction_note(session: Session, t: Transaction) -> str | None:
    if t.status != TransactionStatus.PENDING:
        return None
    if t.type == TransactionType.REFUND:
        status = refund_retry_status(session, t.id)
        if status:
            attempt, of, next_at = status
            return f"refund retrying: attempt {attempt} of {of}, next at {format_utc(next_at)}"
    return "waiting for the gateway's answer"


def get_customer(store: Store, actor: Actor, ref: str | int, timeline_limit: int = 100) -> CustomerDetail:
    """A customer by merchant id (text) or internal id (int), with everything the profile shows.

    A duplicate merged into another customer opens that customer instead."""
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        customer = customer_by_ref(session, ref)
        hops = 0
        while customer.merged_into_id is not None and hops < 10:
            customer = get_row(session, Customer, customer.merged_into_id, "customer")
            hops += 1
        return _detail(session, customer, timeline_limit)


# --- writing --------------------------------------------------------------------------


def _website(session: Session, code: str | None) -> Website:
    if code:
        website = session.exec(select(Website).where(Website.code == code)).first()
        if website is None:
            known = ", ".join(session.exec(select(Website.code).order_by(col(Website.code))).all()) or "none yet"
            raise InvalidInput(fields={"website": f"no website {code!r}; known websites: {known}"})
        return website
    website = session.exec(select(Website).order_by(col(Website.id))).first()
    if website is None:
        raise InvalidInput(fields={"website": "the store has no website yet; add one before adding customers"})
    return website


def create_customer(store: Store, actor: Actor, draft: CustomerInput,
                    settings: Settings | None = None) -> CustomerDetail:
    require(actor, Action.EDIT_CUSTOMERS)
    clean = validated(draft)
    tokenized = None
    if clean.card_details:
        with store.read() as session:
            if session.execute(select(Customer.id).where(Customer.external_id == clean.external_id)).first():
                raise Conflict(f"a customer with the id {clean.external_id!r} already exists")
        tokenized = tokenize_card(store, settings, clean.website, clean.card_details)
    with store.write() as session:
        website = _website(session, clean.website)
        if session.exec(select(Customer.id).where(Customer.external_id == clean.external_id)).first() is not None:
            raise Conflict(f"a customer with the id {clean.external_id!r} already exists")
        now = utcnow()
        customer = Customer(
            external_id=clean.external_id,
            website_id=website.id,
            first_name=clean.first_name,
            last_name=clean.last_name,
            organization=clean.organization,
            job_title=clean.job_title,
            date_of_birth=clean.date_of_birth,
            currency=website.default_currency,
            custom_fields=clean.custom_fields,
            created_at=now,
            updated_at=now,
        )
        session.add(customer)
        session.flush()
        for email in clean.emails:
            session.add(CustomerEmail(customer_id=customer.id, address=email.value, is_primary=email.primary))
        for phone in clean.phones:
            session.add(
                CustomerPhone(
                    customer_id=customer.id,
                    number=phone.value,
                    digits=phone_digits(phone.value),
                    label=phone.label,
                    is_primary=phone.primary,
                )
            )
        for index, address in enumerate(clean.addresses):
            session.add(
                Address(
                    customer_id=customer.id,
                    line1=address.line1,
                    line2=address.line2,
                    city=address.city,
                    region=address.region,
                    postal_code=address.postal_code,
                    country=address.country,
                    is_primary=index == 0,
                )
            )
        record_event(session, actor, customer.id, EventType.CUSTOMER_CREATED)
        if tokenized and clean.card_details:
            _, token, fingerprint = tokenized
            store_card(session, actor, customer.id, clean.card_details, clean.card_allow_backup, token, fingerprint,
                       primary=True)
        else:
            search_index.refresh(session, [customer.id])  # store_card refreshes it otherwise
        return _detail(session, customer, 100)


def edit_customer(store: Store, actor: Actor, ref: str | int, changes: dict) -> CustomerDetail:
    """Change the customer's own fields; the timeline records each field's old and new value."""
    require(actor, Action.EDIT_CUSTOMERS)
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise InvalidInput(fields={name: "cannot be edited here" for name in unknown})
    problems: dict[str, str] = {}
    wanted: dict[str, object] = {}
    for name, value in changes.items():
        if name in ("first_name", "last_name"):
            wanted[name] = check_name(value, name.replace("_", " "), problems, name, True)
        elif name in ("organization", "job_title"):
            wanted[name] = check_name(value, name.replace("_", " "), problems, name, False)
        elif name == "date_of_birth":
            wanted[name] = check_date_of_birth(value, problems)
        else:
            wanted[name] = check_name(value, "website", problems, name, False, limits.WEBSITE_CODE) or ""
    if problems:
        raise InvalidInput(fields=problems)
    with store.write() as session:
        customer = customer_by_ref(session, ref)
        diff: dict[str, dict[str, Any]] = {}
        for name, value in wanted.items():
            if name == "website":
                website = _website(session, str(value))
                current = session.get(Website, customer.website_id)
                if website.id != customer.website_id:
                    diff[name] = {"from": current.code if current else None, "to": website.code}
                    customer.website_id = website.id
                continue
            old = getattr(customer, name)
            if old != value:
                diff[name] = {"from": _jsonable(old), "to": _jsonable(value)}
                setattr(customer, name, value)
        if diff:
            customer.updated_at = utcnow()
            session.add(customer)
            record_event(session, actor, customer.id, EventType.CUSTOMER_EDITED, changes=diff)
            if diff.keys() & SEARCHED_FIELDS:
                search_index.refresh(session, [customer.id])
            session.flush()
        return _detail(session, customer, 100)


ADDRESS_FIELDS = ("line1", "line2", "city", "region", "postal_code", "country")


Contact = TypeVar("Contact", CustomerEmail, CustomerPhone)


def _replace_contacts(session: Session, diff: dict[str, dict[str, Any]], name: str, model: type[Contact],
                      value_column: str, cid: int, wanted: list[ContactInput],
                      make: Callable[[ContactInput], Contact]) -> None:
    """Replace a customer's emails or phones when the list (values, order, primary) changed, noting it in `diff`."""
    rows = session.exec(select(model).where(model.customer_id == cid).order_by(col(model.id))).all()
    before = [[getattr(r, value_column), r.is_primary] for r in rows]
    after = [[c.value, c.primary] for c in wanted]
    if before == after:
        return
    diff[name] = {"from": before, "to": after}
    for row in rows:
        session.delete(row)
    session.flush()
    for contact in wanted:
        session.add(make(contact))


STORED_PHONE_KEY = re.compile(r"^phones\[(\d+)\]")


def _validated_keeping_stored_phones(draft: CustomerInput, stored: dict[str, str]) -> ValidCustomer:
    """`validated(draft)`, except that a phone left exactly as it is stored (number → label in `stored`)
    passes through unchecked: a number saved before the checks were strict never forces the agent to
    retype a field they did not touch. Changed or new numbers are checked as usual."""
    typed = list(draft.phones)
    kept = [phone.value.strip() in stored for phone in typed]
    fresh_at = [index for index, same in enumerate(kept) if not same]
    draft.phones = [phone for phone, same in zip(typed, kept, strict=True) if not same]
    try:
        clean = validated(draft)
    except InvalidInput as exc:
        if not exc.fields:
            raise
        raise InvalidInput(fields={
            STORED_PHONE_KEY.sub(lambda m: f"phones[{fresh_at[int(m.group(1))]}]", name): problem
            for name, problem in exc.fields.items()
        }) from None
    finally:
        draft.phones = typed
    fresh = iter(clean.phones)
    phones = [ContactInput(phone.value.strip(), phone.primary, stored[phone.value.strip()]) if same else next(fresh)
              for phone, same in zip(typed, kept, strict=True)]
    problems: dict[str, str] = {}
    values = [p.value for p in phones]
    for index, (phone, same) in enumerate(zip(typed, kept, strict=True)):
        phones[index].primary = phone.primary
        if not same and values.count(values[index]) > 1:
            problems[f"phones[{index}]"] = f"{phone.value.strip()} is listed twice"
    if sum(p.primary for p in phones) > 1:
        problems["phones"] = "only one can be primary"
    elif phones and not any(p.primary for p in phones):
        phones[0].primary = True
    if problems:
        raise InvalidInput(fields=problems)
    return replace(clean, phones=phones)


def update_customer(store: Store, actor: Actor, ref: str | int, draft: CustomerInput) -> CustomerDetail:
    """Save the whole edit form: own fields, emails, phones, the primary address, custom fields.

    The timeline gets "customer edited" with each changed field's old and new
    value, and "address modified" naming the address fields that changed.
    """
    require(actor, Action.EDIT_CUSTOMERS)
    with store.read() as session:
        current = customer_by_ref(session, ref)
        if draft.external_id and draft.external_id.strip() != current.external_id:
            raise InvalidInput(fields={"external_id": "a customer's id cannot be changed"})
        keep_id = current.external_id
        stored_phones = {p.number: p.label for p in session.exec(
            select(CustomerPhone).where(CustomerPhone.customer_id == current.id)).all()}
    draft.external_id = keep_id
    draft.card = None
    clean = _validated_keeping_stored_phones(draft, stored_phones)
    with store.write() as session:
        customer = customer_by_ref(session, ref)
        cid = customer.id
        diff: dict[str, dict[str, Any]] = {}
        for name in ("first_name", "last_name", "organization", "job_title", "date_of_birth", "custom_fields"):
            old, new = getattr(customer, name), getattr(clean, name)
            if name == "custom_fields":
                old = dict(old or {})
            if old != new:
                diff[name] = {"from": _jsonable(old), "to": _jsonable(new)}
                setattr(customer, name, new)
        current_website = get_row(session, Website, customer.website_id, "website")
        website = _website(session, clean.website) if clean.website else current_website
        if website.id != customer.website_id:
            diff["website"] = {"from": current_website.code, "to": website.code}
            customer.website_id = website.id
        _replace_contacts(session, diff, "emails", CustomerEmail, "address", cid, clean.emails,
                          lambda e: CustomerEmail(customer_id=cid, address=e.value, is_primary=e.primary))
        _replace_contacts(session, diff, "phones", CustomerPhone, "number", cid, clean.phones,
                          lambda p: CustomerPhone(customer_id=cid, number=p.value, digits=phone_digits(p.value),
                                                  label=p.label, is_primary=p.primary))
        primary = session.exec(select(Address).where(Address.customer_id == cid)
                               .order_by(col(Address.is_primary).desc(), col(Address.id))).first()
        changed_address: list[str] = []
        if clean.addresses:
            wanted = clean.addresses[0]
            if primary is None:
                primary = Address(customer_id=cid, line1=wanted.line1, city=wanted.city, country=wanted.country,
                                  is_primary=True)
                changed_address = [f for f in ADDRESS_FIELDS if getattr(wanted, f)]
            for name in ADDRESS_FIELDS:
                if getattr(primary, name) != getattr(wanted, name):
                    changed_address.append(name)
                    setattr(primary, name, getattr(wanted, name))
            if changed_address:
                session.add(primary)
        if diff or changed_address:
            customer.updated_at = utcnow()
            session.add(customer)
        if diff:
            record_event(session, actor, cid, EventType.CUSTOMER_EDITED, changes=diff)
        if changed_address:
            record_event(session, actor, cid, EventType.ADDRESS_MODIFIED, fields=sorted(set(changed_address)))
        if diff.keys() & (SEARCHED_FIELDS | {"emails", "phones"}):
            search_index.refresh(session, [cid])
        session.flush()
        return _detail(session, customer, 100)
