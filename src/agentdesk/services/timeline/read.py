"""Reading a timeline page by page, newest first, with filters by type, dates and words.

Pages are keyed on (time, id), so a customer with 100,000 events opens on its
first page at once and any depth costs the same. A merged customer's timeline
includes the events of every duplicate merged into it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, UnaryExpression, and_
from sqlmodel import Session, col, select

from agentdesk.db.models import Customer, TimelineEvent
from agentdesk.db.search_index import fold
from agentdesk.db.store import Store
from agentdesk.domain.dates import parse_optional_date
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.text import check_text, visible
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.timeline.catalog import CATALOG, EventType
from agentdesk.services.timeline.record import TimelineEntry, entry_from_row

MAX_PAGE = 500
SEARCH_LIMIT = 200
"""The longest words-in-notes filter: more than any note search needs, short enough to stay cheap."""

Cursor = tuple[datetime, int]  # (occurred_at, id)


@dataclass(frozen=True)
class TimelineFilter:
    types: frozenset[str] = field(default_factory=frozenset)
    """Empty means all types."""
    since: date | None = None
    until: date | None = None
    text: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.types) - {t.value for t in EventType}
        if unknown:
            raise InvalidInput(fields={"type": f"unknown event type(s): {', '.join(sorted(unknown))}"})
        if self.since and self.until and self.since > self.until:
            raise InvalidInput(fields={"until": "the date range ends before it starts"})
        check_text(self.text, "text", limit=SEARCH_LIMIT)


@dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]
    more: bool



def timeline_owners(session: Session, customer_id: int) -> list[int]:
    """The customer and every duplicate merged into it: their events make up its timeline
    (each keeps its own hash chain)."""
    merged = session.exec(select(Customer.id).where(Customer.merged_into_id == customer_id)).all()
    return [customer_id, *merged]


def _conditions(owners: list[int], f: TimelineFilter) -> list[ColumnElement[bool]]:
    customer_id, occurred_at = col(TimelineEvent.customer_id), col(TimelineEvent.occurred_at)
    conditions: list[ColumnElement[bool]] = [customer_id == owners[0] if len(owners) == 1 else customer_id.in_(owners)]
    if f.types:
        conditions.append(col(TimelineEvent.type).in_(sorted(f.types)))
    if f.since:
        conditions.append(occurred_at >= datetime.combine(f.since, time.min, tzinfo=UTC))
    if f.until and f.until < date.max:
        conditions.append(occurred_at < datetime.combine(f.until + timedelta(days=1), time.min, tzinfo=UTC))
    if f.text.strip():
        conditions.append(col(TimelineEvent.search_text).contains(fold(f.text.strip()), autoescape=True))
    return conditions


def timeline_page(store: Store, actor: Actor, customer: str | int, f: TimelineFilter | None = None, limit: int = 100,
                  after: Cursor | None = None, backward: bool = False) -> TimelinePage:
    """Events newest first; `after` continues from a cursor, `backward` reads towards the newest."""
    require(actor, Action.VIEW_CUSTOMERS)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(fields={"limit": f"must be between 1 and {MAX_PAGE}"})
    f = f or TimelineFilter()
    with store.read() as session:
        cid = customer_by_ref(session, customer).id
        query = select(TimelineEvent).where(*_conditions(timeline_owners(session, cid), f))
        occurred_at, event_id = col(TimelineEvent.occurred_at), col(TimelineEvent.id)
        order: list[UnaryExpression[Any]] = (
            [occurred_at.asc(), event_id.asc()] if backward else [occurred_at.desc(), event_id.desc()]
        )
        levels: list[ColumnElement[bool] | None] = [None]
        if after is not None:
            when, last_id = after
            if backward:
                levels = [and_(occurred_at == when, event_id > last_id), occurred_at > when]
            else:
                levels = [and_(occurred_at == when, event_id < last_id), occurred_at < when]
        rows: list[TimelineEvent] = []
        for level in levels:
            if len(rows) > limit:
                break
            step = query if level is None else query.where(level)
            rows += session.exec(step.order_by(*order).limit(limit + 1 - len(rows))).all()
    more = len(rows) > limit
    entries = [entry_from_row(r) for r in rows[:limit]]
    if backward:
        entries.reverse()
    return TimelinePage(entries, more)


def cursor_of(entry: TimelineEntry) -> Cursor:
    return (entry.occurred_at, entry.id)


def event_types() -> list[tuple[str, str]]:
    return sorted(((t.value, spec.title) for t, spec in CATALOG.items()), key=lambda p: p[1])


def _key(name: str) -> str:
    return " ".join(name.replace("_", " ").replace("-", " ").casefold().split())


def resolve_types(names: Iterable[str]) -> frozenset[str]:
    """Event type codes from what was typed: a code (`manual_refund`) or a title (`Refund issued`), any case.

    An unknown name is refused with the types whose code or title holds it, then every valid code and title.
    """
    known: dict[str, str] = {}
    for code, title in event_types():
        known[_key(code)] = code
        known[_key(title)] = code
    codes: set[str] = set()
    unknown: list[str] = []
    for name in names:
        found = known.get(_key(name))
        if found is None:
            unknown.append(name)
        else:
            codes.add(found)
    if unknown:
        words = [_key(name) for name in unknown]
        close = [f"{code} ({title})" for code, title in event_types()
                 if any(word and (word in _key(code) or word in _key(title)) for word in words)]
        valid = ", ".join(f"{code} ({title})" for code, title in event_types())
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InvalidInput(fields={"type": f"unknown event type(s): {', '.join(visible(n) for n in unknown)}{hint} "
                                           f"Valid types (code or title, any case): {valid}"})
    return frozenset(codes)


def parse_since_until(since: str | None, until: str | None) -> tuple[date | None, date | None]:
    """The range's first and last days as typed (YYYY-MM-DD, blank for open); every bad one reported at once.

    Any calendar day is taken, 0001-01-01 to 9999-12-31: the last one means "to the end of time"."""
    problems: dict[str, str] = {}
    values: list[date | None] = []
    for name, value in (("since", since), ("until", until)):
        try:
            values.append(parse_optional_date(value, name))
        except InvalidInput as exc:
            problems.update(exc.fields)
            values.append(None)
    if problems:
        raise InvalidInput(fields=problems)
    return values[0], values[1]
