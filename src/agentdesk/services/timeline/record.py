"""Recording and reading customers' activity timelines.

`record_event` adds to the caller's session, so the event commits in the same
transaction as the write it describes, or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlmodel import Session, col, select

from agentdesk.db.keys import ServiceKey
from agentdesk.db.models import CreditMemo, Customer, TimelineEvent, Transaction, utcnow
from agentdesk.db.search_index import fold
from agentdesk.db.store import Store
from agentdesk.domain.enums import TransactionStatus
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.services.timeline import chain as timeline_chain
from agentdesk.services.timeline.catalog import CATALOG, EventType, validate_attributes


@dataclass(frozen=True)
class TimelineEntry:
    id: int
    type: str
    title: str
    actor: str
    occurred_at: datetime
    attributes: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "title": self.title,
            "actor": self.actor,
            "occurred_at": self.occurred_at.isoformat(),
            "attributes": self.attributes,
        }


def record_event(
    session: Session,
    actor: Actor,
    customer_id: int,
    event_type: EventType,
    occurred_at: datetime | None = None,
    **attributes: Any,
) -> TimelineEvent:
    clean = validate_attributes(event_type, attributes)
    key = service_key(session)
    rows = _unbound_for_event(session, customer_id)
    seals = [key.seal_money(table, money_fields(row)) for table, row in rows]
    bound: list[list[object]] = [[table, row.id, seal] for (table, row), seal in zip(rows, seals, strict=True)]
    event = TimelineEvent(
        customer_id=customer_id,
        type=event_type.value,
        title=CATALOG[event_type].title,
        actor_agent_id=actor.agent_id,
        actor_label=actor.label,
        occurred_at=occurred_at or utcnow(),
        attributes=clean,
        search_text=searchable_text(clean),
        bound_rows=bound or None,
    )
    timeline_chain.link(session, event, key)
    session.add(event)
    for (_, row), seal in zip(rows, seals, strict=True):
        row.seal = seal
        session.add(row)
    return event


def service_key(session: Session) -> ServiceKey:
    cached: ServiceKey | None = session.info.get("service_key")
    if cached is not None:
        return cached
    store = session.info.get("store")
    if store is None:
        raise RuntimeError("timeline events are recorded in a store.write() session, which carries the service key")
    key: ServiceKey = store.open_key(session.connection()).key
    session.info["service_key"] = key
    return key


_BOUND = "money_bound_customers"
"""session.info: customers none of whose money rows in this transaction's view is unbound, as far as the
session knows: an event bound them all, and no money row of theirs was added or changed since (see
`_watch_money`). Their next event binds only what the session itself holds unbound, with no query."""


def _maybe_unbound(obj: object) -> bool:
    """A money row an event would bind (unsealed, not pending)."""
    if isinstance(obj, Transaction):
        return obj.seal is None and obj.status != TransactionStatus.PENDING
    return isinstance(obj, CreditMemo) and obj.seal is None


_MONEY = "money_rows_held"
"""session.info: customer id → the money rows the session holds (added or loaded), kept by `_watch_money`."""


def _watch_money(session: Session) -> set[int]:
    bound: set[int] | None = session.info.get(_BOUND)
    if bound is not None:
        return bound
    bound = session.info[_BOUND] = set()
    held: dict[int, list[MoneyRow]] = {}
    session.info[_MONEY] = held

    def hold(obj: object) -> None:
        if isinstance(obj, (Transaction, CreditMemo)):
            held.setdefault(obj.customer_id, []).append(obj)

    for obj in list(session.identity_map.values()) + list(session.new):
        hold(obj)

    def added(_session: Session, instance: object) -> None:
        hold(instance)

    def statement(orm_execute: Any) -> None:
        # A statement that may write money rows without the unit of work: forget everything (rare).
        if not orm_execute.is_select:
            mapper = orm_execute.bind_mapper
            if mapper is None or mapper.class_ in (Transaction, CreditMemo):
                bound.clear()

    def rolled_back(*_args: object) -> None:
        bound.clear()

    event.listen(session, "transient_to_pending", added)
    event.listen(session, "loaded_as_persistent", added)
    event.listen(session, "do_orm_execute", statement)
    event.listen(session, "after_soft_rollback", rolled_back)
    return bound


def _unbound_for_event(session: Session, customer_id: int) -> list[tuple[str, MoneyRow]]:
    """`unbound_money_rows`, without its two queries when an earlier event of this session bound all of the
    customer's rows: then what is unbound is what the session holds unsealed (added or changed since)."""
    bound = _watch_money(session)
    mine = [row for row in session.info[_MONEY].get(customer_id, ()) if _maybe_unbound(row)]
    if customer_id in bound and all(row.id is not None for row in mine):
        pairs: list[tuple[str, MoneyRow]] = [("transaction" if isinstance(r, Transaction) else "credit_memo", r)
                                             for r in mine]
        return sorted(pairs, key=lambda pair: (pair[0] != "transaction", pair[1].id))
    rows = unbound_money_rows(session, customer_id)
    bound.add(customer_id)
    return rows


