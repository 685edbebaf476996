"""A customer's money aggregates — payment count, lifetime value, last payment — and the rules that keep them.

They copy what the transaction rows say onto the customer row, so a million customers can be sorted and
filtered by them. The definition (`computed`) is:

- `payment_count`: sales and captures that took money (`SUCCESSFUL_SALE`), whatever was refunded since;
- `lifetime_value`: those of them settled, minus approved refunds, both in the customer's currency;
- `last_payment_at`: when the newest of them was processed.

Every change goes through this module, and each is arithmetic in SQL (`lifetime_value = lifetime_value -
:amount`) on the customer row, locked first (`FOR NO KEY UPDATE` on PostgreSQL; SQLite's `BEGIN IMMEDIATE`
already serialises writers). Nothing reads an aggregate into Python and writes it back, so two processes
changing one customer never lose an update, and a statement that reads rows after the lock
(`last_payment_at` after a void) sees every change committed before it. Callers lock the transactions
they change before the customer, always in that order.
`recompute` and `agentdesk audit money` use the same definition.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, and_, bindparam, case, cast, func, select, update
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, col

from agentdesk.db.models import Customer, Order, OrderItem, Transaction, table_of
from agentdesk.domain.enums import TransactionStatus, TransactionStatusSets, TransactionType, TransactionTypeSets

FIELDS = ("payment_count", "lifetime_value", "last_payment_at")


@dataclass(frozen=True)
class Aggregates:
    payment_count: int
    lifetime_value: int
    last_payment_at: datetime | None


NONE = Aggregates(0, 0, None)


def _counted() -> ColumnElement[bool]:
    return and_(col(Transaction.type).in_(TransactionTypeSets.MONEY_IN),
                col(Transaction.status).in_(TransactionStatusSets.SUCCESSFUL_SALE))


def _paid_at() -> ColumnElement[datetime]:
    return func.coalesce(col(Transaction.processed_at), col(Transaction.created_at))


def computed(first: int, last: int) -> Select[*tuple[Any, ...]]:
    """(customer_id, payment_count, lifetime_value, last_payment_at) from the rows, for each customer with
    an id from `first` to `last` that has any transaction; the one definition of the aggregates."""
    same_currency = col(Transaction.currency) == col(Customer.currency)
    value = case(
        (and_(_counted(), col(Transaction.settled).is_(True), same_currency), col(Transaction.amount)),
        (and_(col(Transaction.type) == TransactionType.REFUND, col(Transaction.status) == TransactionStatus.APPROVED,
              same_currency), -col(Transaction.amount)),
        else_=0,
    )
    return (
        select(
            col(Transaction.customer_id).label("customer_id"),
            cast(func.coalesce(func.sum(case((_counted(), 1), else_=0)), 0), BigInteger).label("payment_count"),
            cast(func.coalesce(func.sum(value), 0), BigInteger).label("lifetime_value"),
            func.max(case((_counted(), _paid_at()))).label("last_payment_at"),
        )
        .join(Customer, col(Customer.id) == col(Transaction.customer_id))
        .where(col(Transaction.customer_id).between(first, last), col(Customer.id).between(first, last))
        .group_by(col(Transaction.customer_id))
    )


def order_totals(first: int, last: int) -> Select[*tuple[Any, ...]]:
    """(id, number, customer_id, total, item_total) for the orders of customers with an id from `first` to
    `last`: an order's total is the sum of quantity times unit price over its items."""
    items = cast(func.coalesce(func.sum(col(OrderItem.quantity) * col(OrderItem.unit_price)), 0), BigInteger)
    return (
        select(col(Order.id), col(Order.number), col(Order.customer_id), col(Order.total), items.label("item_total"))
        .outerjoin(OrderItem, col(OrderItem.order_id) == col(Order.id))
        .where(col(Order.customer_id).between(first, last))
        .group_by(col(Order.id), col(Order.number), col(Order.customer_id), col(Order.total))
    )


def lock_customers(session: Session, customer_ids: Iterable[int]) -> None:
    """The customers' row locks, in id order, held until the transaction ends (a no-op on SQLite).

    `FOR NO KEY UPDATE`, the lock the timeline chain and an UPDATE of the aggregates take too, so a
    transaction never upgrades its lock; it does not conflict with the `KEY SHARE` lock a foreign key check
    takes, so a writer that inserted rows pointing to the customer first cannot deadlock with this one."""
    ids = sorted(set(customer_ids))
    if ids and session.get_bind().dialect.name != "sqlite":
        with session.no_autoflush:
            session.execute(select(col(Customer.id)).where(col(Customer.id).in_(ids)).order_by(col(Customer.id))
                            .with_for_update(key_share=True)).all()


