"""What the portal itself reads from policy (so the web layer never opens a session)."""

from __future__ import annotations

from agentdesk.db.store import Store
from agentdesk.services.policy import service as policy


def portal_base_url(store: Store) -> str | None:
    """Policy `portal_base_url`: the portal's public address (None while unset)."""
    with store.read() as session:
        return policy.portal_base_url(session)
