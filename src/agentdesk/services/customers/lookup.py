"""Finding a customer row from what an agent or a script gives: the merchant's id, or our internal id."""

from __future__ import annotations

from sqlmodel import Session, select

from agentdesk.db.models import Customer
from agentdesk.domain import limits
from agentdesk.domain.errors import NotFound
from agentdesk.domain.text import text_problem


def customer_by_ref(session: Session, ref: str | int) -> Customer:
    """By merchant id (text) or internal id (int); `NotFound` names what was asked for.

    A reference no customer can have (out of the id range, control characters, too long) is not
    looked up: PostgreSQL refuses a NUL in a query and SQLite an integer over 64 bits."""
    if isinstance(ref, int):
        customer = session.get(Customer, ref) if limits.in_id_range(ref) else None
    elif not isinstance(ref, str) or text_problem(ref, limit=limits.EXTERNAL_ID) is not None:
        customer = None
    else:
        customer = session.exec(select(Customer).where(Customer.external_id == ref)).one_or_none()
    if customer is None:
        raise NotFound(f"no customer with the id {ref!r}")
    return customer
