"""Reading a timeline page by page, and adding to it: notes, mentions, attachments, links.

Pages are keyed on (time, id), newest first, so a customer with 100,000
events opens on its first page at once and any depth costs the same. The
timeline is append-only: there is no edit or delete here, and the store's
guard refuses one; a correction is a new note that names the note it corrects.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from sqlalchemy import and_, select
from sqlmodel import Session

from agentdesk.models import Agent, Attachment, Customer, Mention, TimelineEvent, Transaction, utcnow
from agentdesk.services.lookup import customer_by_ref
from agentdesk.services.errors import InvalidInput, NotFound
from agentdesk.services.permissions import Action, Actor, require
from agentdesk.services.search_index import fold
from agentdesk.services.timeline import TimelineEntry, entry_from_row, record_event
from agentdesk.services.timeline_catalog import CATALOG, EventType

MAX_PAGE = 500
NOTE_LIMIT = 4000
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_][A-Za-z0-9_.-]{0,63})")

Cursor = tuple  # (occurred_at, id)


@dataclass(frozen=True)
class TimelineFilter:
    types: frozenset[str] = field(default_factory=frozenset)
    """Empty means all types."""
    since: date | None = None
    until: date | None = None
    text: str = ""

    def __post_init__(self):
        unknown = set(self.types) - {t.value for t in EventType}
        if unknown:
            raise InvalidInput(fields={"type": f"unknown event type(s): {', '.join(sorted(unknown))}"})
        if self.since and self.until and self.since > self.until:
            raise InvalidInput(fields={"until": "the date range ends before it starts"})


@dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]
    more: bool



def timeline_owners(session: Session, customer_id: int) -> list[int]:
    """The customer and every duplicate merged into it: their events make up its timeline
    (each keeps its own hash chain)."""
    merged = session.execute(select(Customer.id).where(Customer.merged_into_id == customer_id)).scalars().all()
    return [customer_id, *merged]


def _conditions(owners: list[int], f: TimelineFilter) -> list:
    conditions = [TimelineEvent.customer_id == owners[0]] if len(owners) == 1 else [TimelineEvent.customer_id.in_(owners)]
    if f.types:
        conditions.append(TimelineEvent.type.in_(sorted(f.types)))
    if f.since:
        conditions.append(TimelineEvent.occurred_at >= datetime.combine(f.since, time.min, tzinfo=timezone.utc))
    if f.until:
        conditions.append(TimelineEvent.occurred_at < datetime.combine(f.until + timedelta(days=1), time.min,
                                                                        tzinfo=timezone.utc))
    if f.text.strip():
        conditions.append(TimelineEvent.search_text.contains(fold(f.text.strip()), autoescape=True))
    return conditions


def timeline_page(store, actor: Actor, customer: str | int, f: TimelineFilter | None = None, limit: int = 100,
                  after: Cursor | None = None, backward: bool = False) -> TimelinePage:
    """Events newest first; `after` continues from a cursor, `backward` reads towards the newest."""
    require(actor, Action.VIEW_CUSTOMERS)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(fields={"limit": f"must be between 1 and {MAX_PAGE}"})
    f = f or TimelineFilter()
    with store.read() as session:
        cid = customer_by_ref(session, customer).id
        query = select(TimelineEvent).where(*_conditions(timeline_owners(session, cid), f))
        if backward:
            order = [TimelineEvent.occurred_at.asc(), TimelineEvent.id.asc()]
        else:
            order = [TimelineEvent.occurred_at.desc(), TimelineEvent.id.desc()]
        levels = [None]
        if after is not None:
            when, event_id = after
            if backward:
                levels = [and_(TimelineEvent.occurred_at == when, TimelineEvent.id > event_id),
                          TimelineEvent.occurred_at > when]
            else:
                levels = [and_(TimelineEvent.occurred_at == when, TimelineEvent.id < event_id),
                          TimelineEvent.occurred_at < when]
        rows: list[TimelineEvent] = []
        for level in levels:
            if len(rows) > limit:
                break
            step = query if level is None else query.where(level)
            rows += session.execute(step.order_by(*order).limit(limit + 1 - len(rows))).scalars().all()
    more = len(rows) > limit
    entries = [entry_from_row(r) for r in rows[:limit]]
    if backward:
        entries.reverse()
    return TimelinePage(entries, more)


def cursor_of(entry: TimelineEntry) -> Cursor:
    return (entry.occurred_at, entry.id)


def event_types() -> list[tuple[str, str]]:
    return sorted(((t.value, spec.title) for t, spec in CATALOG.items()), key=lambda p: p[1])


# --- composing ---------------------------------------------------------------------------------


def _mentioned_agents(session: Session, text: str) -> list[Agent]:
    logins = sorted({m.group(1) for m in MENTION.finditer(text)})
    if not logins:
        return []
    agents = session.execute(select(Agent).where(Agent.login.in_(logins))).scalars().all()
    unknown = set(logins) - {a.login for a in agents}
    if unknown:
        raise InvalidInput(fields={"text": f"no agent with the login {', '.join('@' + u for u in sorted(unknown))}"})
    return list(agents)


def add_note(store, actor: Actor, customer: str | int, text: str, corrects: int | None = None) -> TimelineEntry:
    """A note (several lines allowed); @login mentions reach those agents' mention lists."""
    require(actor, Action.EDIT_CUSTOMERS)
    text = (text or "").strip()
    if not text:
        raise InvalidInput(fields={"text": "the note is empty"})
    if len(text) > NOTE_LIMIT:
        raise InvalidInput(fields={"text": f"at most {NOTE_LIMIT} characters"})
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


