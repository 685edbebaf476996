"""Disputes (chargebacks) as agents read them: which of a customer's payments their bank disputed, how it
stands and by when evidence is due. Written by the gateway's events (`stripe_events`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from agentdesk.db.models import Dispute
from agentdesk.db.store import Store
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.services.customers.lookup import customer_by_ref

OPEN = frozenset({"warning_needs_response", "warning_under_review", "needs_response", "under_review"})


@dataclass(frozen=True)
class DisputeView:
    transaction_id: int
    status: str
    amount: int
    currency: str
    reason: str
    due_by: datetime | None
    gateway_ref: str

    @property
    def open(self) -> bool:
        return self.status in OPEN

    @property
    def words(self) -> str:
        return self.status.replace("_", " ")


def customer_disputes(store: Store, actor: Actor, customer_ref: str | int) -> dict[int, DisputeView]:
    """The latest dispute of each of the customer's disputed transactions, by transaction id."""
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        customer = customer_by_ref(session, customer_ref)
        rows = session.exec(select(Dispute).where(Dispute.customer_id == customer.id)
                            .order_by(col(Dispute.id))).all()
        return {row.transaction_id: DisputeView(row.transaction_id, row.status, row.amount, row.currency, row.reason,
                                                row.due_by, row.gateway_ref) for row in rows}
