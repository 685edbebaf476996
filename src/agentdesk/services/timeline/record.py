"""Recording and reading customers' activity timelines.

`record_event` adds to the caller's session, so the event commits in the same
transaction as the write it describes, or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from agentdesk.db.models import Customer, TimelineEvent, utcnow
from agentdesk.db.search_index import fold
from agentdesk.db.store import Store
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
    event = TimelineEvent(
        customer_id=customer_id,
        type=event_type.value,
        title=CATALOG[event_type].title,
        actor_agent_id=actor.agent_id,
        actor_label=actor.label,
        occurred_at=occurred_at or utcnow(),
        attributes=clean,
        search_text=searchable_text(clean),
    )
    timeline_chain.link(session, event)
    session.add(event)
    return event


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