def my_mentions(store, actor: Actor, unseen_only: bool = True) -> list[MentionInfo]:
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        query = (select(Mention, TimelineEvent, Customer)
                 .join(TimelineEvent, TimelineEvent.id == Mention.event_id)
                 .join(Customer, Customer.id == Mention.customer_id)
                 .where(Mention.agent_id == actor.agent_id)
                 .order_by(Mention.id.desc()).limit(200))
        if unseen_only:
            query = query.where(Mention.seen_at.is_(None))
        return [MentionInfo(m.id, c.external_id, f"{c.first_name} {c.last_name}", e.actor_label,
                            e.attributes.get("text", ""), e.occurred_at, e.id, c.id)
                for m, e, c in session.execute(query).all()]


def mark_mentions_seen(store, actor: Actor, mention_ids: list[int]) -> None:
    require(actor, Action.VIEW_CUSTOMERS)
    with store.write(unrecorded="reading a mention is the agent's own bookkeeping") as session:
        for mention in session.execute(select(Mention).where(Mention.id.in_(mention_ids),
                                                             Mention.agent_id == actor.agent_id)).scalars():
            mention.seen_at = utcnow()
            session.add(mention)


def attachments_dir(settings) -> Path:
    return Path(settings.data_dir) / "attachments"


def keep_file(settings, path: str | Path) -> tuple[str, int, str, str]:
    """Copy a file into the content-addressed store; (sha256, size, content type, name)."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise InvalidInput(fields={"path": f"{source} is not a readable file"})
    size = source.stat().st_size
    if size > settings.attachment_limit:
        raise InvalidInput(fields={"path": f"{source.name} is {size:,} bytes; the limit is {settings.attachment_limit:,}"})
    folder = attachments_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=folder, delete=False) as tmp, source.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
            tmp.write(chunk)
    sha = digest.hexdigest()
    target = folder / sha
    if target.exists():
        os.unlink(tmp.name)
    else:
        os.replace(tmp.name, target)
    content_type = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
    return sha, size, content_type, source.name[:255]


def add_attachment(store, actor: Actor, settings, customer: str | int, path: str | Path,
                   description: str | None = None) -> TimelineEntry:
    """Keep a copy of the file by its sha256 (stored once however often attached) and note it on the timeline."""
    require(actor, Action.EDIT_CUSTOMERS)
    sha, size, content_type, name = keep_file(settings, path)
    description = " ".join((description or "").split()) or None
    with store.write() as session:
        cid = customer_by_ref(session, customer).id
        attachment = Attachment(customer_id=cid, sha256=sha, name=name, content_type=content_type,
                                size=size, agent_id=actor.agent_id)
        session.add(attachment)
        session.flush()
        event = record_event(session, actor, cid, EventType.ATTACHMENT, attachment=attachment.id, name=attachment.name,
                             sha256=sha, size=size, content_type=content_type, description=description)
        session.flush()
        return entry_from_row(event)


def save_attachment(store, actor: Actor, settings, attachment_id: int, out: str | Path) -> Path:
    """Write an attachment back out, byte for byte (its sha256 is checked on the way)."""
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        attachment = session.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound(f"no attachment {attachment_id}")
    stored = attachments_dir(settings) / attachment.sha256
    if not stored.exists():
        raise NotFound(f"the file of attachment {attachment_id} is missing from {stored.parent}")
    target = Path(out).expanduser()
    if target.is_dir():
        target = target / attachment.name
    digest = hashlib.sha256(stored.read_bytes()).hexdigest()
    if digest != attachment.sha256:
        raise InvalidInput(f"attachment {attachment_id} is damaged on disk (its sha256 does not match)")
    shutil.copyfile(stored, target)
    return target


def add_link(store, actor: Actor, customer: str | int, kind: str, target: str, text: str | None = None) -> TimelineEntry:
    """Link the timeline to another customer (by id) or a transaction (by number)."""
    require(actor, Action.EDIT_CUSTOMERS)
    with store.write() as session:
        cid = customer_by_ref(session, customer).id
        if kind == "customer":
            other = customer_by_ref(session, target)
            target_id, label = other.id, other.external_id
            if other.id == cid:
                raise InvalidInput(fields={"target": "a customer cannot be linked to itself"})
        elif kind == "transaction":
            if not str(target).isdigit() or session.get(Transaction, int(target)) is None:
                raise InvalidInput(fields={"target": f"no transaction {target}"})
            target_id, label = int(target), str(target)
        else:
            raise InvalidInput(fields={"kind": "link a customer or a transaction"})
        event = record_event(session, actor, cid, EventType.LINK, kind=kind, target=label, target_id=target_id,
                             text=(text or "").strip() or None)
        session.flush()
        return entry_from_row(event)


def parse_since_until(since: str | None, until: str | None) -> tuple[date | None, date | None]:
    problems = {}
    values = []
    for name, value in (("since", since), ("until", until)):
        if not value:
            values.append(None)
            continue
        try:
            values.append(date.fromisoformat(value.strip()))
        except ValueError:
            problems[name] = f"{value!r} is not a date; write it as YYYY-MM-DD"
            values.append(None)
    if problems:
        raise InvalidInput(fields=problems)
    return values[0], values[1]
