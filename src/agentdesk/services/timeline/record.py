"""Recording and reading customers' activity timelines.

`record_event` adds to the caller's session, so the event commits in the same
transaction as the write it describes, or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
    rows = unbound_money_rows(session, customer_id)
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
    store = session.info.get("store")
    if store is None:
        raise RuntimeError("timeline events are recorded in a store.write() session, which carries the service key")
    key: ServiceKey = store.open_key(session.connection()).key
    return key


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
