"""Where an order stands beyond its items and money: pause, cancellation at period end and the order's
own timeline (the customer's events naming it).

Read-only; the order screen reads it next to `read.order_detail`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import String, cast
from sqlmodel import col, select

from agentdesk.db.models import TimelineEvent
from agentdesk.db.store import Store
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.services.orders.read import order_by_number
from agentdesk.services.timeline.read import timeline_owners
from agentdesk.services.timeline.record import TimelineEntry, entry_from_row

EVENT_SCAN = 2_000
"""How many of the customer's newest events naming the order are looked at (the text match is wide)."""


@dataclass(frozen=True)
class OrderStanding:
    number: str
    status: str
    paused_from: date | None
    paused_until: date | None
    cancel_at_period_end: bool
    events: list[TimelineEntry] = field(default_factory=list)
    """The customer's events whose `order` attribute is this order, newest first."""


def order_standing(store: Store, actor: Actor, number: str, events: int = 100) -> OrderStanding:
    """The order `number`'s pause and newest `events` events."""
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        order = order_by_number(session, number)
        owners = timeline_owners(session, order.customer_id)
        rows = session.exec(
            select(TimelineEvent).where(col(TimelineEvent.customer_id).in_(owners),
                                        cast(TimelineEvent.attributes, String).contains(f'"{order.number}"'))
            .order_by(col(TimelineEvent.occurred_at).desc(), col(TimelineEvent.id).desc()).limit(EVENT_SCAN)).all()
        named = [entry_from_row(row) for row in rows if (row.attributes or {}).get("order") == order.number]
        return OrderStanding(
            number=order.number, status=order.status.value, paused_from=order.paused_from,
            paused_until=order.paused_until, cancel_at_period_end=order.cancel_at_period_end,
            events=named[:events],
        )
