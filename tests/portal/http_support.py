"""What the HTTP-level portal tests share: a store with one customer, the app under Starlette's TestClient."""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.testclient import TestClient

from agentdesk.config import Settings, load_settings
from agentdesk.db.store import Store
from agentdesk.domain.enums import LinkKind
from agentdesk.domain.permissions import Actor
from agentdesk.portal.app import create_app
from agentdesk.portal.security import GuessLimit
from agentdesk.services.agents import identity
from agentdesk.services.customers import records
from tests.conftest import add_website, customer_input
from tests.support.links import ready_link

MARKUP = "<script>alert(1)</script>{{7*7}}"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;{{7*7}}"
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")
CSRF_IN_PAGE = re.compile(r'name="csrf" value="([^"]+)"')
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 64


@dataclass
class Portal:
    store: Store
    settings: Settings
    client: TestClient
    customer_id: int
    limiter: GuessLimit
    admin: Actor

    def link(self, kind: LinkKind | str, options: dict | None = None, hours: float = 24) -> str:
        return ready_link(self.store, self.customer_id, kind, options, hours)

    def post(self, token: str, action: str, data: dict[str, str], **kwargs):
        """Open the link's page, then send the form with its CSRF value."""
        return self.client.post(f"/l/{token}/{action}", data={"csrf": self.csrf(token), **data}, **kwargs)

    def csrf(self, token: str) -> str:
        """Open the link's page (which sets the CSRF cookie) and return the form's hidden value."""
        page = self.client.get(f"/l/{token}")
        assert page.status_code == 200, page.text
        found = CSRF_IN_PAGE.search(page.text)
        assert found is not None
        return found.group(1)


def make_portal(store: Store, tmp_path, first_name: str = MARKUP, website_name: str | None = None) -> Portal:
    from sqlmodel import select

    from agentdesk.db.models import Website

    settings = load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})
    add_website(store)
    if website_name is not None:
        with store.write() as session:
            site = session.exec(select(Website)).one()
            site.name = website_name
            session.add(site)
    identity.add_agent(store, None, "ada", "admin", "Ada Admin")
    admin = identity.resolve_actor(store, "ada")
    customer = records.create_customer(store, admin, customer_input(first_name=first_name))
    limiter = GuessLimit()
    client = TestClient(create_app(store, settings, limiter), base_url="https://testserver")
    return Portal(store, settings, client, customer.id, limiter, admin)


def assert_headers(response) -> None:
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
