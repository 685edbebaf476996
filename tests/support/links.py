"""A ready link for tests, as the generator (issue 14, H1) leaves one: token derived from a nonce and the
service key, only its hash stored, a LINK_READY event in the same transaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from agentdesk.db.models import Link, utcnow
from agentdesk.db.store import Store
from agentdesk.domain.enums import LinkKind, LinkStatus
from agentdesk.domain.permissions import SYSTEM
from agentdesk.services.links.tokens import new_nonce, token_for, token_hash
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event, service_key


def ready_link(store: Store, customer_id: int, kind: LinkKind | str, options: dict[str, Any] | None = None,
               hours: float = 24) -> str:
    """Insert a ready link of `kind` for the customer; returns its token (what the portal URL carries)."""
    kind = LinkKind(kind)
    now = utcnow()
    with store.write() as session:
        nonce = new_nonce()
        token = token_for(service_key(session), nonce)
        link = Link(customer_id=customer_id, kind=kind, status=LinkStatus.READY, options=dict(options or {}),
                    token_hash=token_hash(token), token_nonce=nonce, expires_at=now + timedelta(hours=hours),
                    agent_label="ada", ready_at=now, created_at=now, updated_at=now)
        session.add(link)
        session.flush()
        record_event(session, SYSTEM, customer_id, EventType.LINK_READY, kind=kind.value, link=link.id,
                     requested_by="ada", expires=link.expires_at.isoformat() if link.expires_at else "")
        return token


def link_row(store: Store, token: str) -> Link:
    """The stored link behind a token (detached), for asserting its status, uses and result."""
    from sqlmodel import select

    with store.read() as session:
        link = session.exec(select(Link).where(Link.token_hash == token_hash(token))).one()
        session.expunge(link)
        return link
