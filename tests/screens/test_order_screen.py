"""Issue 13, the order screen: opened from the profile (Enter on the overview, the Orders tab) and from a
timeline event; what it shows; and its actions checked in the store and on screen (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from textual.widgets import Input

from agentdesk.config import load_settings
from agentdesk.db.models import Customer, Fulfillment, Invoice, Job, Order, TimelineEvent
from agentdesk.domain.enums import FulfillmentStatus, OrderStatus, Role
from agentdesk.domain.validation import AddressInput
from agentdesk.services.customers import records as customers
from agentdesk.services.money import instruments
from agentdesk.services.orders import fulfillments
from agentdesk.ui.dialogs.invoice import InvoiceDialog
from agentdesk.ui.dialogs.order_actions import ReshipDialog
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen
from agentdesk.ui.screens.order import OrderScreen

from ..conftest import customer_input
from ..services.test_orders import ItemRequest, ShippingChoice, place, request, seed_catalog
from .helpers import SIZE, console, dialog_text, notifications, screen_text, settle, table_rows


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def shop(store, admin, settings) -> int:
    """The catalog of the order service tests and customer C-1 (an address in the US, a card that approves)."""
    seed_catalog(store)
    created = customers.create_customer(store, admin, customer_input(
        addresses=[AddressInput("1 Main St", "Springfield", "US")]))
    instruments.add_card(store, admin, settings, "C-1", "4242424242424242", "12/30")
    return created.id


def order_now(store, admin, settings, *items: ItemRequest | str) -> str:
    _, result = place(store, admin, settings, request(*items), now=datetime.now(UTC))
    return result.order_number


def stored_order(store, number: str) -> Order:
    with store.read() as s:
        return s.execute(select(Order).where(Order.number == number)).scalar_one()


def events(store, customer_id: int) -> list[TimelineEvent]:
    with store.read() as s:
        return list(s.execute(select(TimelineEvent).where(TimelineEvent.customer_id == customer_id)
                              .order_by(TimelineEvent.id)).scalars())


async def open_profile(pilot, app, customer_id: int) -> None:
    app.push_screen(CustomerProfileScreen(customer_id))
    await settle(pilot, app)


def words(text: str) -> str:
    return " ".join(text.split())


async def test_enter_on_the_overview_opens_the_only_order_with_items_status_dates_and_invoices(
        store, admin, settings, shop):
    number = order_now(store, admin, settings, ItemRequest("basic-m", quantity=2))
    order = stored_order(store, number)
    app = console(store, settings=settings, login="cara")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app, shop)
        assert "Enter open the order" in screen_text(app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, OrderScreen)
        text = screen_text(app)
        assert number in text and "active" in text and "Grace Hopper (C-1)" in text
        assert "2 × 8.99 USD = 17.98 USD" in text and "monthly" in words(text).lower()
        assert f"Next bill date {order.next_bill_date:%Y-%m-%d}" in text
        assert f"Current period {order.period_start:%Y-%m-%d} → {order.period_end:%Y-%m-%d}" in text
        await pilot.press("2")
        await settle(pilot, app)
        rows = table_rows(app.screen, "#order-invoices")
        with store.read() as s:
            invoice = s.execute(select(Invoice).where(Invoice.order_id == order.id)).scalar_one()
        assert rows[0][:5] == [invoice.number, "paid", "1", "17.98 USD", "17.98 USD"]
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, InvoiceDialog) and f"Invoice {invoice.number}" in dialog_text(app)
        await pilot.press("escape")
        await settle(pilot, app)
        await pilot.press("3")
        await settle(pilot, app)
        payments = table_rows(app.screen, "#order-payments")
        assert payments[0][2:5] == ["sale", "approved", "17.98 USD"]
        await pilot.press("5")
        await settle(pilot, app)
        titles = [row[1] for row in table_rows(app.screen, "#order-events")]
        assert "Order created" in titles, titles
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)


async def test_the_orders_tab_groups_active_pending_past_and_enter_opens_the_chosen_one(
        store, admin, settings, shop):
    first = order_now(store, admin, settings, "basic-m")
    second = order_now(store, admin, settings, "basic-w")
    with store.write(unrecorded="test fixture: an old order") as s:
        old = s.execute(select(Order).where(Order.number == first)).scalar_one()
        old.status = OrderStatus.COMPLETED
    app = console(store, settings=settings, login="cara")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app, shop)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        rows = table_rows(app.screen, "#orders-table")
        assert [r[:3] for r in rows] == [["Active", second, "active"], ["Past", first, "completed"]]
        await pilot.press("down", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, OrderScreen) and app.screen.number == first
        assert "completed" in screen_text(app)


async def test_enter_on_a_timeline_event_naming_the_order_opens_it(store, admin, settings, shop):
    number = order_now(store, admin, settings, "basic-m")
    app = console(store, settings=settings, login="cara")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app, shop)
        await pilot.press("3")
        await settle(pilot, app)
        table = app.screen.query_one("#tl-table")
        def names_only_the_order(entry) -> bool:
            return entry.attributes.get("order") == number and "transaction" not in entry.attributes

        for _ in range(20):
            if table.current is None or names_only_the_order(table.current):
                break
            await pilot.press("down")
            await settle(pilot, app)
        assert table.current is not None and names_only_the_order(table.current)
        assert "Enter: open the linked order" in screen_text(app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, OrderScreen) and number in screen_text(app)


def shipped_band(store, admin, settings) -> tuple[str, int]:
    """A paid one-time order of a product that ships, its fulfillment sent: (order number, fulfillment id)."""
    req = request(ItemRequest("band", options={"size": "M"}), shipping=ShippingChoice("catalog"))
    _, result = place(store, admin, settings, req, now=datetime.now(UTC))
    number = result.order_number
    with store.write() as s:
        order = s.execute(select(Order).where(Order.number == number)).scalar_one()
        invoice = s.execute(select(Invoice).where(Invoice.order_id == order.id)).scalar_one()
        row = s.execute(select(Fulfillment).where(Fulfillment.invoice_id == invoice.id)).scalar_one_or_none()
        if row is None:
            row = fulfillments.create_for_paid_invoice(s, admin, invoice)
        assert row is not None
        fulfillment_id = row.id
    fulfillments.update_fulfillment(store, admin, fulfillment_id, status="shipped", carrier="UPS", tracking="1Z999")
    return number, fulfillment_id


async def test_reship_a_fulfillment_from_the_order_screen(store, admin, settings, shop):
    number, original = shipped_band(store, admin, settings)
    app = console(store, settings=settings, login="cara")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        app.push_screen(OrderScreen(number, shop))
        await settle(pilot, app)
        await pilot.press("4")
        await settle(pilot, app)
        rows = table_rows(app.screen, "#order-fulfillments")
        assert rows[0][:5] == [str(original), "shipped", "1 × Band (size M)", "UPS", "1Z999"], rows
        await pilot.press("s")
        await settle(pilot, app)
        assert isinstance(app.screen, ReshipDialog)
        await pilot.press("enter")
        await settle(pilot, app)
        assert "say why" in dialog_text(app)
        app.screen.query_one("#reship-reason", Input).value = "lost <b>in</b> transit"
        await pilot.press("enter")
        await settle(pilot, app)
        assert "again as a new fulfillment (no charge)" in dialog_text(app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, OrderScreen)
        assert any("again" in n for n in notifications(app)), notifications(app)
        rows = table_rows(app.screen, "#order-fulfillments")
        assert len(rows) == 2 and rows[0][1] == "pending" and f"(reship of {original})" in rows[0][2]
        assert rows[0][5] == "lost <b>in</b> transit"
    with store.read() as s:
        reship = s.execute(select(Fulfillment).where(Fulfillment.reship_of_id == original)).scalar_one()
        assert reship.status is FulfillmentStatus.PENDING and reship.reason == "lost <b>in</b> transit"
    assert events(store, shop)[-1].type == "fulfillment_reshipped"


async def test_finance_sees_no_order_keys_it_may_not_use(store, actors, settings, shop):
    number = order_now(store, actors[Role.ADMIN], settings, "basic-m")
    app = console(store, settings=settings, login="finn")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        app.push_screen(OrderScreen(number, shop))
        await settle(pilot, app)
        await pilot.press("C")
        await settle(pilot, app)
        assert isinstance(app.screen, OrderScreen)
        assert any("needs" in n for n in notifications(app)), notifications(app)
    assert stored_order(store, number).status is OrderStatus.ACTIVE


def email_jobs(store, customer_id: int) -> list[Job]:
    with store.read() as s:
        return list(s.execute(select(Job).where(Job.customer_id == customer_id).order_by(Job.id)).scalars())


def customer_of(store, number: str) -> Customer:
    with store.read() as s:
        order = s.execute(select(Order).where(Order.number == number)).scalar_one()
        return s.get(Customer, order.customer_id)


async def test_cancel_a_pending_order_voids_its_invoice_and_says_no_money_moves(store, admin, settings, shop):
    _, result = place(store, admin, settings, request("basic-m", autopay=False), now=datetime.now(UTC))
    number = result.order_number
    app = console(store, settings=settings, login="cara")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        app.push_screen(OrderScreen(number, shop))
        await settle(pilot, app)
        assert "C cancel order" in screen_text(app) and "R refund order" not in screen_text(app)
        await pilot.press("C")
        await settle(pilot, app)
        text = dialog_text(app)
        assert f"Open invoices voided: {result.invoice_number}" in text and "no money moves" in words(text).lower()
        await pilot.press("enter")
        await settle(pilot, app)
        assert f"Cancel order {number}, no money moves" in dialog_text(app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, OrderScreen)
        assert any(f"Order {number}" in n and "cancelled" in n for n in notifications(app)), notifications(app)
        assert "cancelled" in app.screen.query_one("#order-header").render().plain
    assert stored_order(store, number).status is OrderStatus.CANCELLED
    with store.read() as s:
        assert s.execute(select(Invoice.status).where(Invoice.number == result.invoice_number)).scalar_one() == "void"
    assert [e.type for e in events(store, shop)][-2:] == ["invoice_voided", "order_cancelled"]
    assert any("cancelled" in str(j.payload.get("subject")) for j in email_jobs(store, shop))


async def test_the_access_an_order_grants_is_shown_and_refreshed(store, admin, settings, shop):
    from agentdesk.db.models import Product

    with store.write() as s:
        s.execute(select(Product).where(Product.sku == "STREAM")).scalar_one().entitlements = ["video", "forum"]
    number = order_now(store, admin, settings, "basic-m")
    app = console(store, settings=settings, login="cara")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        app.push_screen(OrderScreen(number, shop))
        await settle(pilot, app)
        assert "Streaming: video, forum" in screen_text(app)
        await pilot.press("A")
        await settle(pilot, app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert f"Re-issue access (forum, video) for order {number}; no money moves." in dialog_text(app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, OrderScreen)
    last = events(store, shop)[-1]
    assert last.type == "entitlements_refreshed" and last.attributes["order"] == number
