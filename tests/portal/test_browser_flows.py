"""End to end in Chromium: an agent asks for a link, the worker generates it and emails it through SMTP
(aiosmtpd on 127.0.0.1), the customer opens the URL from the email in the browser and does what the link
is for; the store, the console and the timeline then show it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from agentdesk.app import AgentDeskApp
from agentdesk.db.models import (
    Address,
    Customer,
    Invoice,
    KycDocument,
    Order,
    PaymentInstrument,
    Quote,
    TimelineEvent,
    Transaction,
)
from agentdesk.db.store import Store
from agentdesk.domain.enums import InvoiceStatus, LinkKind, Role
from agentdesk.domain.permissions import Actor
from agentdesk.services.agents import identity
from agentdesk.services.customers import records as customers
from agentdesk.services.jobs import runner
from agentdesk.services.links.requests import LinkRequest, request_link
from agentdesk.services.money import instruments, payout_requests
from agentdesk.services.orders import quotes
from agentdesk.services.orders.requests import ItemRequest, OrderRequest
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen

from ..conftest import add_roles, add_website, customer_input, policy
from ..screens.helpers import settle, visible_text
from ..services.billing_helpers import add_order, add_plan, issue
from ..services.test_orders import seed_catalog
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


def emailed_link(desk: Desk, actor: Actor, request: LinkRequest, customer_ref: str = "C-1") -> str:
    """The agent asks for the link with email (the service, as the console's link menu does), the worker
    generates and sends it; the URL as the customer's email carries it."""
    info = request_link(desk.store, actor, desk.settings, customer_ref, replace(request, email=True))
    assert info.status == "queued" and info.url is None
    work(desk)
    return emailed_url(desk)


def all_events(store: Store, cid: int) -> list[TimelineEvent]:
    with store.read() as session:
        rows = session.execute(select(TimelineEvent).where(TimelineEvent.customer_id == cid)
                               .order_by(TimelineEvent.id)).scalars().all()
        for row in rows:
            session.expunge(row)
    return list(rows)


def link_events(store: Store, cid: int) -> list[TimelineEvent]:
    return [row for row in all_events(store, cid) if row.type.startswith("link_")]


def default_card(store: Store, cid: int) -> PaymentInstrument:
    with store.read() as session:
        [card] = session.execute(select(PaymentInstrument).where(PaymentInstrument.customer_id == cid,
                                                                 PaymentInstrument.is_primary)).scalars().all()
        session.expunge(card)
    return card


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


async def test_kyc_link_emailed_uploaded_in_the_browser_and_pending_review_in_the_console(any_desk, page, tmp_path):
    desk = any_desk
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


async def test_deposit_in_the_browser_is_an_approved_sale(any_desk, page, tmp_path):
    desk = any_desk
    store = desk.store
    actors = shop(store)
    cid = customer_id(store)
    url = emailed_link(desk, actors[Role.AGENT], LinkRequest(
        LinkKind.DEPOSIT, amounts=(2_500, 5_000), custom_amount="allowed", minimum=1_000, maximum=100_000))
    await page.page.goto(url)
    assert await h1(page) == "Make a deposit"
    assert "25.00" in await page.page.inner_text("#amount")
    await screenshots(page.page, tmp_path, "deposit")
    await page.page.check("#amount-5000")
    await page.page.fill("#number", "4242 4242 4242 4242")
    await page.page.fill("#expiry", "12/30")
    await page.page.fill("#name", "Grace Hopper")
    await page.page.click("#submit")
    assert await h1(page) == "Payment received"
    done = await page.page.inner_text("main")
    assert "50.00" in done and "deposit" in done
    await screenshots(page.page, tmp_path, "deposit-done")

    with store.read() as session:
        sales = session.execute(select(Transaction).where(Transaction.customer_id == cid)).scalars().all()
        assert [(t.type.value, t.status.value, t.amount, t.currency) for t in sales] == [
            ("sale", "approved", 5_000, "USD")]
        card = session.get(PaymentInstrument, sales[0].instrument_id)
        assert card is not None and card.last4 == "4242"
    assert_link_story(store, cid, "cara")


async def test_billing_portal_adds_a_default_card_switches_back_and_saves_the_address(desk, page, tmp_path):
    store = desk.store
    actors = shop(store)
    cid = customer_id(store)
    first = instruments.add_card(store, actors[Role.ADMIN], desk.settings, "C-1", "4242424242424242", "12/30",
                                 primary=True)
    url = emailed_link(desk, actors[Role.SALES], LinkRequest(LinkKind.PORTAL))
    await page.page.goto(url)
    assert await h1(page) == "Your account"
    assert "Visa •••• 4242" in await page.page.inner_text("#cards")
    await screenshots(page.page, tmp_path, "portal")

    await page.page.fill("#number", "5555 5555 5555 4444")
    await page.page.fill("#expiry", "11/31")
    await page.page.check("#make_default")
    await page.page.click("#add-card")
    assert await h1(page) == "Card added"
    assert "It is now your default card." in await page.page.inner_text("main")
    await screenshots(page.page, tmp_path, "portal-card-added")
    assert default_card(store, cid).last4 == "4444"

    await page.page.click("#back")
    assert await h1(page) == "Your account"
    await page.page.click(f"#default-{first}")
    assert await h1(page) == "Default card changed"
    assert default_card(store, cid).id == first

    await page.page.click("#back")
    await page.page.fill("#line1", "1 Main Street")
    await page.page.fill("#city", "Springfield")
    await page.page.fill("#postal_code", "12345")
    await page.page.fill("#country", "us")
    await page.page.click("#save-address")
    assert await h1(page) == "Billing address saved"
    with store.read() as session:
        [address] = session.execute(select(Address).where(Address.customer_id == cid)).scalars().all()
        assert (address.line1, address.city, address.country, address.is_primary) == (
            "1 Main Street", "Springfield", "US", True)
    customer_side = [e for e in all_events(store, cid) if e.actor_label == "customer"]
    assert {"new_payment_method", "address_modified"} <= {e.type for e in customer_side}
    assert_link_story(store, cid, "sam", LINK_STEPS[:4])  # the billing portal serves until it expires: never completed
    await page.page.goto(url)
    assert await h1(page) == "Your account"


async def test_payout_request_in_the_browser_then_approved_by_finance_is_paid(desk, page, tmp_path):
    store = desk.store
    actors = shop(store)
    cid = customer_id(store)
    policy(store, {"payout_ceiling.USD": 100_000})
    instruments.add_card(store, actors[Role.ADMIN], desk.settings, "C-1", "4242424242424242", "12/30", primary=True)
    url = emailed_link(desk, actors[Role.AGENT], LinkRequest(LinkKind.PAYOUT, minimum=1_000, maximum=50_000))
    await page.page.goto(url)
    assert await h1(page) == "Request a payout"
    limits = await page.page.inner_text("main")
    assert "10.00" in limits and "500.00" in limits
    await screenshots(page.page, tmp_path, "payout")
    await page.page.fill("#amount", "120.00")
    await page.page.click("#submit")
    assert await h1(page) == "Payout requested"
    assert "120.00" in await page.page.inner_text("main")
    await screenshots(page.page, tmp_path, "payout-done")

    [pending] = payout_requests.list_payout_requests(store, actors[Role.FINANCE], customer_ref="C-1")
    assert (pending.status, pending.amount, pending.method) == ("pending", 12_000, "Visa •••• 4242")
    approved = payout_requests.approve_payout_request(store, actors[Role.FINANCE], desk.settings, pending.id)
    assert approved.status == "paid" and approved.transaction_id is not None
    with store.read() as session:
        credit = session.get(Transaction, approved.transaction_id)
        assert credit is not None and (credit.type.value, credit.status.value, credit.amount) == (
            "credit", "approved", 12_000)
    types = [e.type for e in all_events(store, cid)]
    assert types.index("payout_requested") < types.index("payout_request_approved")
    assert_link_story(store, cid, "cara")


async def test_pay_invoice_in_the_browser_marks_it_paid(desk, page, tmp_path):
    store = desk.store
    actors = shop(store)
    cid = customer_id(store)
    add_plan(store, "BASIC", 2_500, name="Basic plan")
    order_id = add_order(store, cid, [("BASIC", 1, 2_500)], autopay=False)
    invoice = issue(store, actors[Role.ADMIN], order_id)
    assert invoice is not None and invoice.status is InvoiceStatus.ISSUED
    url = emailed_link(desk, actors[Role.AGENT], LinkRequest(LinkKind.PAY_INVOICE, invoice=invoice.number))
    await page.page.goto(url)
    assert await h1(page) == "Pay your invoice"
    assert "25.00" in await page.page.inner_text("#amount-due")
    await screenshots(page.page, tmp_path, "pay-invoice")
    await page.page.fill("#number", "4242424242424242")
    await page.page.fill("#expiry", "10/32")
    await page.page.click("#submit")
    assert await h1(page) == "Payment received"
    assert invoice.number in await page.page.inner_text("main")
    with store.read() as session:
        row = session.get(Invoice, invoice.id)
        assert row is not None and row.status is InvoiceStatus.PAID
    assert "invoice_paid" in [e.type for e in all_events(store, cid)]
    assert_link_story(store, cid, "cara")
    await page.page.goto(url)
    assert await h1(page) == "Link already used"


async def test_accept_quote_in_the_browser_creates_the_order_once(desk, page, tmp_path):
    store = desk.store
    actors = shop(store)
    cid = customer_id(store)
    seed_catalog(store)
    instruments.add_card(store, actors[Role.ADMIN], desk.settings, "C-1", "4242424242424242", "12/30", primary=True)
    sales = actors[Role.SALES]
    draft = quotes.create_quote(store, sales, OrderRequest("C-1", [ItemRequest("basic-m", quantity=2)]),
                                expires_on=date.today() + timedelta(days=20), accept_by="customer",
                                terms="Net 30")
    number = draft.summary.number
    quotes.issue_quote(store, sales, number)
    work(desk)
    desk.mailbox.messages.clear()
    url = emailed_link(desk, sales, LinkRequest(LinkKind.QUOTE, quote=number))
    second_tab = await page.page.context.new_page()
    await second_tab.goto(url)
    await page.page.goto(url)
    assert await h1(page) == "Your quote"
    assert f"Quote {number}" in await page.page.inner_text("main")
    await screenshots(page.page, tmp_path, "quote")
    await page.page.click("#accept")
    assert await h1(page) == "Quote accepted"
    text = await page.page.inner_text("main")
    await screenshots(page.page, tmp_path, "quote-done")

    with store.read() as session:
        orders = session.execute(select(Order).where(Order.customer_id == cid)).scalars().all()
        quote = session.execute(select(Quote).where(Quote.number == number)).scalar_one()
    assert len(orders) == 1 and orders[0].number in text
    assert quote.status.value == "accepted" and quote.order_id == orders[0].id
    await second_tab.click("#accept")
    assert (await second_tab.inner_text("h1")).strip() == "Link already used"
    with store.read() as session:
        assert len(session.execute(select(Order).where(Order.customer_id == cid)).scalars().all()) == 1
    assert_link_story(store, cid, "sam")
