"""Adding to a timeline by hand: notes (with @mentions and corrections) and links.

The timeline is append-only: there is no edit or delete here, and the store's
guard refuses one; a correction is a new note that names the note it corrects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from agentdesk.db.models import Agent, Customer, Mention, TimelineEvent, Transaction, utcnow
from agentdesk.db.store import Store
from agentdesk.domain import limits
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.validation import clean_block
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import TimelineEntry, entry_from_row, record_event

NOTE_LIMIT = limits.NOTE
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_][A-Za-z0-9_.-]{0,63})")


def _mentioned_agents(session: Session, text: str) -> list[Agent]:
    logins = sorted({m.group(1) for m in MENTION.finditer(text)})
    if not logins:
        return []
    agents = session.exec(select(Agent).where(col(Agent.login).in_(logins))).all()
    unknown = set(logins) - {a.login for a in agents}
    if unknown:
        raise InvalidInput(fields={"text": f"no agent with the login {', '.join('@' + u for u in sorted(unknown))}"})
    return list(agents)


def add_note(store: Store, actor: Actor, customer: str | int, text: str, corrects: int | None = None) -> TimelineEntry:
    """A note (several lines allowed); @login mentions reach those agents' mention lists."""
    require(actor, Action.EDIT_CUSTOMERS)
    text = clean_block(text, "text", NOTE_LIMIT)
    if not text:
        raise InvalidInput(fields={"text": "the note is empty"})
    if corrects is not None and not limits.in_id_range(corrects):
        raise InvalidInput(fields={"corrects": f"note {corrects} is not on this customer's timeline"})
    with store.write() as session:
        cid = customer_by_ref(session, customer).id
        if corrects is not None:
            earlier = session.get(TimelineEvent, corrects)
            if earlier is None or earlier.customer_id != cid or earlier.type != EventType.NOTE.value:
                raise InvalidInput(fields={"corrects": f"note {corrects} is not on this customer's timeline"})
        agents = _mentioned_agents(session, text)
        event = record_event(session, actor, cid, EventType.NOTE, text=text,
                             mentions=[a.login for a in agents] or None, corrects=corrects)
        session.flush()
        for agent in agents:
            session.add(Mention(event_id=event.id, agent_id=agent.id, customer_id=cid))
        return entry_from_row(event)


@dataclass(frozen=True)
class MentionInfo:
    id: int
    customer: str
    customer_name: str
    by: str
    text: str
    at: datetime
    event_id: int
    customer_id: int


def my_mentions(store: Store, actor: Actor, unseen_only: bool = True) -> list[MentionInfo]:
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        query = (select(Mention, TimelineEvent, Customer)
                 .join(TimelineEvent, col(TimelineEvent.id) == col(Mention.event_id))
                 .join(Customer, col(Customer.id) == col(Mention.customer_id))
                 .where(Mention.agent_id == actor.agent_id)
                 .order_by(col(Mention.id).desc()).limit(200))
        if unseen_only:
            query = query.where(col(Mention.seen_at).is_(None))
        return [MentionInfo(m.id, c.external_id, f"{c.first_name} {c.last_name}", e.actor_label,
                            e.attributes.get("text", ""), e.occurred_at, e.id, c.id)
                for m, e, c in session.exec(query).all()]


def mark_mentions_seen(store: Store, actor: Actor, mention_ids: list[int]) -> None:
    require(actor, Action.VIEW_CUSTOMERS)
    mention_ids = [i for i in mention_ids if limits.in_id_range(i)]
    with store.write(unrecorded="reading a mention is the agent's own bookkeeping") as session:
        for mention in session.exec(select(Mention).where(col(Mention.id).in_(mention_ids),
                                                          Mention.agent_id == actor.agent_id)):
            mention.seen_at = utcnow()
            session.add(mention)


def add_link(store: Store, actor: Actor, customer: str | int, kind: str, target: str,
             text: str | None = None) -> TimelineEntry:
    """Link the timeline to another customer (by id) or a transaction (by number)."""
    require(actor, Action.EDIT_CUSTOMERS)
    text = clean_block(text, "text", limits.DESCRIPTION) or None
    with store.write() as session:
        cid = customer_by_ref(session, customer).id
        if kind == "customer":
            other = customer_by_ref(session, target)
            target_id, label = other.id, other.external_id
            if other.id == cid:
                raise InvalidInput(fields={"target": "a customer cannot be linked to itself"})
        elif kind == "transaction":
            number = str(target).strip()
            if not (number.isascii() and number.isdigit() and len(number) <= 18) \
                    or not limits.in_id_range(int(number)) or session.get(Transaction, int(number)) is None:
                raise InvalidInput(fields={"target": f"no transaction {number!r}"})
            target_id, label = int(number), number
        else:
            raise InvalidInput(fields={"kind": "link a customer or a transaction"})
        event = record_event(session, actor, cid, EventType.LINK, kind=kind, target=label, target_id=target_id,
                             text=text)
        session.flush()
        return entry_from_row(event)
