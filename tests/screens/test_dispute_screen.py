"""A disputed payment in the console: the transactions tab marks it in view at 80×24, and its dialog says how
the dispute stands, for how much, why, and by when evidence is due — before the agent thinks of refunding."""

from sqlalchemy import func, select, text

from agentdesk.config import load_settings
from agentdesk.db.models import Transaction
from agentdesk.services.money import stripe_events
from agentdesk.ui.dialogs.transaction import TransactionDialog
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen

from .helpers import SIZE, console, dialog_text, screen_lines, settle, visible_text

DEMO = (120, 3)
DUE = 1_790_604_800  # 2026-09-28 14:13:20 UTC


def disputed_sale(store, settings) -> Transaction:
    """A settled demo sale of a customer with other transactions, that Stripe reports disputed (a
    `charge.dispute.created` event applied)."""
    with store.read() as s:
        busy = (select(Transaction.customer_id).group_by(Transaction.customer_id)
                .having(func.count() >= 3).scalar_subquery())
        sale = s.execute(select(Transaction).where(Transaction.type == "sale", Transaction.status == "approved",
                                                   Transaction.settled, Transaction.customer_id.in_(busy))
                         .order_by(Transaction.id.desc())).scalars().first()
        s.expunge(sale)
    with store.write(unrecorded="test fixture: the sale went through Stripe") as s:
        s.execute(text("UPDATE \"transaction\" SET gateway = 'stripe', gateway_ref = 'pi_disputed' WHERE id = :id"),
                  {"id": sale.id})
    event = {"id": "evt_dispute_1", "type": "charge.dispute.created", "created": DUE - 7 * 86_400,
             "data": {"object": {"id": "dp_1", "object": "dispute", "amount": sale.amount,
                                 "currency": sale.currency.lower(), "payment_intent": "pi_disputed",
                                 "reason": "product_not_received", "status": "needs_response",
                                 "evidence_details": {"due_by": DUE}}}}
    assert stripe_events.handle_event(store, settings, event, "webhook").endswith("opened (needs_response)")
    return sale


async def test_a_disputed_payment_is_marked_and_its_dialog_says_what_is_due(demo_store, tmp_path):
    settings = load_settings(demo_store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path)})
    sale = disputed_sale(demo_store, settings)
    app = console(demo_store, settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        app.push_screen(CustomerProfileScreen(sale.customer_id))
        await settle(pilot, app)
        await pilot.press("2")
        await settle(pilot, app)
        table = app.screen.query_one("#transactions-table")
        lines = visible_text(app, table).splitlines()
        assert all(len(line) <= 80 for line in screen_lines(app))
        header = lines[0].split()
        assert header[:6] == ["Txn", "Date", "Type", "Status", "Amount", "Order"] and "Settled" in header, header
        rows = {line.split()[0]: line.split() for line in lines[1:] if len(line.split()) > 5}
        assert len(rows) >= 3 and rows[str(sale.id)][4:6] == ["approved", "⚑"], lines
        assert not any("⚑" in cells or "⚐" in cells for txn, cells in rows.items() if txn != str(sale.id)), lines

        for _ in range(list(rows).index(str(sale.id))):
            await pilot.press("down")
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, TransactionDialog)
        shown = dialog_text(app)
        amount = f"{sale.amount // 100:,}.{sale.amount % 100:02d} {sale.currency}"
        assert (f"Disputed by the customer's bank: needs response · {amount} · product not received · "
                f"evidence due 2026-09-28 14:13 UTC") in shown, shown
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
