"""Finding customers: segments, plain-SQL search and keyset pages.

Pages are keyed on the customer id (newest first), never OFFSET, so the table
never loads a whole segment and a deep page costs what the first one does.
Exact matches on id, email or phone come first, ahead of substring matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import exists, func, or_, select
from sqlalchemy.sql import ColumnElement

from agentdesk.models import Address, Customer, CustomerEmail, CustomerPhone, PaymentInstrument
from agentdesk.services.customer_input import phone_digits
from agentdesk.services.errors import InvalidInput
from agentdesk.services.permissions import Action, Actor, require

MAX_PAGE = 500
_FROM_THE_TOP = 2**31 - 1
"""A `before_id` above every id: the next page starts at the newest non-exact match."""


class Segment(StrEnum):
    CUSTOMERS = "customers"
    LEADS = "leads"
    ALL = "all"


SEGMENT_TITLES = {Segment.CUSTOMERS: "Customers", Segment.LEADS: "Leads", Segment.ALL: "All"}


def segment_of(value: str | Segment) -> Segment:
    try:
        return Segment(str(value).lower())
    except ValueError:
        raise InvalidInput(
            fields={"segment": f"{value!r} is not a segment; choose one of: {', '.join(s.value for s in Segment)}"}
        ) from None


@dataclass(frozen=True)
class CustomerRow:
    id: int
    external_id: str
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    organization: str | None
    country: str | None
    payment_count: int
    lifetime_value: int
    currency: str
    created_at: datetime

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def to_dict(self) -> dict:
        return {
            "id": self.external_id,
            "name": self.name,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "phone": self.phone,
            "organization": self.organization,
            "country": self.country,
            "payment_count": self.payment_count,
            "lifetime_value": self.lifetime_value,
            "currency": self.currency,
            "created_at": self.created_at.isoformat(),
        }


def _segment_condition(segment: Segment) -> ColumnElement | None:
    if segment is Segment.CUSTOMERS:
        return Customer.payment_count >= 1
    if segment is Segment.LEADS:
        return Customer.payment_count == 0
    return None


def _row_query():
    primary_email = (
        select(CustomerEmail.address)
        .where(CustomerEmail.customer_id == Customer.id, CustomerEmail.is_primary)
        .limit(1)
        .scalar_subquery()
    )
    primary_phone = (
        select(CustomerPhone.number)
        .where(CustomerPhone.customer_id == Customer.id, CustomerPhone.is_primary)
        .limit(1)
        .scalar_subquery()
    )
    country = (
        select(Address.country)
        .where(Address.customer_id == Customer.id)
        .order_by(Address.is_primary.desc(), Address.id)
        .limit(1)
        .scalar_subquery()
    )
    return select(
        Customer.id,
        Customer.external_id,
        Customer.first_name,
        Customer.last_name,
        primary_email,
        primary_phone,
        Customer.organization,
        country,
        Customer.payment_count,
        Customer.lifetime_value,
        Customer.currency,
        Customer.created_at,
    )


def _exact_condition(text: str) -> ColumnElement:
    digits = phone_digits(text)
    conditions = [
        Customer.external_id == text,
        exists().where(CustomerEmail.customer_id == Customer.id, func.lower(CustomerEmail.address) == text.lower()),
    ]
    if len(digits) >= 7 and len(digits) * 2 >= len(text.replace(" ", "")):
        conditions.append(exists().where(CustomerPhone.customer_id == Customer.id, CustomerPhone.digits == digits))
    return or_(*conditions)


def _substring_condition(text: str) -> ColumnElement:
    full_name = Customer.first_name + " " + Customer.last_name
    conditions = [
        Customer.external_id.icontains(text, autoescape=True),
        full_name.icontains(text, autoescape=True),
        Customer.organization.icontains(text, autoescape=True),
        exists().where(
            CustomerEmail.customer_id == Customer.id, CustomerEmail.address.icontains(text, autoescape=True)
        ),
    ]
    digits = phone_digits(text)
    mostly_digits = digits and len(digits) * 2 >= len(text.replace(" ", ""))
    if mostly_digits and len(digits) >= 3:
        conditions.append(
            exists().where(CustomerPhone.customer_id == Customer.id, CustomerPhone.digits.contains(digits, autoescape=True))
        )
    if text.isdigit() and len(text) == 4:
        conditions.append(
            exists().where(PaymentInstrument.customer_id == Customer.id, PaymentInstrument.last4 == text)
        )
    return or_(*conditions)


def _rows(session, query) -> list[CustomerRow]:
    return [CustomerRow(*row) for row in session.execute(query).all()]


@dataclass(frozen=True)
class CustomerPage:
    rows: list[CustomerRow]
    next_before_id: int | None
    """Pass as `before_id` for the next page; None when this was the last one."""


def search_customers(
    store,
    actor: Actor,
    text: str = "",
    segment: str | Segment = Segment.ALL,
    limit: int = 50,
    before_id: int | None = None,
) -> CustomerPage:
    """One page of customers matching `text` within `segment`.

    The first page starts with the exact id/email/phone matches; then come the
    other substring matches, newest first, keyed on the id so that `before_id`
    (the page's `next_before_id`) continues exactly where the last page ended.
    """
    require(actor, Action.VIEW_CUSTOMERS)
    segment = segment_of(segment)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(fields={"limit": f"must be between 1 and {MAX_PAGE}"})
    text = " ".join((text or "").split())
    if len(text) > 200:
        raise InvalidInput(fields={"search": "search text is longer than 200 characters"})
    base = _row_query()
    condition = _segment_condition(segment)
    if condition is not None:
        base = base.where(condition)
    with store.read() as session:
        exact: list[CustomerRow] = []
        query = base
        if text:
            exact_condition = _exact_condition(text)
            if before_id is None:
                exact = _rows(session, base.where(exact_condition).order_by(Customer.id.desc()).limit(limit))
            query = query.where(_substring_condition(text), ~exact_condition)
        if before_id is not None:
            query = query.where(Customer.id < before_id)
        wanted = limit - len(exact)
        rest = _rows(session, query.order_by(Customer.id.desc()).limit(wanted + 1)) if wanted else []
    more = len(rest) > wanted
    rest = rest[:wanted]
    if more:
        next_before = rest[-1].id
    elif not wanted and text:
        next_before = _FROM_THE_TOP
    else:
        next_before = None
    return CustomerPage(exact + rest, next_before)


def segment_counts(store, actor: Actor) -> dict[Segment, int]:
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        customers = session.execute(select(func.count()).select_from(Customer).where(Customer.payment_count >= 1)).scalar_one()
        leads = session.execute(select(func.count()).select_from(Customer).where(Customer.payment_count == 0)).scalar_one()
    return {Segment.CUSTOMERS: customers, Segment.LEADS: leads, Segment.ALL: customers + leads}
