"""Finding a customer row from what an agent or a script gives: the merchant's id, or our internal id."""

from __future__ import annotations

from sqlmodel import Session, select

from agentdesk.db.models import Customer
from agentdesk.domain.errors import NotFound


def customer_by_ref(session: Session, ref: str | int) -> Customer:
    """By merchant id (text) or internal id (int); `NotFound` names what was asked for."""
    if isinstance(ref, int):
        customer = session.get(Customer, ref)
    else:
        customer = session.exec(select(Customer).where(Customer.external_id == ref)).one_or_none()
    if customer is None:
        raise NotFound(f"no customer with the id {ref!r}")
    return customer
