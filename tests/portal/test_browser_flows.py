"""End to end in Chromium: an agent asks for a link, the worker generates it and emails it through SMTP
(aiosmtpd on 127.0.0.1), the customer opens the URL from the email in the browser and does what the link
is for; the store, the console and the timeline then show it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from agentdesk.app import AgentDeskApp
from agentdesk.db.models import Customer, KycDocument, TimelineEvent
from agentdesk.db.store import Store
from agentdesk.domain.enums import LinkKind, Role
from agentdesk.domain.permissions import Actor
from agentdesk.services.agents import identity
from agentdesk.services.customers import records as customers
from agentdesk.services.jobs import runner
from agentdesk.services.links.requests import LinkRequest, request_link
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen

from ..conftest import add_roles, add_website, customer_input
from ..screens.helpers import settle, visible_text
from .conftest import Desk, Watched, screenshots

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
LINK_STEPS = ["link_requested", "link_ready", "link_sent", "link_opened", "link_completed"]


def shop(store: Store) -> dict[Role, Actor]:
    """Website shop-us (sandbox gateway), one agent per role, customer C-1 Grace Hopper (grace@example.com)."""
    add_website(store)
    actors = add_roles(store)
    customers.create_customer(store, actors[Role.ADMIN], customer_input())
    return actors


def customer_id(store: Store, external_id: str = "C-1") -> int:
    with store.read() as session:
        return session.execute(select(Customer.id).where(Customer.external_id == external_id)).scalar_one()


def work(desk: Desk) -> None:
    """The worker until the queue is empty: generating the link queues its email, sent on the next round."""
    for _ in range(5):
        report = runner.run_due(desk.store, desk.settings)
        if not (report.done or report.retrying or report.failed):
            return


def emailed_url(desk: Desk) -> str:
    """The one portal URL the customer received by email."""
    links = desk.mailbox.links()
    assert len(links) == 1, f"expected one link in the mailbox, got {links}"
    assert links[0].startswith(desk.base_url + "/l/")
    return links[0]


def link_events(store: Store, cid: int) -> list[TimelineEvent]:
    with store.read() as session:
        rows = session.execute(select(TimelineEvent).where(TimelineEvent.customer_id == cid)
                               .order_by(TimelineEvent.id)).scalars().all()
        for row in rows:
            session.expunge(row)
    return [row for row in rows if row.type.startswith("link_")]


def assert_link_story(store: Store, cid: int, agent: str, steps: list[str] = LINK_STEPS) -> None:
    events = link_events(store, cid)
    assert [e.type for e in events] == steps
    assert {e.attributes.get("requested_by") for e in events} == {agent}
    assert all("/l/" not in str(e.attributes) for e in events), "no event carries the URL"


async def h1(watched: Watched) -> str:
    return (await watched.page.inner_text("h1")).strip()


def console(desk: Desk, login: str) -> AgentDeskApp:
    return AgentDeskApp(desk.store, desk.settings, identity.resolve_actor(desk.store, login))


async def open_profile(pilot: Any, app: AgentDeskApp, cid: int) -> None:
    app.push_screen(CustomerProfileScreen(cid))
    await settle(pilot, app)


async def test_kyc_link_emailed_uploaded_in_the_browser_and_pending_review_in_the_console(desk, page, tmp_path):
    store = desk.store
    actors = shop(store)
    cid = customer_id(store)
    request_link(store, actors[Role.AGENT], desk.settings, "C-1",
                 LinkRequest(LinkKind.KYC, email=True, document_types=("passport", "proof_of_address")))
    work(desk)
    [mail] = desk.mailbox.messages
    assert mail["To"] == "grace@example.com"
    url = emailed_url(desk)

    await page.page.goto(url)
    assert await h1(page) == "Upload your documents"
    assert "Hello Grace," in await page.page.inner_text("main")
    await screenshots(page.page, tmp_path, "kyc")
    for kind in ("passport", "proof_of_address"):
        await page.page.set_input_files(f"#document_{kind}", files=[
            {"name": f"{kind}.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    await page.page.click("#submit")
    assert await h1(page) == "Documents received"
    assert "We received 2 documents" in await page.page.inner_text("main")
    await screenshots(page.page, tmp_path, "kyc-done")

    with store.read() as session:
        documents = session.execute(select(KycDocument).where(KycDocument.customer_id == cid)
                                    .order_by(KycDocument.id)).scalars().all()
        assert [(d.kind, d.status.value) for d in documents] == [("passport", "pending"),
                                                                 ("proof_of_address", "pending")]
    assert_link_story(store, cid, "cara")

    app = console(desk, "cara")
    async with app.run_test(size=(100, 30)) as pilot:
        await open_profile(pilot, app, cid)
        await pilot.press("4")
        await settle(pilot, app)
        shown = visible_text(app, app.screen.query_one("#kyc-pane"), inside=True)
    assert "passport" in shown and "proof_of_address" in shown and shown.count("pending") >= 2

    await page.page.goto(url)
    assert await h1(page) == "Link already used"
