"""`agentdesk audit verify`: check the timeline hash chains and name the first broken link."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select

from agentdesk.db.models import Customer
from agentdesk.db.store import Store
from agentdesk.domain.errors import NotFound
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.services.timeline import chain as timeline_chain


@dataclass(frozen=True)
class ChainBreak:
    customer: str
    event_id: int
    problem: str


def verify_chains(store: Store, actor: Actor, customer: str | None = None) -> tuple[int, list[ChainBreak]]:
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        customer_id = None
        if customer is not None:
            customer_id = session.exec(select(Customer.id).where(Customer.external_id == customer)).one_or_none()
            if customer_id is None:
                raise NotFound(f"no customer with the id {customer!r}")
        checked, breaks = timeline_chain.verify(session.connection(), customer_id)
        ids = {b.customer_id for b in breaks}
        names: dict[int, str] = {}
        if ids:
            names = dict(session.exec(select(Customer.id, Customer.external_id).where(col(Customer.id).in_(ids))).all())
    return checked, [ChainBreak(names.get(b.customer_id, str(b.customer_id)), b.event_id, b.problem) for b in breaks]
