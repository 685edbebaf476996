"""`agentdesk audit money`: every stored money aggregate against what its rows say.

The customers are read in batches of consecutive ids; for each batch one statement recomputes the
aggregates from the transactions (`aggregates.computed`, the definition the services keep) and returns only
the customers whose stored values differ, and a second does the same for order totals. Nothing but one
batch of ids is ever held in memory, so a store of a million customers is audited in a steady stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlmodel import Session, col

from agentdesk.db.models import Customer
from agentdesk.db.store import Store
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.money import aggregates

BATCH = 5_000

Value = int | datetime | None


@dataclass(frozen=True)
class Mismatch:
    customer: str
    """The customer's own id (external id)."""
    field: str
    """`payment_count`, `lifetime_value`, `last_payment_at`, or `order <number> total`."""
    stored: Value
    computed: Value

    def to_dict(self) -> dict[str, object]:
        def plain(value: Value) -> object:
            return value.isoformat() if isinstance(value, datetime) else value

        return {"customer": self.customer, "field": self.field, "stored": plain(self.stored),
                "computed": plain(self.computed)}


@dataclass
class MoneyAudit:
    customers: int = 0
    """How many customers were checked."""
    mismatches: list[Mismatch] = field(default_factory=list)


def _customer_mismatches(session: Session, after: int, last: int) -> list[Mismatch]:
    rows = aggregates.computed(after + 1, last).subquery()
    count, value = func.coalesce(rows.c.payment_count, 0), func.coalesce(rows.c.lifetime_value, 0)
    found = session.execute(
        select(col(Customer.external_id), col(Customer.payment_count), col(Customer.lifetime_value),
               col(Customer.last_payment_at), count, value, rows.c.last_payment_at)
        .outerjoin(rows, rows.c.customer_id == col(Customer.id))
        .where(col(Customer.id) > after, col(Customer.id) <= last,
               or_(col(Customer.payment_count) != count, col(Customer.lifetime_value) != value,
                   col(Customer.last_payment_at).is_distinct_from(rows.c.last_payment_at)))
        .order_by(col(Customer.id))
    ).all()
    mismatches = []
    for external_id, *stored_and_computed in found:
        stored, computed = stored_and_computed[:3], stored_and_computed[3:]
        for name, mine, theirs in zip(aggregates.FIELDS, stored, computed, strict=True):
            if mine != theirs:
                mismatches.append(Mismatch(external_id, name, mine, theirs))
    return mismatches


def _order_mismatches(session: Session, after: int, last: int) -> list[Mismatch]:
    orders = aggregates.order_totals(after + 1, last).subquery()
    found = session.execute(
        select(col(Customer.external_id), orders.c.number, orders.c.total, orders.c.item_total)
        .join(Customer, col(Customer.id) == orders.c.customer_id)
        .where(col(Customer.id) > after, col(Customer.id) <= last, orders.c.total != orders.c.item_total)
        .order_by(orders.c.customer_id, orders.c.id)
    ).all()
    return [Mismatch(external_id, f"order {number} total", total, items) for external_id, number, total, items in found]


def _batches(store: Store, customer: str | None, size: int) -> Iterator[tuple[int, int, int]]:
    """(after, last, count): customer ids in (after, last], `count` of them."""
    if customer is not None:
        with store.read() as session:
            customer_id = customer_by_ref(session, customer).id
        yield customer_id - 1, customer_id, 1
        return
    after = 0
    while True:
        with store.read() as session:
            ids = session.execute(select(col(Customer.id)).where(col(Customer.id) > after)
                                  .order_by(col(Customer.id)).limit(size)).scalars().all()
        if not ids:
            return
        yield after, ids[-1], len(ids)
        after = ids[-1]


def audit_money(store: Store, actor: Actor, customer: str | None = None, *, batch_size: int = BATCH,
                progress: Callable[[int], None] | None = None) -> MoneyAudit:
    """Recompute every customer's aggregates and every order's total from their rows (one customer's
    when `customer` is given) and name each that differs; `progress` hears the running count."""
    require(actor, Action.AUDIT_MONEY)
    report = MoneyAudit()
    for after, last, count in _batches(store, customer, batch_size):
        with store.read() as session:
            report.mismatches += _customer_mismatches(session, after, last)
            report.mismatches += _order_mismatches(session, after, last)
        report.customers += count
        if progress is not None:
            progress(report.customers)
    return report


def customer_count(store: Store, actor: Actor) -> int:
    require(actor, Action.AUDIT_MONEY)
    with store.read() as session:
        return session.execute(select(func.count()).select_from(Customer)).scalar_one()
