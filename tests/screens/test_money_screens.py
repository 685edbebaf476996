"""Refunds and other money actions from the profile, checked in the store afterwards."""

from sqlalchemy import select
from textual.widgets import DataTable, Input

from agentdesk.config import load_settings
from agentdesk.db.models import TimelineEvent, Transaction
from agentdesk.services.customers import records as customers
from agentdesk.ui.dialogs.money import CollectPaymentDialog, RefundDialog
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen

from .helpers import SIZE, console, dialog_text, notifications, settle, visible_text

DEMO = (200, 5)




def settled_sale(store) -> Transaction:
    with store.read() as s:
        return s.execute(
            select(Transaction).where(Transaction.type == "sale", Transaction.settled, Transaction.status == "approved",
                                      Transaction.amount >= 1000).order_by(Transaction.id.desc())
        ).scalars().first()


async def open_transactions(pilot, app, sale: Transaction):
    """The sale's customer's profile, on the transactions tab, with the sale highlighted."""
    app.push_screen(CustomerProfileScreen(sale.customer_id))
    await settle(pilot, app)
    await pilot.press("2")
    await settle(pilot, app)
    shown = customers.get_customer(app.store, app.actor, sale.customer_id).transactions
    row = [t.id for t in shown].index(sale.id)
    app.screen.query_one("#transactions-table", DataTable).move_cursor(row=row)


async def test_partial_refund_from_the_profile(demo_store, tmp_path):
    sale = settled_sale(demo_store)
    settings = load_settings(demo_store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path)})
    app = console(demo_store, "bob", settings=settings)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_transactions(pilot, app, sale)
        await pilot.press("r")
        await settle(pilot, app)
        dialog = app.screen
        assert isinstance(dialog, RefundDialog)
        facts = dialog_text(app)
        assert f"Transaction {sale.id}" in facts and "remaining" in facts
        dialog.query_one("#refund-amount", Input).value = "5.00"
        dialog.query_one("#refund-reason", Input).value = "late delivery"
        await pilot.press("enter")
        await pilot.pause()
        assert "Refund 5.00" in dialog_text(app) and "Enter to confirm" in dialog_text(app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        assert any("Refunded 5.00" in n for n in notifications(app)), notifications(app)
    with demo_store.read() as s:
        original = s.get(Transaction, sale.id)
        refund = s.execute(select(Transaction).where(Transaction.parent_id == sale.id)).scalars().one()
        event = s.execute(select(TimelineEvent).where(TimelineEvent.type == "manual_refund",
                                                      TimelineEvent.customer_id == sale.customer_id)
                          .order_by(TimelineEvent.id.desc())).scalars().first()
    assert original.status == "partially_refunded"
    assert refund.amount == 500 and refund.status == "approved" and refund.reason == "late delivery"
    assert event.actor_label == "bob"
    assert event.attributes["amount"] == 500 and event.attributes["transaction"] == sale.id


async def test_bad_amount_is_explained_and_nothing_happens(demo_store, tmp_path):
    sale = settled_sale(demo_store)
    settings = load_settings(demo_store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path)})
    app = console(demo_store, settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await open_transactions(pilot, app, sale)
        await pilot.press("r")
        await settle(pilot, app)
        app.screen.query_one("#refund-amount", Input).value = "12.345"
        await pilot.press("enter")
        await pilot.pause()
        assert "decimal places" in visible_text(app, app.screen.query_one("#error-amount"))
        assert "Enter to confirm" not in dialog_text(app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, RefundDialog) and "Enter to confirm" not in dialog_text(app)
    with demo_store.read() as s:
        assert s.execute(select(Transaction).where(Transaction.parent_id == sale.id)).first() is None


async def test_sales_role_gets_no_refund_dialog(demo_store, tmp_path):
    sale = settled_sale(demo_store)
    app = console(demo_store, "sara")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await open_transactions(pilot, app, sale)
        await pilot.press("r")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)


async def test_record_a_payment_made_outside(demo_store, tmp_path):
    sale = settled_sale(demo_store)
    settings = load_settings(demo_store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path)})
    app = console(demo_store, settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await open_transactions(pilot, app, sale)
        before = customers.get_customer(demo_store, app.actor, sale.customer_id).lifetime_value
        await pilot.press("dollar_sign")
        await settle(pilot, app)
        dialog = app.screen
        assert isinstance(dialog, CollectPaymentDialog)
        dialog.query_one("#pay-amount", Input).value = "20"
        dialog.query_one("#pay-outside").value = True
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
    assert customers.get_customer(demo_store, app.actor, sale.customer_id).lifetime_value == before + 2000


async def test_credit_memo_and_payout_dialogs(demo_store, tmp_path):
    from agentdesk.ui.dialogs.money import CreditMemoDialog, PayoutDialog

    sale = settled_sale(demo_store)
    settings = load_settings(demo_store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path)})
    app = console(demo_store, "fred", settings=settings)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_transactions(pilot, app, sale)
        await pilot.press("M")
        await settle(pilot, app)
        assert isinstance(app.screen, CreditMemoDialog)
        app.screen.query_one("#memo-amount", Input).value = "7.50"
        await pilot.press("enter")
        await pilot.pause()
        assert "Say why" in visible_text(app, app.screen.query_one("#error-reason"))
        app.screen.query_one("#memo-reason", Input).value = "parcel arrived late"
        await pilot.press("enter", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        assert any("Credit memo" in n and "7.50" in n for n in notifications(app)), notifications(app)
        detail = customers.get_customer(demo_store, app.actor, sale.customer_id)
        assert detail.available_credit == {detail.currency: 750}
        await pilot.press("P")
        await settle(pilot, app)
        assert isinstance(app.screen, PayoutDialog)
        app.screen.query_one("#payout-amount", Input).value = "3"
        await pilot.press("enter")
        await pilot.pause()
        assert "cannot be reversed" in dialog_text(app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        assert any("Paid out 3.00" in n for n in notifications(app)), notifications(app)
    with demo_store.read() as s:
        payout = s.execute(select(Transaction).where(Transaction.type == "credit")).scalar_one()
    assert payout.amount == 300 and payout.status == "approved" and payout.customer_id == sale.customer_id