def _change(session: Session, customer_id: int, **values: Any) -> None:
    """One UPDATE of the customer row under its lock; the session's copy of the row is expired, never
    flushed back over it."""
    lock_customers(session, [customer_id])
    session.flush()
    statement = update(Customer).where(col(Customer.id) == customer_id).values(**values)
    session.execute(statement.execution_options(synchronize_session="fetch"))


def _if_currency(currency: str, amount: int) -> ColumnElement[int]:
    return case((col(Customer.currency) == currency, amount), else_=0)


def record_sale(session: Session, customer_id: int, amount: int, currency: str, paid_at: datetime,
                settled: bool) -> None:
    """An approved sale: one more payment, maybe the latest; its amount counts once settled."""
    latest = col(Customer.last_payment_at)
    _change(session, customer_id,
            payment_count=col(Customer.payment_count) + 1,
            last_payment_at=case((latest.is_(None) | (latest < paid_at), paid_at), else_=latest),
            **({"lifetime_value": col(Customer.lifetime_value) + _if_currency(currency, amount)} if settled else {}))


@dataclass(frozen=True)
class Sale:
    customer_id: int
    amount: int
    currency: str
    paid_at: datetime
    settled: bool


def record_sales(session: Session, sales: list[Sale]) -> None:
    """Many approved sales at once, each exactly as `record_sale` counts it, in one statement run for each
    (an executemany; a customer with two sales gets both, one after the other). The customers' rows are
    locked first, in id order; the session's copies of their aggregates are expired, never written back."""
    if not sales:
        return
    if len(sales) == 1:
        only = sales[0]
        record_sale(session, only.customer_id, only.amount, only.currency, only.paid_at, only.settled)
        return
    lock_customers(session, [s.customer_id for s in sales])
    session.flush()
    table = table_of(Customer)
    latest = table.c.last_payment_at
    paid_at = bindparam("sale_paid_at", type_=table.c.last_payment_at.type)
    statement = (
        update(table).where(table.c.id == bindparam("sale_customer"))
        .values(payment_count=table.c.payment_count + 1,
                last_payment_at=case((latest.is_(None) | (latest < paid_at), paid_at), else_=latest),
                lifetime_value=table.c.lifetime_value + case(
                    (table.c.currency == bindparam("sale_currency"), bindparam("sale_amount", type_=BigInteger)),
                    else_=0))
    )
    session.connection().execute(statement, [
        {"sale_customer": s.customer_id, "sale_paid_at": s.paid_at, "sale_currency": s.currency,
         "sale_amount": s.amount if s.settled else 0} for s in sales])
    for customer_id in {s.customer_id for s in sales}:
        held = session.identity_map.get(identity_key(Customer, customer_id))
        if held is not None:
            session.expire(held, list(FIELDS))


def record_settled(session: Session, customer_id: int, amount: int, currency: str) -> None:
    """Sales of this customer (`amount` in all) settled: they count in lifetime value from now on."""
    _change(session, customer_id, lifetime_value=col(Customer.lifetime_value) + _if_currency(currency, amount))


def record_refund(session: Session, customer_id: int, amount: int, currency: str) -> None:
    """An approved refund: the lifetime value loses it; the payment still counts."""
    _change(session, customer_id, lifetime_value=col(Customer.lifetime_value) - _if_currency(currency, amount))


def record_refund_reversed(session: Session, customer_id: int, amount: int, currency: str) -> None:
    """An approved refund the gateway later reports failed: the lifetime value has it back."""
    _change(session, customer_id, lifetime_value=col(Customer.lifetime_value) + _if_currency(currency, amount))


def record_void(session: Session, customer_id: int, amount: int, currency: str, settled: bool) -> None:
    """A voided sale (its status already VOIDED in this session) is no payment at all: one payment less,
    its amount out of lifetime value if it had settled meanwhile, and the last payment found again."""
    newest = select(func.max(_paid_at())).where(col(Transaction.customer_id) == customer_id, _counted())
    _change(session, customer_id,
            payment_count=case((col(Customer.payment_count) > 0, col(Customer.payment_count) - 1), else_=0),
            last_payment_at=newest.scalar_subquery(),
            **({"lifetime_value": col(Customer.lifetime_value) - _if_currency(currency, amount)} if settled else {}))


def recompute(session: Session, customer_id: int) -> Aggregates:
    """Set the customer's aggregates to what its rows say (after a merge moved rows, or to repair)."""
    lock_customers(session, [customer_id])
    session.flush()
    row = session.execute(computed(customer_id, customer_id)).one_or_none()
    values = Aggregates(row.payment_count, row.lifetime_value, row.last_payment_at) if row else NONE
    _change(session, customer_id, payment_count=values.payment_count, lifetime_value=values.lifetime_value,
            last_payment_at=values.last_payment_at)
    return values
