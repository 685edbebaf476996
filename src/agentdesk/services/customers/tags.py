"""Tags on customers: short lower-case labels agents add and remove, each change on the timeline."""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from agentdesk.db.models import CustomerTag, utcnow
from agentdesk.db.store import Store
from agentdesk.domain import limits
from agentdesk.domain.errors import InvalidInput, NotFound
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.validation import line_problem
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

_TAG = re.compile(rf"[a-z0-9][a-z0-9 _.-]{{0,{limits.TAG - 1}}}")


def clean_tag(value: str) -> str:
    tag = " ".join((value or "").split()).lower()
    if not _TAG.fullmatch(tag) or line_problem(value or "", limit=limits.TAG):
        raise InvalidInput(fields={"tag": f"use 1 to {limits.TAG} letters, digits, spaces, '.', '_' or '-'"})
    return tag



def tags_of(session: Session, customer_id: int) -> list[str]:
    return list(session.exec(
        select(CustomerTag.tag).where(CustomerTag.customer_id == customer_id).order_by(col(CustomerTag.tag))
    ))


def add_tag(store: Store, actor: Actor, customer: str | int, tag: str) -> list[str]:
    """Tag the customer; adding a tag it already has changes nothing and records nothing."""
    require(actor, Action.EDIT_CUSTOMERS)
    tag = clean_tag(tag)
    with store.write() as session:
        row = customer_by_ref(session, customer)
        if session.get(CustomerTag, (row.id, tag)) is None:
            session.add(CustomerTag(customer_id=row.id, tag=tag))
            row.updated_at = utcnow()
            session.add(row)
            record_event(session, actor, row.id, EventType.TAG_ADDED, tag=tag)
            session.flush()
        return tags_of(session, row.id)


def remove_tag(store: Store, actor: Actor, customer: str | int, tag: str) -> list[str]:
    require(actor, Action.EDIT_CUSTOMERS)
    tag = clean_tag(tag)
    with store.write() as session:
        row = customer_by_ref(session, customer)
        existing = session.get(CustomerTag, (row.id, tag))
        if existing is None:
            raise NotFound(f"customer {row.external_id} has no tag {tag!r}")
        session.delete(existing)
        row.updated_at = utcnow()
        session.add(row)
        record_event(session, actor, row.id, EventType.TAG_REMOVED, tag=tag)
        session.flush()
        return tags_of(session, row.id)
