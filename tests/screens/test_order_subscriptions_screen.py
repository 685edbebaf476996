"""Issue 13, subscription actions from the order screen: each dialog shows the service's preview, the second
Enter does it; checked in the store (order, scheduled changes, money, events, emails) and on screen
(SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import select
from textual.widgets import Input

from agentdesk.db.models import Invoice, Order, OrderItem, ScheduledChange, Transaction
from agentdesk.domain.enums import OrderStatus
from agentdesk.domain.money import format_amount
from agentdesk.ui.dialogs.order_subscription import CancelSubscriptionDialog
from agentdesk.ui.screens.order import OrderScreen

from .helpers import SIZE, console, dialog_text, screen_text, settle
from .test_order_screen import email_jobs, events, order_now, settings, shop, stored_order

__all__ = ["settings", "shop"]


async def open_order(pilot, app, number: str, customer_id: int) -> OrderScreen:
    app.push_screen(OrderScreen(number, customer_id))
    await settle(pilot, app)
    assert isinstance(app.screen, OrderScreen)
    return app.screen


async def preview_and_confirm(pilot, app, *expected: str) -> str:
    """Enter shows the service's preview (checked for `expected`), Enter again does it; the preview's text."""
    await pilot.press("enter")
    await settle(pilot, app)
    shown = dialog_text(app)
    for words_expected in expected:
        assert words_expected in shown, shown
    await pilot.press("enter")
    await settle(pilot, app)
    assert isinstance(app.screen, OrderScreen), dialog_text(app)
    return shown


def pending_changes(store, number: str) -> list[tuple[str, str]]:
    with store.read() as s:
        order = s.execute(select(Order).where(Order.number == number)).scalar_one()
        return [(c.kind.value, c.status.value) for c in s.execute(
            select(ScheduledChange).where(ScheduledChange.order_id == order.id).order_by(ScheduledChange.id)
        ).scalars()]


async def test_cancel_at_period_end_then_withdraw_it_from_the_order_screen(store, admin, settings, shop):
    number = order_now(store, admin, settings, "basic-m")
    order = stored_order(store, number)
    app = console(store, settings=settings, login="cara")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_order(pilot, app, number, shop)
        assert "c cancel subscription" in screen_text(app) and "w withdraw" not in screen_text(app)
        await pilot.press("c")
        await settle(pilot, app)
        assert isinstance(app.screen, CancelSubscriptionDialog)
        assert "At the end of the period" in dialog_text(app)
        await preview_and_confirm(pilot, app, f"{order.period_end:%Y-%m-%d}")
        text = screen_text(app)
        assert "Scheduled changes" in text and "cancel at the end of the period" in text, text
        assert "w withdraw cancellation" in text
        assert pending_changes(store, number) == [("cancel", "pending")]
        assert stored_order(store, number).status is OrderStatus.ACTIVE
        assert events(store, shop)[-1].type == "cancellation_scheduled"
        await pilot.press("w")
        await settle(pilot, app)
        await preview_and_confirm(pilot, app)
        text = screen_text(app)
        assert "cancel at the end of the period" not in text and "No scheduled changes" in text
    assert pending_changes(store, number) == [("cancel", "withdrawn")]
    after = stored_order(store, number)
    assert after.status is OrderStatus.ACTIVE and not after.cancel_at_period_end
    assert events(store, shop)[-1].type == "cancellation_withdrawn"


async def test_pause_and_resume_from_the_order_screen(store, admin, settings, shop):
    number = order_now(store, admin, settings, "basic-m")
    before = stored_order(store, number).next_bill_date
    app = console(store, settings=settings, login="cara")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_order(pilot, app, number, shop)
        await pilot.press("p")
        await settle(pilot, app)
        await preview_and_confirm(pilot, app)
        assert "paused" in app.screen.query_one("#order-header").render().plain
        assert "until resumed" in screen_text(app) and "r resume" in screen_text(app)
        assert stored_order(store, number).status is OrderStatus.PAUSED
        assert events(store, shop)[-1].type == "pause_activated"
        await pilot.press("r")
        await settle(pilot, app)
        await preview_and_confirm(pilot, app)
        assert "active" in app.screen.query_one("#order-header").render().plain
        assert f"Next bill date {before:%Y-%m-%d}" in screen_text(app)
    after = stored_order(store, number)
    assert after.status is OrderStatus.ACTIVE and after.paused_from is None and after.next_bill_date == before
    assert events(store, shop)[-1].type in ("pause_ended_early", "pause_ended")
    assert any("paused" in str(j.payload.get("subject")) for j in email_jobs(store, shop))


async def test_a_downgrade_is_scheduled_shown_on_the_order_and_withdrawn(store, admin, settings, shop):
    number = order_now(store, admin, settings, "setup-m")
    app = console(store, settings=settings, login="cara")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_order(pilot, app, number, shop)
        await pilot.press("P")
        await settle(pilot, app)
        app.screen.query_one("#change-plan", Input).value = "basic-m"
        shown = await preview_and_confirm(pilot, app)
        assert "downgrade" in shown.lower(), shown
        text = screen_text(app)
        assert "Scheduled changes" in text and "downgrade to" in text, text
        assert "W withdraw change" in text
        assert pending_changes(store, number) == [("change_plan", "pending")]
        with store.read() as s:
            item = s.execute(select(OrderItem).where(OrderItem.order_id == stored_order(store, number).id)
                             ).scalar_one()
            assert item.unit_price == 1000
        assert events(store, shop)[-1].type == "downgrade_scheduled"
        await pilot.press("W")
        await settle(pilot, app)
        await preview_and_confirm(pilot, app)
        assert "downgrade to" not in screen_text(app)
    assert pending_changes(store, number) == [("change_plan", "withdrawn")]


async def test_cancel_now_with_a_prorated_refund_says_the_amount_and_how_first(store, admin, settings, shop):
    number = order_now(store, admin, settings, "basic-m")
    app = console(store, settings=settings, login="ada")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_order(pilot, app, number, shop)
        await pilot.press("c")
        await settle(pilot, app)
        await pilot.press("down", "down", "space")
        await settle(pilot, app)
        shown = await preview_and_confirm(pilot, app, "refund")
        assert "cancelled" in app.screen.query_one("#order-header").render().plain
    assert stored_order(store, number).status is OrderStatus.CANCELLED
    with store.read() as s:
        refunds_made = s.execute(select(Transaction).where(Transaction.type.in_(("refund", "void")))
                                 ).scalars().all()
    assert len(refunds_made) == 1 and 0 < refunds_made[0].amount <= 899
    assert "unused of" in shown and "voided" in shown
    assert format_amount(refunds_made[0].amount, "USD") in shown, shown
    assert "subscription_cancelled" in [e.type for e in events(store, shop)]


async def test_bill_now_and_a_quantity_change_say_what_they_charge_first(store, admin, settings, shop):
    number = order_now(store, admin, settings, "basic-m")
    before = stored_order(store, number)
    app = console(store, settings=settings, login="ada")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_order(pilot, app, number, shop)
        await pilot.press("b")
        await settle(pilot, app)
        await preview_and_confirm(pilot, app, "8.99 USD")
        await pilot.press("u")
        await settle(pilot, app)
        app.screen.query_one("#quantity-value", Input).value = "3"
        shown = await preview_and_confirm(pilot, app, "USD")
        assert "3 × 8.99 USD = 26.97 USD" in screen_text(app)
    after = stored_order(store, number)
    assert after.cycles_billed == before.cycles_billed + 1 and after.next_bill_date > before.next_bill_date
    with store.read() as s:
        assert s.execute(select(OrderItem.quantity).where(OrderItem.order_id == after.id)).scalar_one() == 3
        invoices = s.execute(select(Invoice).where(Invoice.order_id == after.id).order_by(Invoice.id)).scalars().all()
    assert [i.cycle for i in invoices] == [1, 2] and invoices[1].total == 899
    assert "the next bill has the new quantity" in shown, shown
    types = [e.type for e in events(store, shop)]
    assert "subscription_billed_now" in types and "quantity_changed" in types
