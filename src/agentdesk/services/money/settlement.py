"""Settlement: when the gateway settles a sale, ours is marked settled and counts in lifetime value."""

from __future__ import annotations

from sqlmodel import col, select

from agentdesk.config import Settings
from agentdesk.db.models import Customer, Transaction, utcnow
from agentdesk.db.store import Store, get_row
from agentdesk.domain.enums import TransactionStatusSets, TransactionTypeSets
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.services.money.gateways import gateways_that_settle


def mark_settled(store: Store, txn_ids: list[int] | None = None, references: list[str] | None = None) -> int:
    """Mark unsettled sales settled (by id or gateway reference); each adds to its customer's lifetime value."""
    if not txn_ids and not references:
        return 0
    condition = col(Transaction.id).in_(txn_ids) if txn_ids else col(Transaction.gateway_ref).in_(references or [])
    now = utcnow()
    count = 0
    with store.write(unrecorded="settlement is the gateway's bookkeeping, not an agent's action") as session:
        rows = session.exec(
            select(Transaction).where(condition, col(Transaction.type).in_(TransactionTypeSets.MONEY_IN),
                                      col(Transaction.settled).is_(False),
                                      col(Transaction.status).in_(TransactionStatusSets.REFUNDABLE))
        ).all()
        for txn in rows:
            txn.settled = True
            txn.settled_at = now
            customer = get_row(session, Customer, txn.customer_id)
            if txn.currency == customer.currency:
                customer.lifetime_value += txn.amount
            session.add_all([txn, customer])
            count += 1
    return count


def settle_from_gateway(store: Store, settings: Settings, actor: Actor | None = None, everything: bool = False) -> int:
    """Ask each gateway that settles on demand to settle what is due (or everything) and mark ours to match."""
    if actor is not None:
        require(actor, Action.BILLING)
    total = 0
    for gateway in gateways_that_settle(store, settings):
        references = gateway.settle_due(everything=everything)
        for start in range(0, len(references), 500):
            total += mark_settled(store, references=references[start:start + 500])
    return total