def prefetch_unbound(session: Session, customer_ids: list[int]) -> None:
    """Before recording events for many customers in one transaction: two queries find every unbound money
    row of theirs; customers with none need no query at their first event (`_unbound_for_event`)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    bound = _watch_money(session)
    session.flush()
    with_rows = set(session.exec(select(Transaction.customer_id).where(
        col(Transaction.customer_id).in_(ids), col(Transaction.seal).is_(None),
        col(Transaction.status) != TransactionStatus.PENDING)).all())
    with_rows |= set(session.exec(select(CreditMemo.customer_id).where(
        col(CreditMemo.customer_id).in_(ids), col(CreditMemo.seal).is_(None))).all())
    bound.update(i for i in ids if i not in with_rows)


MoneyRow = Transaction | CreditMemo


def unbound_money_rows(session: Session, customer_id: int) -> list[tuple[str, MoneyRow]]:
    """The customer's money rows no event has recorded yet, pending ones aside (their outcome event binds them).

    Binding: the event that records a sale, refund, void, payout or credit memo carries, in `bound_rows`,
    each row's table, id and seal (the service key's MAC of its immutable fields: id, customer, type,
    amount, currency, parent, created_at), and the row carries the same seal. The event's keyed hash
    covers `bound_rows`, so `audit verify` finds a bound row deleted (the event still names it) or changed
    (its fields no longer give its seal), and a row nobody sealed (written outside the services).
    The binding happens here, for every caller, so no money service can forget it."""
    transactions = session.exec(select(Transaction).where(
        Transaction.customer_id == customer_id, col(Transaction.seal).is_(None),
        col(Transaction.status) != TransactionStatus.PENDING).order_by(col(Transaction.id))).all()
    memos = session.exec(select(CreditMemo).where(
        CreditMemo.customer_id == customer_id, col(CreditMemo.seal).is_(None)).order_by(col(CreditMemo.id))).all()
    return [("transaction", t) for t in transactions] + [("credit_memo", m) for m in memos]


def money_fields(row: MoneyRow) -> dict[str, Any]:
    return {"id": row.id, "customer_id": row.customer_id, "type": getattr(row, "type", "credit_memo"),
            "amount": row.amount, "currency": row.currency, "parent_id": getattr(row, "parent_id", None),
            "created_at": row.created_at}


SEARCHED_ATTRIBUTES = ("text", "description", "name", "subject")


def searchable_text(attributes: dict[str, Any]) -> str | None:
    words = " ".join(str(attributes[k]) for k in SEARCHED_ATTRIBUTES if isinstance(attributes.get(k), str))
    return fold(words)[:4000] or None


def entry_from_row(row: TimelineEvent) -> TimelineEntry:
    return TimelineEntry(
        id=row.id,
        type=row.type,
        title=row.title,
        actor=row.actor_label,
        occurred_at=row.occurred_at,
        attributes=dict(row.attributes or {}),
    )


def events_for(session: Session, customer_id: int, limit: int = 100) -> list[TimelineEntry]:
    owners = [customer_id, *session.exec(select(Customer.id).where(Customer.merged_into_id == customer_id)).all()]
    rows = session.exec(
        select(TimelineEvent)
        .where(col(TimelineEvent.customer_id).in_(owners))
        .order_by(col(TimelineEvent.occurred_at).desc(), col(TimelineEvent.id).desc())
        .limit(limit)
    ).all()
    return [entry_from_row(r) for r in rows]


def list_events(store: Store, actor: Actor, customer_id: int, limit: int = 100) -> list[TimelineEntry]:
    """A customer's events, newest first."""
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        return events_for(session, customer_id, limit)
