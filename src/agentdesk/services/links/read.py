"""The agent's view of customer links: list, show (with the URL while it can be used), revoke, send again,
and the worker's expiry of links past their time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from agentdesk.db.keys import ServiceKey
from agentdesk.db.models import Customer, Link, utcnow
from agentdesk.db.store import Store
from agentdesk.domain import limits
from agentdesk.domain.enums import LIVE_LINKS, SERVABLE_LINKS, LinkKind, LinkStatus
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound
from agentdesk.domain.permissions import SYSTEM, Action, Actor, require
from agentdesk.domain.validation import clean_line, normalized_email
from agentdesk.services.billing.invoices import customer_email
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.links.generate import enqueue_email, link_url
from agentdesk.services.links.stripe_hosted import MADE_AT_GENERATION
from agentdesk.services.links.tokens import token_for
from agentdesk.services.policy import service as policy
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

EXPIRE_BATCH = 500
RESENDABLE = frozenset({LinkStatus.READY, LinkStatus.SENT, LinkStatus.OPENED})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def aware(value: datetime | None) -> datetime | None:
    """Stored times come back naive from SQLite: they are UTC."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class LinkInfo:
    id: int
    customer_id: int
    customer: str
    """The customer's merchant id."""
    kind: LinkKind
    status: LinkStatus
    options: dict[str, Any]
    email_to: str | None
    url: str | None
    """While the link can be used: derived from the nonce and the service key (never stored), or for a Stripe
    website's Checkout or Identity link Stripe's URL for it."""
    expires_at: datetime | None
    uses: int
    result: dict[str, Any]
    error: str | None
    requested_by: str
    created_at: datetime | None = None
    ready_at: datetime | None = None
    sent_at: datetime | None = None
    opened_at: datetime | None = None
    completed_at: datetime | None = None
    ended_at: datetime | None = None
    job_id: int | None = field(default=None, compare=False)
    gateway_ref: str | None = None
    """A Stripe website's link: the Stripe object behind it (Checkout, Identity or the last portal session)."""

    @property
    def live(self) -> bool:
        return self.status in LIVE_LINKS

    @property
    def summary(self) -> str:
        text = f"{self.kind.value} · {self.status.value}"
        if self.status == LinkStatus.QUEUED:
            return text + " · generating…"
        if self.status in SERVABLE_LINKS and self.expires_at is not None:
            return text + f" · expires {self.expires_at.astimezone(UTC).strftime('%Y-%m-%d %H:%M')}"
        if self.status == LinkStatus.FAILED and self.error:
            return text + f" · {self.error}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "customer": self.customer, "kind": self.kind.value, "status": self.status.value,
                "options": self.options, "email_to": self.email_to, "url": self.url,
                "expires_at": _iso(self.expires_at), "uses": self.uses, "result": self.result, "error": self.error,
                "requested_by": self.requested_by, "created_at": _iso(self.created_at),
                "ready_at": _iso(self.ready_at), "sent_at": _iso(self.sent_at), "opened_at": _iso(self.opened_at),
                "completed_at": _iso(self.completed_at), "ended_at": _iso(self.ended_at),
                "gateway_ref": self.gateway_ref}


def current_url(session: Session, key: ServiceKey, link: Link, now: datetime | None = None) -> str | None:
    """The link's URL while the portal would serve it (ready, sent, opened or completed, not past its expiry)."""
    if link.status not in SERVABLE_LINKS or link.expires_at is None:
        return None
    expires = aware(link.expires_at)
    if expires is not None and expires <= (now or utcnow()):
        return None
    if link.hosted_url and link.kind in MADE_AT_GENERATION:
        return link.hosted_url
    if link.token_nonce is None:
        return None
    base = policy.portal_base_url(session)
    if base is None:
        return None
    return link_url(base, token_for(key, link.token_nonce))


def info(session: Session, key: ServiceKey, link: Link, customer: Customer | None = None) -> LinkInfo:
    customer = customer or session.get(Customer, link.customer_id)
    return LinkInfo(
        link.id, link.customer_id, customer.external_id if customer else "", link.kind, link.status,
        dict(link.options), link.email_to, current_url(session, key, link), aware(link.expires_at), link.uses,
        dict(link.result), link.error, link.agent_label, aware(link.created_at), aware(link.ready_at),
        aware(link.sent_at), aware(link.opened_at), aware(link.completed_at), aware(link.ended_at), link.job_id,
        link.gateway_ref,
    )


