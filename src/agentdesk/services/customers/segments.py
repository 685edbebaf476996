"""Saved segments: a name plus a customer query, private to the agent who made it or shared.

Anyone may save a segment; only its owner or an admin may rename or delete it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from agentdesk.db.models import Agent, SavedSegment, utcnow
from agentdesk.db.store import Store, get_row
from agentdesk.domain import limits
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.validation import clean_line
from agentdesk.services.customers.filters import CustomerQuery


@dataclass(frozen=True)
class SegmentInfo:
    id: int
    name: str
    owner: str
    shared: bool
    query: CustomerQuery
    mine: bool

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "owner": self.owner, "shared": self.shared,
                "query": self.query.to_dict()}


def _name(value: str) -> str:
    name = clean_line(value or "", "name", limits.SEGMENT_NAME)
    if not name:
        raise InvalidInput(fields={"name": "a segment needs a name"})
    return name


def _info(segment: SavedSegment, owner: str, actor: Actor) -> SegmentInfo:
    return SegmentInfo(segment.id, segment.name, owner, segment.shared, CustomerQuery.from_dict(segment.definition),
                       segment.owner_agent_id == actor.agent_id)


def list_segments(store: Store, actor: Actor) -> list[SegmentInfo]:
    """The agent's own segments and everyone's shared ones, by name."""
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        rows = session.exec(
            select(SavedSegment, Agent.login)
            .join(Agent, col(Agent.id) == col(SavedSegment.owner_agent_id))
            .where(or_(col(SavedSegment.owner_agent_id) == actor.agent_id, col(SavedSegment.shared)))
            .order_by(col(SavedSegment.name), col(SavedSegment.id))
        ).all()
    return [_info(segment, login, actor) for segment, login in rows]


def create_segment(store: Store, actor: Actor, name: str, query: CustomerQuery, shared: bool = False) -> SegmentInfo:
    require(actor, Action.VIEW_CUSTOMERS)
    if actor.agent_id is None:
        raise InvalidInput("System cannot own a segment")
    name = _name(name)
    search = clean_line(query.search, "search", limits.SEARCH)
    definition = CustomerQuery.from_dict({**query.to_dict(), "search": search or ""}).to_dict()
    with store.write() as session:
        mine = select(SavedSegment).where(SavedSegment.owner_agent_id == actor.agent_id, SavedSegment.name == name)
        if session.exec(mine).first():
            raise Conflict(f"you already have a segment named {name!r}")
        segment = SavedSegment(name=name, owner_agent_id=actor.agent_id, shared=shared, definition=definition)
        session.add(segment)
        session.flush()
        return _info(segment, actor.login, actor)


def _editable(session: Session, actor: Actor, segment_id: int) -> SavedSegment:
    segment = session.get(SavedSegment, segment_id) if limits.in_id_range(segment_id) else None
    if segment is None or (segment.owner_agent_id != actor.agent_id and not segment.shared):
        raise NotFound(f"no segment {segment_id}")
    if segment.owner_agent_id != actor.agent_id and actor.role is not Role.ADMIN:
        raise PermissionDenied("only the segment's owner or an admin may change it")
    return segment


def rename_segment(store: Store, actor: Actor, segment_id: int, name: str) -> SegmentInfo:
    require(actor, Action.VIEW_CUSTOMERS)
    name = _name(name)
    with store.write() as session:
        segment = _editable(session, actor, segment_id)
        clash = session.exec(
            select(SavedSegment).where(SavedSegment.owner_agent_id == segment.owner_agent_id, SavedSegment.name == name,
                                       SavedSegment.id != segment.id)
        ).first()
        if clash:
            raise Conflict(f"a segment named {name!r} already exists")
        segment.name = name
        segment.updated_at = utcnow()
        session.add(segment)
        owner = get_row(session, Agent, segment.owner_agent_id, "agent")
        return _info(segment, owner.login, actor)


def delete_segment(store: Store, actor: Actor, segment_id: int) -> None:
    require(actor, Action.VIEW_CUSTOMERS)
    with store.write() as session:
        session.delete(_editable(session, actor, segment_id))
