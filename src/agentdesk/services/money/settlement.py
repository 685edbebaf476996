"""Settlement: when the gateway settles a sale, ours is marked settled and counts in lifetime value."""

from __future__ import annotations

from collections import defaultdict

from sqlmodel import col, select

from agentdesk.config import Settings
from agentdesk.db.models import Transaction, utcnow
from agentdesk.db.store import Store
from agentdesk.domain.enums import TransactionStatusSets, TransactionTypeSets
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.services.money import aggregates
from agentdesk.services.money.gateways import gateways_that_settle


def mark_settled(store: Store, txn_ids: list[int] | None = None, references: list[str] | None = None) -> int:
    """Mark unsettled sales settled (by id or gateway reference); each adds to its customer's lifetime value.

    The sales are locked in id order, then their customers in id order (see `aggregates`), and only the
    rows still unsettled once locked count, so two settlements of the same sale add it once."""
    if not txn_ids and not references:
        return 0
    condition = col(Transaction.id).in_(txn_ids) if txn_ids else col(Transaction.gateway_ref).in_(references or [])
    with store.write(unrecorded="settlement is the gateway's bookkeeping, not an agent's action") as session:
        rows = session.exec(
            select(Transaction).where(condition, col(Transaction.type).in_(TransactionTypeSets.MONEY_IN),
                                      col(Transaction.settled).is_(False),
                                      col(Transaction.status).in_(TransactionStatusSets.REFUNDABLE))
            .order_by(col(Transaction.id)).with_for_update()
        ).all()
        now = utcnow()
        by_customer: dict[tuple[int, str], int] = defaultdict(int)
        for txn in rows:
            txn.settled = True
            txn.settled_at = now
            session.add(txn)
            by_customer[txn.customer_id, txn.currency] += txn.amount
        aggregates.lock_customers(session, [customer_id for customer_id, _ in by_customer])
        for (customer_id, currency), amount in sorted(by_customer.items()):
            aggregates.record_settled(session, customer_id, amount, currency)
    return len(rows)


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
