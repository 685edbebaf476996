"""The customer's side of a link: finding it by its token, opening it, and completing it.

Every refusal a customer can see is one of two answers: `LinkUnavailable` (unknown, expired, revoked,
not generated yet: the same words, so tokens cannot be probed) or `LinkUsed` (a single-use link that
already did its job; only the holder of a real token can get this answer). The portal calls these
functions with the token it was given; the customer actions (`customer_*` modules) run their writes
inside `link_for_update`, so the link is checked and completed in the same transaction as the
document, payment request or order it produced.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from agentdesk.db.models import Customer, Link, Website, utcnow
from agentdesk.db.store import Store
from agentdesk.domain.enums import SERVABLE_LINKS, SINGLE_USE_LINKS, LinkKind, LinkStatus
from agentdesk.domain.errors import ServiceError
from agentdesk.domain.permissions import CUSTOMER
from agentdesk.services.links.tokens import token_hash, well_formed
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

UNAVAILABLE = "This link is not valid. It may have expired or been withdrawn; ask us for a new one."
USED = "This link has already been used."


class LinkUnavailable(ServiceError):
    """Unknown, expired, revoked or not ready: one answer for all, so a guessed token learns nothing."""

    def __init__(self) -> None:
        super().__init__(UNAVAILABLE)


class LinkUsed(ServiceError):
    def __init__(self) -> None:
        super().__init__(USED)


@dataclass(frozen=True)
class OpenLink:
    """What the portal may know of a link: never the token, never more of the customer than the page needs."""

    id: int
    kind: LinkKind
    status: LinkStatus
    customer_id: int
    first_name: str
    website_code: str
    website_name: str
    currency: str
    options: dict[str, Any]
    expires_at: datetime
    uses: int
    result: dict[str, Any]

    @property
    def single_use(self) -> bool:
        return self.kind in SINGLE_USE_LINKS

    @property
    def used(self) -> bool:
        return self.single_use and self.uses > 0


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _find(session: Session, token: str, lock: bool) -> Link:
    if not well_formed(token):
        raise LinkUnavailable()
    query = select(Link).where(Link.token_hash == token_hash(token))
    if lock:
        query = query.with_for_update()
    link = session.exec(query).one_or_none()
    if link is None or link.status not in SERVABLE_LINKS or link.expires_at is None:
        raise LinkUnavailable()
    return link


def _check(link: Link, kinds: frozenset[LinkKind] | None, now: datetime) -> None:
    assert link.expires_at is not None
    if _aware(link.expires_at) <= now:
        raise LinkUnavailable()
    if kinds is not None and link.kind not in kinds:
        raise LinkUnavailable()
    if link.kind in SINGLE_USE_LINKS and link.uses > 0:
        raise LinkUsed()


def _view(session: Session, link: Link) -> OpenLink:
    customer = session.get(Customer, link.customer_id)
    assert customer is not None
    website = session.get(Website, customer.website_id)
    assert website is not None and link.expires_at is not None
    return OpenLink(link.id, link.kind, link.status, customer.id, customer.first_name, website.code, website.name,
                    customer.currency, dict(link.options), _aware(link.expires_at), link.uses, dict(link.result))


def open_link(store: Store, token: str, now: datetime | None = None) -> OpenLink:
    """The link behind a token, for showing its page. The first time, it becomes "opened" (a timeline event
    naming the agent who asked for it); later openings change nothing."""
    now = now or utcnow()
    with store.read() as session:
        link = _find(session, token, lock=False)
        _check(link, None, now)
        if link.opened_at is not None:
            return _view(session, link)
    with store.write() as session:
        link = _find(session, token, lock=True)
        _check(link, None, now)
        if link.opened_at is None:
            link.opened_at = now
            link.updated_at = now
            if link.status in (LinkStatus.READY, LinkStatus.SENT):
                link.status = LinkStatus.OPENED
            session.add(link)
            record_event(session, CUSTOMER, link.customer_id, EventType.LINK_OPENED, kind=link.kind.value,
                         link=link.id, requested_by=link.agent_label)
        return _view(session, link)


def peek_link(store: Store, token: str, kinds: frozenset[LinkKind] | None = None,
              now: datetime | None = None) -> OpenLink:
    """The link behind a token, checked but not marked opened: for reading pages after the first."""
    now = now or utcnow()
    with store.read() as session:
        link = _find(session, token, lock=False)
        _check(link, kinds, now)
        return _view(session, link)


@contextmanager
def link_for_update(store: Store, token: str, kinds: frozenset[LinkKind],
                    now: datetime | None = None) -> Iterator[tuple[Session, Link]]:
    """A write transaction holding the link's row lock, after checking it serves one of `kinds` now.

    The caller does its work in the session and calls `complete` before leaving the block when the
    customer finished what the link was for; all of it commits together or not at all."""
    now = now or utcnow()
    with store.write() as session:
        link = _find(session, token, lock=True)
        _check(link, kinds, now)
        yield session, link


def complete(session: Session, link: Link, outcome: str, result: dict[str, Any] | None = None,
             now: datetime | None = None) -> None:
    """Record that the customer did what the link asked (`outcome` in words, `result` the ids made).

    The use is counted in SQL; a single-use link counts only from zero, so two submissions racing past
    the check still complete it once (the loser's transaction is refused with `LinkUsed`)."""
    now = now or utcnow()
    condition = col(Link.id) == link.id
    if link.kind in SINGLE_USE_LINKS:
        condition = condition & (col(Link.uses) == 0)
    merged = {**dict(link.result), **(result or {})}
    done = session.execute(
        update(Link).where(condition).values(uses=col(Link.uses) + 1, status=LinkStatus.COMPLETED, completed_at=now,
                                             updated_at=now, result=merged)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise LinkUsed()
    session.expire(link)
    record_event(session, CUSTOMER, link.customer_id, EventType.LINK_COMPLETED, kind=link.kind.value, link=link.id,
                 outcome=outcome[:200], requested_by=link.agent_label)