def _link(session: Session, link_id: int, lock: bool = False) -> Link:
    if not isinstance(link_id, int) or not limits.in_id_range(link_id):
        raise NotFound(f"no link {link_id!r}")
    query = select(Link).where(Link.id == link_id)
    if lock:
        query = query.with_for_update()
    link = session.exec(query).one_or_none()
    if link is None:
        raise NotFound(f"no link {link_id}")
    return link


def list_links(store: Store, actor: Actor, customer_ref: str | int) -> list[LinkInfo]:
    """The customer's links, newest first."""
    require(actor, Action.VIEW_CUSTOMERS)
    key = store.key
    with store.read() as session:
        customer = customer_by_ref(session, customer_ref)
        rows = session.exec(select(Link).where(Link.customer_id == customer.id)
                            .order_by(col(Link.created_at).desc(), col(Link.id).desc())).all()
        return [info(session, key, row, customer) for row in rows]


def show_link(store: Store, actor: Actor, link_id: int) -> LinkInfo:
    require(actor, Action.VIEW_CUSTOMERS)
    key = store.key
    with store.read() as session:
        return info(session, key, _link(session, link_id))


def _event_base(link: Link) -> dict[str, Any]:
    return {"kind": link.kind.value, "link": link.id, "requested_by": link.agent_label}


def revoke_link(store: Store, actor: Actor, link_id: int, reason: str | None = None,
                now: datetime | None = None) -> LinkInfo:
    """End a live link at once: the portal refuses its token from now on (LINK_REVOKED)."""
    require(actor, Action.REQUEST_LINKS)
    why = clean_line(reason, "reason", limits.REASON)
    now = now or utcnow()
    with store.write() as session:
        link = _link(session, link_id, lock=True)
        if link.status not in LIVE_LINKS:
            raise Conflict(f"link {link.id} is {link.status.value}: only a live link can be revoked")
        link.status, link.ended_at, link.updated_at = LinkStatus.REVOKED, now, now
        session.add(link)
        record_event(session, actor, link.customer_id, EventType.LINK_REVOKED, **_event_base(link), reason=why)
        return info(session, store.key, link)


def send_link(store: Store, actor: Actor, link_id: int, to: str | None = None) -> LinkInfo:
    """Email a generated link (again): to `to`, else the customer's primary email. The email job marks it
    sent once delivered (LINK_SENT)."""
    require(actor, Action.REQUEST_LINKS)
    address: str | None = None
    if to is not None and to.strip():
        try:
            address = normalized_email(to)
        except ValueError as exc:
            raise InvalidInput(fields={"to": str(exc)}) from None
    now = utcnow()
    with store.write() as session:
        link = _link(session, link_id, lock=True)
        if link.status not in RESENDABLE or (aware(link.expires_at) or now) <= now:
            raise Conflict(f"link {link.id} is {link.status.value}"
                           + (" (past its expiry)" if link.status in RESENDABLE else "")
                           + ": only a generated link that has not ended can be sent")
        address = address or customer_email(session, link.customer_id)
        if address is None:
            raise InvalidInput(fields={"to": "the customer has no primary email address: give one with --to"})
        job = enqueue_email(session, link, address, f"email-link-{link.id}-{uuid.uuid4().hex}", actor.login)
        session.flush()
        record_event(session, actor, link.customer_id, EventType.LINK_REQUESTED, kind=link.kind.value, link=link.id,
                     requested_by=actor.login, to=address, job=job.id)
        return info(session, store.key, link)


def expire_links(store: Store, now: datetime | None = None) -> int:
    """Links past their expiry that could still be served become expired (LINK_EXPIRED); returns how many.

    A read first, so a store with nothing to expire takes no write lock (run by every `run_due`)."""
    now = now or utcnow()
    servable = col(Link.status).in_(list(SERVABLE_LINKS))
    with store.read() as session:
        due = session.exec(select(Link.id).where(servable, col(Link.expires_at) <= now).limit(1)).first()
    if due is None:
        return 0
    expired = 0
    after = 0
    while True:
        with store.write() as session:
            query = (select(Link).where(servable, col(Link.expires_at) <= now, col(Link.id) > after)
                     .order_by(col(Link.id)).limit(EXPIRE_BATCH))
            if session.get_bind().dialect.name != "sqlite":
                query = query.with_for_update(skip_locked=True)
            rows = session.exec(query).all()
            for row in rows:
                row.status, row.ended_at, row.updated_at = LinkStatus.EXPIRED, now, now
                session.add(row)
                record_event(session, SYSTEM, row.customer_id, EventType.LINK_EXPIRED, **_event_base(row))
            expired += len(rows)
        if len(rows) < EXPIRE_BATCH:
            return expired
        after = rows[-1].id
