"""Invoice actions in the console: void, mark paid outside, write off and apply credit from the invoice
opened on the profile's Invoices tab; who may (the role message, the refund limit)."""

import pytest
from sqlalchemy import select
from textual.widgets import Input, Static

from agentdesk.config import load_settings
from agentdesk.db.models import CreditMemo, Transaction
from agentdesk.domain.enums import Role
from agentdesk.services.money import payments
from agentdesk.ui.dialogs.invoice import (
    ApplyCreditDialog,
    InvoiceDialog,
    MarkPaidDialog,
    VoidInvoiceDialog,
    WriteOffDialog,
)
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen

from ..conftest import policy
from .helpers import SIZE, console, dialog_text, notifications, settle, table_rows
from .test_invoices_screen import event_types, open_invoice, open_invoices_tab, stored


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


async def open_the_invoice(pilot, app, customer_id: int) -> InvoiceDialog:
    await settle(pilot, app)
    await open_invoices_tab(pilot, app, customer_id)
    await pilot.press("enter")
    await settle(pilot, app)
    assert isinstance(app.screen, InvoiceDialog)
    return app.screen


async def test_void_an_invoice_and_see_it_void_in_the_list(store, actors, settings):
    customer_id, number = open_invoice(store, actors[Role.ADMIN])
    app = console(store, settings=settings, login="finn")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_the_invoice(pilot, app, customer_id)
        text = dialog_text(app)
        assert "V void" in text and "P mark paid outside" in text and "W write off" in text
        await pilot.press("V")
        await settle(pilot, app)
        dialog = app.screen
        assert isinstance(dialog, VoidInvoiceDialog)
        assert f"Void invoice {number} (29.00 USD unpaid)" in dialog_text(app)
        await pilot.press(*"duplicate")
        assert dialog.query_one("#invoice-reason", Input).value == "duplicate"
        await pilot.press("enter")
        await pilot.pause()
        assert "Enter to confirm" in dialog_text(app) and stored(store, number).status == "issued"
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, InvoiceDialog)
        outcome = str(app.screen.query_one("#invoice-outcome", Static).content)
        assert outcome.startswith(f"Invoice {number} voided (29.00 USD no longer owed"), outcome
        assert any(f"Invoice {number} voided" in n for n in notifications(app)), notifications(app)
        assert "V void" not in dialog_text(app)
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        rows = table_rows(app.screen, "#invoices-table")
        assert rows[0][:2] == [number, "void"]
    invoice = stored(store, number)
    assert invoice.status == "void" and invoice.closed_at is not None
    assert event_types(store, customer_id)[-1] == "invoice_voided"


async def test_mark_paid_outside_needs_the_reference(store, actors, settings):
    customer_id, number = open_invoice(store, actors[Role.ADMIN])
    app = console(store, settings=settings, login="ada")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_the_invoice(pilot, app, customer_id)
        await pilot.press("P")
        await settle(pilot, app)
        assert isinstance(app.screen, MarkPaidDialog)
        assert f"Record 29.00 USD paid outside the console for invoice {number}" in dialog_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert "give the payment's reference" in dialog_text(app)
        await pilot.press(*"WIRE-42", "enter")
        await pilot.pause()
        assert "Reference: WIRE-42." in dialog_text(app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, InvoiceDialog) and "paid" in dialog_text(app)
    assert stored(store, number).status == "paid"
    with store.read() as s:
        txn = s.execute(select(Transaction).where(Transaction.gateway == "outside")).scalar_one()
    assert txn.gateway_ref == "WIRE-42" and txn.amount == 2_900
    assert {"invoice_marked_paid", "invoice_paid"} <= set(event_types(store, customer_id))


async def test_apply_credit_pays_the_invoice(store, actors, settings):
    customer_id, number = open_invoice(store, actors[Role.ADMIN])
    payments.create_credit_memo(store, actors[Role.ADMIN], "C-1", 5_000, "USD", "goodwill")
    app = console(store, settings=settings, login="cara")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_the_invoice(pilot, app, customer_id)
        await pilot.press("C")
        await settle(pilot, app)
        assert isinstance(app.screen, ApplyCreditDialog)
        assert "Apply 29.00 USD of the customer's credit (50.00 USD available)" in dialog_text(app)
        await pilot.press("enter", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, InvoiceDialog)
    invoice = stored(store, number)
    assert invoice.status == "paid" and invoice.total == 0 and invoice.credit_applied == 2_900
    with store.read() as s:
        assert s.execute(select(CreditMemo.remaining)).scalar_one() == 2_100


async def test_an_agent_over_the_limit_is_told_and_nothing_changes(store, actors, settings):
    policy(store, {"refund_limit.agent.USD": "10.00"})
    customer_id, number = open_invoice(store, actors[Role.ADMIN])
    app = console(store, settings=settings, login="cara")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_the_invoice(pilot, app, customer_id)
        await pilot.press("W")
        await settle(pilot, app)
        assert isinstance(app.screen, WriteOffDialog)
        assert "beyond the agent limit" in dialog_text(app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, WriteOffDialog) and "Enter to confirm" not in dialog_text(app)
    assert stored(store, number).status == "issued"
    assert "invoice_written_off" not in event_types(store, customer_id)


async def test_sales_get_the_role_message(store, actors, settings):
    customer_id, number = open_invoice(store, actors[Role.ADMIN])
    app = console(store, settings=settings, login="sam")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_the_invoice(pilot, app, customer_id)
        assert "V void" not in dialog_text(app) and "C apply credit" not in dialog_text(app)
        await pilot.press("V")
        await settle(pilot, app)
        assert isinstance(app.screen, InvoiceDialog)
        assert any("may not refund" in n and "needs" in n for n in notifications(app)), notifications(app)
        app.clear_notifications()
        await pilot.press("C")
        await settle(pilot, app)
        assert isinstance(app.screen, InvoiceDialog)
        assert any("may not" in n for n in notifications(app)), notifications(app)
    assert stored(store, number).status == "issued"
