"""Issue 12, the order builder: from the profile (`o`) to an order, its invoice, payment, timeline and email."""

import pytest
from sqlalchemy import select
from textual.widgets import Checkbox, Input, Select

from agentdesk.config import load_settings
from agentdesk.db.models import Invoice, Job, Order, OrderItem, Plan, Quote, TimelineEvent, Transaction
from agentdesk.domain.enums import CouponDuration, CouponKind
from agentdesk.domain.validation import AddressInput, CardInput, ContactInput, CustomerInput
from agentdesk.services.agents import identity
from agentdesk.services.billing import coupons
from agentdesk.services.customers import records as customers
from agentdesk.ui.dialogs.order_item import OrderItemDialog
from agentdesk.ui.dialogs.order_preview import OrderPreviewDialog
from agentdesk.ui.dialogs.order_quote import OrderQuoteDialog
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen
from agentdesk.ui.screens.order_builder import OrderBuilderScreen

from .helpers import (
    console,
    dialog_text,
    notifications,
    palette_commands,
    screen_lines,
    screen_text,
    settle,
    visible_text,
)

DEMO = (60, 3)
PLAN = "stream-prem-m-usd"


def words(text: str) -> str:
    return " ".join(text.split())


def new_customer(store, card: str, name: str = "Ada") -> int:
    """A US customer of northwind-us with one card (the sandbox decides by the card) and an address."""
    admin = identity.resolve_actor(store, "operator")
    draft = CustomerInput(name, "Lovelace", website="northwind-us",
                          emails=[ContactInput(f"{name.lower()}@example.com", primary=True)],
                          addresses=[AddressInput("1 Main St", "Springfield", "US")],
                          card=CardInput(card, "12/30"))
    return customers.create_customer(store, admin, draft, load_settings(store.url)).id


def add_coupon(store, code: str = "SAVE10") -> None:
    """10 % off every invoice of the order, defined by an admin."""
    coupons.create_coupon(store, identity.resolve_actor(store, "operator"), code, CouponKind.PERCENT, percent="10",
                          duration=CouponDuration.FOREVER)


async def open_builder(pilot, app, customer_id: int) -> OrderBuilderScreen:
    app.push_screen(CustomerProfileScreen(customer_id))
    await settle(pilot, app)
    await pilot.press("o")
    await settle(pilot, app)
    assert isinstance(app.screen, OrderBuilderScreen), type(app.screen)
    return app.screen


async def add_item(pilot, app, search: str, quantity: str, unit_price: str | None = None) -> None:
    """`a`, type part of the plan's name, Enter picks the first match, then quantity (and a custom price)."""
    await pilot.press("a")
    await settle(pilot, app)
    dialog = app.screen
    assert isinstance(dialog, OrderItemDialog)
    await pilot.press(*search)
    await settle(pilot, app)
    assert "Premium monthly" in dialog_text(app)
    await pilot.press("enter")
    await settle(pilot, app)
    assert "Chosen: Premium monthly" in dialog_text(app)
    dialog.query_one("#item-quantity", Input).value = quantity
    if unit_price is not None:
        dialog.query_one("#item-customise", Checkbox).value = True
        await pilot.pause()
        dialog.query_one("#item-unit_price", Input).value = unit_price
    await settle(pilot, app)
    await pilot.press("ctrl+s")
    await settle(pilot, app)


def settings_for(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path)})


async def test_subscription_with_coupon_and_custom_price_from_the_profile(demo_store, tmp_path):
    cid = new_customer(demo_store, "4242424242424242")
    add_coupon(demo_store)
    with demo_store.read() as s:
        plan_before = s.execute(select(Plan).where(Plan.code == PLAN)).scalar_one().model_dump()
    app = console(demo_store, "bob", settings=settings_for(demo_store, tmp_path))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot, app)
        builder = await open_builder(pilot, app, cid)
        await add_item(pilot, app, "premium m", "2", "15.00")
        assert app.screen is builder
        assert "2 × 15.00 USD = 30.00 USD" in screen_text(app)
        assert "Subscription (from the items)" in screen_text(app)
        builder.query_one("#o-coupons", Input).value = "save10"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, OrderPreviewDialog), notifications(app)
        shown = dialog_text(app)
        assert "2 × 15.00 USD = 30.00 USD" in shown
        assert "Coupon SAVE10: \u22123.00 USD" in shown
        assert "Total today 27.00 USD" in shown
        assert "charge exactly 27.00 USD today" in shown
        assert "Next billing:" in shown
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        told = notifications(app)
        assert any("created" in n and "27.00 USD charged, payment approved" in n for n in told), told
        number = app.screen.detail.orders[0].number
        assert any(f"Order {number} created" in n for n in told), told
        assert number in screen_text(app)                                  # the profile reloaded
    with demo_store.read() as s:
        order = s.execute(select(Order).where(Order.customer_id == cid)).scalar_one()
        item = s.execute(select(OrderItem).where(OrderItem.order_id == order.id)).scalar_one()
        invoice = s.execute(select(Invoice).where(Invoice.order_id == order.id)).scalar_one()
        payment = s.execute(select(Transaction).where(Transaction.invoice_id == invoice.id)).scalar_one()
        events = {e.type for e in s.execute(select(TimelineEvent).where(TimelineEvent.customer_id == cid))
                  .scalars()}
        welcome = s.execute(select(Job).where(Job.idempotency_key == f"email-welcome-{order.id}")).scalar_one()
        plan_after = s.execute(select(Plan).where(Plan.code == PLAN)).scalar_one().model_dump()
    assert order.number == number
    assert order.status == "active" and order.kind == "subscription" and order.currency == "USD"
    assert item.quantity == 2 and item.unit_price == 1500 and "unit_price" in item.customised
    assert invoice.subtotal == 3000 and invoice.discount == 300 and invoice.total == 2700
    assert invoice.status == "paid"
    assert payment.amount == 2700 and payment.status == "approved"
    assert {"order_created", "new_purchase", "coupon_redeemed"} <= {str(t) for t in events}, events
    assert welcome is not None and welcome.payload["customer_id"] == cid
    assert plan_after == plan_before


