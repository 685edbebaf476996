"""Invoices on the profile: the list, one invoice, resending it, paying it with `$`, and who may."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from textual.widgets import Static

from agentdesk.config import load_settings
from agentdesk.db.models import Customer, Invoice, Job, Order, TimelineEvent, Transaction, Website
from agentdesk.domain.enums import InvoiceLineKind, OrderKind, OrderStatus, Role
from agentdesk.domain.pricing import Line
from agentdesk.services.billing import invoices
from agentdesk.services.customers import records as customers
from agentdesk.ui.dialogs.invoice import InvoiceDialog
from agentdesk.ui.dialogs.money import CollectPaymentDialog
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen
from agentdesk.ui.widgets.profile.invoices import InvoicesPane

from ..conftest import customer_input
from ..services.test_refunds import add_card
from .helpers import SIZE, console, dialog_text, notifications, settle, table_rows, visible_text

NOTES = "Thank you!\n[bold]x[/bold] is not bold"
LINE = "Pro plan [red]monthly[/red]"


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


def open_invoice(store, admin, token: str = "tok_approve") -> tuple[int, str]:
    """Customer C-1 with a card, an active monthly order and its first invoice, open: (customer id, number)."""
    customers.create_customer(store, admin, customer_input())
    add_card(store, "C-1", token)
    now = datetime.now(UTC)
    with store.write() as s:
        customer = s.execute(select(Customer).where(Customer.external_id == "C-1")).scalar_one()
        website = s.execute(select(Website)).scalars().first()
        order = Order(number=f"tmp-{customer.id}", customer_id=customer.id, website_id=website.id,
                      kind=OrderKind.SUBSCRIPTION, status=OrderStatus.ACTIVE, currency="USD", total=2_400,
                      autopay=False, next_bill_date=date.today() + timedelta(days=30))
        s.add(order)
        s.flush()
        order.number = f"ORD-{order.id:08d}"
        invoice = invoices.issue_invoice(
            s, admin, customer_id=customer.id, order=order, cycle=1,
            lines=[Line(InvoiceLineKind.ITEM, LINE, 2, 1_200), Line(InvoiceLineKind.SHIPPING, "Shipping", 1, 500)],
            currency="USD", billing_key=f"order-{order.id}-cycle-1", period_start=date.today(),
            period_end=date.today() + timedelta(days=30), issued_at=now, due_at=now + timedelta(days=7),
            notes=NOTES)
        assert invoice is not None
        return customer.id, invoice.number


def stored(store, number: str) -> Invoice:
    with store.read() as s:
        return s.execute(select(Invoice).where(Invoice.number == number)).scalar_one()


def event_types(store, customer_id: int) -> list[str]:
    with store.read() as s:
        return list(s.execute(select(TimelineEvent.type).where(TimelineEvent.customer_id == customer_id)
                              .order_by(TimelineEvent.id)).scalars())


async def open_invoices_tab(pilot, app, customer_id: int) -> InvoicesPane:
    app.push_screen(CustomerProfileScreen(customer_id))
    await settle(pilot, app)
    await pilot.press("5")
    await settle(pilot, app)
    return app.screen.query_one(InvoicesPane)


async def test_the_list_and_one_invoice_with_its_lines_notes_shown_literally(store, actors, settings):
    customer_id, number = open_invoice(store, actors[Role.ADMIN])
    app = console(store, settings=settings, login="finn")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        pane = await open_invoices_tab(pilot, app, customer_id)
        rows = table_rows(app.screen, "#invoices-table")
        assert len(rows) == 1
        assert rows[0][:4] == [number, "issued", "29.00 USD", "0.00 USD"] and rows[0][5].startswith("ORD-")
        assert "1 open, 29.00 USD owed" in visible_text(app, pane)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, InvoiceDialog)
        text = dialog_text(app)
        assert f"Invoice {number}" in text and "Grace Hopper" in text
        assert LINE in text and "2 × 12.00 USD" in text and "24.00 USD" in text and "Shipping" in text
        assert "Total 29.00 USD" in text and "Owed 29.00 USD" in text
        assert "[bold]x[/bold] is not bold" in text and "Thank you!" in text
        assert "$ collect payment" in text and "E resend invoice" in text
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)


def email_jobs(store, customer_id: int) -> list[Job]:
    with store.read() as s:
        return list(s.execute(select(Job).where(Job.customer_id == customer_id, Job.kind == "email")
                              .order_by(Job.id)).scalars())


async def test_resend_queues_the_email_and_records_it(store, actors, settings):
    customer_id, number = open_invoice(store, actors[Role.ADMIN])
    before = len(email_jobs(store, customer_id))
    app = console(store, settings=settings, login="cara")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_invoices_tab(pilot, app, customer_id)
        await pilot.press("enter")
        await settle(pilot, app)
        await pilot.press("E")
        await settle(pilot, app)
        outcome = str(app.screen.query_one("#invoice-outcome", Static).content)
        assert f"Invoice {number} queued to grace@example.com" in outcome
        assert any("queued to grace@example.com" in n for n in notifications(app)), notifications(app)
    assert event_types(store, customer_id)[-1] == "invoice_resent"
    jobs = email_jobs(store, customer_id)
    assert len(jobs) == before + 1
    assert jobs[-1].payload["to"] == "grace@example.com" and number in jobs[-1].payload["subject"]


async def test_collect_payment_pays_the_chosen_open_invoice(store, actors, settings):
    customer_id, number = open_invoice(store, actors[Role.ADMIN])
    app = console(store, settings=settings, login="finn")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        app.push_screen(CustomerProfileScreen(customer_id))
        await settle(pilot, app)
        await pilot.press("2", "dollar_sign")
        await settle(pilot, app)
        dialog = app.screen
        assert isinstance(dialog, CollectPaymentDialog)
        assert "1 open invoice" in dialog_text(app) and f"{number} · due" in dialog_text(app)
        dialog.query_one("#pay-invoice-0").value = True
        await pilot.pause()
        assert dialog.query_one("#pay-amount").value == "29.00" and dialog.query_one("#pay-amount").disabled
        await pilot.press("enter")
        await pilot.pause()
        assert f"Charge 29.00 USD for invoice {number}" in dialog_text(app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        assert any(f"Invoice {number}: approved, 29.00 USD paid" in n for n in notifications(app)), notifications(app)
        await pilot.press("5")
        await settle(pilot, app)
        assert table_rows(app.screen, "#invoices-table")[0][1:4] == ["paid", "29.00 USD", "29.00 USD"]
    invoice = stored(store, number)
    assert invoice.status == "paid" and invoice.amount_paid == 2_900
    with store.read() as s:
        txn = s.execute(select(Transaction).where(Transaction.invoice_id == invoice.id)).scalar_one()
    assert txn.status == "approved" and txn.amount == 2_900 and txn.order_id == invoice.order_id
    assert "invoice_paid" in event_types(store, customer_id)


async def test_a_declined_card_shows_the_reason_and_the_order_enters_credit_control(store, actors, settings):
    customer_id, number = open_invoice(store, actors[Role.ADMIN], token="tok_decline")
    app = console(store, settings=settings, login="cara")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_invoices_tab(pilot, app, customer_id)
        await pilot.press("enter")
        await settle(pilot, app)
        await pilot.press("dollar_sign")
        await settle(pilot, app)
        assert isinstance(app.screen, CollectPaymentDialog)
        await pilot.press("enter")
        await pilot.pause()
        assert f"Charge 29.00 USD for invoice {number}" in dialog_text(app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, InvoiceDialog)
        outcome = str(app.screen.query_one("#invoice-outcome", Static).content)
        assert outcome == f"Invoice {number}: Payment declined: card declined", outcome
        assert any("card declined" in n for n in notifications(app)), notifications(app)
        app.clear_notifications()
        await pilot.press("escape", "1")
        await settle(pilot, app)
        overview = visible_text(app, app.screen.query_one("#overview-scroll"))
        assert "active" in overview and "in credit control" in overview and "next bill" in overview, overview
    invoice = stored(store, number)
    assert invoice.status in ("issued", "past_due") and invoice.amount_paid == 0 and invoice.attempts == 1
    with store.read() as s:
        txn = s.execute(select(Transaction).where(Transaction.invoice_id == invoice.id)).scalar_one()
    assert txn.status == "declined"


async def test_sales_may_see_invoices_but_not_collect_or_resend(store, actors, settings):
    customer_id, number = open_invoice(store, actors[Role.ADMIN])
    app = console(store, settings=settings, login="sam")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_invoices_tab(pilot, app, customer_id)
        assert table_rows(app.screen, "#invoices-table")[0][0] == number
        await pilot.press("dollar_sign")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        assert any("may not" in n and "needs" in n for n in notifications(app)), notifications(app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, InvoiceDialog) and "$ collect payment" not in dialog_text(app)
        await pilot.press("dollar_sign", "E")
        await settle(pilot, app)
        assert isinstance(app.screen, InvoiceDialog)
    invoice = stored(store, number)
    assert invoice.status == "issued" and invoice.attempts == 0
    assert "invoice_resent" not in event_types(store, customer_id)


async def test_a_gateway_that_does_not_answer_leaves_the_payment_pending(store, actors, settings):
    customer_id, number = open_invoice(store, actors[Role.ADMIN], token="tok_timeout")
    app = console(store, settings=settings, login="finn")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_invoices_tab(pilot, app, customer_id)
        await pilot.press("dollar_sign")
        await settle(pilot, app)
        assert isinstance(app.screen, CollectPaymentDialog)
        await pilot.press("enter", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        assert any(f"Invoice {number}: 29.00 USD pending" in n for n in notifications(app)), notifications(app)
        app.clear_notifications()
        await pilot.press("enter")
        await settle(pilot, app)
        text = dialog_text(app)
        assert "pending" in text and "Owed 29.00 USD" in text
    invoice = stored(store, number)
    assert invoice.status == "issued" and invoice.amount_paid == 0
    with store.read() as s:
        txn = s.execute(select(Transaction).where(Transaction.invoice_id == invoice.id)).scalar_one()
    assert txn.status == "pending"