async def test_declined_card_shows_the_gateways_reason_and_the_order_stays_pending(demo_store, tmp_path):
    cid = new_customer(demo_store, "4000000000000002", name="Dee")
    app = console(demo_store, "bob", settings=settings_for(demo_store, tmp_path))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot, app)
        await open_builder(pilot, app, cid)
        await add_item(pilot, app, "premium mon", "1")
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, OrderPreviewDialog)
        assert "Total today 19.99 USD" in dialog_text(app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        told = notifications(app)
    with demo_store.read() as s:
        order = s.execute(select(Order).where(Order.customer_id == cid)).scalar_one()
        declined = s.execute(select(Transaction).where(Transaction.order_id == order.id)).scalars().all()
    assert order.status == "pending"
    assert declined and all(t.status == "declined" for t in declined)
    reason = declined[-1].error or ""
    assert reason
    assert any("was declined" in n and "stays pending" in n and words(reason) in n for n in told), (told, reason)


async def test_bad_amounts_are_refused_beside_their_field_and_nothing_is_sent(demo_store, tmp_path):
    cid = new_customer(demo_store, "4242424242424242", name="Bea")
    app = console(demo_store, "bob", settings=settings_for(demo_store, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        builder = await open_builder(pilot, app, cid)
        await add_item(pilot, app, "premium m", "1", "12.345")
        dialog = app.screen
        assert isinstance(dialog, OrderItemDialog)                     # still open: nothing added
        assert "decimal places" in words(visible_text(app, dialog.query_one("#error-unit_price")))
        dialog.query_one("#item-unit_price", Input).value = "12.34"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert app.screen is builder and "1 × 12.34 USD = 12.34 USD" in screen_text(app)

        builder.query_one("#o-shipping", Select).value = "manual"
        builder.query_one("#o-shipping_amount", Input).value = "5,5x"
        builder.query_one("#o-start_on", Input).value = "2027-02-30"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert app.screen is builder
        assert "is not an amount" in words(visible_text(app, builder.query_one("#error-shipping_amount")))
        assert "not a day of the calendar" in words(visible_text(app, builder.query_one("#error-start_on")))
        assert "nothing was saved" in dialog_text(app)

        await pilot.press("escape")                                   # a filled form asks first
        await settle(pilot, app)
        assert "Discard what you typed" in screen_text(app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
    with demo_store.read() as s:
        assert s.execute(select(Order).where(Order.customer_id == cid)).first() is None


async def test_items_are_edited_with_enter_and_removed_with_delete(demo_store, tmp_path):
    cid = new_customer(demo_store, "4242424242424242", name="Eve")
    app = console(demo_store, "sara", settings=settings_for(demo_store, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        builder = await open_builder(pilot, app, cid)
        await add_item(pilot, app, "premium m", "1")
        assert "1 × 19.99 USD = 19.99 USD" in screen_text(app)
        await pilot.press("enter")
        await settle(pilot, app)
        dialog = app.screen
        assert isinstance(dialog, OrderItemDialog) and "Chosen: Premium monthly" in dialog_text(app)
        assert dialog.query_one("#item-quantity", Input).value == "1"
        dialog.query_one("#item-quantity", Input).value = "3"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert app.screen is builder
        assert "3 × 19.99 USD = 59.97 USD" in screen_text(app) and "1 × 19.99" not in screen_text(app)
        await pilot.press("delete")
        await settle(pilot, app)
        assert "No items yet: press a to add one." in screen_text(app)
        await pilot.press("escape")                                   # nothing left to lose: closes at once
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)


async def test_finance_pressing_o_is_told_which_roles_create_orders(demo_store):
    cid = new_customer(demo_store, "4242424242424242", name="Fay")
    app = console(demo_store, "fred")
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot, app)
        app.push_screen(CustomerProfileScreen(cid))
        await settle(pilot, app)
        assert "New order" not in " ".join(await palette_commands(app))
        await pilot.press("o")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        told = notifications(app)
        assert any("needs admin, customer service agent or sales" in n for n in told), told


async def test_palette_and_help_offer_the_new_order(demo_store):
    cid = new_customer(demo_store, "4242424242424242", name="Pia")
    app = console(demo_store, "sara")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        app.push_screen(CustomerProfileScreen(cid))
        await settle(pilot, app)
        commands = await palette_commands(app)
        assert "New order for Pia Lovelace" in commands
        await pilot.press("question_mark")
        await settle(pilot, app)
        assert "New order" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot, app)
        await commands["New order for Pia Lovelace"]()
        await settle(pilot, app)
        assert isinstance(app.screen, OrderBuilderScreen)
        assert {"Add item", "Preview", "Edit item", "Remove item"} <= set(await palette_commands(app))
        await pilot.press("question_mark")                            # the builder's keys, from its table
        await settle(pilot, app)
        helped = screen_text(app)
        assert "Order builder keys" in helped and "Add item" in helped and "Preview" in helped, helped


@pytest.mark.parametrize("size", [(80, 24)])
async def test_builder_and_preview_fit_80_by_24(demo_store, tmp_path, size):
    width, height = size
    cid = new_customer(demo_store, "4242424242424242", name="Lia")
    app = console(demo_store, "bob", settings=settings_for(demo_store, tmp_path))
    async with app.run_test(size=size) as pilot:
        await settle(pilot, app)
        await open_builder(pilot, app, cid)
        lines = screen_lines(app)
        text = words("\n".join(lines))
        assert "New order for Lia Lovelace" in text and "USD" in text
        assert "No items yet: press a to add one." in text
        assert "Ctrl+S preview" in text and "Esc close" in text
        assert all(len(line.rstrip()) <= width for line in lines)
        await add_item(pilot, app, "premium m", "3", "1000000.00")
        text = words(screen_text(app))
        assert "3 × 1,000,000.00 USD = 3,000,000.00 USD" in text           # the widest price whole
        assert "unit price" in text                                       # what was customised
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, OrderPreviewDialog)
        region = app.screen.query_one(".dialog").region
        assert region.height <= height and region.width <= width
        shown = dialog_text(app)
        for part in ("3 × 1,000,000.00 USD = 3,000,000.00 USD", "Total today 3,000,000.00 USD",
                     "charge exactly 3,000,000.00 USD today", "Enter confirm", "Esc back"):
            assert part in shown, (part, screen_text(app))
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, OrderBuilderScreen)
        app.screen.query_one("#o-notes", Input).focus()
        await settle(pilot, app)
        assert "Invoice notes" in screen_text(app)                       # the last field scrolls into view


async def test_save_as_quote_from_the_builder_refuses_a_bad_date_then_issues_it(demo_store, tmp_path):
    from datetime import date, timedelta

    cid = new_customer(demo_store, "4242424242424242", name="Quin")
    expires = (date.today() + timedelta(days=30)).isoformat()
    app = console(demo_store, "bob", settings=settings_for(demo_store, tmp_path))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot, app)
        await open_builder(pilot, app, cid)
        await add_item(pilot, app, "premium m", "2")
        await pilot.press("f6")
        await settle(pilot, app)
        dialog = app.screen
        assert isinstance(dialog, OrderQuoteDialog), type(dialog)
        assert "Save as quote for Quin Lovelace" in dialog_text(app)
        dialog.query_one("#q-expires", Input).value = "next month"
        dialog.query_one("#q-accept_by", Select).value = "customer"
        dialog.query_one("#q-signature", Input).value = "[b]Quin[/b] Lovelace"
        dialog.query_one("#q-issue", Checkbox).value = True
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert app.screen is dialog                                     # still open: nothing written
        assert "is not a date" in words(visible_text(app, dialog.query_one("#error-expires")))
        with demo_store.read() as s:
            assert s.execute(select(Quote).where(Quote.customer_id == cid)).first() is None

        dialog.query_one("#q-expires", Input).value = expires
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        told = notifications(app)
    with demo_store.read() as s:
        quote = s.execute(select(Quote).where(Quote.customer_id == cid)).scalar_one()
        email = s.execute(select(Job).where(Job.idempotency_key == f"email-quote-{quote.id}-issued")).scalar_one()
        orders = s.execute(select(Order).where(Order.customer_id == cid)).all()
    assert any(f"Quote {quote.number} issued and emailed to quin@example.com" in n for n in told), told
    assert quote.status == "issued" and quote.accept_by == "customer"
    assert quote.expires_on.isoformat() == expires
    assert quote.signature_name == "[b]Quin[/b] Lovelace"              # kept as typed, plain text
    assert [(i["plan_code"], i["quantity"]) for i in quote.request["items"]] == [(PLAN, 2)]
    assert quote.total == 3998 and quote.currency == "USD"
    assert email.payload["to"] == "quin@example.com"
    assert orders == []                                                 # a quote, not an order
